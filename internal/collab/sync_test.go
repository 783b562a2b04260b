package collab_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestSync answers from an entity of 5 versions with a history of 3
// kept changes.
func TestSync(t *testing.T) {
	f := newFixture(t, collab.Config{HistoryLimit: 3})
	e := entity("note", "n")
	for v := range int64(5) {
		f.mustChange("ann", fmt.Sprint("m", v), change(e, v, "update", fmt.Sprint("f", v), v))
	}
	tests := []struct {
		name     string
		since    int64
		limit    int
		snapshot bool
		changes  string // versions, comma-separated
		next     int64
		hasMore  bool
		code     protocol.Code
	}{
		{"from scratch", 0, 0, true, "", 5, false, ""},
		{"delta", 3, 0, false, "4,5", 5, false, ""},
		{"paged", 2, 2, false, "3,4", 4, true, ""},
		{"up to date", 5, 0, false, "", 5, false, ""},
		{"older than the history kept", 1, 0, true, "", 5, false, ""},
		{"ahead of the entity", 9, 0, true, "", 5, false, ""},
		{"largest since", 1<<63 - 1, 0, true, "", 5, false, ""},
		{"negative since", -1, 0, false, "", 0, false, protocol.CodeBadRequest},
		{"limit too large", 0, 101, false, "", 0, false, protocol.CodeBadRequest},
		{"negative limit", 0, -1, false, "", 0, false, protocol.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e), SinceVersion: tt.since, Limit: tt.limit})
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var vs []string
			for _, c := range r.Changes {
				vs = append(vs, fmt.Sprint(c.Version))
			}
			if r.Snapshot != tt.snapshot || strings.Join(vs, ",") != tt.changes || r.NextSinceVersion != tt.next || r.HasMore != tt.hasMore || r.Version != 5 {
				t.Errorf("sync = snapshot %v changes %v next %d more %v version %d", r.Snapshot, vs, r.NextSinceVersion, r.HasMore, r.Version)
			}
			if tt.snapshot && (len(r.Document) != 5 || r.Changes == nil) {
				t.Errorf("document %v, changes %v", r.Document, r.Changes)
			}
			if r.HistoryLimit != 3 || r.Strategy != "last-write-wins" || r.Conflicts == nil {
				t.Errorf("reply %+v", r)
			}
		})
	}
}

// TestSyncConflictPages: unresolved conflicts come with sync, a page at a
// time, continued by conflictsNextCursor; a cursor that is not one is
// BAD_REQUEST.
// pricingWithConflicts returns a fixture holding a pricing entity (manual
// strategy) at version 2 with n unresolved conflicts of about 9 KB each.
func pricingWithConflicts(t *testing.T, n int) (*fixture, store.EntityKey) {
	t.Helper()
	f := newFixture(t, collab.Config{})
	e := entity("pricing", "p")
	f.mustChange("ann", "m0", change(e, 0, "insert", "price", 1))
	f.mustChange("ann", "m1", change(e, 1, "update", "price", 2))
	big := strings.Repeat("x", 9<<10)
	for i := range n {
		if ack := f.mustChange("bob", fmt.Sprint("c", i), change(e, 1, "update", "price", big+fmt.Sprint(i))); ack.Conflict == nil {
			t.Fatalf("change %d: %s, want a conflict", i, ack.Outcome)
		}
	}
	return f, e
}

func TestSyncConflictPages(t *testing.T) {
	f, e := pricingWithConflicts(t, 12)
	seen := map[string]bool{}
	cursor, pages := "", 0
	for range 12 {
		pages++
		r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e), SinceVersion: 2, ConflictsCursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Conflicts {
			if seen[c.ID] {
				t.Fatalf("conflict %s listed twice", c.ID)
			}
			seen[c.ID] = true
		}
		if n, _ := protocol.JSONSize(r); n > protocol.ReplyBudget {
			t.Fatalf("reply of %d bytes", n)
		}
		if cursor = r.ConflictsNextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 12 || pages < 2 {
		t.Errorf("%d conflicts listed in %d pages, want 12 in more than one", len(seen), pages)
	}
	_, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e), ConflictsCursor: "%%"})
	wantCode(t, err, protocol.CodeBadRequest)
}

// TestSyncConflictsPastResolved: the open conflicts of an entity come
// after every conflict resolved before them (resolved ones are kept 30
// days and ids are ordered by time). One sync passes over at most
// store.MaxConflictSkip of them: its reply may hold no conflict, with
// conflictsNextCursor set, and following the cursor reaches the open one.
func TestSyncConflictsPastResolved(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("pricing", "p")
	f.mustChange("ann", "m0", change(e, 0, "insert", "price", 1))
	f.mustChange("ann", "m1", change(e, 1, "update", "price", 2))
	var ids []string
	for i := range store.MaxConflictSkip + 2 {
		f.now = f.now.Add(time.Millisecond)
		ack := f.mustChange("bob", fmt.Sprint("c", i), change(e, 1, "update", "price", 10+i))
		if ack.Conflict == nil {
			t.Fatalf("change %d: %s, want a conflict", i, ack.Outcome)
		}
		ids = append(ids, ack.Conflict.ID)
	}
	open := ids[len(ids)-1]
	for i, id := range ids[:len(ids)-1] {
		if _, err := f.svc.Resolve(f.ctx, f.call("ann", fmt.Sprint("r", i)), e, protocol.ResolvePayload{EntityRef: ref(e), ConflictID: id, Resolution: "remote"}); err != nil {
			t.Fatalf("resolve %s: %v", id, err)
		}
	}
	var got []int // conflicts per reply
	cursor := ""
	for range 5 {
		r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e), ConflictsCursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, len(r.Conflicts))
		if len(r.Conflicts) == 1 && r.Conflicts[0].ID != open {
			t.Fatalf("conflict %s listed, want only the open one, %s", r.Conflicts[0].ID, open)
		}
		if cursor = r.ConflictsNextCursor; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != "[0 1]" || cursor != "" {
		t.Errorf("conflicts per reply %v, last cursor %q; want [0 1]: none past the bound, with a cursor, then the open one", got, cursor)
	}
}

// TestSyncConflictsCursorBounded: a page of changes that fills the reply
// with no room for a conflict hands the client's conflictsCursor back, in
// the slack the page kept for a cursor. A cursor longer than any the store
// issues (here 16,000 characters, which the store would take as a key
// sorting before every conflict) is refused instead of making the reply
// too large to send.
func TestSyncConflictsCursorBounded(t *testing.T) {
	if store.MaxCursorLen+len(`,"conflictsNextCursor":""`) > protocol.CursorSlack {
		t.Fatalf("a cursor of store.MaxCursorLen (%d) does not fit protocol.CursorSlack (%d)", store.MaxCursorLen, protocol.CursorSlack)
	}
	f, e := pricingWithConflicts(t, 3)
	v := int64(2)
	f.mustChange("ann", "n0", change(e, v, "insert", "note", "x"))
	v++
	since := v
	for i := range 100 { // about 3 KB each: the page is cut with under 3 KB left
		f.now = f.now.Add(time.Millisecond)
		f.mustChange("ann", fmt.Sprint("u", i), change(e, v, "update", "note", strings.Repeat("y", 1000)+fmt.Sprint(i)))
		v++
	}
	key := store.ConflictSK("") // sorts before every conflict id
	for _, tt := range []struct {
		name   string
		cursor string
		code   protocol.Code
	}{
		{"longest accepted", base64.RawURLEncoding.EncodeToString([]byte(key + strings.Repeat("0", store.MaxCursorLen*3/4-len(key)))), ""},
		{"longer than any issued", base64.RawURLEncoding.EncodeToString([]byte(key + strings.Repeat("0", 12000-len(key)))), protocol.CodeBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e), SinceVersion: since, ConflictsCursor: tt.cursor})
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Conflicts) != 0 || r.ConflictsNextCursor != tt.cursor {
				t.Fatalf("%d conflicts, next cursor of %d bytes; want none, and the client's cursor (%d bytes) back", len(r.Conflicts), len(r.ConflictsNextCursor), len(tt.cursor))
			}
			if _, err := protocol.Reply(protocol.Envelope{Type: protocol.TypeSync, MessageID: "m"}, r, f.now); err != nil {
				t.Fatalf("the reply cannot be sent: %v", err)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	f := newFixture(t, collab.Config{HistoryLimit: 4})
	e := entity("note", "n")
	for v := range int64(6) {
		f.mustChange("ann", fmt.Sprint("m", v), change(e, v, "update", "f", v))
	}
	tests := []struct {
		name       string
		before     int64
		limit      int
		changes    string
		nextBefore int64
		code       protocol.Code
	}{
		{"newest", 0, 0, "6,5,4,3", 0, ""},
		{"paged", 0, 2, "6,5", 5, ""},
		{"next page", 5, 2, "4,3", 0, ""},
		{"before past the head", 1<<63 - 1, 1, "6", 6, ""},
		{"before the history kept", 2, 0, "", 0, ""},
		{"negative before", -1, 0, "", 0, protocol.CodeBadRequest},
		{"limit too large", 0, 1 << 40, "", 0, protocol.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := f.svc.History(f.ctx, e, protocol.HistoryPayload{EntityRef: ref(e), Before: tt.before, Limit: tt.limit})
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var vs []string
			for _, c := range r.Changes {
				vs = append(vs, fmt.Sprint(c.Version))
			}
			if strings.Join(vs, ",") != tt.changes || r.NextBefore != tt.nextBefore || r.HasMore != (tt.nextBefore != 0) || r.Changes == nil {
				t.Errorf("history = %v next %d more %v", vs, r.NextBefore, r.HasMore)
			}
		})
	}
}
