package editing_test

import (
	"fmt"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// crdtEntity follows one crdt entity through Decide as the service does:
// it keeps the document, state and version of each outcome.
type crdtEntity struct {
	t   *testing.T
	doc map[string]any
	st  *editing.State
	v   int64
}

func newCRDTEntity(t *testing.T) *crdtEntity { return &crdtEntity{t: t, doc: map[string]any{}} }

// step decides op by ann, stamped wallMs, on the current version.
func (e *crdtEntity) step(op doc.Op, wallMs int64) editing.Outcome {
	e.t.Helper()
	out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: e.doc, State: e.st, Version: e.v, Base: e.v,
		Op: op, UserID: "ann", Stamp: &crdt.HLC{WallMs: wallMs}, Now: now})
	if err != nil {
		e.t.Fatalf("Decide(%s): %v", op, err)
	}
	if out.Kind.NewVersion() {
		e.doc, e.v = out.Doc, e.v+1
	}
	if out.State != nil {
		e.st = out.State
	}
	return out
}

// TestCRDTPruneKeepsHidingTombstones: a tombstone that hides a key of an
// older write of its parent is kept past MaxTombstones even when a newer
// write or counter below its path re-creates the field (so that dropping
// it would leave today's document as it is): a later delete of that child
// must not bring back the value the tombstone deleted.
func TestCRDTPruneKeepsHidingTombstones(t *testing.T) {
	t0 := now.UnixMilli()
	for _, below := range []doc.Op{
		{Kind: doc.Update, Path: "p.a.n", Value: 1.0},
		{Kind: doc.Increment, Path: "p.a.n", Delta: "2"},
	} {
		e := newCRDTEntity(t)
		e.step(doc.Op{Kind: doc.Update, Path: "p", Value: map[string]any{"a": "secret"}}, t0-100_000)
		e.step(doc.Op{Kind: doc.Delete, Path: "p.a"}, t0-99_000)
		e.step(below, t0-98_000) // re-creates p.a as an object
		for i := range editing.MaxTombstones + 1 {
			e.step(doc.Op{Kind: doc.Delete, Path: fmt.Sprintf("gone%03d", i)}, t0-90_000+int64(i))
		}
		e.step(doc.Op{Kind: doc.Delete, Path: "p.a.n"}, t0-1_000)
		if s, ok := doc.Get(e.doc, "p.a"); ok {
			t.Errorf("%s, then deleting p.a.n brought back p.a = %v, deleted long before", below.Kind, s)
		}
	}
}

// TestCRDTPruneKeepsNewestTombstones: the newest MaxTombstones tombstones
// are kept however many older ones hide a value. With more than
// MaxTombstones tombstones hiding keys of an older write of their parent
// (kept whatever their number), pruning used to drop every other
// tombstone, the delete just made included, and raise the floor to its
// stamp: a write stamped before that delete, arriving later, was then
// refused by the floor only, and a fresh field written before it was too.
func TestCRDTPruneKeepsNewestTombstones(t *testing.T) {
	t0 := now.UnixMilli()
	e := newCRDTEntity(t)
	n := editing.MaxTombstones + 6
	obj := map[string]any{}
	for i := range n {
		obj[fmt.Sprintf("k%03d", i)] = 0.0
	}
	e.step(doc.Op{Kind: doc.Update, Path: "o", Value: obj}, t0-100_000)
	for i := range n { // each hides a key of the older write of o: kept
		e.step(doc.Op{Kind: doc.Delete, Path: fmt.Sprintf("o.k%03d", i)}, t0-99_000+int64(i))
	}
	e.step(doc.Op{Kind: doc.Update, Path: "x", Value: 1.0}, t0-50_000)
	e.step(doc.Op{Kind: doc.Delete, Path: "x"}, t0-10_000) // the newest delete of the entity
	if r, ok := e.st.CRDT.Registers["x"]; !ok || !r.Deleted {
		t.Fatalf("the newest tombstone (x) was pruned at once: %+v, %v", r, ok)
	}
	if f := e.st.CRDT.Floor; !f.IsZero() {
		t.Errorf("floor %s: no tombstone older than the newest %d hides nothing, none should be dropped", f, editing.MaxTombstones)
	}
	// A write stamped before the delete, arriving after it, loses to it.
	out := e.step(doc.Op{Kind: doc.Update, Path: "x", Value: 2.0}, t0-20_000)
	if v, ok := doc.Get(e.doc, "x"); ok || out.Kind != editing.KindSuperseded {
		t.Fatalf("write older than the newest delete: %s, x = %v; want superseded and x absent", out.Kind, v)
	}
	// A fresh field written before that delete is not refused.
	if out := e.step(doc.Op{Kind: doc.Update, Path: "fresh", Value: 3.0}, t0-30_000); out.Kind != editing.KindApplied {
		t.Fatalf("write of a fresh field stamped before the newest delete: %s, want applied", out.Kind)
	}
}
