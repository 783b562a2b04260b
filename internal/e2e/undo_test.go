package e2e_test

import (
	"encoding/json"
	"testing"

	"github.com/omnisales/rtcollab/internal/gateway"
)

// mustJSON encodes v.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUndo: an undo restores the previous value as a new version; an undo
// that a later change to the same path makes impossible is refused with
// UNDO_CONFLICT, unless the strategy can transform it past the later
// change (text edits of one string).
func TestUndo(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice, bob := edT{t, edDial(t, srv, "alice")}, edT{t, edDial(t, srv, "bob")}
			bob.subscribe("note:u1")
			alice.ack("change", change("note", "u1", 0, "update", "title", after("one")))
			alice.ack("change", change("note", "u1", 1, "update", "title", after("two")))
			undone := ackOf(t, alice.ack("undo", map[string]any{"changeId": "note:u1:2"}))
			if !undone.Applied || undone.Version != 3 || undone.Change.UndoOf != "note:u1:2" || string(undone.Change.After) != `"one"` {
				t.Fatalf("undo of version 2: %+v", undone)
			}
			ev := bob.event("undo change", func(f frame) bool { return f.Type == "change" && f.MessageID == "chg-note:u1:3" })
			var ch wireChange
			decodeInto(t, ev, &ch)
			if ch.UndoOf != "note:u1:2" {
				t.Fatalf("change event of the undo: %s", ev.Payload)
			}
			d, _ := serverDoc(t, srv.Built.Store, "note", "u1")
			wantJSON(t, "the server", d, `{"title":"one"}`)
			// Versions 2 and 3 changed the title after version 1.
			alice.refused("undo", map[string]any{"changeId": "note:u1:1"}, "UNDO_CONFLICT")

			alice.ack("change", change("note", "u1", 3, "update", "body", after("x")))
			bob.ack("change", change("note", "u1", 4, "update", "body", after("y")))
			alice.refused("undo", map[string]any{"entityType": "note", "entityId": "u1", "version": 4}, "UNDO_CONFLICT")
			alice.ack("undo", map[string]any{"changeId": "note:u1:5"})
			// An undo of an undo redoes.
			alice.ack("undo", map[string]any{"changeId": "note:u1:3"})
			d, v := serverDoc(t, srv.Built.Store, "note", "u1")
			wantJSON(t, "the server", d, `{"title":"two","body":"x"}`)
			if v != 7 {
				t.Fatalf("version %d, want 7", v)
			}
			alice.refused("undo", map[string]any{"changeId": "note:u1:99"}, "NOT_FOUND")
			alice.bad().refused("undo", map[string]any{"changeId": "nonsense"}, "BAD_REQUEST")

			// Text edits transform: undoing " world" past a later edit of the
			// same string keeps the later edit.
			alice.ack("change", change("customer", "u1", 0, "update", "bio", after("hello")))
			alice.ack("change", change("customer", "u1", 1, "text", "bio", map[string]any{"text": []any{map[string]any{"retain": 5}, map[string]any{"insert": " world"}}}))
			bob.ack("change", change("customer", "u1", 2, "text", "bio", map[string]any{"text": []any{map[string]any{"insert": "Oh, "}}}))
			alice.ack("undo", map[string]any{"changeId": "customer:u1:2"})
			d, _ = serverDoc(t, srv.Built.Store, "customer", "u1")
			wantJSON(t, "the server", d, `{"bio":"Oh, hello"}`)

			// Lock-based entities: an undo is a write like any other.
			bob.refused("undo", map[string]any{"changeId": "order:u1:1"}, "NOT_FOUND")
			var got struct{ Lock wireLock }
			decodeInto(t, alice.ack("lock.acquire", map[string]any{"entityType": "order", "entityId": "u1"}), &got)
			alice.ack("change", change("order", "u1", 0, "update", "status", map[string]any{"after": "new", "fencingToken": got.Lock.FencingToken}))
			bob.refused("undo", map[string]any{"changeId": "order:u1:1"}, "LOCK_REQUIRED")
			alice.ack("undo", map[string]any{"changeId": "order:u1:1", "fencingToken": got.Lock.FencingToken})
		})
	}
}
