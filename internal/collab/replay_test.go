package collab_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// TestReplayIsTheRecordedReply: a resend of each kind of idempotent
// request answers, byte for byte as encoded, what the first answered,
// and writes nothing more: the recorded reply decodes into the typed
// reply without loss (exact numbers, escaped text, operations, conflicts).
// It announces again what the first announced, under the same ids, but
// the conflict event of a change held back as a conflict.
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
		name    string
		do      func(f *fixture, c collab.Call) (any, error)
		repeats bool // the replay announces what the first did
	}{
		{"update with exact numbers", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.Change(f.ctx, c, note, change(note, 1, "update", "body.n", json.Number("12345678901234567890.5")))
		}, true},
		{"move", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "move", "body.list", nil)
			p.From, p.To = &from, &to
			return f.svc.Change(f.ctx, c, note, p)
		}, true},
		{"increment", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "increment", "body.n", nil)
			p.Delta = "-0.25"
			return f.svc.Change(f.ctx, c, note, p)
		}, true},
		{"text", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "text", "body.text", nil)
			p.Text = []doc.TextComponent{{Retain: 5}, {Insert: " <world>"}}
			return f.svc.Change(f.ctx, c, note, p)
		}, true},
		{"delete with metadata", func(f *fixture, c collab.Call) (any, error) {
			p := change(note, 1, "delete", "body.s", nil)
			p.Metadata = json.RawMessage(` {"entityName": "N <1>"} `)
			return f.svc.Change(f.ctx, c, note, p)
		}, true},
		{"manual conflict", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.Change(f.ctx, c, pricing, change(pricing, 1, "update", "price", json.Number("3.10")))
		}, false},
		{"conflict resolve", func(f *fixture, c collab.Call) (any, error) {
			// The held-back change is itself replayed on the second call.
			ack, err := f.svc.Change(f.ctx, f.call("bob", "held"), pricing, change(pricing, 1, "update", "price", json.Number("3.10")))
			if err != nil || ack.Conflict == nil {
				return nil, fmt.Errorf("conflict: %+v, %v", ack, err)
			}
			f.rec.take()
			return f.svc.Resolve(f.ctx, c, pricing, protocol.ResolvePayload{EntityRef: ref(pricing), ConflictID: ack.Conflict.ID, Resolution: "local"})
		}, true},
		{"undo", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.Undo(f.ctx, c, note, 1, 0, nil)
		}, true},
		{"comment", func(f *fixture, c collab.Call) (any, error) {
			return f.svc.AddComment(f.ctx, c, note, protocol.CommentAddPayload{EntityRef: ref(note), Text: "<b>é</b> \u2028"})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			setup(f)
			f.rec.take()
			first, err := tt.do(f, f.call("bob", "m"))
			if err != nil {
				t.Fatal(err)
			}
			before := heads(f, note, pricing)
			announced := ids(f.rec.take())
			f.now = f.now.Add(time.Second)
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
			if !tt.repeats {
				announced = nil
			}
			if got := ids(f.rec.take()); !slices.Equal(got, announced) {
				t.Errorf("the replay announced %q, want %q", got, announced)
			}
		})
	}
}

// ids are the kind, type, channel and messageId of each event; of an
// activity entry, its id and time.
func ids(ev []event) []string {
	var out []string
	for _, e := range ev {
		if e.kind == "activity" {
			out = append(out, fmt.Sprintf("activity %s %s", e.activity.ID, e.activity.At.Format(time.RFC3339Nano)))
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s %s %v", e.kind, e.typ, e.channel, e.messageID, e.users))
	}
	return out
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

// lostReplyStore applies the first Commit and the first AddComment and
// then reports that the call timed out, as a DynamoDB transaction that was
// applied but whose answer did not arrive before the request's deadline.
type lostReplyStore struct {
	*memory.Store
	commitLost, commentLost atomic.Bool
}

func (s *lostReplyStore) Commit(ctx context.Context, c store.Commit) error {
	if err := s.Store.Commit(ctx, c); err != nil {
		return err
	}
	if s.commitLost.CompareAndSwap(false, true) {
		return context.DeadlineExceeded
	}
	return nil
}

func (s *lostReplyStore) AddComment(ctx context.Context, c store.Comment, idem *store.Idempotency) error {
	if err := s.Store.AddComment(ctx, c, idem); err != nil {
		return err
	}
	if s.commentLost.CompareAndSwap(false, true) {
		return context.DeadlineExceeded
	}
	return nil
}

// TestResendAfterLostReply: a change or comment stored by a first attempt
// whose caller saw a timeout is announced when the request is resent: the
// change event, the activity entry (stored with the change, announced with
// the id and time it has on every resend) and the comment event. The resend got
// the recorded reply and nothing was ever announced.
func TestResendAfterLostReply(t *testing.T) {
	now := epoch
	clock := store.Clock(func() time.Time { return now })
	st := &lostReplyStore{Store: memory.New(clock)}
	rec := &recorder{}
	svc := collab.New(collab.Config{NoWriteQueue: true}, st, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	e := entity("note", "n1")
	call := func(id string) collab.Call {
		return collab.Call{Conn: store.Connection{ID: "c-ann", UserID: "ann", Tenant: "acme"}, MessageID: id, RequestHash: "hash-" + id, Now: now, Notify: rec}
	}
	p := change(e, 0, "update", "title", "x")
	if _, err := svc.Change(ctx, call("m1"), e, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first attempt: %v, want the timeout", err)
	}
	if ev := rec.take(); len(ev) != 0 {
		t.Fatalf("first attempt announced %+v", ev)
	}
	var activity store.Activity
	for i := range 2 {
		now = now.Add(time.Second)
		ack, err := svc.Change(ctx, call("m1"), e, p)
		if err != nil || !ack.Applied || ack.Version != 1 {
			t.Fatalf("resend: %+v, %v; want the recorded reply, applied at version 1", ack, err)
		}
		ev := rec.take()
		if len(ev) != 2 || ev[0].kind != "broadcast" || ev[0].typ != protocol.TypeEventChange || ev[0].channel != "note:n1" ||
			ev[0].messageID != "chg-note:n1:1" || ev[1].kind != "activity" {
			t.Fatalf("resend #%d announced %+v; want the change event and the activity entry", i+1, ev)
		}
		a := ev[1].activity
		if a.ID == "" || !a.At.Equal(epoch.Truncate(time.Millisecond)) || a.Action != store.ActionUpdated {
			t.Errorf("activity entry %+v; want an id, the change's time and updated", a)
		}
		if i == 1 && (a.ID != activity.ID || !a.At.Equal(activity.At)) {
			t.Errorf("activity entry %s at %v on the second resend, %s at %v on the first; want the same", a.ID, a.At, activity.ID, activity.At)
		}
		activity = a
	}
	// The entry was written with the change by the first attempt; the
	// resends announced it and left it as it was.
	if feed, _, err := st.ListActivity(ctx, "acme", store.ActivityFilter{}, store.Page{}); err != nil || len(feed) != 1 || feed[0].ID != activity.ID {
		t.Errorf("feed = %+v, %v; want the one entry %s", feed, err, activity.ID)
	}

	cp := protocol.CommentAddPayload{EntityRef: ref(e), Text: "hello"}
	if _, err := svc.AddComment(ctx, call("c1"), e, cp); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first comment attempt: %v, want the timeout", err)
	}
	if ev := rec.take(); len(ev) != 0 {
		t.Fatalf("first comment attempt announced %+v", ev)
	}
	reply, err := svc.AddComment(ctx, call("c1"), e, cp)
	if err != nil || reply.Comment.Text != "hello" {
		t.Fatalf("comment resend: %+v, %v", reply, err)
	}
	ev := rec.take()
	if len(ev) != 2 {
		t.Fatalf("comment resend announced %+v; want the comment event on comments and the entity channel", ev)
	}
	for i, ch := range []string{protocol.ChannelComments, "note:n1"} {
		ce, ok := ev[i].payload.(protocol.CommentEvent)
		if ev[i].kind != "broadcast" || ev[i].typ != protocol.TypeEventComment || ev[i].channel != ch || !ok ||
			ce.Action != protocol.CommentAdded || ce.Comment.ID != reply.Comment.ID {
			t.Errorf("event %+v; want the added comment on %s", ev[i], ch)
		}
	}
}

// entryLostStore commits its first Commit without the activity entry, as
// an earlier version did (it put the entry after the commit), and reports
// a timeout, as an invocation stopped before that put; its next
// AddActivity fails once as throttled. Both are faults a real store
// cannot produce on demand.
type entryLostStore struct {
	*memory.Store
	committed, addFailed atomic.Bool
}

func (s *entryLostStore) Commit(ctx context.Context, c store.Commit) error {
	if s.committed.Swap(true) {
		return s.Store.Commit(ctx, c)
	}
	c.Activity = nil
	if err := s.Store.Commit(ctx, c); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

func (s *entryLostStore) AddActivity(ctx context.Context, a store.Activity) error {
	if s.addFailed.CompareAndSwap(false, true) {
		return store.ErrUnavailable
	}
	return s.Store.AddActivity(ctx, a)
}

// TestResendWritesTheEntryItAnnounces: a resend of a change stored without
// its activity entry writes the entry before it announces it; when that
// write fails, the resend fails as a first attempt would, announcing
// nothing, and the next resend writes and announces the entry.
func TestResendWritesTheEntryItAnnounces(t *testing.T) {
	now := epoch
	clock := store.Clock(func() time.Time { return now })
	st := &entryLostStore{Store: memory.New(clock)}
	rec := &recorder{}
	svc := collab.New(collab.Config{NoWriteQueue: true}, st, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	e := entity("note", "n1")
	call := collab.Call{Conn: store.Connection{ID: "c-ann", UserID: "ann", Tenant: "acme"}, MessageID: "m1", RequestHash: "hash-m1", Now: now, Notify: rec}
	p := change(e, 0, "update", "title", "x")
	feed := func() []store.Activity {
		t.Helper()
		got, _, err := st.ListActivity(ctx, "acme", store.ActivityFilter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if _, err := svc.Change(ctx, call, e, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first attempt: %v, want the timeout", err)
	}
	if _, err := svc.Change(ctx, call, e, p); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("resend whose entry cannot be written: %v, want ErrUnavailable", err)
	}
	if ev := rec.take(); len(ev) != 0 {
		t.Fatalf("resend whose entry cannot be written announced %+v", ev)
	}
	if got := feed(); len(got) != 0 {
		t.Fatalf("feed = %+v, want none yet", got)
	}
	ack, err := svc.Change(ctx, call, e, p)
	if err != nil || !ack.Applied || ack.Version != 1 {
		t.Fatalf("resend: %+v, %v; want the recorded reply, applied at version 1", ack, err)
	}
	ev := rec.take()
	if len(ev) != 2 || ev[0].kind != "broadcast" || ev[0].typ != protocol.TypeEventChange || ev[1].kind != "activity" {
		t.Fatalf("resend announced %+v; want the change event and the activity entry", ev)
	}
	got := feed()
	if len(got) != 1 || got[0].ID != ev[1].activity.ID || !got[0].At.Equal(ev[1].activity.At) || got[0].UserID != "ann" {
		t.Fatalf("feed = %+v; want the announced entry %+v", got, ev[1].activity)
	}
}
