package crdt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/crdt"
)

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

// benchState returns a state with fields registers and counters counters,
// written by node with wall times starting at wall.
func benchState(b *testing.B, node string, wall int64, fields, counters int) crdt.Doc {
	b.Helper()
	var d crdt.Doc
	clock := crdt.HLC{Node: node}
	for i := range fields {
		clock = crdt.Now(timeMs(wall+int64(i)), clock)
		path := fmt.Sprintf("lines.l%d.qty", i)
		if err := d.Set(path, i, clock); err != nil {
			b.Fatal(err)
		}
	}
	for i := range counters {
		if err := d.Increment(fmt.Sprintf("stock.s%d", i), node, int64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

func BenchmarkMerge(b *testing.B) {
	for _, size := range []struct{ fields, counters int }{{20, 5}, {200, 20}, {2000, 100}} {
		x := benchState(b, "n1", 1000, size.fields, size.counters)
		y := benchState(b, "n2", 1001, size.fields, size.counters)
		b.Run(fmt.Sprintf("fields=%d/counters=%d", size.fields, size.counters), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				crdt.Merge(x, y)
			}
		})
	}
}

func BenchmarkMaterialize(b *testing.B) {
	d := crdt.Merge(benchState(b, "n1", 1000, 200, 20), benchState(b, "n2", 1001, 200, 20))
	b.ReportAllocs()
	for b.Loop() {
		d.Materialize()
	}
}
