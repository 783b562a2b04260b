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
		{"SessionNeedsExpiry", testSessionNeedsExpiry},
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

// testLockNeedsExpiry: a lock without an expiry after 1970-01-01 (zero,
// the epoch's first second, or before it) is refused by AcquireLock and
// RenewLock, and nothing is stored: the memory store would keep an
// expiry of 0 seconds as "never", DynamoDB as already expired.
func testLockNeedsExpiry(t *testing.T, f *fixture) {
	f.connected(t, "c1")
	e := store.EntityKey{Tenant: "acme", Type: "order", ID: "z"}
	bad := []time.Time{{}, time.Unix(0, 0), time.Unix(0, 999_999_999), time.Unix(-1, 0), time.Unix(math.MinInt64/4, 0)}
	for _, exp := range bad {
		if _, err := f.s.AcquireLock(f.ctx, store.Lock{Entity: e, Holder: "u1", ConnID: "c1", AcquiredAt: f.clock.Now(), ExpiresAt: exp}); err == nil {
			t.Fatalf("AcquireLock expiring at %v succeeded", exp)
		}
		if _, err := f.s.GetLock(f.ctx, e); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetLock after a refused AcquireLock (expiry %v) = %v, want ErrNotFound", exp, err)
		}
	}
	l := store.Lock{Entity: e, Holder: "u1", ConnID: "c1", AcquiredAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Minute)}
	if _, err := f.s.AcquireLock(f.ctx, l); err != nil {
		t.Fatal(err)
	}
	for _, exp := range bad {
		if _, err := f.s.RenewLock(f.ctx, e, "u1", "c1", exp); err == nil {
			t.Fatalf("RenewLock to an expiry at %v succeeded", exp)
		}
	}
	if got, err := f.s.GetLock(f.ctx, e); err != nil || !got.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("GetLock after a refused RenewLock = %+v, %v; want the lock as acquired", got, err)
	}
}

// testSessionNeedsExpiry: PutSession refuses a session without an expiry
// after 1970-01-01 (zero, the epoch itself, or before it), for a new
// session and for an update, and stores nothing: a session that never
// expires could not be updated on DynamoDB (its condition compares the
// expiry), and an expiry of 0 means "never" to the memory store.
func testSessionNeedsExpiry(t *testing.T, f *fixture) {
	bad := []time.Time{{}, time.Unix(0, 0), time.Unix(0, 999_999_999), time.Unix(-1, 0), time.Unix(math.MinInt64/4, 0)}
	for _, exp := range bad {
		s := f.session("acme", "u1", "c1", "r1")
		s.ExpiresAt = exp
		if _, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: s}); err == nil {
			t.Fatalf("PutSession of a new session expiring at %v succeeded", exp)
		}
		live, expired, err := f.s.UserSessionsWithExpired(f.ctx, "acme", "u1")
		if err != nil || len(live)+len(expired) != 0 {
			t.Fatalf("after a refused PutSession, sessions = %d live, %d expired, %v; want none", len(live), len(expired), err)
		}
		if got, _, err := f.s.ListPresence(f.ctx, "acme", "r1", store.Page{}); err != nil || len(got) != 0 {
			t.Fatalf("after a refused PutSession, room r1 = %d entries, %v; want none", len(got), err)
		}
	}
	want := f.putSession(t, store.SessionWrite{Session: f.session("acme", "u1", "c1", "r1")})
	for _, exp := range bad {
		s := want
		s.ExpiresAt, s.Activity = exp, "changed"
		if _, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: s}); err == nil {
			t.Fatalf("PutSession of an update expiring at %v succeeded", exp)
		}
	}
	got, err := f.s.UserSessions(f.ctx, "acme", "u1")
	if err != nil || len(got) != 1 || got[0].Version != want.Version || got[0].Activity != want.Activity || !got[0].ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("after refused updates, sessions = %+v, %v; want %+v", got, err, want)
	}
}
