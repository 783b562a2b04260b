package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

func outboxCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"OutboxWithEveryStoredChange", testOutbox},
		{"OutboxWithEveryLockAndCommentEvent", testOutboxLocksComments},
		{"OutboxLiveItemsPastExpiredOnes", testOutboxPastExpired},
		{"OutboxLockExpiredByTTL", testOutboxLockExpiredByTTL},
	}
}

// pendingOutbox lists every shard's outbox items, in shard order.
func (f *fixture) pendingOutbox(t *testing.T) []store.OutboxItem {
	t.Helper()
	var all []store.OutboxItem
	for shard := range store.OutboxShards {
		items, err := f.s.ListOutbox(f.ctx, shard, 0)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, items...)
	}
	return all
}

// testOutbox: every commit that stores a change writes its outbox item in
// the same write (a commit refused by its condition writes none, a commit
// without a change writes none); a shard lists each entity's items in
// version order; deleted items are gone, and deleting twice is fine;
// items expire after store.OutboxTTL.
func testOutbox(t *testing.T, f *fixture) {
	ents := []store.EntityKey{{Tenant: "t", Type: "order", ID: "1"}, {Tenant: "t", Type: "order", ID: "2"}, {Tenant: "u", Type: "order", ID: "1"}}
	for _, e := range ents {
		for v := int64(1); v <= 3; v++ {
			if err := f.commitVersion(t, e, v, nil); err != nil {
				t.Fatalf("commit %s v%d: %v", e, v, err)
			}
		}
	}
	// Refused: stale base, and an existing version.
	if err := f.commitVersion(t, ents[0], 3, nil); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("stale commit: %v", err)
	}
	// No change: a head-only commit.
	if err := f.s.Commit(f.ctx, store.Commit{Entity: ents[1], BaseVersion: 3}); err != nil {
		t.Fatal(err)
	}
	items := f.pendingOutbox(t)
	if len(items) != len(ents)*3 {
		t.Fatalf("%d outbox items, want %d", len(items), len(ents)*3)
	}
	last := map[store.EntityKey]int64{}
	for _, it := range items {
		if it.Version != last[it.Entity]+1 {
			t.Fatalf("%s: version %d after %d, want each entity's versions in order", it.Entity, it.Version, last[it.Entity])
		}
		last[it.Entity] = it.Version
		if want := fmt.Sprintf(`"v%d"`, it.Version); string(it.Data) != want {
			t.Fatalf("%s v%d data %q, want %q", it.Entity, it.Version, it.Data, want)
		}
	}
	for _, e := range ents {
		if last[e] != 3 {
			t.Fatalf("%s: last outbox version %d, want 3", e, last[e])
		}
	}
	if err := f.s.DeleteOutbox(f.ctx, items[:2]); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteOutbox(f.ctx, items[:2]); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	if left := f.pendingOutbox(t); len(left) != len(items)-2 {
		t.Fatalf("%d items left, want %d", len(left), len(items)-2)
	}
	if got, err := f.s.ListOutbox(f.ctx, store.OutboxShard(ents[0]), 1); err != nil || len(got) != 1 {
		t.Fatalf("ListOutbox limit 1 = %d items, %v", len(got), err)
	}
	f.clock.Advance(store.OutboxTTL)
	if left := f.pendingOutbox(t); len(left) != 0 {
		t.Fatalf("%d items listed after OutboxTTL, want none", len(left))
	}
}

// testOutboxLocksComments: a lock grant, a release (by its holder or with
// its connection) and the removal or replacement of an expired grant (with
// its connection too) each
// write one lock item in the same write, and a refused or no-op lock
// write (held by another, a renewal, a release by someone else, an
// expired grant already gone) none; an added comment and each resolve
// and reopen write one comment item, and a refused one none. Items carry
// the event, the user, the fencing token or comment id, and times.
func testOutboxLocksComments(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2", "c3", "c4")
	l1 := f.acquire(t, f.lock(entA, "u1", "c1", time.Minute))
	if _, err := f.s.AcquireLock(f.ctx, f.lock(entA, "u2", "c2", time.Minute)); !errors.Is(err, store.ErrLockHeld) {
		t.Fatalf("AcquireLock by u2: %v, want ErrLockHeld", err)
	}
	f.acquire(t, f.lock(entA, "u1", "c1", 2*time.Minute)) // a renewal
	if _, err := f.s.RenewLock(f.ctx, entA, "u1", "c1", f.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ReleaseLock(f.ctx, entA, "u2"); !errors.Is(err, store.ErrNotHolder) {
		t.Fatalf("ReleaseLock by u2: %v, want ErrNotHolder", err)
	}
	if _, err := f.s.ReleaseLock(f.ctx, entA, "u1"); err != nil {
		t.Fatal(err)
	}
	f.acquire(t, f.lock(entA, "u2", "c2", 10*time.Second)) // token 2, left to expire
	f.clock.Advance(11 * time.Second)
	l3 := f.acquire(t, f.lock(entA, "u1", "c1", 10*time.Second)) // replaces expired token 2
	f.clock.Advance(11 * time.Second)
	if ok, err := f.s.DeleteExpiredLock(f.ctx, l3); err != nil || !ok {
		t.Fatalf("DeleteExpiredLock = %v, %v", ok, err)
	}
	if ok, err := f.s.DeleteExpiredLock(f.ctx, l3); err != nil || ok {
		t.Fatalf("DeleteExpiredLock again = %v, %v", ok, err)
	}
	f.acquire(t, f.lock(entB, "u3", "c3", time.Minute))
	if got, err := f.s.ReleaseConnectionLocks(f.ctx, "c3"); err != nil || len(got) != 1 {
		t.Fatalf("ReleaseConnectionLocks = %v, %v", got, err)
	}
	// A grant that lapsed before its connection went is removed with it as
	// expired, not released.
	entC := store.EntityKey{Tenant: "acme", Type: "order", ID: "789"}
	f.acquire(t, f.lock(entC, "u4", "c4", 10*time.Second))
	f.clock.Advance(11 * time.Second)
	if got, err := f.s.ReleaseConnectionLocks(f.ctx, "c4"); err != nil || len(got) != 1 {
		t.Fatalf("ReleaseConnectionLocks of a lapsed grant = %v, %v", got, err)
	}

	c := store.Comment{Entity: entB, ID: "0000000001000-a", UserID: "u1", Text: "ship it?", CreatedAt: f.clock.Now()}
	if err := f.s.AddComment(f.ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.s.AddComment(f.ctx, c, nil); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("AddComment twice: %v", err)
	}
	resolvedAt := f.clock.Now().Add(time.Second)
	if _, err := f.s.ResolveComment(f.ctx, entB, c.ID, true, "u2", resolvedAt); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ResolveComment(f.ctx, entB, c.ID, false, "u3", resolvedAt.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ResolveComment(f.ctx, entB, "0000000009999-z", true, "u2", resolvedAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("resolve a missing comment: %v", err)
	}

	type want struct {
		entity       store.EntityKey
		kind, event  string
		user         string
		token        int64
		resolved     bool
		at           time.Time
		seqHasPrefix string
	}
	wants := map[string]want{}
	add := func(w want) { wants[w.entity.String()+"/"+w.kind+"/"+w.seqHasPrefix+"/"+w.event] = w }
	add(want{entA, store.OutboxLock, store.LockAcquired, "u1", l1.Token, false, time.Time{}, fmt.Sprintf("%012d", l1.Token)})
	add(want{entA, store.OutboxLock, store.LockReleased, "u1", l1.Token, false, time.Time{}, fmt.Sprintf("%012d", l1.Token)})
	add(want{entA, store.OutboxLock, store.LockAcquired, "u2", l1.Token + 1, false, time.Time{}, fmt.Sprintf("%012d", l1.Token+1)})
	add(want{entA, store.OutboxLock, store.LockExpired, "u2", l1.Token + 1, false, time.Time{}, fmt.Sprintf("%012d", l1.Token+1)})
	add(want{entA, store.OutboxLock, store.LockAcquired, "u1", l3.Token, false, time.Time{}, fmt.Sprintf("%012d", l3.Token)})
	add(want{entA, store.OutboxLock, store.LockExpired, "u1", l3.Token, false, time.Time{}, fmt.Sprintf("%012d", l3.Token)})
	add(want{entB, store.OutboxLock, store.LockAcquired, "u3", 1, false, time.Time{}, fmt.Sprintf("%012d", 1)})
	add(want{entB, store.OutboxLock, store.LockReleased, "u3", 1, false, time.Time{}, fmt.Sprintf("%012d", 1)})
	add(want{entC, store.OutboxLock, store.LockAcquired, "u4", 1, false, time.Time{}, fmt.Sprintf("%012d", 1)})
	add(want{entC, store.OutboxLock, store.LockExpired, "u4", 1, false, time.Time{}, fmt.Sprintf("%012d", 1)})
	add(want{entB, store.OutboxComment, store.CommentAdded, "u1", 0, false, c.CreatedAt, c.ID})
	add(want{entB, store.OutboxComment, store.CommentResolved, "u2", 0, true, resolvedAt, c.ID})
	add(want{entB, store.OutboxComment, store.CommentReopened, "u3", 0, false, resolvedAt.Add(time.Second), c.ID})

	items := f.pendingOutbox(t)
	if len(items) != len(wants) {
		t.Fatalf("%d outbox items, want %d: %+v", len(items), len(wants), items)
	}
	lastSeq := map[string]string{}
	for _, it := range items {
		if it.Version != 0 || it.IsChange() {
			t.Fatalf("item %+v: want a lock or comment item", it)
		}
		order := it.Entity.String() + "/" + it.Kind
		if it.Seq <= lastSeq[order] {
			t.Fatalf("%s: seq %q after %q, want each entity's items in order", order, it.Seq, lastSeq[order])
		}
		lastSeq[order] = it.Seq
		seqParts := strings.Split(it.Seq, "#")
		event := seqParts[len(seqParts)-1]
		w, ok := wants[order+"/"+seqParts[0]+"/"+event]
		if !ok {
			t.Fatalf("unexpected outbox item %s %s %s", it.Entity, it.Kind, it.Seq)
		}
		delete(wants, order+"/"+seqParts[0]+"/"+event)
		switch it.Kind {
		case store.OutboxLock:
			var ev store.LockEvent
			if err := json.Unmarshal(it.Data, &ev); err != nil {
				t.Fatalf("lock item %s: %v", it.Seq, err)
			}
			if ev.Event != w.event || ev.UserID != w.user || ev.Username != "name of "+w.user || ev.Token != w.token || ev.At.IsZero() || ev.AcquiredAt.IsZero() {
				t.Fatalf("lock item %s = %+v, want %+v", it.Seq, ev, w)
			}
		case store.OutboxComment:
			var ev store.CommentEvent
			if err := json.Unmarshal(it.Data, &ev); err != nil {
				t.Fatalf("comment item %s: %v", it.Seq, err)
			}
			if ev.Event != w.event || ev.UserID != w.user || ev.CommentID != c.ID || ev.AuthorID != "u1" || ev.Text != c.Text ||
				ev.Resolved != w.resolved || !ev.At.Equal(w.at) {
				t.Fatalf("comment item %s = %+v, want %+v", it.Seq, ev, w)
			}
		default:
			t.Fatalf("item kind %q", it.Kind)
		}
	}
	if len(wants) != 0 {
		t.Fatalf("missing outbox items: %v", wants)
	}
	if err := f.s.DeleteOutbox(f.ctx, items); err != nil {
		t.Fatal(err)
	}
	if left := f.pendingOutbox(t); len(left) != 0 {
		t.Fatalf("%d items left after DeleteOutbox", len(left))
	}
}

// testOutboxPastExpired: expired items that the TTL has not removed yet
// sort ahead of a live item in a shard (a relay that was down past
// OutboxTTL, then a new commit); ListOutbox still returns the live item,
// however many expired ones come first, so that the relay, which stops at
// an empty page, relays it.
func testOutboxPastExpired(t *testing.T, f *fixture) {
	old := store.EntityKey{Tenant: "a", Type: "order", ID: "1"}
	shard := store.OutboxShard(old)
	var fresh store.EntityKey
	for i := 0; ; i++ {
		if fresh = (store.EntityKey{Tenant: "b", Type: "order", ID: fmt.Sprint(i)}); store.OutboxShard(fresh) == shard {
			break
		}
	}
	for v := int64(1); v <= 30; v++ {
		if err := f.s.Commit(f.ctx, store.Commit{Entity: old, BaseVersion: v - 1,
			Head: &store.Head{Version: v, Doc: []byte(`{}`)}, Change: &store.Change{Version: v, Data: []byte(`"x"`)}}); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(store.OutboxTTL + time.Hour)
	if err := f.s.Commit(f.ctx, store.Commit{Entity: fresh, Head: &store.Head{Version: 1, Doc: []byte(`{}`)},
		Change: &store.Change{Version: 1, Data: []byte(`"live"`)}}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 10, 100} {
		items, err := f.s.ListOutbox(f.ctx, shard, limit)
		if err != nil || len(items) != 1 || items[0].Entity != fresh {
			t.Fatalf("ListOutbox(limit %d) past 30 expired items = %+v, %v; want the one live item", limit, items, err)
		}
	}
}

// testOutboxLockExpiredByTTL: ExpiredByTTL writes the expired event of a
// grant as DeleteExpiredLock does (the same item: key, holder, token and
// times); writing it again leaves one item.
func testOutboxLockExpiredByTTL(t *testing.T, f *fixture) {
	l := store.Lock{Entity: entA, Token: 7, Holder: "u1", HolderName: "Ann",
		AcquiredAt: f.clock.Now().Add(-time.Minute), ExpiresAt: f.clock.Now()}
	for range 2 {
		if err := f.s.ExpiredByTTL(f.ctx, l); err != nil {
			t.Fatalf("ExpiredByTTL: %v", err)
		}
	}
	items := f.pendingOutbox(t)
	want := store.LockOutboxItem(l, store.LockExpired, f.clock.Now())
	if len(items) != 1 || items[0].SK() != want.SK() || items[0].Kind != store.OutboxLock {
		t.Fatalf("outbox items %+v, want one with key %s", items, want.SK())
	}
	var got store.LockEvent
	if err := json.Unmarshal(items[0].Data, &got); err != nil {
		t.Fatal(err)
	}
	var exp store.LockEvent
	_ = json.Unmarshal(want.Data, &exp)
	if !got.At.Equal(exp.At) || !got.AcquiredAt.Equal(exp.AcquiredAt) || !got.ExpiresAt.Equal(exp.ExpiresAt) {
		t.Errorf("times of %+v, want those of %+v", got, exp)
	}
	got.At, got.AcquiredAt, got.ExpiresAt, exp.At, exp.AcquiredAt, exp.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != exp {
		t.Errorf("event %+v, want %+v", got, exp)
	}
}
