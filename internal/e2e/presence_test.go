package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// presServer is a local server whose clock the test moves, whose store
// writes are counted, and whose $disconnect can be lost on purpose.
type presServer struct {
	*devserver.Server
	clock   *storetest.FakeClock
	inv     *lossyInvoker
	counter *dynamo.Counter // DynamoDB only: requests per operation
	mem     *countingStore  // memory only: write calls
}

// writes returns the store writes counted so far.
func (s *presServer) writes() int64 {
	if s.counter != nil {
		return s.counter.Writes()
	}
	return s.mem.writes.Load()
}

// resetCounts forgets the counted requests.
func (s *presServer) resetCounts() {
	if s.counter != nil {
		s.counter.Reset()
	}
	if s.mem != nil {
		s.mem.writes.Store(0)
	}
}

// sweep runs one sweeper pass, as the scheduled function does.
func (s *presServer) sweep(t *testing.T) {
	t.Helper()
	if err := s.Built.Handler.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
}

// presBackend starts a presServer on one store.
type presBackend struct {
	name  string
	start func(t *testing.T) *presServer
}

// presBackends lists the stores the presence suites run on: memory always,
// DynamoDB (moto) when DYNAMODB_TEST_ENDPOINT is set.
func presBackends(t *testing.T) []presBackend {
	t.Helper()
	bs := []presBackend{{"memory", func(t *testing.T) *presServer {
		return startPresServer(t, app.Settings{DevIdentity: true}, false)
	}}}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		bs = append(bs, presBackend{"dynamo", func(t *testing.T) *presServer {
			table := fmt.Sprintf("pres-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
			return startPresServer(t, app.Settings{DevIdentity: true, TableName: table, DynamoDBEndpoint: ep, Region: "us-east-1"}, true)
		}})
	}
	return bs
}

func startPresServer(t *testing.T, s app.Settings, dynamoDB bool) *presServer {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	ps := &presServer{clock: storetest.NewFakeClock(time.Now().UTC().Truncate(time.Second)), inv: &lossyInvoker{lost: map[string]bool{}}}
	quiet := slog.New(slog.DiscardHandler)
	ao := &app.Options{Clock: ps.clock.Now, Logger: quiet}
	if dynamoDB {
		ps.counter = &dynamo.Counter{}
		ao.DynamoOptions = []func(*dynamodb.Options){dynamo.SerialHTTP(), ps.counter.Options()}
	} else {
		ps.mem = &countingStore{Store: memory.New(ps.clock.Now)}
		ao.Store = ps.mem
	}
	// These servers count DynamoDB requests: the change feed's relay,
	// which polls the outbox, is off (ChangeFeedInterval -1).
	srv, err := devserver.Start(context.Background(), devserver.Options{
		Addr: "127.0.0.1:0", Settings: s, App: ao, Invoker: ps.inv, SweepInterval: -1, ChangeFeedInterval: -1, Logger: quiet,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ps.inv.set(devserver.InProcess(srv.Built.Handler))
	ps.Server = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return ps
}

// lossyInvoker runs the handlers in process, except the $disconnect of
// connections marked lost, which it drops as API Gateway may.
type lossyInvoker struct {
	mu   sync.Mutex
	next devserver.Invoker
	lost map[string]bool
}

func (l *lossyInvoker) set(next devserver.Invoker) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = next
}

// lose drops the $disconnect of connection id.
func (l *lossyInvoker) lose(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost[id] = true
}

func (l *lossyInvoker) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	l.mu.Lock()
	next, lost := l.next, routeKey == "$disconnect" && l.lost[req.RequestContext.ConnectionID]
	l.mu.Unlock()
	if lost {
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	return next.Invoke(ctx, routeKey, req)
}

func (l *lossyInvoker) Sweep(ctx context.Context) error {
	l.mu.Lock()
	next := l.next
	l.mu.Unlock()
	return next.Sweep(ctx)
}

// countingStore counts the write calls made to the memory store.
type countingStore struct {
	store.Store
	writes atomic.Int64
}

func (c *countingStore) count() { c.writes.Add(1) }

func (c *countingStore) PutConnection(ctx context.Context, conn store.Connection) error {
	c.count()
	return c.Store.PutConnection(ctx, conn)
}

func (c *countingStore) TouchConnection(ctx context.Context, id string, at time.Time) error {
	c.count()
	return c.Store.TouchConnection(ctx, id, at)
}

func (c *countingStore) DeleteConnection(ctx context.Context, id string) (store.Connection, []string, error) {
	c.count()
	return c.Store.DeleteConnection(ctx, id)
}

func (c *countingStore) Subscribe(ctx context.Context, tenant, channel, connID string, max int) (bool, error) {
	c.count()
	return c.Store.Subscribe(ctx, tenant, channel, connID, max)
}

func (c *countingStore) Unsubscribe(ctx context.Context, tenant, channel, connID string) (bool, error) {
	c.count()
	return c.Store.Unsubscribe(ctx, tenant, channel, connID)
}

func (c *countingStore) PutSession(ctx context.Context, w store.SessionWrite) (store.Session, error) {
	c.count()
	return c.Store.PutSession(ctx, w)
}

func (c *countingStore) DeleteSession(ctx context.Context, tenant, userID, connID string) (store.Session, bool, error) {
	c.count()
	return c.Store.DeleteSession(ctx, tenant, userID, connID)
}

func (c *countingStore) DeleteExpiredSession(ctx context.Context, s store.Session, now time.Time) (bool, error) {
	c.count()
	return c.Store.DeleteExpiredSession(ctx, s, now)
}

func (c *countingStore) ClearAway(ctx context.Context, a store.AwayAlarm, now time.Time) (bool, error) {
	c.count()
	return c.Store.ClearAway(ctx, a, now)
}

func (c *countingStore) PutActivity(ctx context.Context, a store.Activity) error {
	c.count()
	return c.Store.PutActivity(ctx, a)
}

// presEvent is a decoded presence event.
type presEvent struct {
	Event string `json:"event"`
	Room  string `json:"room"`
	User  struct {
		UserID          string `json:"userId"`
		Username        string `json:"username"`
		Status          string `json:"status"`
		LastSeen        string `json:"lastSeen"`
		Activity        string `json:"activity"`
		CurrentLocation struct {
			Page    string `json:"page"`
			Section string `json:"section"`
		} `json:"currentLocation"`
	} `json:"user"`
}

// isPresence matches a presence event on channel about user with event
// kind (and status, when not empty).
func isPresence(channel, user, kind, status string) func(frame) bool {
	return func(f frame) bool {
		if f.Type != "presence" || f.Channel != channel || f.ReplyTo != "" {
			return false
		}
		var e presEvent
		return json.Unmarshal(f.Payload, &e) == nil && e.User.UserID == user && e.Event == kind && (status == "" || e.User.Status == status)
	}
}

// anyPresence matches every presence event about user on channel.
func anyPresence(channel, user string) func(frame) bool {
	return func(f frame) bool {
		var e presEvent
		return f.Type == "presence" && f.Channel == channel && json.Unmarshal(f.Payload, &e) == nil && e.User.UserID == user
	}
}

// snapshotOf is a decoded presence.snapshot or room.join reply.
type snapshotOf struct {
	Room        string `json:"room"`
	UsersInRoom []struct {
		UserID   string `json:"userId"`
		Username string `json:"username"`
		Status   string `json:"status"`
		Activity string `json:"activity"`
	} `json:"usersInRoom"`
	UserCount   int    `json:"userCount"`
	OnlineCount int    `json:"onlineCount"`
	AwayCount   int    `json:"awayCount"`
	Next        string `json:"next"`
}

func (c *client) snapshot(room string) snapshotOf {
	c.t.Helper()
	var s snapshotOf
	f := c.ok("presence.snapshot", "", map[string]any{"room": room})
	if err := json.Unmarshal(f.Payload, &s); err != nil {
		c.t.Fatalf("snapshot %s: %v", f.Payload, err)
	}
	return s
}

// statusOf returns the status of user in a snapshot, or "" if absent.
func (s snapshotOf) statusOf(user string) string {
	for _, u := range s.UsersInRoom {
		if u.UserID == user {
			return u.Status
		}
	}
	return ""
}

func presJoin(room string) map[string]any {
	return map[string]any{
		"room": room, "location": map[string]any{"page": "orders", "section": room}, "activity": "Viewing " + room,
	}
}

// TestPresenceRoomTabs: two users in room order-123 with two tabs each
// appear once each; closing one tab keeps the user online, closing the
// last one tells the others the user is offline.
func TestPresenceRoomTabs(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			ctx := context.Background()
			b1, b2 := presDial(t, srv, "bob", nil), presDial(t, srv, "bob", nil)
			b1.ok("subscribe", "user-presence", nil)
			a1, a2 := presDial(t, srv, "alice", nil), presDial(t, srv, "alice", nil)
			for _, c := range []*client{b1, b2, a1, a2} {
				c.ok("room.join", "", presJoin("order-123"))
			}
			b1.await(isPresence("room:order-123", "alice", "join", "online"), "alice's join")
			b2.await(isPresence("room:order-123", "alice", "join", "online"), "alice's join")
			b1.await(isPresence("user-presence", "alice", "online", "online"), "alice online")

			s := b1.snapshot("order-123")
			if len(s.UsersInRoom) != 2 || s.UserCount != 2 || s.OnlineCount != 2 || s.statusOf("alice") != "online" || s.statusOf("bob") != "online" {
				t.Fatalf("snapshot = %+v, want alice and bob online, once each", s)
			}
			if s.UsersInRoom[0].Activity != "Viewing order-123" || s.UsersInRoom[0].Username != "Alice" {
				t.Errorf("snapshot user = %+v, want the activity and the name from the connection", s.UsersInRoom[0])
			}
			b1.forget()
			b2.forget()

			a1.close()
			waitFor(t, func() bool {
				ss, err := srv.Built.Store.UserSessions(ctx, "default", "alice")
				return err == nil && len(ss) == 1
			}, "alice's first tab is gone")
			b1.none(anyPresence("room:order-123", "alice"), "event about alice with a tab left")
			b1.none(anyPresence("user-presence", "alice"), "status change of alice with a tab left")
			if s := b1.snapshot("order-123"); s.statusOf("alice") != "online" || s.UserCount != 2 {
				t.Fatalf("after one tab closed: %+v, want alice still online", s)
			}

			a2.close()
			left := b1.await(isPresence("room:order-123", "alice", "leave", "offline"), "alice leaving the room")
			var e presEvent
			if err := json.Unmarshal(left.Payload, &e); err != nil || e.Room != "order-123" {
				t.Errorf("leave event = %s", left.Payload)
			}
			b1.await(isPresence("user-presence", "alice", "offline", "offline"), "alice offline")
			b2.await(isPresence("room:order-123", "alice", "leave", "offline"), "alice leaving the room")
			if s := b2.snapshot("order-123"); len(s.UsersInRoom) != 1 || s.statusOf("bob") != "online" || s.UserCount != 1 {
				t.Fatalf("after alice left: %+v, want bob alone", s)
			}
		})
	}
}

// TestPresenceAwayOffTheSecond: the away alarm is kept in whole seconds;
// with the last activity part-way through a second (as a real clock has
// it), the sweep still announces the user away, once, and then online
// once when they are active again.
func TestPresenceAwayOffTheSecond(t *testing.T) {
	srv := startPresServer(t, app.Settings{DevIdentity: true}, false)
	srv.clock.Advance(500 * time.Millisecond)
	alice, bob := presDial(t, srv, "alice", nil), presDial(t, srv, "bob", nil)
	bob.ok("subscribe", "user-presence", nil)
	bob.ok("room.join", "", presJoin("dashboard"))
	alice.ok("room.join", "", presJoin("dashboard"))
	bob.await(isPresence("room:dashboard", "alice", "join", "online"), "alice's join")
	bob.forget()
	for range 11 { // 5.5 min of alice's heartbeats only
		srv.clock.Advance(30 * time.Second)
		alice.ok("ping", "", nil)
		bob.ok("presence", "", map[string]any{"active": true})
	}
	srv.sweep(t)
	bob.await(isPresence("user-presence", "alice", "away", "away"), "alice away")
	alice.ok("presence", "", map[string]any{"active": true})
	bob.await(isPresence("user-presence", "alice", "online", "online"), "alice online again")
	bob.none(anyPresence("user-presence", "alice"), "a second status of alice")
}

// TestPresenceActivityBeforeTheAlarm: activity shortly before the away
// alarm, in the interval in which a connection's session is not written
// again, is written at once: the alarm then finds the user active and
// announces nothing, and the snapshot shows them online.
func TestPresenceActivityBeforeTheAlarm(t *testing.T) {
	srv := startPresServer(t, app.Settings{DevIdentity: true}, false)
	alice, bob := presDial(t, srv, "alice", nil), presDial(t, srv, "bob", nil)
	bob.ok("subscribe", "user-presence", nil)
	bob.ok("room.join", "", presJoin("dashboard"))
	alice.ok("room.join", "", presJoin("dashboard"))
	bob.forget()
	step := func(d time.Duration) {
		srv.clock.Advance(d)
		alice.ok("ping", "", nil)
		bob.ok("ping", "", nil)
	}
	step(10 * time.Second)
	for range 9 { // heartbeats to 4 min 40 s
		step(30 * time.Second)
	}
	srv.clock.Advance(10 * time.Second) // 4 min 50 s: alice is active
	alice.ok("presence", "", map[string]any{"active": true})
	srv.clock.Advance(10 * time.Second) // 5 min: the alarm of the earlier activity is due
	bob.ok("ping", "", nil)
	if s := bob.snapshot("dashboard"); s.statusOf("alice") != "online" {
		t.Fatalf("at 5 min alice is %q, want online (active 10 s ago)", s.statusOf("alice"))
	}
	srv.sweep(t)
	bob.none(anyPresence("user-presence", "alice"), "a status of alice, active 10 s ago")
}

// TestPresenceAway: on the server's clock, a connection that only sends
// heartbeats turns away after the away timeout; activity brings it back.
// The clock is moved, nothing sleeps.
func TestPresenceAway(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			alice, bob := presDial(t, srv, "alice", nil), presDial(t, srv, "bob", nil)
			bob.ok("subscribe", "user-presence", nil)
			bob.ok("room.join", "", presJoin("dashboard"))
			alice.ok("room.join", "", presJoin("dashboard"))
			bob.await(isPresence("room:dashboard", "alice", "join", "online"), "alice's join")
			bob.forget()

			// Nine heartbeats of alice, 30 s apart, with bob active: 4.5 min.
			for range 9 {
				srv.clock.Advance(30 * time.Second)
				alice.ok("ping", "", nil)
				bob.ok("presence", "", map[string]any{"active": true})
			}
			srv.sweep(t)
			bob.none(anyPresence("room:dashboard", "alice"), "event about alice before the away timeout")
			if s := bob.snapshot("dashboard"); s.statusOf("alice") != "online" {
				t.Fatalf("at 4.5 min alice is %q, want online", s.statusOf("alice"))
			}

			srv.clock.Advance(30 * time.Second) // 5 min without activity
			alice.ok("ping", "", nil)
			bob.ok("presence", "", map[string]any{"active": true})
			if s := bob.snapshot("dashboard"); s.statusOf("alice") != "away" || s.statusOf("bob") != "online" || s.AwayCount != 1 {
				t.Fatalf("at 5 min: %+v, want alice away and bob online", s)
			}
			// Two overlapping sweeps announce it once.
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					if err := srv.Built.Handler.Sweep(context.Background()); err != nil {
						t.Errorf("sweep: %v", err)
					}
				})
			}
			wg.Wait()
			bob.await(isPresence("room:dashboard", "alice", "update", "away"), "alice away in the room")
			bob.await(isPresence("user-presence", "alice", "away", "away"), "alice away")
			bob.none(anyPresence("user-presence", "alice"), "a second away of alice")

			alice.ok("presence", "", map[string]any{"active": true})
			bob.await(isPresence("room:dashboard", "alice", "update", "online"), "alice back in the room")
			bob.await(isPresence("user-presence", "alice", "online", "online"), "alice back online")
			if s := bob.snapshot("dashboard"); s.statusOf("alice") != "online" {
				t.Fatalf("after activity alice is %q, want online", s.statusOf("alice"))
			}
			// A status the client chooses is kept whatever the clock says.
			alice.ok("presence", "", map[string]any{"status": "away"})
			bob.await(isPresence("user-presence", "alice", "away", "away"), "alice chose away")
		})
	}
}

// TestPresenceCursor: cursor frames reach the other members of the room,
// never the sender or outsiders, and cost no store write; the room's
// member list is read at most once for a burst of frames.
func TestPresenceCursor(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			alice, bob, carol := presDial(t, srv, "alice", nil), presDial(t, srv, "bob", nil), presDial(t, srv, "carol", nil)
			dave := presDial(t, srv, "dave", nil)
			for _, c := range []*client{alice, bob, carol} {
				c.ok("room.join", "", presJoin("order-123"))
			}
			dave.ok("ping", "", nil)
			for _, c := range []*client{alice, bob, carol, dave} {
				c.forget()
			}
			srv.resetCounts()

			isCursor := func(f frame) bool { return f.Type == "cursor" && f.ReplyTo == "" }
			for i := range 5 {
				srv.clock.Advance(50 * time.Millisecond)
				f := alice.ok("cursor", "", map[string]any{"room": "order-123", "x": 10 * i, "y": 20})
				var res struct{ Recipients, Delivered int }
				if err := json.Unmarshal(f.Payload, &res); err != nil || res.Recipients != 2 || res.Delivered != 2 {
					t.Fatalf("cursor ack = %s, want 2 recipients, 2 delivered", f.Payload)
				}
				for _, c := range []*client{bob, carol} {
					got := c.await(isCursor, "a cursor")
					var p struct {
						Room   string
						UserID string
						X, Y   float64
					}
					if err := json.Unmarshal(got.Payload, &p); err != nil || got.Channel != "room:order-123" || got.UserID != "alice" ||
						p.Room != "order-123" || p.UserID != "alice" || p.X != float64(10*i) || p.Y != 20 {
						t.Fatalf("%s got %+v (%s)", c.name, got, got.Payload)
					}
				}
			}
			srv.clock.Advance(50 * time.Millisecond)
			alice.ok("cursor", "", map[string]any{"room": "order-123", "anchor": map[string]any{"elementId": "order-status", "offsetX": 4}})
			if got := bob.await(isCursor, "an anchored cursor"); !strings.Contains(string(got.Payload), `"elementId":"order-status"`) {
				t.Fatalf("anchored cursor = %s", got.Payload)
			}
			carol.await(isCursor, "an anchored cursor")

			// Faster than one per 50 ms: dropped with RATE_LIMITED.
			limited := 0
			for range 4 {
				if f := alice.call("cursor", "", map[string]any{"room": "order-123", "x": 1, "y": 1}); f.Type == "error" {
					if f.code() != "RATE_LIMITED" {
						t.Fatalf("fast cursor: %s %s", f.code(), f.Payload)
					}
					limited++
				}
			}
			if limited == 0 {
				t.Error("four cursor frames at once: none was rate limited")
			}
			alice.none(isCursor, "its own cursor")
			dave.none(isCursor, "a cursor of a room it is not in")
			dave.fails("cursor", "", map[string]any{"room": "order-123", "x": 1, "y": 1}, "NOT_SUBSCRIBED")

			if n := srv.writes(); n != 0 {
				t.Errorf("cursor frames caused %d store writes, want 0", n)
			}
			if srv.counter != nil {
				ops := srv.counter.Snapshot()
				if q := ops["Query"].Requests; q > 2 {
					t.Errorf("cursor fan-out read the room %d times, want at most 2 (a cache fill and the outsider's check): %+v", q, ops)
				}
				// The connection record is cached for cursor frames, so
				// they cost no read per frame either.
				if g := ops["GetItem"].Requests; g > 2 {
					t.Errorf("cursor frames read connection records %d times, want at most 2: %+v", g, ops)
				}
				t.Logf("DynamoDB requests for %d cursor frames: %+v", 10, ops)
			}

			// An anchor out of bounds is refused even with x and y, and
			// reaches no one.
			bob.forget()
			for _, id := range []string{"", strings.Repeat("x", 257)} {
				srv.clock.Advance(50 * time.Millisecond)
				alice.bad().fails("cursor", "", map[string]any{"room": "order-123", "x": 1, "y": 1, "anchor": map[string]any{"elementId": id}}, "BAD_REQUEST")
			}
			bob.none(isCursor, "a cursor with an anchor out of bounds")
		})
	}
}

// TestPresenceHiddenFromConnect: dave's client appears offline and says
// so in the WebSocket URL's query (status=offline), as the SDK does on
// every connection while its user appears offline. His hello, a
// subscribe and his presence frame, in whatever order the server handles
// them, announce nothing to bob; once dave shows himself, bob sees him
// come online, once.
func TestPresenceHiddenFromConnect(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			bob := presDial(t, srv, "bob", nil)
			bob.ok("subscribe", "user-presence", nil)
			bob.ok("room.join", "", presJoin("dashboard"))
			dave := presDial(t, srv, "dave", url.Values{"status": {"offline"}})
			dave.ok("subscribe", "order-updates", nil)
			dave.ok("room.join", "", presJoin("dashboard"))
			dave.ok("presence", "", map[string]any{"status": "offline", "location": map[string]any{"page": "orders"}})
			bob.none(anyPresence("user-presence", "dave"), "a status of dave, hidden from his connect")
			bob.none(anyPresence("room:dashboard", "dave"), "a room event of dave, hidden from his connect")
			if s := bob.snapshot("dashboard"); s.statusOf("dave") != "" {
				t.Fatalf("hidden dave listed in dashboard: %+v", s)
			}
			dave.ok("presence", "", map[string]any{"status": "online"})
			bob.await(isPresence("user-presence", "dave", "online", "online"), "dave online")
			bob.await(isPresence("room:dashboard", "dave", "join", "online"), "dave joining dashboard")
			bob.none(anyPresence("user-presence", "dave"), "a second status of dave")
		})
	}
}
