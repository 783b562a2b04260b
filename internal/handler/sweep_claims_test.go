package handler_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// sweepStores runs f on the memory store and, with
// DYNAMODB_TEST_ENDPOINT set (scripts/with-moto.sh), on DynamoDB.
func sweepStores(t *testing.T, f func(t *testing.T, clock *storetest.FakeClock, st store.Store)) {
	t.Run("memory", func(t *testing.T) {
		clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		f(t, clock, memory.New(clock.Now))
	})
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		return
	}
	t.Run("dynamo", func(t *testing.T) {
		clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		client, table := motoTable(t, ep, "sweep-claims")
		f(t, clock, dynamo.New(client, table, clock.Now))
	})
}

// motoTable creates a table named after prefix on DynamoDB at ep (moto),
// deleted after the test, and returns a client of it and its name.
func motoTable(t *testing.T, ep, prefix string) (*dynamodb.Client, string) {
	t.Helper()
	client, err := dynamo.NewClient(t.Context(), ep, "")
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if err := dynamo.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return client, table
}

// sweepEnv is a handler on a store with a fake clock, whose posts are
// recorded, and whose connections are named after their users: "<user>"
// or "<user>=<tab>" connects as user, an editor of tenant t1 (user viv is
// a viewer).
type sweepEnv struct {
	t      *testing.T
	h      *handler.Handler
	clock  *storetest.FakeClock
	poster *sweepPoster
}

func newSweepEnv(t *testing.T, clock *storetest.FakeClock, st store.Store, conns ...string) *sweepEnv {
	t.Helper()
	return newSweepEnvWith(t, clock, st, handler.PresenceConfig{}, conns...)
}

func newSweepEnvWith(t *testing.T, clock *storetest.FakeClock, st store.Store, pc handler.PresenceConfig, conns ...string) *sweepEnv {
	t.Helper()
	return newSweepEnvPosting(t, clock, st, pc, &sweepPoster{}, conns...)
}

// newSweepEnvPosting is newSweepEnvWith whose posts go to poster: handlers
// on one store and one poster are warm instances of one deployment.
func newSweepEnvPosting(t *testing.T, clock *storetest.FakeClock, st store.Store, pc handler.PresenceConfig, poster *sweepPoster, conns ...string) *sweepEnv {
	t.Helper()
	return newSweepEnvMetrics(t, clock, st, pc, poster, nil, conns...)
}

// newSweepEnvMetrics is newSweepEnvPosting whose metrics (EMF documents)
// go to metrics, when not nil.
func newSweepEnvMetrics(t *testing.T, clock *storetest.FakeClock, st store.Store, pc handler.PresenceConfig, poster *sweepPoster,
	metrics io.Writer, conns ...string) *sweepEnv {
	t.Helper()
	e := &sweepEnv{t: t, clock: clock, poster: poster}
	var err error
	e.h, err = handler.New(handler.Config{ManagementEndpoint: "https://mgmt.example/prod", Presence: pc}, handler.Deps{Store: st, Clock: clock.Now,
		Posters: func(string) broadcast.Poster { return poster }, IsGone: func(error) bool { return false },
		Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if resp, _ := e.h.Connect(context.Background(), e.event(c, "")); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d", c, resp.StatusCode)
		}
	}
	return e
}

func (e *sweepEnv) event(conn, body string) events.APIGatewayWebsocketProxyRequest {
	user, _, _ := strings.Cut(conn, "=")
	role := "editor"
	switch user {
	case "viv":
		role = "viewer"
	case "root":
		role = "admin"
	}
	return fuzzEvent(conn, body, map[string]string{"userId": user, "tenant": "t1", "role": role})
}

// send sends a frame from conn and returns the reply's body.
func (e *sweepEnv) send(conn, body string) string {
	e.t.Helper()
	resp, err := e.h.Message(context.Background(), e.event(conn, body))
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Body
}

// ok sends a frame from conn and fails the test unless it is acked.
func (e *sweepEnv) ok(conn, body string) {
	e.t.Helper()
	if b := e.send(conn, body); !strings.Contains(b, `"ack"`) && !strings.Contains(b, `"pong"`) {
		e.t.Fatalf("%s %s: %s", conn, body, b)
	}
}

// join enters conn into room.
func (e *sweepEnv) join(conn, room string) {
	e.t.Helper()
	e.ok(conn, `{"type":"room.join","messageId":"j-`+room+`","payload":{"room":"`+room+`"}}`)
}

// idle advances the clock by n times 30 s; after each step each of the
// connections active sends client activity and each of pinging a
// heartbeat (the others stay silent).
func (e *sweepEnv) idle(n int, active, pinging []string) {
	e.t.Helper()
	for range n {
		e.clock.Advance(30 * time.Second)
		for _, c := range active {
			e.ok(c, `{"type":"presence","messageId":"a","payload":{"active":true}}`)
		}
		for _, c := range pinging {
			e.ok(c, `{"type":"ping","messageId":"p"}`)
		}
	}
}

// roomEvents counts the presence events of kind in room about user that
// reached connection to.
func (p *sweepPoster) roomEvents(to, room, user, kind string) int {
	n := 0
	for _, k := range p.events(to, "room:"+room, user) {
		if k == kind {
			n++
		}
	}
	return n
}

// TestSweepAnnouncesAUserWhoseTabsAllExpiredOnce: dave has two tabs in
// room lobby; his laptop sleeps and both sessions expire before the next
// sweeper pass. Each claim used to see only the live sessions, so each
// found "the last one gone": bob got dave offline twice and dave leaving
// lobby twice. He goes offline, and leaves lobby, once.
func TestSweepAnnouncesAUserWhoseTabsAllExpiredOnce(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "bob", "dave=a", "dave=b")
		e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
		for _, c := range []string{"bob", "dave=a", "dave=b"} {
			e.join(c, "lobby")
		}
		e.idle(4, []string{"bob"}, nil) // both of dave's tabs are silent
		if err := e.h.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := e.poster.statuses("bob", "dave")
		leaves := e.poster.roomEvents("bob", "lobby", "dave", "leave")
		t.Logf("user-presence events about dave: %v; lobby leaves of dave: %d", got, leaves)
		if strings.Join(got, " ") != "online offline" || leaves != 1 {
			t.Errorf("bob got %v and %d leaves of lobby about dave; want [online offline] and 1", got, leaves)
		}
	})
}

// TestExpiredTabSpeaksAgainBesideAnUnclaimedOne: both of dave's tabs
// expire; one speaks again before the sweeper runs, the other stays
// silent. Nobody has announced the silent one gone, so to bob dave never
// left: he gets neither offline nor a second online, when the tab speaks
// again or when the sweeper claims the silent one (which leaves dave
// online, with the tab that spoke).
func TestExpiredTabSpeaksAgainBesideAnUnclaimedOne(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "bob", "dave=a", "dave=b")
		e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
		e.ok("dave=a", `{"type":"ping","messageId":"p"}`)
		e.ok("dave=b", `{"type":"ping","messageId":"p"}`)
		e.idle(4, []string{"bob"}, nil)
		e.ok("dave=a", `{"type":"ping","messageId":"p"}`)
		after := e.poster.statuses("bob", "dave")
		if err := e.h.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := e.poster.statuses("bob", "dave")
		t.Logf("about dave, bob got %v by the time tab a spoke again, %v after the sweep", after, got)
		if strings.Join(got, " ") != "online" {
			t.Errorf("dave was online throughout, but bob got %v (want only the first online)", got)
		}
	})
}

// TestDisconnectBesideAnUnclaimedTab: dave's tab a expired and is not
// claimed yet when his tab b closes. Tab a has not been announced gone,
// so dave is not offline yet; the sweeper's claim of tab a announces it,
// once.
func TestDisconnectBesideAnUnclaimedTab(t *testing.T) {
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newSweepEnv(t, clock, memory.New(clock.Now), "bob", "dave=a", "dave=b")
	e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
	e.ok("dave=a", `{"type":"ping","messageId":"p"}`)
	e.idle(4, []string{"bob"}, []string{"dave=b"})
	if resp, _ := e.h.Disconnect(context.Background(), e.event("dave=b", "")); resp.StatusCode != 200 {
		t.Fatalf("disconnect: %d", resp.StatusCode)
	}
	if err := e.h.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := e.poster.statuses("bob", "dave")
	t.Logf("user-presence events about dave: %v", got)
	if strings.Join(got, " ") != "online offline" {
		t.Errorf("bob got %v about dave; want [online offline]", got)
	}
}

// failAfterClaimStore fails reads of a user's sessions that follow a
// successful claim (ClearAway, DeleteExpiredSession), as a throttled or
// timed-out read would: only the first of them when once is set, else
// every one until reset.
type failAfterClaimStore struct {
	sessionReadFaults
}

func newFailAfterClaimStore(inner store.Store, once bool) *failAfterClaimStore {
	return &failAfterClaimStore{sessionReadFaults{Store: inner, once: once}}
}

func (s *failAfterClaimStore) claimed(ok bool) {
	if ok {
		s.goDown()
	}
}

func (s *failAfterClaimStore) ClearAway(ctx context.Context, a store.AwayAlarm, now time.Time) (bool, error) {
	ok, err := s.Store.ClearAway(ctx, a, now)
	s.claimed(ok)
	return ok, err
}

func (s *failAfterClaimStore) DeleteExpiredSession(ctx context.Context, ses store.Session, now time.Time) (bool, error) {
	ok, err := s.Store.DeleteExpiredSession(ctx, ses, now)
	s.claimed(ok)
	return ok, err
}

// claimReadFailures are the ways the read after a sweeper's claim fails.
var claimReadFailures = []struct {
	name string
	once bool
}{
	{"once", true},
	{"for the rest of the pass", false},
}

// sweepEvery runs a pass after every second step of e.idle (a pass a
// minute), resetting st after each, and returns the passes' errors.
func (e *sweepEnv) sweepEvery(st *failAfterClaimStore, steps int, active, pinging []string) []error {
	var errs []error
	for range steps / 2 {
		e.idle(2, active, pinging)
		errs = append(errs, e.h.Sweep(context.Background()))
		st.reset()
	}
	return errs
}

// failedPasses counts the passes that reported an error.
func failedPasses(errs []error) int {
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	return n
}

// TestSweepAnnouncesWhenTheReadAfterTheClaimFails: the sweeper claims
// dave's due away alarm, or deletes his expired session, then reading his
// sessions fails (throttling past the SDK's retries, a timeout). The claim
// cannot be taken back and no later pass finds the item, so the event was
// lost for good: dave, idle and connected, was never announced away; or,
// swept, never offline nor leaving lobby (and that pass even reported
// success). The read is tried again, and when it keeps failing the event
// is announced from the read taken before the claim; the pass then
// reports the error.
func TestSweepAnnouncesWhenTheReadAfterTheClaimFails(t *testing.T) {
	cases := []struct {
		name   string
		steps  int      // of 30 s, a pass after every second one
		dave   []string // dave's frames before
		pinged bool     // dave sends heartbeats throughout
		want   string   // user-presence events about dave
		leaves int      // of lobby
	}{
		{"away", 14, []string{`{"type":"presence","messageId":"pr","payload":{"active":true}}`}, true, "online away", 0},
		{"offline", 8, []string{`{"type":"room.join","messageId":"j","payload":{"room":"lobby"}}`}, false, "online offline", 1},
	}
	for _, c := range cases {
		for _, fail := range claimReadFailures {
			t.Run(c.name+"/"+fail.name, func(t *testing.T) {
				sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, inner store.Store) {
					st := newFailAfterClaimStore(inner, fail.once)
					e := newSweepEnv(t, clock, st, "bob", "dave")
					e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
					e.join("bob", "lobby")
					for _, f := range c.dave {
						e.ok("dave", f)
					}
					var pinging []string
					if c.pinged {
						pinging = []string{"dave"}
					}
					errs := e.sweepEvery(st, c.steps, []string{"bob"}, pinging)
					got := e.poster.statuses("bob", "dave")
					leaves := e.poster.roomEvents("bob", "lobby", "dave", "leave")
					t.Logf("pass errors: %v; user-presence events about dave: %v; lobby leaves: %d", errs, got, leaves)
					if strings.Join(got, " ") != c.want || leaves != c.leaves {
						t.Errorf("bob got %v and %d leaves of lobby about dave, want [%s] and %d", got, leaves, c.want, c.leaves)
					}
					if want := map[bool]int{true: 0, false: 1}[fail.once]; failedPasses(errs) != want {
						t.Errorf("%d passes failed, want %d", failedPasses(errs), want)
					}
				})
			})
		}
	}
}

// TestSilentConnectionKeepsItsRooms: dave's tab is in room lobby and goes
// silent for two minutes (a laptop asleep) while its WebSocket stays open.
// The sweeper reports him offline and leaving lobby, but his connection
// stays subscribed to room:lobby and goes on receiving it. When the tab
// speaks again it used to get a session in no room: bob's snapshot of
// lobby lacked dave for good, and nothing told dave's client it had left.
// It is back in lobby, and bob sees it join again.
func TestSilentConnectionKeepsItsRooms(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "bob", "dave")
		e.join("bob", "lobby")
		e.join("dave", "lobby")
		e.idle(4, []string{"bob"}, nil)
		if err := e.h.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.poster.roomEvents("bob", "lobby", "dave", "leave"); n != 1 {
			t.Fatalf("bob got %d leaves of dave, want 1 (the sweeper's)", n)
		}
		back := e.send("dave", `{"type":"presence","messageId":"pr1","payload":{"active":true}}`)
		snap := e.send("bob", `{"type":"presence.snapshot","messageId":"sn1","payload":{"room":"lobby"}}`)
		joins := e.poster.roomEvents("bob", "lobby", "dave", "join")
		t.Logf("dave's presence reply: %s", back)
		t.Logf("bob's lobby snapshot: %s", snap)
		if !strings.Contains(back, `"rooms":["lobby"]`) || !strings.Contains(snap, `"dave"`) || joins != 2 {
			t.Errorf("dave's open tab spoke again, still subscribed to room:lobby; want it back in lobby and bob told (joins of dave: %d)", joins)
		}
	})
}

// TestSilentConnectionDoesNotEnterARoomItOnlyWatched: dave is in room
// lobby and, with a plain subscribe, watches room den without being in
// it; bob is in den. Dave's connection falls silent and the sweeper
// announces it gone. When it spoke again, every room:<name> channel it was
// still subscribed to counted as a room it had been in: bob saw dave join
// den, which dave never entered. He is back in lobby only.
func TestSilentConnectionDoesNotEnterARoomItOnlyWatched(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "bob", "dave")
		e.join("bob", "den")
		e.join("dave", "lobby")
		e.ok("dave", `{"type":"subscribe","channel":"room:den","messageId":"s1"}`)
		e.idle(4, []string{"bob"}, nil)
		if err := e.h.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		back := e.send("dave", `{"type":"presence","messageId":"pr1","payload":{"active":true}}`)
		snap := e.send("bob", `{"type":"presence.snapshot","messageId":"sn1","payload":{"room":"den"}}`)
		if !strings.Contains(back, `"rooms":["lobby"]`) {
			t.Errorf("dave back from a silent spell: %s; want rooms [lobby]", back)
		}
		if n := e.poster.roomEvents("bob", "den", "dave", "join"); n != 0 || strings.Contains(snap, `"dave"`) {
			t.Errorf("bob got %d joins of dave in den, which dave only watched; den: %s", n, snap)
		}
	})
}

// TestSilentConnectionFromAnEarlierVersionKeepsItsRooms: dave's tab is
// in room lobby, with a connection record written by an earlier version,
// which did not keep the session's rooms (no sessionRooms). It falls
// silent across a deploy, and the new version's sweeper announces it
// gone. The record could not tell a connection whose rooms were never
// recorded from one whose session was in none: dave came back in no
// room, and bob's lobby lacked him for good. A record without the rooms
// falls back to the earlier rule: dave is back in the rooms whose
// channels he is still subscribed to, lobby.
func TestSilentConnectionFromAnEarlierVersionKeepsItsRooms(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		old := newSweepEnv(t, clock, st, "bob", "dave")
		old.join("bob", "lobby")
		old.join("dave", "lobby")
		c, err := st.GetConnection(context.Background(), "dave")
		if err != nil {
			t.Fatal(err)
		}
		c.Rooms = nil
		c.RoomsKnown = false
		if err := st.PutConnection(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		// The new version's instances start with no cached record.
		e := newSweepEnvPosting(t, clock, st, handler.PresenceConfig{}, old.poster)
		e.idle(4, []string{"bob"}, nil)
		if err := e.h.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		back := e.send("dave", `{"type":"presence","messageId":"pr1","payload":{"active":true}}`)
		snap := e.send("bob", `{"type":"presence.snapshot","messageId":"sn1","payload":{"room":"lobby"}}`)
		joins := e.poster.roomEvents("bob", "lobby", "dave", "join")
		if !strings.Contains(back, `"rooms":["lobby"]`) || !strings.Contains(snap, `"dave"`) || joins != 2 {
			t.Errorf("dave back from a silent spell: %s; lobby: %s; bob got %d joins of dave; want dave back in lobby, joined twice", back, snap, joins)
		}
	})
}

// TestSilentConnectionThatWasInNoRoomEntersNone: dave's connection only
// watches room den, with a plain subscribe, and never enters a room; it
// falls silent past the offline timeout and speaks again. Its record
// keeps that its presence was in no room (written on $connect, and with
// its first presence), which is not the earlier version's record without
// the rooms: it does not fall back to the channels it is subscribed to,
// and does not enter den.
func TestSilentConnectionThatWasInNoRoomEntersNone(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "bob", "dave")
		e.join("bob", "den")
		e.ok("dave", `{"type":"subscribe","channel":"room:den","messageId":"s1"}`)
		e.idle(4, []string{"bob"}, nil)
		if err := e.h.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		back := e.send("dave", `{"type":"presence","messageId":"pr1","payload":{"active":true}}`)
		if !strings.Contains(back, `"rooms":[]`) && strings.Contains(back, `"rooms":[`) {
			t.Errorf("dave, who was in no room, back from a silent spell: %s; want no room", back)
		}
		if n := e.poster.roomEvents("bob", "den", "dave", "join"); n != 0 {
			t.Errorf("bob got %d joins of dave in den, which dave only watched", n)
		}
	})
}

// TestSilentConnectionReentersWhatItMay: after a silent spell a
// connection re-enters only the rooms it may enter, at most MaxRooms of
// them, the room its frame joins included. Dave (an editor, 2 rooms at
// most) was in rooms a and b and subscribed to room:c; he comes back with
// a frame that enters d. Viv, a viewer, watched room:a without being in
// it (viewers may subscribe to a room but not show their presence there):
// she does not enter it.
func TestSilentConnectionReentersWhatItMay(t *testing.T) {
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newSweepEnvWith(t, clock, memory.New(clock.Now), handler.PresenceConfig{MaxRooms: 2}, "bob", "dave", "viv")
	e.join("dave", "a")
	e.join("dave", "b")
	e.ok("dave", `{"type":"subscribe","channel":"room:c","messageId":"s1"}`)
	e.ok("viv", `{"type":"subscribe","channel":"room:a","messageId":"s1"}`)
	e.ok("viv", `{"type":"ping","messageId":"p"}`)
	e.idle(4, []string{"bob"}, nil)
	if err := e.h.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := e.send("dave", `{"type":"presence","messageId":"pr1","payload":{"room":"d"}}`)
	e.ok("viv", `{"type":"ping","messageId":"p"}`)
	snap := e.send("bob", `{"type":"presence.snapshot","messageId":"sn1","payload":{"room":"a"}}`)
	t.Logf("dave's presence reply: %s", back)
	t.Logf("room a: %s", snap)
	if !strings.Contains(back, `"rooms":["a","d"]`) {
		t.Errorf("dave is back in %s, want rooms a and d", back)
	}
	if strings.Contains(snap, `"viv"`) {
		t.Errorf("viv, who may not show her presence in room a, is in it: %s", snap)
	}
}
