package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// connCountCases are the cases of OpenConnection's per-user limit.
func connCountCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"ConnectionLimit", testConnectionLimit},
		{"ConnectionLimitFreedByDelete", testConnectionLimitDelete},
		{"ConnectionLimitExpired", testConnectionLimitExpired},
		{"ConnectionLimitChecksRecords", testConnectionLimitHeals},
		{"ConnectionLimitConcurrent", testConnectionLimitConcurrent},
	}
}

func (f *fixture) open(t *testing.T, c store.Connection, max int) {
	t.Helper()
	if err := f.s.OpenConnection(f.ctx, c, max); err != nil {
		t.Fatalf("OpenConnection(%q, %d): %v", c.ID, max, err)
	}
}

// refused checks that opening c is refused with ErrTooManyConnections and
// writes nothing.
func (f *fixture) refused(t *testing.T, c store.Connection, max int) {
	t.Helper()
	if err := f.s.OpenConnection(f.ctx, c, max); !errors.Is(err, store.ErrTooManyConnections) {
		t.Fatalf("OpenConnection(%q, %d) = %v, want ErrTooManyConnections", c.ID, max, err)
	}
	if _, err := f.s.GetConnection(f.ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused connection %q was written: GetConnection = %v", c.ID, err)
	}
}

// testConnectionLimit: a user may open max connections and no more;
// opening the same id again does not count twice; other users, the same
// user id in another tenant, and connections written by PutConnection are
// not counted against the user; max <= 0 means no limit.
func testConnectionLimit(t *testing.T, f *fixture) {
	const max = 3
	for i := range max {
		f.open(t, f.conn(fmt.Sprintf("a%d", i), "acme", "alice", time.Hour), max)
	}
	f.refused(t, f.conn("a3", "acme", "alice", time.Hour), max)
	f.open(t, f.conn("a1", "acme", "alice", time.Hour), max) // a retried $connect of a1
	f.open(t, f.conn("b0", "acme", "bob", time.Hour), max)
	f.open(t, f.conn("g0", "globex", "alice", time.Hour), max)
	f.put(t, f.conn("p0", "acme", "alice", time.Hour)) // not counted
	f.refused(t, f.conn("a4", "acme", "alice", time.Hour), max)
	if got, err := f.s.UserConnections(f.ctx, "acme", "alice"); err != nil || len(got) != max+1 {
		t.Fatalf("UserConnections = %d, %v; want %d (three counted, one put)", len(got), err, max+1)
	}
	f.open(t, f.conn("a5", "acme", "alice", time.Hour), max+1) // a higher limit
	f.open(t, f.conn("a6", "acme", "alice", time.Hour), 0)     // no limit
}

// testConnectionLimitDelete: DeleteConnection frees a place at once, and
// a connection moved to another user no longer counts for the first.
func testConnectionLimitDelete(t *testing.T, f *fixture) {
	const max = 2
	f.open(t, f.conn("a0", "acme", "alice", time.Hour), max)
	f.open(t, f.conn("a1", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("a2", "acme", "alice", time.Hour), max)
	if _, _, err := f.s.DeleteConnection(f.ctx, "a0"); err != nil {
		t.Fatal(err)
	}
	f.open(t, f.conn("a2", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("a3", "acme", "alice", time.Hour), max)
	// a1's id now belongs to bob (a connection record replaced): alice
	// has one left.
	f.open(t, f.conn("a1", "acme", "bob", time.Hour), max)
	f.open(t, f.conn("a3", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("a4", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("b1", "acme", "bob", time.Hour), 1)
}

// testConnectionLimitExpired: a counted connection past its expiry does
// not count, though no $disconnect removed it.
func testConnectionLimitExpired(t *testing.T, f *fixture) {
	const max = 2
	f.open(t, f.conn("a0", "acme", "alice", 30*time.Second), max)
	f.open(t, f.conn("a1", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("a2", "acme", "alice", time.Hour), max)
	f.clock.Advance(30 * time.Second)
	f.open(t, f.conn("a2", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("a3", "acme", "alice", time.Hour), max)
	f.clock.Advance(2 * time.Hour)
	f.open(t, f.conn("a3", "acme", "alice", time.Hour), max)
	f.open(t, f.conn("a4", "acme", "alice", time.Hour), max)
}

// testConnectionLimitHeals: at the limit, the counted connections'
// records are checked: one whose record has expired (here shortened by a
// later PutConnection, which leaves the count as it was) or is gone no
// longer counts, though its count entry has not expired.
func testConnectionLimitHeals(t *testing.T, f *fixture) {
	const max = 2
	f.open(t, f.conn("a0", "acme", "alice", time.Hour), max)
	f.open(t, f.conn("a1", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("a2", "acme", "alice", time.Hour), max)
	f.put(t, f.conn("a0", "acme", "alice", 30*time.Second))
	f.clock.Advance(30 * time.Second)
	f.open(t, f.conn("a2", "acme", "alice", time.Hour), max)
	f.refused(t, f.conn("a3", "acme", "alice", time.Hour), max)
}

// testConnectionLimitConcurrent: of many connections of one user opened at
// once, exactly max succeed.
func testConnectionLimitConcurrent(t *testing.T, f *fixture) {
	const (
		max   = 3
		tries = 8
	)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, full int
		other    []error
	)
	for i := range tries {
		wg.Go(func() {
			err := f.s.OpenConnection(f.ctx, f.conn(fmt.Sprintf("c%d", i), "acme", "carol", time.Hour), max)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrTooManyConnections):
				full++
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	for _, err := range other {
		// Contention past the store's retries (ErrUnavailable, to be
		// retried by the client) is allowed; nothing may be half-written,
		// which the count below checks.
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("OpenConnection: %v", err)
		}
	}
	if ok > max || ok+full+len(other) != tries {
		t.Fatalf("%d opened, %d refused, %d lost: want at most %d opened", ok, full, len(other), max)
	}
	got, err := f.s.UserConnections(f.ctx, "acme", "carol")
	if err != nil || len(got) != ok {
		t.Fatalf("UserConnections = %d, %v; want the %d opened", len(got), err, ok)
	}
	if ok < max {
		for i := range tries {
			if f.s.OpenConnection(f.ctx, f.conn(fmt.Sprintf("d%d", i), "acme", "carol", time.Hour), max) == nil {
				ok++
			}
		}
		if ok != max {
			t.Fatalf("%d opened in the end, want %d", ok, max)
		}
	}
}
