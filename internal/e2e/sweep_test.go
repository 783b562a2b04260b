package e2e_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestSweepDroppedConnection: a connection that closed without
// $disconnect is found by one sweep through the expiry index, probed,
// removed with its subscriptions and presence, and announced offline. An
// open connection whose heartbeats stopped is announced offline but kept.
// The sweep sends DynamoDB no Scan, and a second sweep changes nothing.
func TestSweepDroppedConnection(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			ctx := context.Background()
			st := srv.Built.Store
			bob := presDial(t, srv, "bob", nil)
			bob.ok("subscribe", "user-presence", nil)
			bob.ok("room.join", "", presJoin("order-123"))
			carol := presDial(t, srv, "carol", nil)
			carol.ok("room.join", "", presJoin("order-123"))
			bob.await(isPresence("room:order-123", "carol", "join", "online"), "carol's join")
			// Dave stays connected but stops sending heartbeats.
			dave := presDial(t, srv, "dave", nil)
			dave.ok("room.join", "", presJoin("order-123"))
			bob.await(isPresence("room:order-123", "dave", "join", "online"), "dave's join")
			bob.forget()

			srv.inv.lose(carol.id)
			carol.close()
			mc := mgmtClient(t, srv.Server)
			waitFor(t, func() bool {
				_, err := mc.GetConnection(ctx, carol.id)
				return errors.Is(err, mgmtapi.ErrGone)
			}, "the gateway forgets carol's connection")
			if _, err := st.GetConnection(ctx, carol.id); err != nil {
				t.Fatalf("carol's record is gone before the sweep (%v): $disconnect was not lost", err)
			}

			// Bob keeps sending heartbeats while carol's presence expires.
			for range 3 {
				srv.clock.Advance(30 * time.Second)
				bob.ok("ping", "", nil)
			}
			bob.none(anyPresence("room:order-123", "carol"), "carol's leave before the sweep")
			srv.resetCounts()
			srv.sweep(t)

			bob.await(isPresence("room:order-123", "carol", "leave", "offline"), "carol leaving the room")
			bob.await(isPresence("user-presence", "carol", "offline", "offline"), "carol offline")
			if _, err := st.GetConnection(ctx, carol.id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("carol's connection after the sweep: %v, want not found", err)
			}
			if chans, err := st.ChannelsOf(ctx, carol.id); err != nil || len(chans) != 0 {
				t.Errorf("carol's subscriptions after the sweep: %v, %v", chans, err)
			}
			ids, _, err := st.Subscribers(ctx, "default", "room:order-123", store.Page{})
			if err != nil || len(ids) != 2 || slices.Contains(ids, carol.id) || !slices.Contains(ids, bob.id) || !slices.Contains(ids, dave.id) {
				t.Errorf("room subscribers = %v, %v; want bob and dave", ids, err)
			}
			if ss, err := st.UserSessions(ctx, "default", "carol"); err != nil || len(ss) != 0 {
				t.Errorf("carol's presence after the sweep: %+v, %v", ss, err)
			}
			if s := bob.snapshot("order-123"); len(s.UsersInRoom) != 1 || s.statusOf("bob") != "online" {
				t.Errorf("room after the sweep: %+v, want bob alone", s)
			}
			if srv.counter != nil {
				ops := srv.counter.Snapshot()
				if st, ok := ops["Scan"]; ok {
					t.Errorf("the sweep sent %d Scan requests: %+v", st.Requests, ops)
				}
				if ops["Query"].Requests == 0 {
					t.Errorf("the sweep sent no Query: %+v", ops)
				}
				t.Logf("DynamoDB requests of one sweep: %+v", ops)
			}

			// Dave's connection is open: the probe keeps it, but with his
			// heartbeats stopped he is offline until he speaks again.
			bob.await(isPresence("user-presence", "dave", "offline", "offline"), "dave offline")
			if _, err := st.GetConnection(ctx, dave.id); err != nil {
				t.Errorf("dave's open connection was removed: %v", err)
			}
			dave.ok("ping", "", nil)
			bob.await(isPresence("user-presence", "dave", "online", "online"), "dave online again")

			srv.sweep(t)
			bob.none(anyPresence("user-presence", "carol"), "a second offline of carol")
		})
	}
}

// TestExpiredSessionSpeaksBeforeSweep: a connection whose heartbeats
// stopped speaks again after its session expired but before the sweeper
// ran. Its room still sees it leave, and the user goes offline and online
// again, once each, in that order; the connection, still subscribed to
// the room's channel, is back in the room, which sees it join again. The
// sweep after it finds nothing to announce.
func TestExpiredSessionSpeaksBeforeSweep(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			bob := presDial(t, srv, "bob", nil)
			bob.ok("subscribe", "user-presence", nil)
			bob.ok("room.join", "", presJoin("order-123"))
			dave := presDial(t, srv, "dave", nil)
			dave.ok("room.join", "", presJoin("order-123"))
			bob.await(isPresence("room:order-123", "dave", "join", "online"), "dave's join")
			bob.forget()
			for range 3 { // bob's heartbeats go on; dave's session expires
				srv.clock.Advance(30 * time.Second)
				bob.ok("ping", "", nil)
			}
			dave.ok("ping", "", nil) // before any sweep
			bob.await(isPresence("room:order-123", "dave", "leave", "offline"), "dave leaving the room")
			bob.await(isPresence("user-presence", "dave", "offline", "offline"), "dave offline")
			bob.await(isPresence("user-presence", "dave", "online", "online"), "dave online again")
			bob.await(isPresence("room:order-123", "dave", "join", "online"), "dave back in the room")
			if s := bob.snapshot("order-123"); len(s.UsersInRoom) != 2 || s.statusOf("bob") != "online" || s.statusOf("dave") != "online" {
				t.Errorf("room after dave spoke again: %+v, want bob and dave", s)
			}
			srv.sweep(t)
			bob.none(anyPresence("room:order-123", "dave"), "another event of dave in the room")
			bob.none(anyPresence("user-presence", "dave"), "another status of dave")
		})
	}
}
