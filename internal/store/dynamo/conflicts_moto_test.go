package dynamo_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestListConflictsSkipBound: ListConflicts of the unresolved conflicts
// passes over at most store.MaxConflictSkip resolved ones per call, and
// returns a cursor to read on from the last one it read: resolved
// conflicts are kept 30 days and their ids are ordered by time, so open
// ones may come after any number of them, and every sync lists the open
// ones. On DynamoDB such a call is one Query of the items it may read, not
// one Query per page of them (nor one per item, after a full page), and
// the memory store gives the same pages and cursors.
func TestListConflictsSkipBound(t *testing.T) {
	lek, clock, stores := lekStores(t)
	const run = store.MaxConflictSkip + 1
	behind := store.EntityKey{Tenant: "acme", Type: "pricing", ID: "behind"} // run resolved, then one open
	after := store.EntityKey{Tenant: "acme", Type: "pricing", ID: "after"}   // 5 open, then run resolved
	data := []byte(`{"x":"` + strings.Repeat("a", 1000) + `"}`)
	for name, s := range stores {
		conflict := func(e store.EntityKey, i int, resolved bool) {
			c := &store.Conflict{ID: fmt.Sprintf("%013d-a", i), CreatedAt: clock.Now(), Data: data}
			if resolved {
				c.Resolved, c.ExpiresAt = true, clock.Now().Add(30*24*time.Hour)
			}
			if err := s.Commit(t.Context(), store.Commit{Entity: e, Conflict: c}); err != nil {
				t.Fatalf("%s: conflict %d of %s (resolved %v): %v", name, i, e.ID, resolved, err)
			}
		}
		for i := range run + 5 {
			if i < run {
				conflict(behind, i, false)
				conflict(behind, i, true)
			}
			conflict(after, i, false)
			if i >= 5 {
				conflict(after, i, true)
			}
		}
		conflict(behind, run, false)
	}
	type page struct {
		conflicts int
		more      bool // a cursor
	}
	for _, c := range []struct {
		e     store.EntityKey
		limit int
		pages []page
	}{
		{behind, 50, []page{{0, true}, {1, false}}},
		{after, 5, []page{{5, true}, {0, false}}},
		{after, 50, []page{{5, true}, {0, false}}},
	} {
		cursors := map[string][]string{}
		for name, s := range stores {
			cursor := ""
			for i, want := range c.pages {
				before := lek.queries.Load()
				cs, next, err := s.ListConflicts(t.Context(), c.e, true, store.Page{Cursor: cursor, Limit: c.limit})
				if err != nil {
					t.Fatalf("%s, %s limit %d, page %d: %v", name, c.e.ID, c.limit, i+1, err)
				}
				if len(cs) != want.conflicts || (next != "") != want.more {
					t.Errorf("%s, %s limit %d, page %d: %d conflicts, next %q; want %d, a cursor %v", name, c.e.ID, c.limit, i+1, len(cs), next, want.conflicts, want.more)
				}
				if sent := lek.queries.Load() - before; name == "dynamo" && sent > 2 {
					t.Errorf("dynamo, %s limit %d, page %d: %d Queries, want at most 2", c.e.ID, c.limit, i+1, sent)
				}
				cursors[name] = append(cursors[name], next)
				cursor = next
			}
		}
		if fmt.Sprint(cursors["memory"]) != fmt.Sprint(cursors["dynamo"]) {
			t.Errorf("%s limit %d: cursors %q (memory) and %q (dynamo) differ", c.e.ID, c.limit, cursors["memory"], cursors["dynamo"])
		}
	}
}
