package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// editingCases are the conformance cases of locks, entities, changes,
// conflicts and comments.
func editingCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"LockGrantRenewHeld", testLockGrant},
		{"LockRenewRelease", testLockRenewRelease},
		{"LockExpiryFencing", testLockExpiryFencing},
		{"LockConcurrentAcquire", testLockConcurrent},
		{"LockConnectionRelease", testLockConnection},
		{"LockExpiredSweep", testLockSweep},
		{"LockLastGrant", testLockLastGrant},
		{"LockNeedsLiveConnection", testLockLiveConnection},
		{"LockConnectionCount", testLockConnectionCount},
		{"CommitVersions", testCommitVersions},
		{"CommitHeadAtVersionZero", testCommitVersionZero},
		{"CommitHeadRevision", testCommitRevision},
		{"CommitIdempotency", testCommitIdempotency},
		{"IdempotencyRequestHash", testIdempotencyRequestHash},
		{"CommitConflicts", testCommitConflicts},
		{"CommitFence", testCommitFence},
		{"CommitTrim", testCommitTrim},
		{"CommitActivity", testCommitActivity},
		{"AddActivity", testAddActivity},
		{"Comments", testComments},
		{"CommentVersions", testCommentVersions},
		{"EditingTenantsAndNames", testEditingNames},
	}
}

var (
	entA = store.EntityKey{Tenant: "acme", Type: "order", ID: "123"}
	entB = store.EntityKey{Tenant: "acme", Type: "order", ID: "456"}
)

// lock returns a lock request on e by user through conn for ttl.
func (f *fixture) lock(e store.EntityKey, user, conn string, ttl time.Duration) store.Lock {
	now := f.clock.Now()
	return store.Lock{Entity: e, Holder: user, HolderName: "name of " + user, ConnID: conn,
		AcquiredAt: now.Add(250 * time.Millisecond), ExpiresAt: now.Add(ttl)}
}

// connected stores a live connection, without expiry, for each id: a
// lock is granted or renewed only to a live connection (store.Locks).
func (f *fixture) connected(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		c := f.conn(id, "acme", "user of "+id, 0)
		c.ExpiresAt = time.Time{}
		f.put(t, c)
	}
}

func (f *fixture) acquire(t *testing.T, l store.Lock) store.Lock {
	t.Helper()
	got, err := f.s.AcquireLock(f.ctx, l)
	if err != nil {
		t.Fatalf("AcquireLock(%q by %q): %v", l.Entity, l.Holder, err)
	}
	return got
}

// equalLock fails unless got has want's fields, with times as instants.
func equalLock(t *testing.T, got, want store.Lock) {
	t.Helper()
	if got.Entity != want.Entity || got.Holder != want.Holder || got.HolderName != want.HolderName ||
		got.ConnID != want.ConnID || got.Token != want.Token || !got.AcquiredAt.Equal(want.AcquiredAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("lock mismatch:\n got %+v\nwant %+v", got, want)
	}
}

func testLockGrant(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2", "c9")
	req := f.lock(entA, "u1", "c1", 30*time.Second)
	got := f.acquire(t, req)
	want := req
	want.Token = 1
	want.ExpiresAt = want.ExpiresAt.Truncate(time.Second)
	equalLock(t, got, want)
	stored, err := f.s.GetLock(f.ctx, entA)
	if err != nil {
		t.Fatalf("GetLock: %v", err)
	}
	equalLock(t, stored, want)

	// Someone else is refused and told who holds it.
	held, err := f.s.AcquireLock(f.ctx, f.lock(entA, "u2", "c2", time.Minute))
	if !errors.Is(err, store.ErrLockHeld) || held.Holder != "u1" || held.Token != 1 {
		t.Fatalf("AcquireLock by u2 = %+v, %v; want u1's lock and ErrLockHeld", held, err)
	}

	// The holder again, from another connection: a renewal keeping the
	// grant's token and start, moving the lock to that connection.
	f.clock.Advance(10 * time.Second)
	again := f.lock(entA, "u1", "c9", time.Minute)
	renewed := f.acquire(t, again)
	want.ConnID, want.ExpiresAt = "c9", again.ExpiresAt.Truncate(time.Second)
	equalLock(t, renewed, want)
	if locks, err := f.s.ReleaseConnectionLocks(f.ctx, "c1"); err != nil || len(locks) != 0 {
		t.Fatalf("ReleaseConnectionLocks(old connection) = %v, %v; want none", locks, err)
	}
	if _, err := f.s.GetLock(f.ctx, entA); err != nil {
		t.Fatalf("lock lost with its old connection: %v", err)
	}
	// Another entity has its own lock and its own tokens.
	if other := f.acquire(t, f.lock(entB, "u2", "c2", time.Minute)); other.Token != 1 {
		t.Fatalf("first grant on another entity has token %d, want 1", other.Token)
	}
}

func testLockRenewRelease(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2", "c3")
	f.acquire(t, f.lock(entA, "u1", "c1", 30*time.Second))
	exp := f.clock.Now().Add(2 * time.Minute)
	got, err := f.s.RenewLock(f.ctx, entA, "u1", "c2", exp)
	if err != nil || got.Token != 1 || !got.ExpiresAt.Equal(exp.Truncate(time.Second)) || got.ConnID != "c2" {
		t.Fatalf("RenewLock = %+v, %v", got, err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"renew by another", func() error { _, err := f.s.RenewLock(f.ctx, entA, "u2", "c3", exp); return err }},
		{"release by another", func() error { _, err := f.s.ReleaseLock(f.ctx, entA, "u2"); return err }},
		{"renew absent", func() error { _, err := f.s.RenewLock(f.ctx, entB, "u1", "c1", exp); return err }},
		{"release absent", func() error { _, err := f.s.ReleaseLock(f.ctx, entB, "u1"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrNotHolder) {
				t.Fatalf("err = %v, want ErrNotHolder", err)
			}
		})
	}
	// A refused release returns the lock stored, whoever holds it.
	l, err := f.s.ReleaseLock(f.ctx, entA, "u2")
	if !errors.Is(err, store.ErrNotHolder) {
		t.Fatalf("ReleaseLock by another: %v, want ErrNotHolder", err)
	}
	equalLock(t, l, got)
	if l, err := f.s.ReleaseLock(f.ctx, entB, "u1"); !errors.Is(err, store.ErrNotHolder) || l != (store.Lock{}) {
		t.Fatalf("ReleaseLock absent = %+v, %v; want no lock and ErrNotHolder", l, err)
	}
	rel, err := f.s.ReleaseLock(f.ctx, entA, "u1")
	if err != nil || rel.Token != 1 || rel.Holder != "u1" {
		t.Fatalf("ReleaseLock = %+v, %v", rel, err)
	}
	if _, err := f.s.GetLock(f.ctx, entA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLock after release: %v, want ErrNotFound", err)
	}
	if l, err := f.s.ReleaseLock(f.ctx, entA, "u1"); !errors.Is(err, store.ErrNotHolder) || l != (store.Lock{}) {
		t.Fatalf("second release = %+v, %v; want no lock and ErrNotHolder", l, err)
	}
	if locks, err := f.s.ReleaseConnectionLocks(f.ctx, "c2"); err != nil || len(locks) != 0 {
		t.Fatalf("ReleaseConnectionLocks after release = %v, %v; want none", locks, err)
	}
	// A grant after a release takes the next token.
	if l := f.acquire(t, f.lock(entA, "u2", "c3", time.Minute)); l.Token != 2 {
		t.Fatalf("grant after release has token %d, want 2", l.Token)
	}
}

func testLockExpiryFencing(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2")
	f.acquire(t, f.lock(entA, "u1", "c1", 10*time.Second))
	f.clock.Advance(9 * time.Second)
	if _, err := f.s.GetLock(f.ctx, entA); err != nil {
		t.Fatalf("GetLock before expiry: %v", err)
	}
	f.clock.Advance(time.Second) // ExpiresAt == now: expired
	if _, err := f.s.GetLock(f.ctx, entA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLock at expiry: %v, want ErrNotFound", err)
	}
	if _, err := f.s.RenewLock(f.ctx, entA, "u1", "c1", f.clock.Now().Add(time.Minute)); !errors.Is(err, store.ErrNotHolder) {
		t.Fatalf("renew of an expired lock: %v, want ErrNotHolder", err)
	}
	// A release of the expired lock is refused, returns it, and leaves it
	// for the sweeper.
	l, err := f.s.ReleaseLock(f.ctx, entA, "u1")
	if !errors.Is(err, store.ErrNotHolder) || l.Holder != "u1" || l.Token != 1 {
		t.Fatalf("release of an expired lock = %+v, %v; want u1's lock and ErrNotHolder", l, err)
	}
	if expired, err := f.s.ExpiredLocks(f.ctx, f.clock.Now(), 0); err != nil || len(expired) != 1 || expired[0].Token != 1 {
		t.Fatalf("ExpiredLocks after the refused release = %+v, %v; want the lock", expired, err)
	}
	// Grants after expiry, release and expiry again: tokens 2, 3, 4, also
	// when the holder of the expired grant takes it again.
	var tokens []int64
	tokens = append(tokens, f.acquire(t, f.lock(entA, "u2", "c2", 5*time.Second)).Token)
	f.clock.Advance(5 * time.Second)
	tokens = append(tokens, f.acquire(t, f.lock(entA, "u2", "c2", 5*time.Second)).Token)
	if _, err := f.s.ReleaseLock(f.ctx, entA, "u2"); err != nil {
		t.Fatalf("ReleaseLock: %v", err)
	}
	tokens = append(tokens, f.acquire(t, f.lock(entA, "u1", "c1", 5*time.Second)).Token)
	if !slices.Equal(tokens, []int64{2, 3, 4}) {
		t.Fatalf("tokens = %v, want [2 3 4]", tokens)
	}
}

func testLockConcurrent(t *testing.T, f *fixture) {
	const (
		workers = 6
		grants  = 12
	)
	var (
		mu     sync.Mutex
		holder string
		tokens []int64
		errs   []error
		wg     sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tokens) >= grants || len(errs) > 0
	}
	for w := range workers {
		user := fmt.Sprintf("u%d", w)
		f.connected(t, "c-"+user)
		wg.Go(func() {
			for !done() {
				l, err := f.s.AcquireLock(f.ctx, f.lock(entA, user, "c-"+user, time.Minute))
				if errors.Is(err, store.ErrLockHeld) || errors.Is(err, store.ErrUnavailable) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					fail(fmt.Errorf("AcquireLock by %s: %w", user, err))
					return
				}
				// The observer marks the holder between the grant and the
				// release: two marks at once are two holders at once.
				mu.Lock()
				if holder != "" {
					errs = append(errs, fmt.Errorf("%s granted token %d while %s holds the lock", user, l.Token, holder))
				}
				holder = user
				tokens = append(tokens, l.Token)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				holder = ""
				mu.Unlock()
				if _, err := f.s.ReleaseLock(f.ctx, entA, user); err != nil {
					fail(fmt.Errorf("ReleaseLock by %s: %w", user, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	for i, tok := range tokens {
		if tok != int64(i+1) {
			t.Fatalf("tokens in grant order = %v, want 1, 2, 3, ...", tokens)
		}
	}
}

func testLockConnection(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2")
	f.acquire(t, f.lock(entA, "u1", "c1", time.Minute))
	f.acquire(t, f.lock(entB, "u1", "c1", time.Second))
	entC := store.EntityKey{Tenant: "acme", Type: "pricing", ID: "9"}
	f.acquire(t, f.lock(entC, "u2", "c2", time.Minute))
	f.clock.Advance(time.Second) // entB's lock has expired: released all the same
	locks, err := f.s.ReleaseConnectionLocks(f.ctx, "c1")
	if err != nil {
		t.Fatalf("ReleaseConnectionLocks: %v", err)
	}
	var got []string
	for _, l := range locks {
		got = append(got, l.Entity.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"123", "456"}) {
		t.Fatalf("released %v, want [123 456]", got)
	}
	for _, e := range []store.EntityKey{entA, entB} {
		if _, err := f.s.GetLock(f.ctx, e); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetLock(%q) after release: %v", e, err)
		}
	}
	if _, err := f.s.GetLock(f.ctx, entC); err != nil {
		t.Errorf("another connection's lock was released: %v", err)
	}
	if locks, err := f.s.ReleaseConnectionLocks(f.ctx, "c1"); err != nil || len(locks) != 0 {
		t.Errorf("second ReleaseConnectionLocks = %v, %v; want none", locks, err)
	}
	if expired, err := f.s.ExpiredLocks(f.ctx, f.clock.Now().Add(time.Hour), 0); err != nil || len(expired) != 1 {
		t.Errorf("ExpiredLocks sees %v, %v; want only the other connection's lock", expired, err)
	}
}

func testLockSweep(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2", "c3", "c4")
	f.acquire(t, f.lock(entA, "u1", "c1", 10*time.Second))
	f.acquire(t, f.lock(entB, "u2", "c2", 20*time.Second))
	other := store.EntityKey{Tenant: "globex", Type: "order", ID: "1"}
	f.acquire(t, f.lock(other, "u3", "c3", time.Hour))

	if got, err := f.s.ExpiredLocks(f.ctx, f.clock.Now(), 0); err != nil || len(got) != 0 {
		t.Fatalf("ExpiredLocks before expiry = %v, %v", got, err)
	}
	f.clock.Advance(20 * time.Second)
	got, err := f.s.ExpiredLocks(f.ctx, f.clock.Now(), 0)
	if err != nil || len(got) != 2 || got[0].Entity != entA || got[1].Entity != entB {
		t.Fatalf("ExpiredLocks = %+v, %v; want entA then entB", got, err)
	}
	if one, err := f.s.ExpiredLocks(f.ctx, f.clock.Now(), 1); err != nil || len(one) != 1 || one[0].Entity != entA {
		t.Fatalf("ExpiredLocks limit 1 = %+v, %v", one, err)
	}
	// entB was taken again meanwhile: the sweeper must not delete the new
	// grant.
	f.acquire(t, f.lock(entB, "u4", "c4", time.Minute))
	for _, tt := range []struct {
		l    store.Lock
		want bool
	}{{got[0], true}, {got[0], false}, {got[1], false}} {
		ok, err := f.s.DeleteExpiredLock(f.ctx, tt.l)
		if err != nil || ok != tt.want {
			t.Fatalf("DeleteExpiredLock(%q token %d) = %v, %v; want %v", tt.l.Entity, tt.l.Token, ok, err, tt.want)
		}
	}
	if l, err := f.s.GetLock(f.ctx, entB); err != nil || l.Holder != "u4" {
		t.Fatalf("GetLock(entB) = %+v, %v; want u4's grant", l, err)
	}
	if locks, err := f.s.ReleaseConnectionLocks(f.ctx, "c1"); err != nil || len(locks) != 0 {
		t.Fatalf("swept lock still reachable from its connection: %v, %v", locks, err)
	}
}

// testLockLastGrant: once an entity's lock item is gone, LastGrant tells
// the grant its fencing counter numbered last, as it was made (holder,
// name, time, and the store's time of its write, GrantedAt), whatever
// renewed it since; while a lock item is stored, live or expired, it
// tells nothing.
func testLockLastGrant(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2", "c3")
	last := func(want store.Lock, ok bool) {
		t.Helper()
		got, found, err := f.s.LastGrant(f.ctx, entA)
		if err != nil || found != ok {
			t.Fatalf("LastGrant = %+v, %v, %v; want found %v", got, found, err, ok)
		}
		if ok {
			equalLock(t, got, want)
			if !got.GrantedAt.Equal(want.GrantedAt) {
				t.Fatalf("LastGrant's GrantedAt = %v, want %v", got.GrantedAt, want.GrantedAt)
			}
		}
	}
	last(store.Lock{}, false) // never locked
	first := f.lock(entA, "u1", "c1", 10*time.Second)
	firstAt := f.clock.Now()
	f.acquire(t, first)
	last(store.Lock{}, false)
	f.clock.Advance(5 * time.Second)
	renewed := f.lock(entA, "u1", "c2", 10*time.Second)
	renewed.HolderName = "new name of u1"
	f.acquire(t, renewed)
	f.clock.Advance(20 * time.Second)
	last(store.Lock{}, false) // expired, still stored
	expired, err := f.s.ExpiredLocks(f.ctx, f.clock.Now(), 0)
	if err != nil || len(expired) != 1 {
		t.Fatalf("ExpiredLocks = %v, %v", expired, err)
	}
	if ok, err := f.s.DeleteExpiredLock(f.ctx, expired[0]); err != nil || !ok {
		t.Fatalf("DeleteExpiredLock = %v, %v", ok, err)
	}
	last(store.Lock{Entity: entA, Token: 1, Holder: "u1", HolderName: first.HolderName, AcquiredAt: first.AcquiredAt, GrantedAt: firstAt}, true)

	f.clock.Advance(1500 * time.Millisecond)
	second := f.lock(entA, "u2", "c3", time.Minute)
	second.HolderName = ""
	secondAt := f.clock.Now()
	f.acquire(t, second)
	last(store.Lock{}, false)
	if _, err := f.s.ReleaseLock(f.ctx, entA, "u2"); err != nil {
		t.Fatalf("ReleaseLock: %v", err)
	}
	last(store.Lock{Entity: entA, Token: 2, Holder: "u2", AcquiredAt: second.AcquiredAt, GrantedAt: secondAt}, true)
}

// testLockLiveConnection: a grant or renewal goes only to a live
// connection: through one absent, expired or deleted it fails with
// ErrNotFound and writes nothing (no lock, no token taken, no outbox
// item, the lock renewed left as it was). A lock held by someone else is
// ErrLockHeld or ErrNotHolder whatever the connection.
func testLockLiveConnection(t *testing.T, f *fixture) {
	if _, err := f.s.AcquireLock(f.ctx, f.lock(entA, "u1", "c1", time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("grant through an absent connection: %v, want ErrNotFound", err)
	}
	if _, err := f.s.GetLock(f.ctx, entA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLock after a refused grant: %v, want ErrNotFound", err)
	}
	f.connected(t, "c1")
	l := f.acquire(t, f.lock(entA, "u1", "c1", time.Minute))
	if l.Token != 1 {
		t.Fatalf("first grant has token %d, want 1 (a refused grant takes none)", l.Token)
	}
	for _, tt := range []struct {
		name string
		call func() error
		want error
	}{
		{"renew to an absent connection", func() error {
			_, err := f.s.RenewLock(f.ctx, entA, "u1", "c2", f.clock.Now().Add(time.Hour))
			return err
		}, store.ErrNotFound},
		{"renew by acquiring through an absent connection", func() error {
			_, err := f.s.AcquireLock(f.ctx, f.lock(entA, "u1", "c2", time.Hour))
			return err
		}, store.ErrNotFound},
		{"another user through an absent connection", func() error {
			_, err := f.s.AcquireLock(f.ctx, f.lock(entA, "u2", "c3", time.Hour))
			return err
		}, store.ErrLockHeld},
		{"another user renewing through an absent connection", func() error {
			_, err := f.s.RenewLock(f.ctx, entA, "u2", "c3", f.clock.Now().Add(time.Hour))
			return err
		}, store.ErrNotHolder},
	} {
		if err := tt.call(); !errors.Is(err, tt.want) {
			t.Fatalf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if got, err := f.s.GetLock(f.ctx, entA); err != nil {
			t.Fatalf("%s: GetLock: %v", tt.name, err)
		} else {
			equalLock(t, got, l)
		}
	}
	// Expired, then deleted connections.
	f.put(t, f.conn("c5", "acme", "u5", 10*time.Second))
	f.connected(t, "c6")
	if _, _, err := f.s.DeleteConnection(f.ctx, "c6"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Second)
	for _, conn := range []string{"c5", "c6"} {
		if _, err := f.s.AcquireLock(f.ctx, f.lock(entB, "u5", conn, time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("grant through %s: %v, want ErrNotFound", conn, err)
		}
		if locks, err := f.s.ReleaseConnectionLocks(f.ctx, conn); err != nil || len(locks) != 0 {
			t.Fatalf("ReleaseConnectionLocks(%s) = %v, %v; want none", conn, locks, err)
		}
	}
	if _, err := f.s.GetLock(f.ctx, entB); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLock(entB) after refused grants: %v, want ErrNotFound", err)
	}
	if items := f.pendingOutbox(t); len(items) != 1 {
		t.Fatalf("outbox holds %d items, want 1: the one grant's", len(items))
	}
}

// commit performs one commit of version v (base v-1) of e with data
// "v<v>".
func (f *fixture) commitVersion(t *testing.T, e store.EntityKey, v int64, extra func(*store.Commit)) error {
	t.Helper()
	c := store.Commit{
		Entity: e, BaseVersion: v - 1,
		Head:   &store.Head{Version: v, Doc: fmt.Appendf(nil, `{"v":%d}`, v), UpdatedAt: f.clock.Now(), UpdatedBy: "u1"},
		Change: &store.Change{Version: v, Data: fmt.Appendf(nil, `"v%d"`, v)},
	}
	if extra != nil {
		extra(&c)
	}
	return f.s.Commit(f.ctx, c)
}

func versionsOf(cs []store.Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Version
		if want := fmt.Appendf(nil, `"v%d"`, c.Version); !bytes.Equal(c.Data, want) {
			out[i] = -1
		}
	}
	return out
}

func testCommitVersions(t *testing.T, f *fixture) {
	if _, err := f.s.GetHead(f.ctx, entA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetHead of a new entity: %v, want ErrNotFound", err)
	}
	st, err := f.s.LoadEntity(f.ctx, entA, "u1", "m1")
	if err != nil || st.Head.Version != 0 || st.Lock != nil || st.Idempotency != nil {
		t.Fatalf("LoadEntity of a new entity = %+v, %v", st, err)
	}
	for v := int64(1); v <= 5; v++ {
		if err := f.commitVersion(t, entA, v, nil); err != nil {
			t.Fatalf("commit version %d: %v", v, err)
		}
	}
	// A stale base loses, whatever else it writes.
	if err := f.commitVersion(t, entA, 3, nil); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("commit on base 2 at version 5: %v, want ErrConditionFailed", err)
	}
	if err := f.s.Commit(f.ctx, store.Commit{Entity: entB, BaseVersion: 1}); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("check of base 1 on a new entity: %v, want ErrConditionFailed", err)
	}
	head, err := f.s.GetHead(f.ctx, entA)
	if err != nil || head.Version != 5 || string(head.Doc) != `{"v":5}` || head.UpdatedBy != "u1" || head.Entity != entA {
		t.Fatalf("GetHead = %+v, %v", head, err)
	}
	// A head write that keeps the version (state only).
	if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 5,
		Head: &store.Head{Version: 5, Doc: head.Doc, State: []byte(`{"s":1}`)}}); err != nil {
		t.Fatalf("state-only commit: %v", err)
	}
	if st, err := f.s.LoadEntity(f.ctx, entA, "", ""); err != nil || st.Head.Version != 5 || string(st.Head.State) != `{"s":1}` {
		t.Fatalf("LoadEntity after state write = %+v, %v", st.Head, err)
	}
	tests := []struct {
		name string
		q    store.ChangeQuery
		want []int64
	}{
		{"all", store.ChangeQuery{}, []int64{1, 2, 3, 4, 5}},
		{"after", store.ChangeQuery{After: 3}, []int64{4, 5}},
		{"range", store.ChangeQuery{After: 1, Before: 4}, []int64{2, 3}},
		{"limit", store.ChangeQuery{After: 1, Limit: 2}, []int64{2, 3}},
		{"desc", store.ChangeQuery{Desc: true}, []int64{5, 4, 3, 2, 1}},
		{"desc page", store.ChangeQuery{Before: 5, Desc: true, Limit: 2}, []int64{4, 3}},
		{"empty", store.ChangeQuery{After: 5}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.ListChanges(f.ctx, entA, tt.q)
			if err != nil || !slices.Equal(versionsOf(got), tt.want) {
				t.Fatalf("ListChanges(%+v) = %v, %v; want %v", tt.q, versionsOf(got), err, tt.want)
			}
		})
	}
	if c, err := f.s.GetChange(f.ctx, entA, 3); err != nil || string(c.Data) != `"v3"` {
		t.Fatalf("GetChange(3) = %+v, %v", c, err)
	}
	if _, err := f.s.GetChange(f.ctx, entA, 6); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetChange(6): %v, want ErrNotFound", err)
	}
}

// testCommitVersionZero: a head written without a new version on an
// entity that has none yet (a crdt change that leaves the document as it
// is stores only its merge state) stands at version 0; commits on base 0
// and its revision find it there, as many times as they come, and the
// first change on it is version 1.
func testCommitVersionZero(t *testing.T, f *fixture) {
	var rev int64
	for i := range 2 {
		state := fmt.Appendf(nil, `{"s":%d}`, i)
		if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 0, BaseRevision: rev,
			Head: &store.Head{Version: 0, Doc: []byte(`{}`), State: state}}); err != nil {
			t.Fatalf("state-only commit %d on base 0: %v", i, err)
		}
		st, err := f.s.LoadEntity(f.ctx, entA, "", "")
		if err != nil || st.Head.Version != 0 || st.Head.Revision != rev+1 || !bytes.Equal(st.Head.State, state) {
			t.Fatalf("LoadEntity after state-only commit %d = %+v, %v; want version 0 revision %d", i, st.Head, err, rev+1)
		}
		rev = st.Head.Revision
	}
	if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 0, BaseRevision: rev}); err != nil {
		t.Fatalf("check of base 0 on a head at version 0: %v", err)
	}
	if err := f.commitVersion(t, entA, 1, func(c *store.Commit) { c.BaseRevision = rev }); err != nil {
		t.Fatalf("commit version 1 on a head at version 0: %v", err)
	}
	if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 0, BaseRevision: rev,
		Head: &store.Head{Version: 0, Doc: []byte(`{}`), State: []byte(`{"s":9}`)}}); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("state-only commit on base 0 at version 1: %v, want ErrConditionFailed", err)
	}
	if head, err := f.s.GetHead(f.ctx, entA); err != nil || head.Version != 1 || string(head.Doc) != `{"v":1}` {
		t.Fatalf("GetHead = %+v, %v", head, err)
	}
}

// testCommitRevision: every write of a head changes its version or its
// revision, so that a commit decided on the head as it was before fails
// even when the head kept its version (a write of the strategy state
// alone), whatever it writes or only checks.
func testCommitRevision(t *testing.T, f *fixture) {
	stateOnly := func(rev int64, state string) store.Commit {
		return store.Commit{Entity: entA, BaseVersion: 1, BaseRevision: rev,
			Head: &store.Head{Version: 1, Doc: []byte(`{"v":1}`), State: []byte(state), Revision: 99}}
	}
	head := func(version, rev int64, state string) {
		t.Helper()
		st, err := f.s.LoadEntity(f.ctx, entA, "", "")
		if err != nil || st.Head.Version != version || st.Head.Revision != rev || string(st.Head.State) != state {
			t.Fatalf("LoadEntity = %+v, %v; want version %d revision %d state %q", st.Head, err, version, rev, state)
		}
		if h, err := f.s.GetHead(f.ctx, entA); err != nil || h.Version != version || h.Revision != rev {
			t.Fatalf("GetHead = %+v, %v; want version %d revision %d", h, err, version, rev)
		}
	}
	if err := f.commitVersion(t, entA, 1, nil); err != nil {
		t.Fatal(err)
	}
	head(1, 0, "")
	if err := f.s.Commit(f.ctx, stateOnly(0, `{"s":1}`)); err != nil {
		t.Fatalf("state-only commit on revision 0: %v", err)
	}
	head(1, 1, `{"s":1}`)
	stale := []struct {
		name   string
		commit store.Commit
	}{
		{"state-only", stateOnly(0, `{"s":2}`)},
		{"new version", store.Commit{Entity: entA, BaseVersion: 1,
			Head: &store.Head{Version: 2, Doc: []byte(`{"v":2}`)}, Change: &store.Change{Version: 2, Data: []byte(`"v2"`)}}},
		{"check", store.Commit{Entity: entA, BaseVersion: 1}},
		{"revision ahead", stateOnly(2, `{"s":2}`)},
	}
	for _, tt := range stale {
		if err := f.s.Commit(f.ctx, tt.commit); !errors.Is(err, store.ErrConditionFailed) {
			t.Fatalf("%s commit on revision 0 of a head at revision 1: %v, want ErrConditionFailed", tt.name, err)
		}
	}
	head(1, 1, `{"s":1}`)
	if err := f.s.Commit(f.ctx, stateOnly(1, `{"s":2}`)); err != nil {
		t.Fatalf("state-only commit on revision 1: %v", err)
	}
	head(1, 2, `{"s":2}`)
	if err := f.commitVersion(t, entA, 2, func(c *store.Commit) { c.BaseRevision = 2 }); err != nil {
		t.Fatalf("commit version 2 on revision 2: %v", err)
	}
	head(2, 0, "")
	if err := f.commitVersion(t, entA, 3, func(c *store.Commit) { c.BaseRevision = 2 }); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("commit version 3 on revision 2 of version 2: %v, want ErrConditionFailed", err)
	}
	if err := f.commitVersion(t, entA, 3, nil); err != nil {
		t.Fatalf("commit version 3 on revision 0: %v", err)
	}
	head(3, 0, "")
}

func testCommitIdempotency(t *testing.T, f *fixture) {
	idem := func(msg string) *store.Idempotency {
		return &store.Idempotency{Tenant: "acme", UserID: "u1", MessageID: msg, Reply: []byte(`{"version":1}`),
			ExpiresAt: f.clock.Now().Add(time.Hour)}
	}
	withIdem := func(msg string) func(*store.Commit) {
		return func(c *store.Commit) { c.Idempotency = idem(msg) }
	}
	if err := f.commitVersion(t, entA, 1, withIdem("m#1")); err != nil {
		t.Fatalf("commit with idempotency: %v", err)
	}
	got, err := f.s.GetIdempotency(f.ctx, "acme", "u1", "m#1")
	if err != nil || string(got.Reply) != `{"version":1}` || got.MessageID != "m#1" {
		t.Fatalf("GetIdempotency = %+v, %v", got, err)
	}
	st, err := f.s.LoadEntity(f.ctx, entA, "u1", "m#1")
	if err != nil || st.Idempotency == nil || string(st.Idempotency.Reply) != `{"version":1}` || st.Head.Version != 1 {
		t.Fatalf("LoadEntity with the message = %+v, %v", st, err)
	}
	// The same message again, on a current base: the whole commit fails.
	if err := f.commitVersion(t, entA, 2, withIdem("m#1")); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("second commit of the message: %v, want ErrConditionFailed", err)
	}
	if head, _ := f.s.GetHead(f.ctx, entA); head.Version != 1 {
		t.Fatalf("head moved to %d by a refused commit", head.Version)
	}
	// Another user's same messageId is another message.
	if err := f.commitVersion(t, entA, 2, func(c *store.Commit) {
		c.Idempotency = idem("m#1")
		c.Idempotency.UserID = "u2"
	}); err != nil {
		t.Fatalf("another user's message: %v", err)
	}
	for _, q := range []struct{ user, msg string }{{"u1", "other"}, {"u3", "m#1"}} {
		if _, err := f.s.GetIdempotency(f.ctx, "acme", q.user, q.msg); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetIdempotency(%s, %s): %v, want ErrNotFound", q.user, q.msg, err)
		}
	}
	// Once expired, the record is absent and may be written again.
	f.clock.Advance(time.Hour)
	if _, err := f.s.GetIdempotency(f.ctx, "acme", "u1", "m#1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetIdempotency after expiry: %v, want ErrNotFound", err)
	}
	if err := f.commitVersion(t, entA, 3, withIdem("m#1")); err != nil {
		t.Fatalf("commit reusing an expired message id: %v", err)
	}
}

func testCommitConflicts(t *testing.T, f *fixture) {
	if err := f.commitVersion(t, entA, 1, nil); err != nil {
		t.Fatal(err)
	}
	open := func(id string) *store.Conflict {
		return &store.Conflict{ID: id, CreatedAt: f.clock.Now(), Data: []byte(`{"open":"` + id + `"}`)}
	}
	for _, id := range []string{"c2", "c1", "c3"} {
		if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 1, Conflict: open(id)}); err != nil {
			t.Fatalf("commit conflict %s: %v", id, err)
		}
	}
	if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 1, Conflict: open("c1")}); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("conflict created twice: %v, want ErrConditionFailed", err)
	}
	resolved := &store.Conflict{ID: "c2", Resolved: true, CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour),
		Data: []byte(`{"resolved":true}`)}
	if err := f.commitVersion(t, entA, 2, func(c *store.Commit) { c.Conflict = resolved }); err != nil {
		t.Fatalf("resolve with a new version: %v", err)
	}
	if err := f.commitVersion(t, entA, 3, func(c *store.Commit) { c.Conflict = resolved }); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("second resolution: %v, want ErrConditionFailed", err)
	}
	if err := f.s.Commit(f.ctx, store.Commit{Entity: entA, BaseVersion: 2, Conflict: &store.Conflict{ID: "nope", Resolved: true}}); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("resolution of an absent conflict: %v, want ErrConditionFailed", err)
	}
	ids := func(unresolved bool, limit int) []string {
		t.Helper()
		var (
			out    []string
			cursor string
		)
		for range 10 {
			cs, next, err := f.s.ListConflicts(f.ctx, entA, unresolved, store.Page{Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatalf("ListConflicts: %v", err)
			}
			for _, c := range cs {
				out = append(out, c.ID)
			}
			if next == "" {
				return out
			}
			cursor = next
		}
		t.Fatal("ListConflicts: no end")
		return nil
	}
	if got := ids(true, 0); !slices.Equal(got, []string{"c1", "c3"}) {
		t.Fatalf("unresolved = %v, want [c1 c3]", got)
	}
	if got := ids(false, 1); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("all, pages of one = %v, want [c1 c2 c3]", got)
	}
	c, err := f.s.GetConflict(f.ctx, entA, "c2")
	if err != nil || !c.Resolved || string(c.Data) != `{"resolved":true}` || c.Entity != entA {
		t.Fatalf("GetConflict(c2) = %+v, %v", c, err)
	}
	f.clock.Advance(time.Hour) // the resolved conflict expires, the open ones do not
	if _, err := f.s.GetConflict(f.ctx, entA, "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetConflict of an expired conflict: %v, want ErrNotFound", err)
	}
	if got := ids(false, 0); !slices.Equal(got, []string{"c1", "c3"}) {
		t.Fatalf("after expiry = %v, want [c1 c3]", got)
	}
	if _, _, err := f.s.ListConflicts(f.ctx, entA, true, store.Page{Cursor: "garbage!"}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Fatalf("bad cursor: %v, want ErrInvalidCursor", err)
	}
}

func testCommitFence(t *testing.T, f *fixture) {
	f.connected(t, "c1")
	lk := f.acquire(t, f.lock(entA, "u1", "c1", 10*time.Second))
	fence := func(holder string, token int64) func(*store.Commit) {
		return func(c *store.Commit) { c.Fence = &store.Fence{Holder: holder, Token: token} }
	}
	if err := f.commitVersion(t, entA, 1, fence("u1", lk.Token)); err != nil {
		t.Fatalf("fenced commit by the holder: %v", err)
	}
	for _, tt := range []struct {
		name   string
		holder string
		token  int64
	}{{"other user", "u2", lk.Token}, {"old token", "u1", lk.Token - 1}} {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.commitVersion(t, entA, 2, fence(tt.holder, tt.token)); !errors.Is(err, store.ErrConditionFailed) {
				t.Fatalf("commit: %v, want ErrConditionFailed", err)
			}
		})
	}
	f.clock.Advance(10 * time.Second)
	if err := f.commitVersion(t, entA, 2, fence("u1", lk.Token)); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("commit after the lock expired: %v, want ErrConditionFailed", err)
	}
	if head, _ := f.s.GetHead(f.ctx, entA); head.Version != 1 {
		t.Fatalf("head at %d after refused fenced commits, want 1", head.Version)
	}
}

func testCommitTrim(t *testing.T, f *fixture) {
	const keep = 4
	for v := int64(1); v <= 9; v++ {
		err := f.commitVersion(t, entA, v, func(c *store.Commit) {
			if v > keep {
				c.Trim = v - keep
			}
		})
		if err != nil {
			t.Fatalf("commit %d: %v", v, err)
		}
	}
	got, err := f.s.ListChanges(f.ctx, entA, store.ChangeQuery{})
	if err != nil || !slices.Equal(versionsOf(got), []int64{6, 7, 8, 9}) {
		t.Fatalf("changes kept = %v, %v; want [6 7 8 9]", versionsOf(got), err)
	}
}

// testCommitActivity checks that a commit writes its activity entry with
// the change, and that a commit refused on its conditions writes none.
func testCommitActivity(t *testing.T, f *fixture) {
	entry := func(i int) func(*store.Commit) {
		return func(c *store.Commit) {
			a := f.activity("acme", i, store.ActionUpdated, entA.Type, 0)
			c.Activity = &a
		}
	}
	if err := f.commitVersion(t, entA, 1, entry(1)); err != nil {
		t.Fatalf("commit with an activity entry: %v", err)
	}
	got, _, err := f.s.ListActivity(f.ctx, "acme", store.ActivityFilter{}, store.Page{})
	if err != nil || len(got) != 1 || got[0].ID != "act-001" || got[0].UserID != "alice" || len(got[0].Changes) != 1 ||
		string(got[0].Metadata) != `{"source":"test"}` {
		t.Fatalf("ListActivity after the commit = %+v, %v; want its entry", got, err)
	}
	// Refused on its base version: neither the change nor the entry.
	if err := f.commitVersion(t, entA, 1, entry(2)); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("commit on a stale base: %v, want ErrConditionFailed", err)
	}
	// Written again (a resend): the one entry is replaced.
	if err := f.commitVersion(t, entA, 2, entry(1)); err != nil {
		t.Fatalf("commit with the same entry: %v", err)
	}
	if ids := f.feed(t, "acme", store.ActivityFilter{}, 0); !slices.Equal(ids, []string{"act-001"}) {
		t.Fatalf("feed = %v, want [act-001]", ids)
	}
	// An entry of another tenant is refused, and nothing is written.
	err = f.commitVersion(t, entA, 3, func(c *store.Commit) {
		a := f.activity("other", 3, store.ActionUpdated, entA.Type, 0)
		c.Activity = &a
	})
	if err == nil || errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("commit with another tenant's entry: %v, want an error", err)
	}
	if head, _ := f.s.GetHead(f.ctx, entA); head.Version != 2 {
		t.Fatalf("head at %d after a refused commit, want 2", head.Version)
	}
	if ids := f.feed(t, "other", store.ActivityFilter{}, 0); len(ids) != 0 {
		t.Fatalf("feed of the other tenant = %v, want none", ids)
	}
}

// testAddActivity checks that AddActivity writes an entry that is
// missing and leaves one stored with its key as it is: the entry of a
// change written without it (by an earlier version) is written when the
// change is resent, and the entry of one written with it is not changed.
func testAddActivity(t *testing.T, f *fixture) {
	a := f.activity("acme", 1, store.ActionUpdated, entA.Type, 0)
	if err := f.s.AddActivity(f.ctx, a); err != nil {
		t.Fatalf("AddActivity of a missing entry: %v", err)
	}
	got, _, err := f.s.ListActivity(f.ctx, "acme", store.ActivityFilter{}, store.Page{})
	if err != nil || len(got) != 1 || got[0].ID != "act-001" || got[0].Username != "Alice" || len(got[0].Changes) != 1 ||
		string(got[0].Metadata) != `{"source":"test"}` {
		t.Fatalf("ListActivity after AddActivity = %+v, %v; want its entry", got, err)
	}
	// The same key with other content: the stored entry stays, and the
	// call succeeds.
	again := a
	again.Username, again.EntityName = "Alice B.", "renamed"
	if err := f.s.AddActivity(f.ctx, again); err != nil {
		t.Fatalf("AddActivity of a stored entry: %v", err)
	}
	got, _, err = f.s.ListActivity(f.ctx, "acme", store.ActivityFilter{}, store.Page{})
	if err != nil || len(got) != 1 || got[0].Username != "Alice" || got[0].EntityName != a.EntityName {
		t.Fatalf("ListActivity after AddActivity of a stored entry = %+v, %v; want the first one, unchanged", got, err)
	}
	// Another time or id is another entry.
	later := f.activity("acme", 1, store.ActionUpdated, entA.Type, time.Second)
	if err := f.s.AddActivity(f.ctx, later); err != nil {
		t.Fatalf("AddActivity at another time: %v", err)
	}
	if ids := f.feed(t, "acme", store.ActivityFilter{}, 0); !slices.Equal(ids, []string{"act-001", "act-001"}) {
		t.Fatalf("feed = %v, want two entries", ids)
	}
	if err := f.s.AddActivity(f.ctx, store.Activity{Tenant: "acme", At: f.clock.Now()}); err == nil {
		t.Fatal("AddActivity of an entry without an id: no error")
	}
}

// testIdempotencyRequestHash checks that a record keeps the hash of the
// request it answers, through Commit, AddComment, LoadEntity and
// GetIdempotency, so that a resend of the messageId with another request
// can be told apart; and that a record without one reads back without one.
func testIdempotencyRequestHash(t *testing.T, f *fixture) {
	const hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	rec := func(msg, h string) *store.Idempotency {
		return &store.Idempotency{Tenant: "acme", UserID: "u1", MessageID: msg, RequestHash: h,
			Reply: []byte(`{"ok":true}`), ExpiresAt: f.clock.Now().Add(time.Hour)}
	}
	if err := f.commitVersion(t, entA, 1, func(c *store.Commit) { c.Idempotency = rec("chg-1", hash) }); err != nil {
		t.Fatalf("commit: %v", err)
	}
	st, err := f.s.LoadEntity(f.ctx, entA, "u1", "chg-1")
	if err != nil || st.Idempotency == nil || st.Idempotency.RequestHash != hash {
		t.Fatalf("LoadEntity = %+v, %v; want the record with its request hash", st.Idempotency, err)
	}
	// A second request under the same id cannot replace the record.
	if err := f.commitVersion(t, entA, 2, func(c *store.Commit) { c.Idempotency = rec("chg-1", "other") }); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("commit over a live record: %v, want ErrConditionFailed", err)
	}
	if got, err := f.s.GetIdempotency(f.ctx, "acme", "u1", "chg-1"); err != nil || got.RequestHash != hash {
		t.Fatalf("GetIdempotency = %+v, %v; want the first request's hash", got, err)
	}
	c := store.Comment{Entity: entB, ID: "0000000001000-h", UserID: "u1", Text: "t", CreatedAt: f.clock.Now()}
	if err := f.s.AddComment(f.ctx, c, rec("add-h", hash)); err != nil {
		t.Fatalf("AddComment: %v", err)
	}
	if got, err := f.s.GetIdempotency(f.ctx, "acme", "u1", "add-h"); err != nil || got.RequestHash != hash {
		t.Fatalf("GetIdempotency of the comment = %+v, %v", got, err)
	}
	c.ID = "0000000001001-h"
	if err := f.s.AddComment(f.ctx, c, rec("add-h", "other")); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("AddComment over a live record: %v, want ErrConditionFailed", err)
	}
	if err := f.commitVersion(t, entB, 1, func(c *store.Commit) { c.Idempotency = rec("legacy", "") }); err != nil {
		t.Fatalf("commit without a hash: %v", err)
	}
	if got, err := f.s.GetIdempotency(f.ctx, "acme", "u1", "legacy"); err != nil || got.RequestHash != "" {
		t.Fatalf("record without a hash = %+v, %v", got, err)
	}
}

func testComments(t *testing.T, f *fixture) {
	mk := func(i int, parent string) store.Comment {
		return store.Comment{Entity: entA, ID: fmt.Sprintf("%013d-x", 1000+i), ParentID: parent, UserID: "u1",
			Username: "U One", Avatar: "https://example.test/a.png", Text: fmt.Sprintf("comment %d ✓", i),
			CreatedAt: f.clock.Now().Add(time.Duration(i) * time.Millisecond)}
	}
	idem := &store.Idempotency{Tenant: "acme", UserID: "u1", MessageID: "add-1", Reply: []byte(`{}`), ExpiresAt: f.clock.Now().Add(time.Hour)}
	first := mk(0, "")
	if err := f.s.AddComment(f.ctx, first, idem); err != nil {
		t.Fatalf("AddComment: %v", err)
	}
	if err := f.s.AddComment(f.ctx, mk(99, ""), idem); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("AddComment with a used message: %v, want ErrConditionFailed", err)
	}
	if _, err := f.s.GetComment(f.ctx, entA, mk(99, "").ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused comment was stored: %v", err)
	}
	if err := f.s.AddComment(f.ctx, first, nil); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("AddComment twice: %v, want ErrConditionFailed", err)
	}
	var want []string
	for i := 1; i <= 4; i++ {
		c := mk(i, first.ID)
		if err := f.s.AddComment(f.ctx, c, nil); err != nil {
			t.Fatalf("AddComment(%d): %v", i, err)
		}
		want = append([]string{c.ID}, want...)
	}
	want = append(want, first.ID)
	got, err := f.s.GetComment(f.ctx, entA, mk(2, "").ID)
	if err != nil || got.Text != "comment 2 ✓" || got.ParentID != first.ID || got.Username != "U One" ||
		got.Avatar == "" || !got.CreatedAt.Equal(mk(2, "").CreatedAt) || got.Resolved {
		t.Fatalf("GetComment = %+v, %v", got, err)
	}
	at := f.clock.Now().Add(time.Minute)
	res, err := f.s.ResolveComment(f.ctx, entA, got.ID, true, "u2", at)
	if err != nil || !res.Resolved || res.ResolvedBy != "u2" || !res.ResolvedAt.Equal(at) || res.Text != got.Text {
		t.Fatalf("ResolveComment = %+v, %v", res, err)
	}
	reopened, err := f.s.ResolveComment(f.ctx, entA, got.ID, false, "u3", at)
	if err != nil || reopened.Resolved || reopened.ResolvedBy != "" || !reopened.ResolvedAt.IsZero() {
		t.Fatalf("reopen = %+v, %v", reopened, err)
	}
	if _, err := f.s.ResolveComment(f.ctx, entA, "nope", true, "u2", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ResolveComment(absent): %v, want ErrNotFound", err)
	}
	for _, limit := range []int{0, 2, 5} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var (
				ids    []string
				cursor string
			)
			for range 10 {
				cs, next, err := f.s.ListComments(f.ctx, entA, store.Page{Cursor: cursor, Limit: limit})
				if err != nil {
					t.Fatalf("ListComments: %v", err)
				}
				if limit > 0 && len(cs) > limit {
					t.Fatalf("page of %d, limit %d", len(cs), limit)
				}
				for _, c := range cs {
					ids = append(ids, c.ID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("comments = %v, want newest first %v", ids, want)
			}
		})
	}
	// A cursor built from an id continues after that comment.
	cs, _, err := f.s.ListComments(f.ctx, entA, store.Page{Cursor: store.CommentCursor(want[1]), Limit: 2})
	if err != nil || len(cs) != 2 || cs[0].ID != want[2] {
		t.Fatalf("ListComments after %s = %v, %v", want[1], cs, err)
	}
	if _, _, err := f.s.ListComments(f.ctx, entA, store.Page{Cursor: store.EncodeCursor("CHG#1")}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Fatalf("cursor of another listing: %v, want ErrInvalidCursor", err)
	}
}

// testCommentVersions: a comment is version 1 when added, whatever
// Version the caller set, and every resolve or reopen stores the next
// version with its change, also one that leaves the resolved flag as it
// was (a resolve of a resolved comment records the new resolver and
// time). GetComment, ListComments and the outbox items show the version;
// concurrent resolves never take the same version.
func testCommentVersions(t *testing.T, f *fixture) {
	c := store.Comment{Entity: entA, ID: "0000000001000-v", UserID: "u1", Text: "versioned", CreatedAt: f.clock.Now(), Version: 41}
	if err := f.s.AddComment(f.ctx, c, nil); err != nil {
		t.Fatalf("AddComment: %v", err)
	}
	stored := func(want int64) {
		t.Helper()
		got, err := f.s.GetComment(f.ctx, entA, c.ID)
		if err != nil || got.Version != want {
			t.Fatalf("GetComment = version %d, %v; want %d", got.Version, err, want)
		}
		cs, _, err := f.s.ListComments(f.ctx, entA, store.Page{})
		if err != nil || len(cs) != 1 || cs[0].Version != want {
			t.Fatalf("ListComments = %+v, %v; want the comment at version %d", cs, err, want)
		}
	}
	stored(1)
	at := f.clock.Now().Add(time.Second)
	for i, step := range []struct {
		resolved bool
		user     string
	}{{true, "u2"}, {false, "u3"}, {true, "u2"}, {true, "u3"}, {false, "u2"}, {false, "u3"}} {
		want := int64(i + 2)
		got, err := f.s.ResolveComment(f.ctx, entA, c.ID, step.resolved, step.user, at.Add(time.Duration(i)*time.Second))
		if err != nil || got.Version != want || got.Resolved != step.resolved {
			t.Fatalf("ResolveComment(%v) by %s = version %d, resolved %v, %v; want version %d", step.resolved, step.user, got.Version, got.Resolved, err, want)
		}
		stored(want)
	}
	const last = 7
	var versions []int64
	for _, it := range f.pendingOutbox(t) {
		var ev store.CommentEvent
		if it.Kind != store.OutboxComment || json.Unmarshal(it.Data, &ev) != nil {
			t.Fatalf("outbox item %+v: want a comment item", it)
		}
		versions = append(versions, ev.Version)
	}
	slices.Sort(versions)
	if want := []int64{1, 2, 3, 4, 5, 6, last}; !slices.Equal(versions, want) {
		t.Fatalf("outbox comment items carry versions %v, want %v", versions, want)
	}

	// Concurrent resolves: each that succeeds takes a version of its own.
	const workers = 4
	var (
		mu   sync.Mutex
		got  []int64
		errs []error
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range 3 {
				r, err := f.s.ResolveComment(f.ctx, entA, c.ID, (w+i)%2 == 0, fmt.Sprintf("u%d", w), at.Add(time.Minute))
				mu.Lock()
				switch {
				case err == nil:
					got = append(got, r.Version)
				case !errors.Is(err, store.ErrUnavailable): // contention is allowed
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent ResolveComment: %v", errs)
	}
	if len(got) == 0 {
		t.Fatal("no concurrent resolve succeeded: the test shows nothing")
	}
	slices.Sort(got)
	for i, v := range got {
		if v != last+1+int64(i) {
			t.Fatalf("concurrent resolves took versions %v, want %d..%d, each once", got, last+1, last+len(got))
		}
	}
	stored(last + int64(len(got)))
}

func testEditingNames(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2")
	globex := store.EntityKey{Tenant: "globex", Type: entA.Type, ID: entA.ID}
	f.acquire(t, f.lock(entA, "u1", "c1", time.Minute))
	if l := f.acquire(t, f.lock(globex, "u2", "c2", time.Minute)); l.Token != 1 {
		t.Fatalf("another tenant's entity shares the lock: token %d", l.Token)
	}
	if err := f.commitVersion(t, entA, 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.GetHead(f.ctx, globex); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant sees the head: %v", err)
	}
	bad := store.EntityKey{Tenant: "acme", Type: "or#der", ID: "1"}
	tests := []struct {
		name string
		call func() error
	}{
		{"lock", func() error { _, err := f.s.AcquireLock(f.ctx, f.lock(bad, "u1", "c1", time.Minute)); return err }},
		{"lock holder", func() error { _, err := f.s.AcquireLock(f.ctx, f.lock(entA, "u#1", "c1", time.Minute)); return err }},
		{"commit", func() error { return f.s.Commit(f.ctx, store.Commit{Entity: bad}) }},
		{"empty id", func() error { _, err := f.s.GetHead(f.ctx, store.EntityKey{Tenant: "acme", Type: "order"}); return err }},
		{"comment", func() error {
			return f.s.AddComment(f.ctx, store.Comment{Entity: entA, ID: "a#b", UserID: "u1", Text: "x"}, nil)
		}},
		{"changes", func() error { _, err := f.s.ListChanges(f.ctx, bad, store.ChangeQuery{}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || errors.Is(err, store.ErrNotFound) {
				t.Fatalf("accepted an invalid name: %v", err)
			}
		})
	}
}

// testLockConnectionCount: CountConnectionLocks counts the live locks
// whose connection is the one asked for: a grant adds one, a renewal
// through the same connection none, a renewal through another connection
// moves one; a release, an expiry (at ExpiresAt exactly), a sweep, a
// takeover of the expired lock and ReleaseConnectionLocks take it away.
func testLockConnectionCount(t *testing.T, f *fixture) {
	f.connected(t, "c1", "c2", "c3")
	entC := store.EntityKey{Tenant: "acme", Type: "order", ID: "789"}
	entD := store.EntityKey{Tenant: "other", Type: "order", ID: "123"}
	want := func(step string, counts map[string]int) {
		t.Helper()
		for conn, n := range counts {
			if got, err := f.s.CountConnectionLocks(f.ctx, conn); err != nil || got != n {
				t.Fatalf("%s: CountConnectionLocks(%s) = %d, %v; want %d", step, conn, got, err, n)
			}
		}
	}
	want("no locks", map[string]int{"c1": 0, "c2": 0, "unknown": 0})
	f.acquire(t, f.lock(entA, "u1", "c1", time.Minute))
	f.acquire(t, f.lock(entB, "u1", "c1", 10*time.Second))
	f.acquire(t, f.lock(entD, "u1", "c1", time.Minute)) // another tenant, same connection
	want("three grants", map[string]int{"c1": 3, "c2": 0})
	f.acquire(t, f.lock(entA, "u1", "c1", 2*time.Minute))
	if _, err := f.s.RenewLock(f.ctx, entB, "u1", "c1", f.clock.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	want("renewals through the same connection", map[string]int{"c1": 3, "c2": 0})
	f.acquire(t, f.lock(entD, "u1", "c2", time.Minute))
	want("renewal moving a lock", map[string]int{"c1": 2, "c2": 1})
	if _, err := f.s.ReleaseLock(f.ctx, entD, "u1"); err != nil {
		t.Fatal(err)
	}
	want("release", map[string]int{"c1": 2, "c2": 0})
	if _, err := f.s.AcquireLock(f.ctx, f.lock(entA, "u2", "c2", time.Minute)); !errors.Is(err, store.ErrLockHeld) {
		t.Fatalf("AcquireLock by u2: %v, want ErrLockHeld", err)
	}
	want("refused grant", map[string]int{"c1": 2, "c2": 0})

	// entB expires at the clock's second + 10 s: at that instant it no
	// longer counts, though it is still stored.
	f.clock.Advance(10 * time.Second)
	want("expired lock", map[string]int{"c1": 1})
	f.acquire(t, f.lock(entB, "u2", "c2", time.Minute))
	want("expired lock taken over", map[string]int{"c1": 1, "c2": 1})
	f.acquire(t, f.lock(entC, "u1", "c3", 5*time.Second))
	f.clock.Advance(5 * time.Second)
	locks, err := f.s.ExpiredLocks(f.ctx, f.clock.Now(), 0)
	if err != nil || len(locks) != 1 {
		t.Fatalf("ExpiredLocks = %v, %v; want entC's", locks, err)
	}
	if ok, err := f.s.DeleteExpiredLock(f.ctx, locks[0]); !ok || err != nil {
		t.Fatalf("DeleteExpiredLock = %v, %v", ok, err)
	}
	want("swept", map[string]int{"c1": 1, "c2": 1, "c3": 0})
	if _, err := f.s.ReleaseConnectionLocks(f.ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	want("connection released", map[string]int{"c1": 0, "c2": 1})
	if _, err := f.s.CountConnectionLocks(f.ctx, "c#1"); err == nil {
		t.Fatal("CountConnectionLocks of an id with '#' succeeded")
	}
}
