package editing_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// arrival is a write to a crdt entity: its writer, operation and client
// stamp.
type arrival struct {
	user string
	op   doc.Op
	wall int64
}

// arrive decides ws on a new crdt entity in the order given, as the
// server receives them, and returns the document as JSON.
func arrive(t *testing.T, ws ...arrival) string {
	t.Helper()
	d, st, v := map[string]any{}, (*editing.State)(nil), int64(0)
	for _, x := range ws {
		out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: d, State: st, Version: v, Base: min(v, 1),
			Op: x.op, UserID: x.user, Stamp: &crdt.HLC{WallMs: x.wall}, Now: now})
		if err != nil {
			t.Fatalf("Decide(%s): %v", x.op, err)
		}
		if out.Kind.NewVersion() {
			d, v = out.Doc, v+1
		}
		if out.State != nil {
			st = out.State
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCRDTDeleteOrderIndependent: the outcome of two concurrent crdt
// writes must not depend on the order they reach the server. D deletes
// a.b (stamp t-5) and C updates a.b (stamp t-10) from the same stale copy
// {"a":{"b":1}}, after Y replaced "a" with {} (stamp t-30). The delete is
// newer, so a.b must end up absent whichever arrives first.
func TestCRDTDeleteOrderIndependent(t *testing.T) {
	t0 := now.UnixMilli()
	setAB := arrival{"x", doc.Op{Kind: doc.Update, Path: "a", Value: map[string]any{"b": 1.0}}, t0 - 40}
	clearA := arrival{"y", doc.Op{Kind: doc.Update, Path: "a", Value: map[string]any{}}, t0 - 30}
	del := arrival{"d", doc.Op{Kind: doc.Delete, Path: "a.b"}, t0 - 5}
	upd := arrival{"c", doc.Op{Kind: doc.Update, Path: "a.b", Value: 2.0}, t0 - 10}

	updFirst := arrive(t, setAB, clearA, upd, del)
	delFirst := arrive(t, setAB, clearA, del, upd)
	if updFirst != delFirst {
		t.Fatalf("update then delete: %s; delete then update: %s; want the same (a.b deleted by the newer stamp)", updFirst, delFirst)
	}
}

// TestCRDTIncrementOrderIndependent: an increment and a write or delete
// of its field (or of a parent) give the same document whichever reaches
// the server first. A write that wins clears the increments stamped
// before it; an increment stamped before a write or delete that arrived
// first used to be added all the same: on top of the written value, or
// as the counter alone in place of the deleted field. The same holds for
// a delete whose tombstone has since been dropped (the floor stands for
// it).
func TestCRDTIncrementOrderIndependent(t *testing.T) {
	t0 := now.UnixMilli()
	inc := func(path string, wall int64) arrival {
		return arrival{"ann", doc.Op{Kind: doc.Increment, Path: path, Delta: "5"}, wall}
	}
	set := func(path string, v any, wall int64) arrival {
		return arrival{"bob", doc.Op{Kind: doc.Update, Path: path, Value: v}, wall}
	}
	del := func(path string, wall int64) arrival {
		return arrival{"bob", doc.Op{Kind: doc.Delete, Path: path}, wall}
	}
	// prune follows a delete with MaxTombstones deletes of other fields,
	// stamped after it: its tombstone is dropped and the floor raised.
	prune := func(first arrival) []arrival {
		ws := []arrival{first}
		for i := range editing.MaxTombstones {
			ws = append(ws, del(fmt.Sprintf("other%03d", i), first.wall+1_000+int64(i)))
		}
		return ws
	}
	stock := set("stock", 10.0, t0-30_000)
	obj := set("o", map[string]any{"stock": 10.0}, t0-30_000)
	for _, c := range []struct {
		name   string
		before arrival   // the field's first value
		a      arrival   // an increment
		b      []arrival // a write or delete (and what follows it)
		want   string
	}{
		{"older increment, write", stock, inc("stock", t0-20_000), []arrival{set("stock", 100.0, t0-10_000)}, `{"stock":100}`},
		{"newer increment, write", stock, inc("stock", t0-10_000), []arrival{set("stock", 100.0, t0-20_000)}, `{"stock":105}`},
		{"older increment, write of the parent", obj, inc("o.stock", t0-20_000), []arrival{set("o", map[string]any{"stock": 100.0}, t0-10_000)}, `{"o":{"stock":100}}`},
		{"older increment, delete", stock, inc("stock", t0-20_000), []arrival{del("stock", t0-10_000)}, `{}`},
		{"newer increment, delete", stock, inc("stock", t0-10_000), []arrival{del("stock", t0-20_000)}, `{"stock":5}`},
		{"older increment, delete of the parent", obj, inc("o.stock", t0-20_000), []arrival{del("o", t0-10_000)}, `{}`},
		{"older increment, dropped delete", stock, inc("stock", t0-20_000), prune(del("stock", t0-10_000)), `{}`},
		{"newer increment, dropped delete", stock, inc("stock", t0-9_500), prune(del("stock", t0-10_000)), `{"stock":5}`},
	} {
		aFirst := arrive(t, append([]arrival{c.before, c.a}, c.b...)...)
		bFirst := arrive(t, append(append([]arrival{c.before}, c.b...), c.a)...)
		if aFirst != c.want || bFirst != c.want {
			t.Errorf("%s: increment first %s, increment last %s; want %s", c.name, aFirst, bFirst, c.want)
		}
	}
}
