package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// cursorCases check the cursors a caller makes after an item of its
// choosing (store.ActivityCursor and the like): from any item of a page,
// the listing continues with exactly the items after it, as the handlers
// need when they cut a page to fit a reply.
func cursorCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"CursorAfterActivity", testCursorAfterActivity},
		{"CursorAfterPresenceUser", testCursorAfterPresenceUser},
		{"CursorAfterConflict", testCursorAfterConflict},
		{"CursorAfterComment", testCursorAfterComment},
	}
}

// checkCut requires, for every cut point of items (the full listing), that
// rest(cursor after item i) lists items[i+1:].
func checkCut[T any](t *testing.T, what string, items []T, id func(T) string, cursorAfter func(T) string, rest func(cursor string) []string) {
	t.Helper()
	var want []string
	for _, it := range items {
		want = append(want, id(it))
	}
	for i, it := range items {
		if got := rest(cursorAfter(it)); !slices.Equal(got, want[i+1:]) {
			t.Errorf("%s after %s: %v, want %v", what, id(it), got, want[i+1:])
		}
	}
}

// drain pages through a listing from cursor with pages of two and returns
// the key of each item, a key repeated by consecutive items once.
func drain[T any](t *testing.T, what string, cursor string, list func(p store.Page) ([]T, string, error), key func(T) string) []string {
	t.Helper()
	var keys []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s: no end", what)
		}
		page, next, err := list(store.Page{Cursor: cursor, Limit: 2})
		if err != nil {
			t.Fatalf("%s from a made cursor: %v", what, err)
		}
		for _, it := range page {
			if k := key(it); len(keys) == 0 || keys[len(keys)-1] != k {
				keys = append(keys, k)
			}
		}
		if next == "" {
			return keys
		}
		cursor = next
	}
}

func testCursorAfterActivity(t *testing.T, f *fixture) {
	for i := range 7 {
		f.putActivity(t, f.activity("acme", i, store.ActionUpdated, "order", time.Duration(i)*time.Second))
	}
	all, _, err := f.s.ListActivity(f.ctx, "acme", store.ActivityFilter{}, store.Page{Limit: 100})
	if err != nil || len(all) != 7 {
		t.Fatalf("ListActivity: %d entries, %v", len(all), err)
	}
	id := func(a store.Activity) string { return a.ID }
	checkCut(t, "activity", all, id, store.ActivityCursor, func(cursor string) []string {
		return drain(t, "ListActivity", cursor, func(p store.Page) ([]store.Activity, string, error) {
			return f.s.ListActivity(f.ctx, "acme", store.ActivityFilter{}, p)
		}, id)
	})
}

func testCursorAfterPresenceUser(t *testing.T, f *fixture) {
	// Users with one or two tabs: the cursor after a user's last entry
	// continues with the next user.
	for i := range 5 {
		user := fmt.Sprintf("user%d", i)
		for tab := range 1 + i%2 {
			f.putSession(t, store.SessionWrite{Session: f.session("acme", user, fmt.Sprintf("c%d-%d", i, tab), "room1")})
		}
	}
	all, _, err := f.s.ListPresence(f.ctx, "acme", "room1", store.Page{Limit: 100})
	if err != nil || len(all) != 7 {
		t.Fatalf("ListPresence: %d entries, %v", len(all), err)
	}
	// The last entry of each user.
	var lasts []store.Presence
	for i, e := range all {
		if i+1 == len(all) || all[i+1].UserID != e.UserID {
			lasts = append(lasts, e)
		}
	}
	user := func(e store.Presence) string { return e.UserID }
	checkCut(t, "presence", lasts, user, store.PresenceCursor, func(cursor string) []string {
		return drain(t, "ListPresence", cursor, func(p store.Page) ([]store.Presence, string, error) {
			return f.s.ListPresence(f.ctx, "acme", "room1", p)
		}, user)
	})
}

func testCursorAfterConflict(t *testing.T, f *fixture) {
	if err := f.commitVersion(t, entA, 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c3", "c1", "c5", "c2", "c4"} {
		c := &store.Conflict{ID: id, CreatedAt: f.clock.Now(), Data: []byte(`{}`)}
		if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 1, Conflict: c}); err != nil {
			t.Fatalf("commit conflict %s: %v", id, err)
		}
	}
	rest := func(cursor string) []string {
		return drain(t, "ListConflicts", cursor, func(p store.Page) ([]store.Conflict, string, error) {
			return f.s.ListConflicts(f.ctx, entA, true, p)
		}, func(c store.Conflict) string { return c.ID })
	}
	all := []string{"c1", "c2", "c3", "c4", "c5"}
	if got := rest(store.ConflictCursor("")); !slices.Equal(got, all) {
		t.Errorf("from ConflictCursor(\"\"): %v, want every conflict %v", got, all)
	}
	checkCut(t, "conflict", all, func(id string) string { return id }, store.ConflictCursor, rest)
}

func testCursorAfterComment(t *testing.T, f *fixture) {
	for i := range 5 {
		c := store.Comment{Entity: entA, ID: fmt.Sprintf("%013d-x", 1000+i), UserID: "u1", Text: fmt.Sprint(i), CreatedAt: f.clock.Now()}
		if err := f.s.AddComment(f.ctx, c, nil); err != nil {
			t.Fatalf("AddComment: %v", err)
		}
	}
	all, _, err := f.s.ListComments(f.ctx, entA, store.Page{Limit: 100})
	if err != nil || len(all) != 5 {
		t.Fatalf("ListComments: %d, %v", len(all), err)
	}
	id := func(c store.Comment) string { return c.ID }
	checkCut(t, "comment", all, id, func(c store.Comment) string { return store.CommentCursor(c.ID) }, func(cursor string) []string {
		return drain(t, "ListComments", cursor, func(p store.Page) ([]store.Comment, string, error) {
			return f.s.ListComments(f.ctx, entA, p)
		}, id)
	})
}
