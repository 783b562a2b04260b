package editing_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// BenchmarkCRDTDeleteLargeState: one delete on an entity whose state holds
// about 2,700 tombstones that hide keys of older parent writes (kept
// whatever their number), as large as the head bound allows. Pruning
// decides from the registers' paths and stamps: a delete costs
// milliseconds, not a materialization of the whole state per tombstone
// (seconds).
func BenchmarkCRDTDeleteLargeState(b *testing.B) {
	t0 := now.UnixMilli()
	var c crdt.Doc
	stamp := func(i int) crdt.HLC { return crdt.HLC{WallMs: t0 - 3_000_000 + int64(i), Node: "ann"} }
	n := 0
	for o := range 3 {
		v := map[string]any{}
		for k := range 900 {
			v[fmt.Sprintf("k%03d", k)] = 0.0
		}
		if err := c.Set(fmt.Sprintf("o%d", o), v, stamp(n)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for o := range 3 {
		for k := range 900 {
			if err := c.Delete(fmt.Sprintf("o%d.k%03d", o, k), stamp(n)); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	st := &editing.State{CRDT: c, Clock: stamp(n)}
	d := c.Materialize()
	state, _ := json.Marshal(st)
	document, _ := json.Marshal(d)
	if len(state)+len(document) > 300<<10 {
		b.Fatalf("state over the head bound")
	}
	b.ResetTimer()
	for range b.N {
		if _, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: d, State: st, Version: 1, Base: 1,
			Op: doc.Op{Kind: doc.Delete, Path: "x"}, UserID: "bob", Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}
