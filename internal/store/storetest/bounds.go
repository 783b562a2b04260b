package storetest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// boundsCases are the cases of arguments at the edges of their types:
// both stores answer them alike, without wrapping arithmetic.
func boundsCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"ListChangesAfterMaxInt64", testListChangesAfterMax},
		{"PageLimitMaxInt", testPageLimitMaxInt},
		{"LockNeedsExpiry", testLockNeedsExpiry},
	}
}

// testListChangesAfterMax: no version is greater than math.MaxInt64, and
// every version is greater than math.MinInt64.
func testListChangesAfterMax(t *testing.T, f *fixture) {
	e := store.EntityKey{Tenant: "acme", Type: "order", ID: "1"}
	for v := int64(1); v <= 3; v++ {
		if err := f.commitVersion(t, e, v, nil); err != nil {
			t.Fatalf("commit v%d: %v", v, err)
		}
	}
	for _, q := range []store.ChangeQuery{{After: math.MaxInt64}, {After: math.MaxInt64 - 1}, {After: 1, Before: 2}} {
		got, err := f.s.ListChanges(f.ctx, e, q)
		if err != nil || len(got) != 0 {
			t.Fatalf("ListChanges(%+v) = versions %v, %v; want none", q, versionsOf(got), err)
		}
	}
	for _, q := range []store.ChangeQuery{{After: math.MinInt64}, {After: -1, Before: math.MaxInt64}} {
		got, err := f.s.ListChanges(f.ctx, e, q)
		if err != nil || len(got) != 3 {
			t.Fatalf("ListChanges(%+v) = versions %v, %v; want 1, 2, 3", q, versionsOf(got), err)
		}
	}
}

// testPageLimitMaxInt: a Page.Limit of math.MaxInt is a (large) limit:
// every item fits in the page.
func testPageLimitMaxInt(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	f.subscribe(t, "acme", "ch", "c1", 0)
	ids, next, err := f.s.Subscribers(f.ctx, "acme", "ch", store.Page{Limit: math.MaxInt})
	if err != nil || len(ids) != 1 || next != "" {
		t.Fatalf("Subscribers(Limit: MaxInt) = %v, %q, %v; want [c1]", ids, next, err)
	}
	e := store.EntityKey{Tenant: "acme", Type: "order", ID: "1"}
	if err := f.s.AddComment(f.ctx, store.Comment{Entity: e, ID: "k1", UserID: "u1", Text: "hi", CreatedAt: f.clock.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	cs, _, err := f.s.ListComments(f.ctx, e, store.Page{Limit: math.MaxInt})
	if err != nil || len(cs) != 1 {
		t.Fatalf("ListComments(Limit: MaxInt) = %d comments, %v; want 1", len(cs), err)
	}
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "u1", "c1", "r1")})
	if got, _, err := f.s.ListPresence(f.ctx, "acme", "r1", store.Page{Limit: math.MaxInt}); err != nil || len(got) != 1 {
		t.Fatalf("ListPresence(Limit: MaxInt) = %d entries, %v; want 1", len(got), err)
	}
	if _, err := f.s.ExpiredLocks(f.ctx, f.clock.Now(), math.MaxInt); err != nil {
		t.Fatalf("ExpiredLocks(limit MaxInt): %v", err)
	}
}

// testLockNeedsExpiry: a lock without an expiry is refused by
// AcquireLock and RenewLock, and nothing is stored.
func testLockNeedsExpiry(t *testing.T, f *fixture) {
	e := store.EntityKey{Tenant: "acme", Type: "order", ID: "z"}
	if _, err := f.s.AcquireLock(f.ctx, store.Lock{Entity: e, Holder: "u1", ConnID: "c1", AcquiredAt: f.clock.Now()}); err == nil {
		t.Fatal("AcquireLock with a zero ExpiresAt succeeded")
	}
	if _, err := f.s.GetLock(f.ctx, e); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLock after a refused AcquireLock = %v, want ErrNotFound", err)
	}
	l := store.Lock{Entity: e, Holder: "u1", ConnID: "c1", AcquiredAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Minute)}
	if _, err := f.s.AcquireLock(f.ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.RenewLock(f.ctx, e, "u1", "c1", time.Time{}); err == nil {
		t.Fatal("RenewLock to a zero expiry succeeded")
	}
	if got, err := f.s.GetLock(f.ctx, e); err != nil || !got.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("GetLock after a refused RenewLock = %+v, %v; want the lock as acquired", got, err)
	}
}
