package editing_test

import (
	"encoding/json"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// TestCRDTDeleteOrderIndependent: the outcome of two concurrent crdt
// writes must not depend on the order they reach the server. D deletes
// a.b (stamp t-5) and C updates a.b (stamp t-10) from the same stale copy
// {"a":{"b":1}}, after Y replaced "a" with {} (stamp t-30). The delete is
// newer, so a.b must end up absent whichever arrives first.
func TestCRDTDeleteOrderIndependent(t *testing.T) {
	t0 := now.UnixMilli()
	type w struct {
		user string
		op   doc.Op
		wall int64
	}
	run := func(ws ...w) map[string]any {
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
		return d
	}
	setAB := w{"x", doc.Op{Kind: doc.Update, Path: "a", Value: map[string]any{"b": 1.0}}, t0 - 40}
	clearA := w{"y", doc.Op{Kind: doc.Update, Path: "a", Value: map[string]any{}}, t0 - 30}
	del := w{"d", doc.Op{Kind: doc.Delete, Path: "a.b"}, t0 - 5}
	upd := w{"c", doc.Op{Kind: doc.Update, Path: "a.b", Value: 2.0}, t0 - 10}

	updFirst := run(setAB, clearA, upd, del)
	delFirst := run(setAB, clearA, del, upd)
	b1, _ := json.Marshal(updFirst)
	b2, _ := json.Marshal(delFirst)
	if string(b1) != string(b2) {
		t.Fatalf("update then delete: %s; delete then update: %s; want the same (a.b deleted by the newer stamp)", b1, b2)
	}
}
