package collab_test

import (
	"encoding/json"
	"testing"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestReplayIsTheRecordedReply: a resend of each kind of idempotent
// request answers, byte for byte as encoded, what the first answered,
// and writes nothing more: the recorded reply decodes into the typed
// reply without loss (exact numbers, escaped text, operations, conflicts).
func TestReplayIsTheRecordedReply(t *testing.T) {
	note, pricing := entity("note", "n"), entity("pricing", "p")
	setup := func(f *fixture) {
		f.mustChange("ann", "s0", change(note, 0, "insert", "body", map[string]any{
			"n": json.Number("1.50"), "big": json.Number("123456789012345678901234567890"), "s": "<a href='x'>&</a>", "list": []any{"a", "b", "c"},
			"text": "hello",
		}))
		f.mustChange("ann", "s1", change(pricing, 0, "insert", "price", 1))
		f.mustChange("ann", "s2", change(pricing, 1, "update", "price", 2))
	}
	from, to := 0, 2
	tests := []struct {
		name string
		do   func(f *fixture, c collab.Call) (any, error)
	}{
		{"update with exact numbers", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.Change(f.ctx, c, note, change(note, 1, "update", "body.n", json.Number("12345678901234567890.5")))
		}},
		{"move", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "move", "body.list", nil)
			p.From, p.To = &from, &to
			return f.svc.Change(f.ctx, c, note, p)
		}},
		{"increment", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "increment", "body.n", nil)
			p.Delta = "-0.25"
			return f.svc.Change(f.ctx, c, note, p)
		}},
		{"text", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "text", "body.text", nil)
			p.Text = []doc.TextComponent{{Retain: 5}, {Insert: " <world>"}}
			return f.svc.Change(f.ctx, c, note, p)
		}},
		{"delete with metadata", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "delete", "body.s", nil)
			p.Metadata = json.RawMessage(` {"entityName": "N <1>"} `)
			return f.svc.Change(f.ctx, c, note, p)
		}},
		{"manual conflict", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.Change(f.ctx, c, pricing, change(pricing, 1, "update", "price", json.Number("3.10")))
		}},
		{"undo", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.Undo(f.ctx, c, note, 1, 0, nil)
		}},
		{"comment", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.AddComment(f.ctx, c, note, protocol.CommentAddPayload{EntityRef: ref(note), Text: "<b>é</b> \u2028"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			setup(f)
			first, err := tt.do(f, f.call("bob", "m"))
			if err != nil {
				t.Fatal(err)
			}
			before := heads(f, note, pricing)
			f.rec.take()
			again, err := tt.do(f, f.call("bob", "m"))
			if err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(first)
			b, _ := json.Marshal(again)
			if string(a) != string(b) {
				t.Errorf("replay\n%s\nwant\n%s", b, a)
			}
			if after := heads(f, note, pricing); after != before {
				t.Errorf("versions %v after the replay, want %v", after, before)
			}
			if ev := f.rec.take(); len(ev) != 0 {
				t.Errorf("the replay announced %d events", len(ev))
			}
		})
	}
}

// heads are the versions of entities.
func heads(f *fixture, es ...store.EntityKey) [2]int64 {
	var out [2]int64
	for i, e := range es[:2] {
		h, _ := f.st.GetHead(f.ctx, e)
		out[i] = h.Version
	}
	return out
}
