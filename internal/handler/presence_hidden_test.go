package handler_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// TestHiddenUserStaysHiddenAfterASilentSpell: dave appears offline
// (hidden) in lobby; his laptop sleeps past the offline timeout with the
// socket open, and his session expires. When his tab spoke again, the
// session written anew started online: bob, who never saw him, was told
// that dave came online and joined lobby. The new session keeps the
// hidden status the connection's record holds, whether the sweeper
// claimed the expired session first or the tab's own frame did.
func TestHiddenUserStaysHiddenAfterASilentSpell(t *testing.T) {
	for _, sweep := range []bool{true, false} {
		name := "claimed by the tab's frame"
		if sweep {
			name = "claimed by the sweeper"
		}
		t.Run(name, func(t *testing.T) {
			sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
				e := newSweepEnv(t, clock, st, "bob", "dave")
				e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
				e.join("bob", "lobby")
				e.ok("dave", `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`)
				e.join("dave", "lobby")
				e.idle(4, []string{"bob"}, nil) // dave is silent for 2 minutes
				if sweep {
					if err := e.h.Sweep(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				e.ok("dave", `{"type":"ping","messageId":"p"}`)
				reply := e.send("dave", `{"type":"presence","messageId":"a","payload":{"active":true}}`)
				snap := e.send("bob", `{"type":"presence.snapshot","messageId":"s","payload":{"room":"lobby"}}`)
				statuses := e.poster.statuses("bob", "dave")
				lobby := e.poster.events("bob", "room:lobby", "dave")
				t.Logf("bob got %v and lobby events %v about dave; dave's reply %s; lobby %s", statuses, lobby, reply, snap)
				if len(statuses) > 0 || len(lobby) > 0 || strings.Contains(snap, `"dave"`) {
					t.Errorf("hidden dave was shown to bob after his tab woke: user-presence %v, lobby %v, snapshot %s", statuses, lobby, snap)
				}
				if !strings.Contains(reply, `"status":"offline"`) || !strings.Contains(reply, `"rooms":["lobby"]`) {
					t.Errorf("dave's presence after his tab woke: %s; want status offline in lobby", reply)
				}
			})
		})
	}
}

// lookupCounter counts the reads of connection records.
type lookupCounter struct {
	store.Store
	n atomic.Int64
}

func (s *lookupCounter) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	s.n.Add(1)
	return s.Store.GetConnection(ctx, id)
}

// TestHiddenFromConnectIsNeverAnnounced: dave's client keeps "appear
// offline" across reconnects. On a new connection it sends hello and
// resubscribes before its presence frame, and each of these frames made a
// visible session first: bob, on user-presence, saw dave come online and
// go offline at every reconnect. A connection opened with status=offline
// in its $connect query starts hidden: nothing is announced until dave
// shows himself, and each frame still reads the connection's record once.
// A room.join stating status offline as the connection's first frame
// announces nothing either: it was made visible by the frame's activity
// step before the join applied its status.
func TestHiddenFromConnectIsNeverAnnounced(t *testing.T) {
	t.Run("status offline at $connect", func(t *testing.T) {
		sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
			counted := &lookupCounter{Store: st}
			e := newSweepEnv(t, clock, counted, "bob")
			ev := e.event("dave", "")
			ev.QueryStringParameters["status"] = "offline"
			if resp, _ := e.h.Connect(context.Background(), ev); resp.StatusCode != 200 {
				t.Fatalf("connect dave: %d", resp.StatusCode)
			}
			e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
			e.join("bob", "lobby")
			counted.n.Store(0)
			frames := []string{
				`{"type":"hello","messageId":"h1"}`,
				`{"type":"subscribe","channel":"order-updates","messageId":"s2"}`,
				`{"type":"presence","messageId":"p1","payload":{"status":"offline","location":{"page":"orders"}}}`,
				`{"type":"room.join","messageId":"j1","payload":{"room":"lobby","status":"offline"}}`,
			}
			for _, f := range frames {
				e.ok("dave", f)
			}
			if n := counted.n.Load(); n != int64(len(frames)) {
				t.Errorf("dave's %d frames read connection records %d times, want once each", len(frames), n)
			}
			statuses, lobby := e.poster.statuses("bob", "dave"), e.poster.events("bob", "room:lobby", "dave")
			t.Logf("while hidden, bob got %v and lobby events %v about dave", statuses, lobby)
			if len(statuses) > 0 || len(lobby) > 0 {
				t.Errorf("dave, hidden from $connect, was announced to bob: user-presence %v, lobby %v", statuses, lobby)
			}
			e.ok("dave", `{"type":"presence","messageId":"p2","payload":{"status":"online"}}`)
			statuses, lobby = e.poster.statuses("bob", "dave"), e.poster.events("bob", "room:lobby", "dave")
			if strings.Join(statuses, " ") != "online" || strings.Join(lobby, " ") != "join" {
				t.Errorf("once dave showed himself, bob got %v and lobby events %v; want [online] and [join]", statuses, lobby)
			}
		})
	})
	t.Run("room.join with status offline first", func(t *testing.T) {
		sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
			e := newSweepEnv(t, clock, st, "bob", "dave")
			e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
			e.join("bob", "lobby")
			e.ok("dave", `{"type":"room.join","messageId":"j1","payload":{"room":"lobby","status":"offline"}}`)
			e.ok("dave", `{"type":"ping","messageId":"p"}`)
			statuses, lobby := e.poster.statuses("bob", "dave"), e.poster.events("bob", "room:lobby", "dave")
			t.Logf("bob got %v and lobby events %v about dave", statuses, lobby)
			if len(statuses) > 0 || len(lobby) > 0 {
				t.Errorf("dave, joining hidden, was announced to bob: user-presence %v, lobby %v", statuses, lobby)
			}
		})
	})
}

// cursorsTo counts the cursor frames about user that reached connection
// to.
func (p *sweepPoster) cursorsTo(to, user string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, po := range p.posts {
		var env struct {
			Type   string `json:"type"`
			UserID string `json:"userId"`
		}
		if po.to == to && json.Unmarshal(po.data, &env) == nil && env.Type == "cursor" && env.UserID == user {
			n++
		}
	}
	return n
}

// TestHiddenUserSendsNoCursors: dave appears offline in lobby, so bob
// never sees him there; his cursor frames still reached bob, with dave's
// id and name. A hidden connection's cursor is refused (FORBIDDEN, reason
// HIDDEN), from the connection's record read again when the copy the
// frame's instance holds is older than cursorRefetch (he may have shown
// himself through another instance), and from that copy, with no store
// read, when it is newer; once dave shows himself, his cursors reach bob.
func TestHiddenUserSendsNoCursors(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		counted := &lookupCounter{Store: st}
		e := newSweepEnv(t, clock, counted, "bob", "dave")
		e.join("bob", "lobby")
		e.ok("dave", `{"type":"room.join","messageId":"j","payload":{"room":"lobby","status":"offline"}}`)
		counted.n.Store(0)
		clock.Advance(time.Second)
		got := e.send("dave", `{"type":"cursor","messageId":"c1","payload":{"room":"lobby","x":1,"y":2}}`)
		if !strings.Contains(got, `"code":"FORBIDDEN"`) || !strings.Contains(got, `"reason":"HIDDEN"`) {
			t.Errorf("hidden dave's cursor: %s; want FORBIDDEN with reason HIDDEN", got)
		}
		if n := e.poster.cursorsTo("bob", "dave"); n != 0 {
			t.Errorf("bob got %d cursors of hidden dave", n)
		}
		if n := counted.n.Load(); n != 1 {
			t.Errorf("the cursor read connection records %d times, want 1 (the cached record is a second old)", n)
		}
		counted.n.Store(0)
		clock.Advance(100 * time.Millisecond)
		got = e.send("dave", `{"type":"cursor","messageId":"c1b","payload":{"room":"lobby","x":1,"y":2}}`)
		if !strings.Contains(got, `"reason":"HIDDEN"`) {
			t.Errorf("hidden dave's second cursor: %s; want FORBIDDEN with reason HIDDEN", got)
		}
		if n := counted.n.Load(); n != 0 {
			t.Errorf("a cursor right after the record was read read it %d times, want none", n)
		}
		e.ok("dave", `{"type":"presence","messageId":"o","payload":{"status":"online"}}`)
		clock.Advance(time.Second)
		e.ok("dave", `{"type":"cursor","messageId":"c2","payload":{"room":"lobby","x":1,"y":2}}`)
		if n := e.poster.cursorsTo("bob", "dave"); n != 1 {
			t.Errorf("bob got %d cursors of dave once he showed himself, want 1", n)
		}
	})
}

// TestCursorAfterUnhideOnAnotherInstance: dave, appearing offline, sends
// a heartbeat to instance b, which keeps his record; he shows himself
// through instance a. His next cursor through b was refused as hidden
// (FORBIDDEN) from b's copy, up to its ten-second lifetime: b reads the
// record again before refusing, and the cursor reaches bob.
func TestCursorAfterUnhideOnAnotherInstance(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		a := newSweepEnv(t, clock, st, "bob", "dave")
		b := newSweepEnvPosting(t, clock, st, handler.PresenceConfig{}, a.poster)
		a.join("bob", "lobby")
		a.join("dave", "lobby")
		a.ok("dave", `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`)
		b.ok("dave", `{"type":"ping","messageId":"p"}`) // b holds dave's record, hidden
		clock.Advance(time.Second)
		a.ok("dave", `{"type":"presence","messageId":"o","payload":{"status":"online"}}`)
		clock.Advance(time.Second)
		if got := b.send("dave", `{"type":"cursor","messageId":"c","payload":{"room":"lobby","x":1,"y":2}}`); !strings.Contains(got, `"ack"`) {
			t.Errorf("cursor of dave, shown again, through b: %s; want an ack", got)
		}
		if n := a.poster.cursorsTo("bob", "dave"); n != 1 {
			t.Errorf("bob got %d cursors of dave through b, want 1", n)
		}
	})
}

// TestCursorNeedsTheRoomJoined: carol only watches lobby (a plain
// subscribe to room:lobby), so she is in no member list; her cursors
// still reached lobby's members. A cursor needs the room joined, as the
// connection's record lists its rooms: hers is refused (NOT_SUBSCRIBED).
// dave, who joined lobby through another instance after this one read
// his record, is not refused for that copy: it is read again. A record
// that does not keep its rooms (written by an earlier version) refuses no
// one subscribed to the room's channel.
func TestCursorNeedsTheRoomJoined(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		a := newSweepEnv(t, clock, st, "bob", "carol", "dave")
		b := newSweepEnvPosting(t, clock, st, handler.PresenceConfig{}, a.poster)
		a.join("bob", "lobby")
		a.ok("carol", `{"type":"subscribe","channel":"room:lobby","messageId":"s"}`)
		b.ok("dave", `{"type":"ping","messageId":"p"}`) // b holds dave's record, in no room
		a.join("dave", "lobby")
		clock.Advance(time.Second)
		cursor := `{"type":"cursor","messageId":"c","payload":{"room":"lobby","x":1,"y":2}}`
		if got := a.send("carol", cursor); !strings.Contains(got, `"code":"NOT_SUBSCRIBED"`) {
			t.Errorf("cursor of carol, who only watches lobby: %s; want NOT_SUBSCRIBED", got)
		}
		if n := a.poster.cursorsTo("bob", "carol"); n != 0 {
			t.Errorf("bob got %d cursors of carol, who is not in lobby", n)
		}
		b.ok("dave", cursor)
		if n := a.poster.cursorsTo("bob", "dave"); n != 1 {
			t.Errorf("bob got %d cursors of dave through the other instance, want 1", n)
		}
		rec, err := st.GetConnection(context.Background(), "dave")
		if err != nil {
			t.Fatal(err)
		}
		rec.Rooms, rec.RoomsKnown = nil, false
		if err := st.PutConnection(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		c := newSweepEnvPosting(t, clock, st, handler.PresenceConfig{}, a.poster)
		clock.Advance(time.Second)
		c.ok("dave", cursor)
		if n := a.poster.cursorsTo("bob", "dave"); n != 2 {
			t.Errorf("bob got %d cursors of dave, whose record does not keep his rooms, want 2", n)
		}
	})
}
