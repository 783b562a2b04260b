package handler_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// TestActivitySeenByOneInstanceIsStored: dave's frames reach two warm
// instances, A and B. A wrote his session a few seconds before he was
// active through A; his last stored activity was long before that, yet
// far enough from the away timeout that A counted on its own next write
// to store the new activity. That write never came: his next frames, pings,
// went through B, which knew nothing of the activity. The away alarm
// fired on the old time, and bob saw dave away two minutes after dave was
// last active. The activity is stored when it is first seen, and dave
// turns away five minutes after it.
func TestActivitySeenByOneInstanceIsStored(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		a := newSweepEnv(t, clock, st, "bob", "dave")
		b := newSweepEnvPosting(t, clock, st, handler.PresenceConfig{}, a.poster)
		ping := `{"type":"ping","messageId":"p"}`
		a.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
		a.ok("dave", ping) // his session, last active now
		// Pings, through A and B in turn, keep dave online: heartbeats,
		// not activity.
		for i := range 6 {
			clock.Advance(30 * time.Second)
			via := b
			if i%2 == 1 {
				via = a
			}
			via.ok("dave", ping)
			a.ok("bob", `{"type":"presence","messageId":"b","payload":{"active":true}}`)
		}
		// Three minutes in, just after A's refresh: dave is active through A.
		clock.Advance(10 * time.Second)
		a.ok("dave", `{"type":"subscribe","channel":"order:1","messageId":"s2"}`)
		active := clock.Now()
		// From now on only B serves dave's frames.
		ctx := context.Background()
		for clock.Now().Add(20 * time.Second).Before(active.Add(5 * time.Minute)) {
			clock.Advance(20 * time.Second)
			b.ok("dave", ping)
			a.ok("bob", `{"type":"presence","messageId":"b","payload":{"active":true}}`)
			if err := a.h.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := a.poster.statuses("bob", "dave"); slices.Contains(got, store.StatusAway) {
			stored := "none"
			if ses, err := st.UserSessions(ctx, "t1", "dave"); err == nil && len(ses) == 1 {
				stored = ses[0].LastActive.Format(time.TimeOnly)
			}
			t.Fatalf("bob saw dave %v less than 5 min after dave was last active (at %s); dave's stored last activity: %s",
				got, active.Format(time.TimeOnly), stored)
		}
		// Idle past the timeout counted from that activity: now he is away.
		clock.Advance(30 * time.Second)
		b.ok("dave", ping)
		if err := a.h.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := a.poster.statuses("bob", "dave"); !slices.Contains(got, store.StatusAway) {
			t.Errorf("dave idle for over 5 min: bob's statuses of him %v; want away", got)
		}
	})
}

// TestHeartbeatRepliesWithTheStoredPresence: dave sets status away through
// instance A, then online through B. A heartbeat presence frame (it sets
// nothing) served by A before its refresh is due used to be answered from
// A's copy of the session: away, which no one else saw. Its reply shows
// the stored presence, and it still writes nothing.
func TestHeartbeatRepliesWithTheStoredPresence(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		writesA := &sessionWrites{Store: st}
		a := newSweepEnv(t, clock, writesA, "dave")
		b := newSweepEnvPosting(t, clock, st, handler.PresenceConfig{}, a.poster)
		a.ok("dave", `{"type":"presence","messageId":"m1","payload":{"status":"away","activity":"lunch"}}`)
		clock.Advance(time.Second)
		b.ok("dave", `{"type":"presence","messageId":"m2","payload":{"status":"online","activity":"editing order 1"}}`)
		clock.Advance(time.Second)
		writes := writesA.n.Load()
		for _, hb := range []string{`{}`, `{"active":true}`} {
			reply := a.send("dave", `{"type":"presence","messageId":"h","payload":`+hb+`}`)
			if !strings.Contains(reply, `"status":"online"`) || !strings.Contains(reply, `"activity":"editing order 1"`) {
				t.Errorf("heartbeat %s through A: %s; want the stored status online and activity", hb, reply)
			}
		}
		if n := writesA.n.Load() - writes; n != 0 {
			t.Errorf("the heartbeats wrote the session %d times; want none before the refresh is due", n)
		}
	})
}

// TestHeartbeatWhenTheSessionReadFails: a heartbeat that writes nothing
// replies with the stored session, which it reads. When that read fails
// (throttled, timed out), the heartbeat failed with it, though it writes
// nothing and never failed before the read; it now replies from the
// serving instance's copy, as it did then.
func TestHeartbeatWhenTheSessionReadFails(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		faults := &sessionReadFaults{Store: st}
		a := newSweepEnv(t, clock, faults, "dave")
		a.ok("dave", `{"type":"presence","messageId":"m1","payload":{"status":"away","activity":"lunch"}}`)
		clock.Advance(time.Second)
		faults.goDown()
		reply := a.send("dave", `{"type":"presence","messageId":"h","payload":{}}`)
		if !strings.Contains(reply, `"ack"`) || !strings.Contains(reply, `"status":"away"`) || !strings.Contains(reply, `"activity":"lunch"`) {
			t.Errorf("heartbeat with the session read failing: %s; want an ack with the instance's status away and activity", reply)
		}
	})
}
