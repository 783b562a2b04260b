package collab_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// maxRebaseBytes is the bound docs/PROTOCOL.md gives the changes a
// change or undo is carried past.
const maxRebaseBytes = 1 << 20

// countingStore is a memory store that counts what ListChanges reads,
// and can run a function before a commit (a concurrent writer).
type countingStore struct {
	*memory.Store
	calls, items, bytes int
	beforeCommit        func()
}

func (c *countingStore) ListChanges(ctx context.Context, e store.EntityKey, q store.ChangeQuery) ([]store.Change, error) {
	out, err := c.Store.ListChanges(ctx, e, q)
	c.calls++
	for _, ch := range out {
		c.items++
		c.bytes += len(ch.Data)
	}
	return out, err
}

func (c *countingStore) Commit(ctx context.Context, cm store.Commit) error {
	if f := c.beforeCommit; f != nil {
		c.beforeCommit = nil
		f()
	}
	return c.Store.Commit(ctx, cm)
}

func (c *countingStore) reset() { c.calls, c.items, c.bytes = 0, 0, 0 }

// countingFixture is a fixture whose service reads through a
// countingStore.
func countingFixture(t *testing.T) (*fixture, *countingStore) {
	f := newFixture(t, collab.Config{})
	cs := &countingStore{Store: f.st}
	clock := store.Clock(func() time.Time { return f.now })
	f.svc = collab.New(collab.Config{NoWriteQueue: true}, cs, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return f, cs
}

// largeChanges writes n changes of field k of e from version base on,
// each with a value of about 9 KiB (a change record of about 37 KiB:
// before, after, the operation's value and the inverse's), so that a
// reply holds 4 of them.
func largeChanges(f *fixture, e store.EntityKey, base int64, n int) {
	big := strings.Repeat("x", 9<<10)
	for i := range n {
		op := "update"
		if i == 0 {
			op = "insert"
		}
		v := base + int64(i)
		f.mustChange("ann", fmt.Sprint(e.ID, v), change(e, v, op, "k", big[:len(big)-i]))
	}
}

// History and sync read about what their replies hold, not a whole page
// of records for a reply that keeps a few of them, and answer as before:
// the same pages of the same changes.
func TestReadsBoundedByReply(t *testing.T) {
	f, cs := countingFixture(t)
	e := entity("customer", "big")
	largeChanges(f, e, 0, 101)

	cs.reset()
	rep, err := f.svc.History(f.ctx, e, protocol.HistoryPayload{EntityRef: ref(e)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 4 || rep.Changes[0].Version != 101 || !rep.HasMore || rep.NextBefore != 98 {
		t.Fatalf("history: %d changes from %d, more %v next %d", len(rep.Changes), rep.Changes[0].Version, rep.HasMore, rep.NextBefore)
	}
	if cs.items > len(rep.Changes)+1 {
		t.Errorf("one history page of %d changes read %d records (%d bytes)", len(rep.Changes), cs.items, cs.bytes)
	}

	cs.reset()
	pages, next := 0, int64(102)
	for before := int64(0); ; {
		rep, err := f.svc.History(f.ctx, e, protocol.HistoryPayload{EntityRef: ref(e), Before: before})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range rep.Changes {
			if next--; c.Version != next {
				t.Fatalf("history page %d: version %d, want %d", pages, c.Version, next)
			}
		}
		if !rep.HasMore {
			break
		}
		before = rep.NextBefore
	}
	if pages != 25 || next != 2 {
		t.Errorf("paging the history: %d pages down to version %d, want 25 down to 2", pages, next)
	}
	if cs.items > 100+pages {
		t.Errorf("paging the history of 100 changes read %d records (%d bytes) in %d pages", cs.items, cs.bytes, pages)
	}

	cs.reset()
	pages, next = 0, 1
	for since := int64(1); ; {
		rep, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e), SinceVersion: since})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if rep.Snapshot {
			t.Fatalf("sync page %d: a snapshot", pages)
		}
		for _, c := range rep.Changes {
			if next++; c.Version != next {
				t.Fatalf("sync page %d: version %d, want %d", pages, c.Version, next)
			}
		}
		since = rep.NextSinceVersion
		if !rep.HasMore {
			break
		}
	}
	if pages != 25 || next != 101 {
		t.Errorf("sync catch-up: %d pages up to version %d, want 25 up to 101", pages, next)
	}
	if cs.items > 100+pages {
		t.Errorf("a sync catch-up of 100 changes read %d records (%d bytes) in %d pages", cs.items, cs.bytes, pages)
	}
}

// Small changes are still read in few calls: a page of 100 takes four
// (of 4, 12, 48 and 36 changes).
func TestReadsOfSmallChanges(t *testing.T) {
	f, cs := countingFixture(t)
	e := entity("customer", "small")
	for v := range int64(101) {
		f.mustChange("ann", fmt.Sprint("m", v), change(e, v, "update", "k", v))
	}
	cs.reset()
	rep, err := f.svc.History(f.ctx, e, protocol.HistoryPayload{EntityRef: ref(e)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 100 || rep.HasMore || cs.items != 100 || cs.calls > 4 {
		t.Errorf("history: %d changes, more %v; read %d records in %d calls", len(rep.Changes), rep.HasMore, cs.items, cs.calls)
	}
	cs.reset()
	srep, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e), SinceVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(srep.Changes) != 100 || srep.HasMore || cs.items != 100 || cs.calls > 4 {
		t.Errorf("sync: %d changes, more %v; read %d records in %d calls", len(srep.Changes), srep.HasMore, cs.items, cs.calls)
	}
}

// A change is rebased past the changes after its base, read once for all
// its commit rounds; a base whose later changes are more than 1 MiB as
// stored is answered as one older than the history kept
// (VERSION_CONFLICT), having read about that much (a few records more at
// most), and so is an undo of a change followed by as much
// (UNDO_CONFLICT).
func TestReadsOfRebase(t *testing.T) {
	f, cs := countingFixture(t)
	e := entity("customer", "big")
	largeChanges(f, e, 0, 101)

	cs.reset()
	_, err := f.svc.Change(f.ctx, f.call("bob", "far"), e, change(e, 1, "update", "other", "v"))
	if !errors.Is(err, editing.ErrStale) {
		t.Errorf("a change 100 versions (3.7 MB) behind: %v, want a stale base", err)
	}
	if cs.bytes > maxRebaseBytes+128<<10 {
		t.Errorf("a change 100 versions behind read %d records, %d bytes", cs.items, cs.bytes)
	}

	e2 := entity("customer", "undo")
	f.mustChange("bob", "side", change(e2, 0, "insert", "side", "s"))
	largeChanges(f, e2, 1, 99)
	cs.reset()
	_, err = f.svc.Undo(f.ctx, f.call("bob", "undo-far"), e2, 1, 0, nil)
	if !errors.Is(err, editing.ErrUndoConflict) {
		t.Errorf("an undo of a change followed by 3.6 MB of changes: %v, want UNDO_CONFLICT", err)
	}
	if cs.bytes > maxRebaseBytes+128<<10 {
		t.Errorf("an undo 99 versions back read %d records, %d bytes", cs.items, cs.bytes)
	}

	// Ten versions behind, with another change committed between the
	// read and the write: the second round reads only that change.
	h, err := f.st.GetHead(f.ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	cs.reset()
	cs.beforeCommit = func() { f.mustChange("cy", "between", change(e, h.Version, "update", "third", "w")) }
	ack, err := f.svc.Change(f.ctx, f.call("bob", "near"), e, change(e, h.Version-10, "update", "other", "v2"))
	if err != nil || ack.Outcome != "merged" || ack.Version != h.Version+2 {
		t.Fatalf("a change 10 versions behind: %+v %v", ack, err)
	}
	if cs.items != 11 {
		t.Errorf("a change 10 versions behind, in two rounds, read %d records, want 11", cs.items)
	}
}
