package editing_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// reload passes the entity's state through JSON, as the service does
// between two changes (it stores the state as JSON with the head).
func (e *crdtEntity) reload() {
	e.t.Helper()
	b, err := json.Marshal(e.st)
	if err != nil {
		e.t.Fatal(err)
	}
	var st editing.State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		e.t.Fatal(err)
	}
	e.st = &st
}

// pruneOthers deletes MaxTombstones other fields, stamped from wallMs on,
// so that every older tombstone that hides nothing is dropped.
func (e *crdtEntity) pruneOthers(wallMs int64) {
	e.t.Helper()
	for i := range editing.MaxTombstones {
		e.step(doc.Op{Kind: doc.Delete, Path: fmt.Sprintf("other%03d", i)}, wallMs+int64(i))
	}
	e.reload()
}

// TestCRDTPrunedDeleteStaysDeleted: once the tombstone of a delete is
// dropped (past MaxTombstones newer ones), a write stamped before that
// delete, arriving late (a client that was offline, a replay), still
// loses. Nothing remembered the delete, and the write brought the field
// back. The second case is a write to a path with an older tombstone of
// its own: its value holds a field whose newer delete was dropped.
func TestCRDTPrunedDeleteStaysDeleted(t *testing.T) {
	t0 := now.UnixMilli()
	t.Run("field", func(t *testing.T) {
		e := newCRDTEntity(t)
		e.step(doc.Op{Kind: doc.Update, Path: "memo", Value: "secret"}, t0-100_000)
		e.step(doc.Op{Kind: doc.Delete, Path: "memo"}, t0-99_000)
		e.pruneOthers(t0 - 90_000)
		if _, ok := e.st.CRDT.Registers["memo"]; ok {
			t.Fatal("the tombstone of memo was not dropped: the test does not cover pruning")
		}
		out := e.step(doc.Op{Kind: doc.Update, Path: "memo", Value: "secret"}, t0-99_500)
		if v, ok := doc.Get(e.doc, "memo"); ok || out.Kind != editing.KindSuperseded {
			t.Fatalf("a write stamped before the dropped delete: %s, memo = %v; want superseded, memo absent", out.Kind, v)
		}
	})
	t.Run("own tombstone", func(t *testing.T) {
		e := newCRDTEntity(t)
		// o.p.z made o an object, which the delete of o.p leaves: its
		// register is kept (without its value), and so the tombstone
		// of o.p that hides it.
		e.step(doc.Op{Kind: doc.Update, Path: "o.p.z", Value: 1.0}, t0-100_000)
		e.step(doc.Op{Kind: doc.Delete, Path: "o.p"}, t0-99_000)
		e.step(doc.Op{Kind: doc.Delete, Path: "o.p.a"}, t0-98_000)
		e.pruneOthers(t0 - 90_000)
		if _, ok := e.st.CRDT.Registers["o.p.a"]; ok {
			t.Fatal("the tombstone of o.p.a was not dropped: the test does not cover pruning")
		}
		if r, ok := e.st.CRDT.Registers["o.p"]; !ok || !r.Deleted {
			t.Fatal("the tombstone of o.p was dropped: the test does not cover a path with its own")
		}
		// Stamped after the delete of o.p, before the delete of o.p.a.
		e.step(doc.Op{Kind: doc.Update, Path: "o.p", Value: map[string]any{"a": "secret"}}, t0-98_500)
		if v, ok := doc.Get(e.doc, "o.p.a"); ok {
			t.Fatalf("a write of o.p stamped before the dropped delete of o.p.a brought back o.p.a = %v", v)
		}
	})
}

// TestCRDTFloorSparesOtherWrites: after tombstones were dropped, writes
// stamped after the newest of them apply, to fresh paths too, and a write
// to a field that holds a value, or lies inside an older value of a
// parent, is merged by its stamp as before, however old. A write stamped
// before it to a path that holds nothing loses, even if no delete ever
// named that path: the entity no longer knows which paths the dropped
// deletes named.
func TestCRDTFloorSparesOtherWrites(t *testing.T) {
	t0 := now.UnixMilli()
	e := newCRDTEntity(t)
	e.step(doc.Op{Kind: doc.Update, Path: "kept", Value: "v1"}, t0-200_000)
	e.step(doc.Op{Kind: doc.Update, Path: "obj", Value: map[string]any{"x": "v1"}}, t0-200_000)
	e.step(doc.Op{Kind: doc.Update, Path: "late", Value: map[string]any{}}, t0-10_000)
	e.step(doc.Op{Kind: doc.Delete, Path: "memo"}, t0-99_000)
	e.pruneOthers(t0 - 90_000) // drops the tombstone of memo: the floor is t0-99_000
	for _, w := range []struct {
		path   string
		wallMs int64
		want   editing.Kind
	}{
		{"fresh", t0 - 1_000, editing.KindApplied},
		{"memo", t0 - 1_000, editing.KindApplied},
		{"kept", t0 - 99_500, editing.KindApplied},
		{"obj.x", t0 - 99_500, editing.KindApplied},
		{"obj.y", t0 - 99_500, editing.KindApplied},
		{"late.x", t0 - 99_500, editing.KindSuperseded}, // its parent is newer
		{"never", t0 - 99_500, editing.KindSuperseded},
		{"never", t0 - 99_000, editing.KindSuperseded}, // at the floor: a tombstone wins a tie
		{"never", t0 - 98_999, editing.KindApplied},
	} {
		out := e.step(doc.Op{Kind: doc.Update, Path: w.path, Value: "new"}, w.wallMs)
		v, ok := doc.Get(e.doc, w.path)
		if out.Kind != w.want || ok != (w.want == editing.KindApplied) || ok && v != "new" {
			t.Errorf("update %s stamped %d: %s, %s = %v (%v); want %s", w.path, w.wallMs-t0, out.Kind, w.path, v, ok, w.want)
		}
	}
}

// TestCRDTFloorIncrement: an increment stamped before a delete of its
// field loses to the delete (had it arrived first, the delete would have
// cleared it), and the floor refuses it in the same way once the
// tombstone is dropped: superseded, the field stays absent, whether the
// tombstone is kept or not.
func TestCRDTFloorIncrement(t *testing.T) {
	t0 := now.UnixMilli()
	for _, prune := range []bool{false, true} {
		e := newCRDTEntity(t)
		e.step(doc.Op{Kind: doc.Update, Path: "n", Value: 5.0}, t0-100_000)
		e.step(doc.Op{Kind: doc.Delete, Path: "n"}, t0-99_000)
		if prune {
			e.pruneOthers(t0 - 90_000)
			if _, ok := e.st.CRDT.Registers["n"]; ok {
				t.Fatal("the tombstone of n was not dropped")
			}
		}
		out := e.step(doc.Op{Kind: doc.Increment, Path: "n", Delta: "2"}, t0-99_500)
		if n, ok := doc.Get(e.doc, "n"); ok || out.Kind != editing.KindSuperseded {
			t.Errorf("tombstone dropped %v: an older increment after the delete: %s, n = %v; want superseded, n absent", prune, out.Kind, n)
		}
	}
}

// TestCRDTFloorBeyondLimitRecovers: a stored floor beyond the clock limit
// (a skew bound since lowered, a clock since turned back) is demoted as
// any such stamp is, so that it does not make every write to a fresh path
// lose until real time catches up; the clock stays within the limit.
func TestCRDTFloorBeyondLimitRecovers(t *testing.T) {
	limit := crdt.Limit(now, editing.DefaultMaxSkew)
	for _, wall := range []int64{limit + 1, math.MaxInt64, -1} {
		st := editing.State{CRDT: crdt.Doc{Floor: crdt.HLC{WallMs: wall, Counter: math.MaxUint32, Node: "mallory"}}}
		for _, stamp := range []*crdt.HLC{nil, {WallMs: now.UnixMilli()}} {
			state := st
			out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: map[string]any{}, State: &state,
				Op: doc.Op{Kind: doc.Update, Path: "bin", Value: "B2"}, UserID: "bob", Stamp: stamp, Now: now})
			if err != nil || out.Kind != editing.KindApplied {
				t.Fatalf("floor at %d, client stamp %v: %v %v, want applied", wall, stamp, out.Kind, err)
			}
			if f, c := out.State.CRDT.Floor, out.State.Clock; f.WallMs > limit || f.WallMs < 0 || c.WallMs > limit || c.WallMs < 0 {
				t.Fatalf("floor %v, clock %v: beyond the limit %d", f, c, limit)
			}
		}
	}
}
