package collab_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

func TestUndoTarget(t *testing.T) {
	order := protocol.EntityRef{EntityType: "order", EntityID: "1"}
	tests := []struct {
		name string
		p    protocol.UndoPayload
		ref  protocol.EntityRef
		v    int64
		ok   bool
	}{
		{"by change id", protocol.UndoPayload{ChangeID: "order:1:3"}, order, 3, true},
		{"by change id and its entity", protocol.UndoPayload{EntityRef: order, ChangeID: "order:1:3"}, order, 3, true},
		{"by entity and version", protocol.UndoPayload{EntityRef: order, Version: 2}, order, 2, true},
		{"change id of another entity", protocol.UndoPayload{EntityRef: order, ChangeID: "order:2:3"}, protocol.EntityRef{}, 0, false},
		{"change id without version", protocol.UndoPayload{ChangeID: "order:1"}, protocol.EntityRef{}, 0, false},
		{"version zero", protocol.UndoPayload{ChangeID: "order:1:0"}, protocol.EntityRef{}, 0, false},
		{"version overflows", protocol.UndoPayload{ChangeID: "order:1:9223372036854775808"}, protocol.EntityRef{}, 0, false},
		{"nothing named", protocol.UndoPayload{EntityRef: order}, protocol.EntityRef{}, 0, false},
		{"negative version", protocol.UndoPayload{EntityRef: order, Version: -1 << 63}, protocol.EntityRef{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, v, err := collab.UndoTarget(tt.p)
			if !tt.ok {
				wantCode(t, err, protocol.CodeBadRequest)
				return
			}
			if err != nil || ref != tt.ref || v != tt.v {
				t.Errorf("UndoTarget = %v %d %v; want %v %d", ref, v, err, tt.ref, tt.v)
			}
		})
	}
}

func TestUndo(t *testing.T) {
	e := entity("customer", "c")
	tests := []struct {
		name    string
		version int64
		later   *protocol.ChangePayload // a change after version 3, if any
		want    string                  // the name after the undo, or the error
	}{
		{"the last change", 3, nil, "Bo"},
		{"past a change to another path", 2, nil, "Ann"},
		{"past a change to the same path", 2, ptr(change(e, 3, "update", "name", "Cy")), "undo conflict"},
		{"a change no longer kept", 1, ptr(change(e, 3, "update", "phone", "2")), "NOT_FOUND"},
		{"a change not made yet", 7, nil, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{HistoryLimit: 3})
			f.mustChange("ann", "m0", change(e, 0, "insert", "name", "Ann"))
			f.mustChange("ann", "m1", change(e, 1, "update", "name", "Bo"))
			f.mustChange("ann", "m2", change(e, 2, "insert", "phone", "1"))
			if tt.later != nil {
				f.mustChange("bob", "later", *tt.later)
			}
			f.rec.take()
			ack, err := f.svc.Undo(f.ctx, f.call("ann", "u"), e, tt.version, 0, json.RawMessage(`{"reason":"oops"}`))
			switch tt.want {
			case "NOT_FOUND":
				wantCode(t, err, protocol.CodeNotFound)
				return
			case "undo conflict":
				if !errors.Is(err, editing.ErrUndoConflict) {
					t.Fatalf("Undo = %v, want ErrUndoConflict", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ack.Change == nil || ack.Change.UndoOf != fmt.Sprintf("customer:c:%d", tt.version) || string(ack.Change.Metadata) != `{"reason":"oops"}` {
				t.Fatalf("ack %+v", ack)
			}
			if ev := f.rec.take(); len(ev) == 0 || ev[0].typ != protocol.TypeEventChange {
				t.Errorf("events %+v, want the change announced", ev)
			}
			r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Document["name"] != tt.want {
				t.Errorf("document %v, want name %q", r.Document, tt.want)
			}
			if _, has := r.Document["phone"]; has == (tt.version == 3) {
				t.Errorf("document %v: phone after undoing version %d", r.Document, tt.version)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestUndoOnce: a change is undone at most once. Where the inverse would
// commute with the first undo (an increment, a text edit) a second undo
// would apply it again; it is an undo conflict on every strategy, and the
// document keeps the first undo's result. Undoing the undo brings the
// change back.
func TestUndoOnce(t *testing.T) {
	for _, typ := range []string{"note", "customer", "inventory"} { // last-write-wins, operational-transform, crdt
		t.Run(typ, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			e := entity(typ, "x")
			f.mustChange("ann", "m0", change(e, 0, "insert", "n", 10))
			inc := change(e, 1, "increment", "n", nil)
			inc.Delta = json.Number("5")
			f.mustChange("ann", "m1", inc)
			if _, err := f.svc.Undo(f.ctx, f.call("ann", "u1"), e, 2, 0, nil); err != nil {
				t.Fatalf("first undo: %v", err)
			}
			if _, err := f.svc.Undo(f.ctx, f.call("bob", "u2"), e, 2, 0, nil); !errors.Is(err, editing.ErrUndoConflict) {
				t.Fatalf("second undo of version 2: %v, want an undo conflict", err)
			}
			if d := f.document(e); fmt.Sprint(d["n"]) != "10" {
				t.Fatalf("n = %v after the refused second undo, want 10", d["n"])
			}
			if _, err := f.svc.Undo(f.ctx, f.call("ann", "u3"), e, 3, 0, nil); err != nil {
				t.Fatalf("undo of the undo: %v", err)
			}
			if d := f.document(e); fmt.Sprint(d["n"]) != "15" {
				t.Fatalf("n = %v after undoing the undo, want 15", d["n"])
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		f := newFixture(t, collab.Config{})
		e := entity("customer", "t")
		f.mustChange("ann", "m0", change(e, 0, "insert", "bio", "hello world"))
		del := change(e, 1, "text", "bio", nil)
		del.Text = []doc.TextComponent{doc.TextRetain(5), doc.TextDelete(6)}
		f.mustChange("ann", "m1", del)
		if _, err := f.svc.Undo(f.ctx, f.call("ann", "u1"), e, 2, 0, nil); err != nil {
			t.Fatalf("first undo: %v", err)
		}
		if _, err := f.svc.Undo(f.ctx, f.call("bob", "u2"), e, 2, 0, nil); !errors.Is(err, editing.ErrUndoConflict) {
			t.Fatalf("second undo: %v, want an undo conflict", err)
		}
		if d := f.document(e); d["bio"] != "hello world" {
			t.Fatalf("bio = %q, want %q", d["bio"], "hello world")
		}
	})
}

// document returns e's document as a sync reads it.
func (f *fixture) document(e store.EntityKey) map[string]any {
	f.t.Helper()
	r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e)})
	if err != nil {
		f.t.Fatalf("sync %s: %v", e, err)
	}
	return r.Document
}

// TestUndoKeepsTheTextBound: an undo of a text deletion, rebased past a
// later insert, that would leave the string over the 10 KiB a value may
// hold is refused (BAD_REQUEST) and changes nothing; the string stays one
// that later edits may still change.
func TestUndoKeepsTheTextBound(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("customer", "c")
	text := func(base int64, comps ...doc.TextComponent) protocol.ChangePayload {
		p := change(e, base, "text", "note", nil)
		p.Text = comps
		return p
	}
	f.mustChange("ann", "m0", change(e, 0, "insert", "note", strings.Repeat("a", 6000)))
	f.mustChange("ann", "m1", text(1, doc.TextDelete(6000)))
	f.mustChange("bob", "m2", text(2, doc.TextInsert(strings.Repeat("b", 6000))))
	if _, err := f.svc.Undo(f.ctx, f.call("ann", "u1"), e, 2, 0, nil); codeOf(err) != protocol.CodeBadRequest {
		t.Fatalf("undo to a 12,000-byte string: %v, want BAD_REQUEST", err)
	}
	if d := f.document(e); d["note"] != strings.Repeat("b", 6000) {
		t.Fatalf("note is %d bytes after the refused undo, want bob's 6000", len(fmt.Sprint(d["note"])))
	}
	f.mustChange("bob", "m3", text(3, doc.TextRetain(6000), doc.TextInsert("x")))
}

// TestUndoOutOfRangeIsNoConflict: on a crdt entity, an undo whose counter
// would leave int64 (the undoer's decrements already at its end) is
// refused as a change out of range would be, not as a conflict with a
// later change (there is none).
func TestUndoOutOfRangeIsNoConflict(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("inventory", "sku")
	inc := func(base int64, delta string) protocol.ChangePayload {
		p := change(e, base, "increment", "n", nil)
		p.Delta = json.Number(delta)
		return p
	}
	f.mustChange("ann", "m1", inc(0, "-9223372036854775807"))
	f.mustChange("ann", "m2", inc(1, "9223372036854775807"))
	_, err := f.svc.Undo(f.ctx, f.call("ann", "u1"), e, 2, 0, nil)
	if err == nil || errors.Is(err, editing.ErrUndoConflict) || !errors.Is(err, crdt.ErrOverflow) {
		t.Fatalf("undo at the counter's end: %v, want a counter overflow that is not an undo conflict", err)
	}
}
