package collab_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/protocol"
)

func TestAcquireTTL(t *testing.T) {
	tests := []struct {
		name    string
		ttl     int64
		expires time.Duration // after epoch; 0: refused
	}{
		{"default", 0, 30 * time.Second},
		{"asked", 10_000, 10 * time.Second},
		{"rounded up to the second", 1500, 2 * time.Second},
		{"capped", int64(time.Hour / time.Millisecond), 5 * time.Minute},
		{"largest int64 refused", math.MaxInt64, 0},
		{"negative refused", -1, 0},
		{"smallest int64 refused", math.MinInt64, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			e := entity("order", "o1")
			got, err := f.svc.Acquire(f.ctx, f.call("ann", "l1"), e, tt.ttl)
			if tt.expires == 0 {
				wantCode(t, err, protocol.CodeBadRequest)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Lock.ExpiresAt != protocol.Now(epoch.Add(tt.expires)) || got.Renewed {
				t.Errorf("lock %+v, want expiry %v", got, tt.expires)
			}
		})
	}
}

// TestLockLifecycle walks one lock through its routes; each step names
// the caller, the call and what it answers, and what was announced.
func TestLockLifecycle(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("order", "o1")
	steps := []struct {
		name   string
		do     func() (any, error)
		code   protocol.Code
		action string // the lock event broadcast, "" for none
	}{
		{"ann acquires", func() (any, error) { return f.svc.Acquire(f.ctx, f.call("ann", "1"), e, 0) }, "", protocol.LockAcquired},
		{"ann acquires again: renewed", func() (any, error) {
			r, err := f.svc.Acquire(f.ctx, f.call("ann", "2"), e, 0)
			if err == nil && !r.Renewed {
				t.Error("second acquire not reported renewed")
			}
			return r, err
		}, "", protocol.LockRenewed},
		{"bob is refused", func() (any, error) { return f.svc.Acquire(f.ctx, f.call("bob", "3"), e, 0) }, protocol.CodeLockHeld, ""},
		{"bob cannot renew", func() (any, error) { return f.svc.Renew(f.ctx, f.call("bob", "4"), e, 0) }, protocol.CodeNotLockHolder, ""},
		{"bob cannot release", func() (any, error) { return f.svc.Release(f.ctx, f.call("bob", "5"), e) }, protocol.CodeNotLockHolder, ""},
		{"ann renews", func() (any, error) { return f.svc.Renew(f.ctx, f.call("ann", "6"), e, 60_000) }, "", protocol.LockRenewed},
		{"ann releases", func() (any, error) { return f.svc.Release(f.ctx, f.call("ann", "7"), e) }, "", protocol.LockReleased},
		{"ann releases again: the same answer, nothing announced", func() (any, error) {
			r, err := f.svc.Release(f.ctx, f.call("ann", "7"), e)
			if err == nil && (!r.Released || r.Lock.LockedBy != "ann" || r.Lock.FencingToken != 1) {
				t.Errorf("second release = %+v, want ann's lock released", r)
			}
			return r, err
		}, "", ""},
		{"bob cannot release ann's last grant", func() (any, error) { return f.svc.Release(f.ctx, f.call("bob", "8"), e) }, protocol.CodeNotLockHolder, ""},
		{"bob acquires", func() (any, error) { return f.svc.Acquire(f.ctx, f.call("bob", "9"), e, 0) }, "", protocol.LockAcquired},
	}
	for _, s := range steps {
		f.now = f.now.Add(time.Second)
		_, err := s.do()
		if s.code != "" {
			if codeOf(err) != s.code {
				t.Fatalf("%s: %v, want %s", s.name, err, s.code)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		events := f.rec.take()
		if s.action == "" {
			if len(events) != 0 {
				t.Errorf("%s announced %+v", s.name, events)
			}
			continue
		}
		if len(events) != 2 || events[0].channel != protocol.ChannelLocks || events[1].channel != "order:o1" {
			t.Fatalf("%s: events %+v, want edit-locks and the entity channel", s.name, events)
		}
		if ev := events[0].payload.(protocol.LockEvent); ev.Action != s.action {
			t.Errorf("%s: action %q, want %q", s.name, ev.Action, s.action)
		}
	}
}

func TestReleaseLocksOfAndSweep(t *testing.T) {
	f := newFixture(t, collab.Config{})
	live, lapsed, swept := entity("order", "live"), entity("order", "lapsed"), entity("order", "swept")
	for _, e := range []struct {
		key  string
		user string
		ttl  int64
	}{{live.ID, "ann", 60_000}, {lapsed.ID, "ann", 1000}, {swept.ID, "bob", 1000}} {
		if _, err := f.svc.Acquire(f.ctx, f.call(e.user, "l-"+e.key), entity("order", e.key), e.ttl); err != nil {
			t.Fatal(err)
		}
	}
	f.rec.take()
	f.now = epoch.Add(10 * time.Second)
	f.svc.ReleaseLocksOf(f.ctx, f.call("ann", "").Conn, f.rec)
	got := map[string]string{}
	for _, ev := range f.rec.take() {
		le := ev.payload.(protocol.LockEvent)
		got[le.EntityID] = le.Action + "/" + le.Reason
	}
	if got["live"] != "released/disconnected" || got["lapsed"] != "expired/" || len(got) != 2 {
		t.Errorf("clean-up announced %v", got)
	}
	// A pass whose invocation is about to end claims nothing more; the
	// next one does.
	ending, cancel := context.WithTimeout(f.ctx, deadline.SweepReserve/2)
	defer cancel()
	if err := f.svc.SweepLocks(ending, f.now, f.rec); err != nil {
		t.Fatal(err)
	}
	if events := f.rec.take(); len(events) != 0 {
		t.Fatalf("a sweep with %v left announced %+v, want nothing", deadline.SweepReserve/2, events)
	}
	if left, err := f.st.ExpiredLocks(f.ctx, f.now, 10); err != nil || len(left) != 1 {
		t.Fatalf("expired locks after the cut-short sweep: %v, %v; want bob's", left, err)
	}
	if err := f.svc.SweepLocks(f.ctx, f.now, f.rec); err != nil {
		t.Fatal(err)
	}
	events := f.rec.take()
	if len(events) != 2 || events[0].payload.(protocol.LockEvent).Action != protocol.LockExpired {
		t.Fatalf("sweep announced %+v, want bob's lock expired", events)
	}
	if _, err := f.st.GetLock(f.ctx, swept); err == nil {
		t.Error("swept lock still stored")
	}
	if err := f.svc.SweepLocks(f.ctx, f.now, nil); err != nil {
		t.Errorf("a second sweep: %v", err)
	}
}
