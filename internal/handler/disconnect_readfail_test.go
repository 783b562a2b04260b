package handler_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// sessionReadFaults is a store whose reads of a user's sessions fail
// with ErrUnavailable, as a throttled or timed-out read would, once it is
// down: only the first of them when once is set, else every one until
// reset.
type sessionReadFaults struct {
	store.Store
	once bool

	mu           sync.Mutex
	down, failed bool
}

func (s *sessionReadFaults) goDown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = true
}

func (s *sessionReadFaults) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.failed = false, false
}

// fail reports whether this read fails.
func (s *sessionReadFaults) fail() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down || s.once && s.failed {
		return false
	}
	s.failed = true
	return true
}

func (s *sessionReadFaults) UserSessions(ctx context.Context, tenant, userID string) ([]store.Session, error) {
	if s.fail() {
		return nil, store.ErrUnavailable
	}
	return s.Store.UserSessions(ctx, tenant, userID)
}

func (s *sessionReadFaults) UserSessionsWithExpired(ctx context.Context, tenant, userID string) ([]store.Session, []store.Session, error) {
	if s.fail() {
		return nil, nil, store.ErrUnavailable
	}
	return s.Store.UserSessionsWithExpired(ctx, tenant, userID)
}

// readsDownStore goes down from the moment the step named by from
// succeeds: the connection's removal (the whole clean-up of a
// $disconnect), or its session's removal (the read after it).
type readsDownStore struct {
	sessionReadFaults
	from       string // "DeleteConnection", "DeleteSession" or "" (never)
	loseDelete bool   // DeleteSession removes the session, then fails
}

// arm sets the step reads fail from, and whether only once, and brings
// the store back up.
func (s *readsDownStore) arm(from string, once bool) {
	s.reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.once = from, once
}

func (s *readsDownStore) reached(step string) {
	s.mu.Lock()
	from := s.from
	s.mu.Unlock()
	if from == step {
		s.goDown()
	}
}

func (s *readsDownStore) DeleteConnection(ctx context.Context, id string) (store.Connection, []string, error) {
	c, chans, err := s.Store.DeleteConnection(ctx, id)
	if err == nil && c.ID != "" {
		s.reached("DeleteConnection")
	}
	return c, chans, err
}

func (s *readsDownStore) DeleteSession(ctx context.Context, tenant, userID, connID string) (store.Session, bool, error) {
	ses, live, err := s.Store.DeleteSession(ctx, tenant, userID, connID)
	if err == nil && ses.ConnID != "" {
		s.reached("DeleteSession")
	}
	s.mu.Lock()
	lose := s.loseDelete
	s.mu.Unlock()
	if lose {
		// Applied, but every attempt's answer was lost (or the deadline
		// passed after it landed): the caller sees only the error.
		return store.Session{}, false, store.ErrUnavailable
	}
	return ses, live, err
}

// TestDisconnectAnnouncesWhenReadingSessionsFails: dave's tab, in room
// lobby, closes, and reading his sessions fails during its $disconnect.
// The connection and its session were removed first and the announcement
// needed the read, so it was lost for good: no later pass found anything
// of dave, and bob showed him online and in lobby until a reload. Dave
// now goes offline and leaves lobby once: at the $disconnect when a read
// gets through, else through the sweeper, which finds his session left in
// place (it expires within the offline timeout). With a second tab of
// dave's still open he does not go offline at all.
func TestDisconnectAnnouncesWhenReadingSessionsFails(t *testing.T) {
	cases := []struct {
		name  string
		from  string // the step from which the reads fail
		once  bool
		other bool // dave's tab b stays open
		lose  bool // the session's removal lands, then fails
		stale bool // dave's tab falls silent past the offline timeout first (no pass runs)
		want  string
	}{
		{"whole clean-up", "DeleteConnection", false, false, false, false, "online offline"},
		{"whole clean-up, other tab open", "DeleteConnection", false, true, false, false, "online"},
		{"after the removal", "DeleteSession", false, false, false, false, "online offline"},
		{"after the removal, other tab open", "DeleteSession", false, true, false, false, "online"},
		{"once", "DeleteConnection", true, false, false, false, "online offline"},
		{"the removal lands but fails", "", false, false, true, false, "online offline"},
		{"the removal lands but fails, other tab open", "", false, true, true, false, "online"},
		{"the removal lands but fails, and so do the reads after it", "DeleteSession", false, false, true, false, "online offline"},
		{"an expired session's removal lands but fails", "", false, false, true, true, "online offline"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, inner store.Store) {
				st := &readsDownStore{sessionReadFaults: sessionReadFaults{Store: inner}}
				e := newSweepEnv(t, clock, st, "bob", "dave=a", "dave=b")
				e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
				e.join("bob", "lobby")
				e.join("dave=a", "lobby")
				active := []string{"bob"}
				if c.other {
					e.ok("dave=b", `{"type":"presence","messageId":"pb","payload":{"active":true}}`)
					active = append(active, "dave=b")
				}
				if c.stale {
					e.idle(4, active, nil) // two minutes: dave=a's session expires, unclaimed
				}
				st.arm(c.from, c.once)
				st.mu.Lock()
				st.loseDelete = c.lose
				st.mu.Unlock()
				if resp, _ := e.h.Disconnect(context.Background(), e.event("dave=a", "")); resp.StatusCode != 200 {
					t.Fatalf("disconnect: %d", resp.StatusCode)
				}
				st.arm("", false)
				st.mu.Lock()
				st.loseDelete = false
				st.mu.Unlock()
				atDisconnect := e.poster.statuses("bob", "dave")
				var errs []error
				for range 3 { // three passes a minute apart
					e.idle(2, active, nil)
					errs = append(errs, e.h.Sweep(context.Background()))
				}
				got := e.poster.statuses("bob", "dave")
				leaves := e.poster.roomEvents("bob", "lobby", "dave", "leave")
				t.Logf("about dave, bob got %v at the $disconnect and %v after the passes (pass errors %v); lobby leaves: %d", atDisconnect, got, errs, leaves)
				if strings.Join(got, " ") != c.want {
					t.Errorf("bob got %v about dave, want [%s]", got, c.want)
				}
				if !c.other && leaves != 1 {
					t.Errorf("bob got %d leaves of lobby about dave, want 1", leaves)
				}
				snap := e.send("bob", `{"type":"presence.snapshot","messageId":"sn","payload":{"room":"lobby"}}`)
				if !c.other && strings.Contains(snap, `"dave"`) {
					t.Errorf("dave's only tab closed, but lobby still shows him: %s", snap)
				}
			})
		})
	}
}

// loseExpiredClaim is a store whose DeleteExpiredSession removes the
// session and then fails, as when every attempt's answer is lost.
type loseExpiredClaim struct {
	store.Store
	mu   sync.Mutex
	lose bool
}

func (s *loseExpiredClaim) DeleteExpiredSession(ctx context.Context, ses store.Session, now time.Time) (bool, error) {
	ok, err := s.Store.DeleteExpiredSession(ctx, ses, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lose && err == nil && ok {
		return false, store.ErrUnavailable
	}
	return ok, err
}

// TestSweepAnnouncesAClaimThatLandedButFailed: dave's only tab falls
// silent and its session expires; the sweeper's claim removes it, but the
// call fails (its answer lost). The claim was taken as not made and
// nothing was announced, and the next pass found no session: bob showed
// dave online and in lobby for good. A read now tells that it is gone,
// and dave goes offline and leaves lobby, once.
func TestSweepAnnouncesAClaimThatLandedButFailed(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, inner store.Store) {
		st := &loseExpiredClaim{Store: inner}
		e := newSweepEnv(t, clock, st, "bob", "dave=a")
		e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
		e.join("bob", "lobby")
		e.join("dave=a", "lobby")
		active := []string{"bob"}
		e.idle(4, active, nil) // dave=a falls silent
		st.mu.Lock()
		st.lose = true
		st.mu.Unlock()
		passErr := e.h.Sweep(context.Background())
		st.mu.Lock()
		st.lose = false
		st.mu.Unlock()
		for range 2 {
			e.idle(2, active, nil)
			_ = e.h.Sweep(context.Background())
		}
		got := e.poster.statuses("bob", "dave")
		leaves := e.poster.roomEvents("bob", "lobby", "dave", "leave")
		t.Logf("first pass error: %v", passErr)
		if strings.Join(got, " ") != "online offline" || leaves != 1 {
			t.Errorf("bob got %v about dave and %d leaves of lobby, want [online offline] and 1", got, leaves)
		}
	})
}
