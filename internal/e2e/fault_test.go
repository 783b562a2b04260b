package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/dynamo/dynamocheck"
	"github.com/omnisales/rtcollab/tools/faultproxy"
)

// Fault runs keep DynamoDB retries short, so that a run stays within
// seconds: the same capped, jittered exponential backoff as in production
// (dynamo.MaxAttempts attempts), with a lower cap.
const (
	faultAttemptTimeout = 500 * time.Millisecond // per DynamoDB request
	faultDelay          = 800 * time.Millisecond // Timeout and LostResponse hold
	faultMaxBackoff     = 40 * time.Millisecond
)

// serialTimeoutHTTP sends one DynamoDB request at a time (moto does not
// isolate concurrent transactions) with a per-request timeout, so that a
// request the proxy holds times out and is retried.
type serialTimeoutHTTP struct {
	mu     sync.Mutex
	client *http.Client
}

func (s *serialTimeoutHTTP) Do(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp, err := s.client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// faultDynamoOptions point the server's DynamoDB client at the proxy with
// a per-request timeout and short backoff.
func faultDynamoOptions() []func(*dynamodb.Options) {
	return []func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.HTTPClient = &serialTimeoutHTTP{client: &http.Client{Timeout: faultAttemptTimeout}}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = dynamo.MaxAttempts
			so.MaxBackoff = faultMaxBackoff
		})
	}}
}

// fastPosters is a Management API client pool with short backoff and
// attempt timeout, so that retried posts finish quickly.
func fastPosters() func(string) broadcast.Poster {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")}
	pool := mgmtapi.NewPool(cfg, &mgmtapi.PoolOptions{Client: mgmtapi.Options{
		MaxAttempts: 3, MaxBackoff: 50 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond,
	}})
	return func(endpoint string) broadcast.Poster { return pool.Client(endpoint) }
}

// startWith starts a development-mode server with the given settings,
// collaborators and gateway configuration.
func startWith(t *testing.T, s app.Settings, o app.Options, gc gateway.Config) *devserver.Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	s.DevIdentity = true
	// Faults are injected by operation: the change feed's relay, which
	// polls the outbox with Query, would take the faults meant for the
	// request under test, so it is off (ChangeFeedInterval -1).
	srv, err := devserver.Start(context.Background(), devserver.Options{
		Addr: "127.0.0.1:0", Settings: s, App: &o, Gateway: gc, SweepInterval: -1, ChangeFeedInterval: -1,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

// checkClient is a direct DynamoDB client for the consistency checker,
// bypassing any proxy.
func checkClient(t *testing.T, endpoint string) *dynamodb.Client {
	t.Helper()
	c, err := dynamo.NewClient(context.Background(), endpoint, "us-east-1", dynamo.SerialHTTP())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTable() string { return fmt.Sprintf("fault-%d-%d", time.Now().UnixNano(), tableSeq.Add(1)) }

// callSkip sends a request and returns its reply, skipping (dropping) pushed frames.
func (c *client) callSkip(typ, channel string, payload any) frame {
	c.t.Helper()
	id := c.send(typ, channel, payload, nil)
	for {
		if f := c.next(); f.ReplyTo == id {
			return f
		}
	}
}

// outcomes tallies replies under faults.
type outcomes struct {
	acks  int
	codes map[string]int
}

// record counts f and fails the test unless it is an ack or an error the
// client may retry: UNAVAILABLE, or NOT_SUBSCRIBED/TOO_MANY_SUBSCRIPTIONS
// that a retried request may legitimately meet.
func (o *outcomes) record(t *testing.T, what string, f frame) {
	t.Helper()
	if f.Type == "ack" {
		o.acks++
		return
	}
	if o.codes == nil {
		o.codes = map[string]int{}
	}
	o.codes[f.code()]++
	if f.Type != "error" || f.code() != "UNAVAILABLE" {
		t.Fatalf("%s under faults: got %s %s %s, want ack or UNAVAILABLE", what, f.Type, f.code(), f.Payload)
	}
	var p struct {
		Message   string
		Retryable bool
	}
	if json.Unmarshal(f.Payload, &p) != nil || !p.Retryable {
		t.Fatalf("%s: UNAVAILABLE not marked retryable: %s", what, f.Payload)
	}
	msg := strings.ToLower(p.Message)
	for _, leak := range []string{"dynamo", "throttl", "exception", "transact", "127.0.0.1", "http", "table"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("%s: error message leaks internal text %q: %s", what, leak, f.Payload)
		}
	}
}

// dialRetry connects in development mode, retrying a handshake that a
// fault made fail with 500.
func dialRetry(t *testing.T, srv *devserver.Server, user string) *client {
	t.Helper()
	for range 10 {
		c, status := dialQuery(t, srv, user, url.Values{"userId": {user}, "tenant": {"tenant-f"}})
		if c != nil {
			return c
		}
		if status != http.StatusInternalServerError {
			t.Fatalf("dial %s under faults: status %d, want 500 when refused", user, status)
		}
	}
	t.Fatalf("dial %s: refused 10 times", user)
	return nil
}

// TestDynamoDBFaults drives subscribe, publish, unsubscribe, versioned
// change, lock, connect and disconnect traffic through a fault-injecting proxy in front of moto:
// throttling, ProvisionedThroughputExceeded, throttled transactions, 500,
// 503, timeouts and responses lost after the write was applied. Clients
// get only acks or the retryable UNAVAILABLE, and afterwards the whole
// table passes the consistency checker.
func TestDynamoDBFaults(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT not set: runs under make test (scripts/with-moto.sh)")
	}
	proxy, err := faultproxy.New(faultproxy.Config{
		Target: ep, Seed: 20260301, Rate: 0.15, Serial: true, Delay: faultDelay, SlowDelay: 50 * time.Millisecond,
		Kinds: []faultproxy.Kind{faultproxy.Throttling, faultproxy.ProvisionedThroughput, faultproxy.TransactionThrottled,
			faultproxy.InternalError, faultproxy.Unavailable, faultproxy.Timeout, faultproxy.LostResponse, faultproxy.Slow},
	})
	if err != nil {
		t.Fatal(err)
	}
	proxy.SetEnabled(false) // table creation runs clean
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	table := newTable()
	srv := startWith(t, app.Settings{TableName: table, DynamoDBEndpoint: ps.URL, Region: "us-east-1"},
		app.Options{DynamoOptions: faultDynamoOptions(), Posters: fastPosters()}, gateway.Config{})
	proxy.SetEnabled(true)

	var out outcomes
	clients := make([]*client, 4)
	for i := range clients {
		clients[i] = dialRetry(t, srv, fmt.Sprintf("user%d", i))
	}
	channels := []string{"order-updates", "inventory-updates", "order:1", "order:2"}
	versions := map[string]int64{} // note id -> last acked version
	for round := range 6 {
		for i, c := range clients {
			ch := channels[(round+i)%len(channels)]
			out.record(t, "subscribe", c.callSkip("subscribe", ch, nil))
			out.record(t, "publish", c.callSkip("publish", channels[(round+i+1)%len(channels)], map[string]any{"round": round}))
			if round%2 == 1 {
				out.record(t, "unsubscribe", c.callSkip("unsubscribe", channels[(round+i+2)%len(channels)], nil))
			}
			// A versioned change to the client's own note, based on the
			// last version it saw acked.
			note := fmt.Sprintf("n%d", i)
			f := c.callSkip("change", "", map[string]any{"entityType": "note", "entityId": note, "baseVersion": versions[note],
				"operation": "update", "path": "round", "after": round})
			out.record(t, "change", f)
			var v struct{ Version int64 }
			if f.Type == "ack" && json.Unmarshal(f.Payload, &v) == nil {
				versions[note] = v.Version
			} else if f.Type != "ack" {
				// Unknown outcome: learn the version as a client would.
				s := c.callSkip("sync", "", map[string]any{"entityType": "note", "entityId": note})
				if s.Type == "ack" && json.Unmarshal(s.Payload, &v) == nil {
					versions[note] = v.Version
				}
			}
			// A lock cycle on the client's own order.
			order := map[string]any{"entityType": "order", "entityId": note}
			out.record(t, "lock.acquire", c.callSkip("lock.acquire", "", order))
			if f := c.callSkip("lock.release", "", order); f.code() != "NOT_LOCK_HOLDER" {
				out.record(t, "lock.release", f) // NOT_LOCK_HOLDER: the acquire failed
			}
		}
		if round == 2 {
			// Subscribe and vanish: $disconnect races the subscription.
			for _, c := range clients[:2] {
				c.send("subscribe", "order:9", nil, nil)
				_ = c.conn.Close(websocket.StatusNormalClosure, "")
			}
			clients[0], clients[1] = dialRetry(t, srv, "user0b"), dialRetry(t, srv, "user1b")
		}
	}

	// Disconnect everyone under faults too; $disconnect may give up, which
	// leaves whole records for the sweeper, never half of a pair.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	proxy.SetEnabled(false)
	st := proxy.Stats()
	t.Logf("faults: %d of %d requests %v by op %v; replies: %d acks, errors %v", st.Faults(), st.Requests, st.Injected, st.ByOp, out.acks, out.codes)
	if st.Faults() < 10 || out.acks == 0 {
		t.Fatalf("run too mild to mean anything: %d faults, %d acks", st.Faults(), out.acks)
	}
	dynamocheck.Require(t, checkClient(t, ep), table, nil)
}

// TestDynamoDBGiveUp: when DynamoDB keeps failing past the retries, the
// client gets the retryable UNAVAILABLE, nothing is half written, and the
// same request succeeds once the faults stop. Faults are scripted per
// operation on an otherwise quiet server.
func TestDynamoDBGiveUp(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT not set: runs under make test (scripts/with-moto.sh)")
	}
	proxy, err := faultproxy.New(faultproxy.Config{Target: ep, Serial: true, Delay: faultDelay})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	table := newTable()
	srv := startWith(t, app.Settings{TableName: table, DynamoDBEndpoint: ps.URL, Region: "us-east-1"},
		app.Options{DynamoOptions: faultDynamoOptions(), Posters: fastPosters()}, gateway.Config{})
	alice, bob := dial(t, srv, "alice"), dial(t, srv, "bob")
	aliceID := alice.hello().ConnectionID
	bob.mustAck("subscribe", "order-updates", nil)

	all := func(k faultproxy.Kind) []faultproxy.Kind {
		return slices.Repeat([]faultproxy.Kind{k}, dynamo.MaxAttempts)
	}
	tests := []struct {
		name   string
		op     string
		faults []faultproxy.Kind
	}{
		{"throttled transaction", "TransactWriteItems", []faultproxy.Kind{faultproxy.TransactionThrottled}},
		{"throttled on every attempt", "TransactWriteItems", all(faultproxy.Throttling)},
		{"provisioned throughput exceeded on every attempt", "BatchGetItem", all(faultproxy.ProvisionedThroughput)},
		{"500 on every attempt", "TransactWriteItems", all(faultproxy.InternalError)},
		{"503 on every attempt", "TransactWriteItems", all(faultproxy.Unavailable)},
		{"timeout on every attempt", "TransactWriteItems", all(faultproxy.Timeout)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.InjectOp(tt.op, tt.faults...)
			f := alice.callSkip("subscribe", "order:5", nil)
			var out outcomes
			out.record(t, "subscribe", f)
			wantCode(t, f, "UNAVAILABLE")
			wantSubscribers(t, srv, "default", "order:5")
			if chans, err := srv.Built.Store.ChannelsOf(context.Background(), aliceID); err != nil || len(chans) != 0 {
				t.Fatalf("reverse subscriptions after the failure: %v %v", chans, err)
			}
			alice.mustAck("subscribe", "order:5", nil) // the retry succeeds
			alice.mustAck("unsubscribe", "order:5", nil)
		})
	}
	t.Run("publish with unreadable subscribers", func(t *testing.T) {
		proxy.InjectOp("Query", all(faultproxy.Throttling)...)
		wantCode(t, alice.callSkip("publish", "order-updates", map[string]any{"n": 1}), "UNAVAILABLE")
		bob.quiet() // nothing was delivered
		alice.mustAck("publish", "order-updates", map[string]any{"n": 2})
		if f := bob.next(); f.Type != "update" {
			t.Fatalf("bob got %+v", f)
		}
	})
	t.Run("lost response on subscribe", func(t *testing.T) {
		// The write is applied but its answer is lost; the retry finds
		// the subscription in place and counts it once.
		proxy.InjectOp("TransactWriteItems", faultproxy.LostResponse)
		alice.mustAck("subscribe", "order:6", nil)
		wantSubscribers(t, srv, "default", "order:6", aliceID)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("faults injected: %v", proxy.Stats().Injected)
	dynamocheck.Require(t, checkClient(t, ep), table, &dynamocheck.Options{HistoryWindow: 100})
}

// checkedRun is a server on one store with a consistency check for it.
type checkedRun struct {
	name string
	// startOpts starts a server with s and o; the run fills in the store
	// settings and DynamoDB options, and fastPosters when o has none.
	startOpts func(t *testing.T, s app.Settings, o app.Options, gc gateway.Config) *devserver.Server
	// check verifies the store after traffic has stopped: the whole-table
	// checker on DynamoDB; the memory store's pairs are checked through
	// the store API by the tests themselves.
	check func(t *testing.T)
}

// start starts a server with default settings.
func (r checkedRun) start(t *testing.T, gc gateway.Config) *devserver.Server {
	t.Helper()
	return r.startOpts(t, app.Settings{}, app.Options{}, gc)
}

// checkedRuns lists the memory store always and DynamoDB (moto) when
// DYNAMODB_TEST_ENDPOINT is set.
func checkedRuns(t *testing.T) []checkedRun {
	t.Helper()
	withPosters := func(o app.Options) app.Options {
		if o.Posters == nil {
			o.Posters = fastPosters()
		}
		return o
	}
	runs := []checkedRun{{name: "memory", startOpts: func(t *testing.T, s app.Settings, o app.Options, gc gateway.Config) *devserver.Server {
		return startWith(t, s, withPosters(o), gc)
	}, check: func(*testing.T) {}}}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		table := newTable()
		runs = append(runs, checkedRun{name: "dynamo", startOpts: func(t *testing.T, s app.Settings, o app.Options, gc gateway.Config) *devserver.Server {
			s.TableName, s.DynamoDBEndpoint, s.Region = table, ep, "us-east-1"
			o.DynamoOptions = append(o.DynamoOptions, dynamo.SerialHTTP())
			return startWith(t, s, withPosters(o), gc)
		}, check: func(t *testing.T) { dynamocheck.Require(t, checkClient(t, ep), table, nil) }})
	}
	return runs
}

// faultScript answers Management API calls per connection: each entry of
// a connection's list is used once, in order; an empty list passes.
type faultScript struct {
	mu     sync.Mutex
	faults map[string][]mgmtFault
	calls  map[string]int
}

type mgmtFault struct {
	status int
	delay  time.Duration
}

func (s *faultScript) set(connID string, fs ...mgmtFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[connID] = fs
}

func (s *faultScript) hook(r *http.Request) (int, time.Duration) {
	i := strings.LastIndex(r.URL.Path, "/@connections/")
	if i < 0 {
		return 0, 0
	}
	id, _ := url.PathUnescape(r.URL.Path[i+len("/@connections/"):])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[id]++
	fs := s.faults[id]
	if len(fs) == 0 {
		return 0, 0
	}
	f := fs[0]
	if f.status != http.StatusGone { // a gone connection stays gone
		s.faults[id] = fs[1:]
	}
	return f.status, f.delay
}

func (s *faultScript) count(connID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[connID]
}

// TestManagementAPIFaults injects faults at the local gateway's Management
// API during a broadcast: 429 twice, 500 once and a timeout are retried
// and delivered exactly once; a connection whose posts always fail keeps
// its state; a 410 removes the gone connection and all its subscriptions.
// The publisher's request succeeds throughout.
func TestManagementAPIFaults(t *testing.T) {
	for _, r := range checkedRuns(t) {
		t.Run(r.name, func(t *testing.T) {
			script := &faultScript{faults: map[string][]mgmtFault{}, calls: map[string]int{}}
			srv := r.start(t, gateway.Config{ManagementFault: script.hook})
			ctx := context.Background()
			pub := dial(t, srv, "publisher")
			names := []string{"throttled", "failing", "slow", "down", "gone"}
			ls := map[string]*client{}
			ids := map[string]string{}
			for _, n := range names {
				ls[n] = dial(t, srv, n)
				ids[n] = ls[n].hello().ConnectionID
				ls[n].mustAck("subscribe", "order-updates", nil)
				ls[n].mustAck("subscribe", "order:1", nil)
			}
			script.set(ids["throttled"], mgmtFault{status: 429}, mgmtFault{status: 429})
			script.set(ids["failing"], mgmtFault{status: 500})
			script.set(ids["slow"], mgmtFault{delay: 2 * time.Second})
			script.set(ids["down"], mgmtFault{status: 500}, mgmtFault{status: 503}, mgmtFault{status: 500}, mgmtFault{status: 500})
			script.set(ids["gone"], mgmtFault{status: http.StatusGone})

			ack := pub.mustAck("publish", "order-updates", map[string]any{"n": 1})
			var res struct{ Recipients, Delivered int }
			_ = json.Unmarshal(ack.Payload, &res)
			if res.Recipients != 5 || res.Delivered != 3 {
				t.Fatalf("publish result = %s, want 5 recipients, 3 delivered", ack.Payload)
			}
			for _, n := range []string{"throttled", "failing", "slow"} {
				if f := ls[n].next(); f.Type != "update" {
					t.Fatalf("%s got %+v", n, f)
				}
				ls[n].quiet() // delivered exactly once
			}
			if got := script.count(ids["throttled"]); got != 3 {
				t.Fatalf("throttled: %d posts, want 3 (two 429s, then delivered)", got)
			}
			if got := script.count(ids["down"]); got != 3 {
				t.Fatalf("down: %d posts, want 3 (mgmtapi gives up after 3 attempts)", got)
			}
			ls["down"].quiet()

			// The failing connection keeps its state; the gone one is removed
			// with all its subscriptions.
			for _, ch := range []string{"order-updates", "order:1"} {
				got := subscribers(t, srv, "default", ch)
				if !slices.Contains(got, ids["down"]) || slices.Contains(got, ids["gone"]) {
					t.Fatalf("subscribers of %s = %v: want down %s kept, gone %s removed", ch, got, ids["down"], ids["gone"])
				}
			}
			if _, err := srv.Built.Store.GetConnection(ctx, ids["gone"]); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("gone connection still stored: %v", err)
			}
			if chans, err := srv.Built.Store.ChannelsOf(ctx, ids["gone"]); err != nil || len(chans) != 0 {
				t.Fatalf("gone connection's reverse subscriptions = %v, %v", chans, err)
			}
			wantCode(t, ls["gone"].request("hello", "", nil), "UNAUTHORIZED")

			// The next broadcast skips the removed connection.
			pub.mustAck("publish", "order:1", map[string]any{"n": 2})
			if script.count(ids["gone"]) != 1 {
				t.Fatalf("gone connection posted to %d times, want 1", script.count(ids["gone"]))
			}
			for _, n := range []string{"throttled", "failing", "slow", "down"} {
				if f := ls[n].next(); f.Type != "update" || f.Channel != "order:1" {
					t.Fatalf("%s got %+v", n, f)
				}
			}
			r.check(t)
		})
	}
}

// reinvoke calls a route of the server's handler directly, as Lambda does
// when it invokes a function again with the same event.
func reinvoke(t *testing.T, srv *devserver.Server, route, connID, body string) events.APIGatewayProxyResponse {
	t.Helper()
	ev := events.APIGatewayWebsocketProxyRequest{
		Body:                  body,
		QueryStringParameters: map[string]string{"userId": "rey", "tenant": "tenant-r"},
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: route, ConnectionID: connID, RequestID: "same-request-id", DomainName: srv.Addr(), Stage: "ws",
			EventType: map[string]string{"$connect": "CONNECT", "$disconnect": "DISCONNECT"}[route],
		},
	}
	h := srv.Built.Handler
	var (
		resp events.APIGatewayProxyResponse
		err  error
	)
	switch route {
	case "$connect":
		resp, err = h.Connect(context.Background(), ev)
	case "$disconnect":
		resp, err = h.Disconnect(context.Background(), ev)
	default:
		ev.RequestContext.EventType = "MESSAGE"
		resp, err = h.Message(context.Background(), ev)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v", route, resp.StatusCode, err)
	}
	return resp
}

func replyOf(t *testing.T, resp events.APIGatewayProxyResponse) frame {
	t.Helper()
	var f frame
	if err := json.Unmarshal([]byte(resp.Body), &f); err != nil {
		t.Fatalf("reply %q: %v", resp.Body, err)
	}
	return f
}

// TestReinvocation: Lambda may invoke a function twice with the same event.
// Every route is safe to run again: $connect twice records one connection,
// subscribe twice one subscription, unsubscribe twice removes it once, a
// publish twice delivers two copies that carry the same messageId (so
// clients drop the second), a change or a comment twice applies once and
// replies the same, and $disconnect twice leaves nothing behind.
func TestReinvocation(t *testing.T) {
	for _, r := range checkedRuns(t) {
		t.Run(r.name, func(t *testing.T) {
			srv := r.start(t, gateway.Config{})
			ctx := context.Background()
			listener := devDial(t, srv, "lena", "tenant-r")
			listener.mustAck("subscribe", "order-updates", nil)
			const id = "ReinvokedConn="

			reinvoke(t, srv, "$connect", id, "")
			reinvoke(t, srv, "$connect", id, "")
			conns, err := srv.Built.Store.UserConnections(ctx, "tenant-r", "rey")
			if err != nil || len(conns) != 1 || conns[0].ID != id {
				t.Fatalf("connections after $connect twice = %+v, %v", conns, err)
			}

			sub := `{"type":"subscribe","channel":"order:1","messageId":"sub-1"}`
			for range 2 {
				if f := replyOf(t, reinvoke(t, srv, "$default", id, sub)); f.Type != "ack" {
					t.Fatalf("subscribe = %+v", f)
				}
			}
			wantSubscribers(t, srv, "tenant-r", "order:1", id)
			if chans, _ := srv.Built.Store.ChannelsOf(ctx, id); !slices.Equal(chans, []string{"order:1"}) {
				t.Fatalf("channels after subscribe twice = %v", chans)
			}
			reinvoke(t, srv, "$connect", id, "") // even after subscribing
			wantSubscribers(t, srv, "tenant-r", "order:1", id)

			pub := `{"type":"publish","channel":"order-updates","payload":{"n":1},"messageId":"pub-1"}`
			for range 2 {
				if f := replyOf(t, reinvoke(t, srv, "$default", id, pub)); f.Type != "ack" {
					t.Fatalf("publish = %+v", f)
				}
			}
			for range 2 {
				if f := listener.next(); f.Type != "update" || f.MessageID != "pub-1" || f.UserID != "rey" {
					t.Fatalf("listener got %+v, want the update with messageId pub-1", f)
				}
			}

			// A change and a comment invoked twice apply once: the second
			// invocation gets the first one's reply.
			chg := `{"type":"change","messageId":"chg-1","payload":{"entityType":"note","entityId":"r1","baseVersion":0,"operation":"update","path":"status","after":"once"}}`
			com := `{"type":"comment.add","messageId":"com-1","payload":{"entityType":"note","entityId":"r1","text":"once"}}`
			for _, body := range []string{chg, com} {
				first, second := replyOf(t, reinvoke(t, srv, "$default", id, body)), replyOf(t, reinvoke(t, srv, "$default", id, body))
				if first.Type != "ack" || second.Type != "ack" || string(first.Payload) != string(second.Payload) {
					t.Fatalf("invoked twice: %s then %s", first.Payload, second.Payload)
				}
			}
			note := store.EntityKey{Tenant: "tenant-r", Type: "note", ID: "r1"}
			if head, err := srv.Built.Store.GetHead(ctx, note); err != nil || head.Version != 1 {
				t.Fatalf("head after the change twice = %+v, %v", head, err)
			}
			if list, _, err := srv.Built.Store.ListComments(ctx, note, store.Page{}); err != nil || len(list) != 1 {
				t.Fatalf("comments after comment.add twice = %+v, %v", list, err)
			}

			unsub := `{"type":"unsubscribe","channel":"order:1","messageId":"unsub-1"}`
			var u1, u2 struct{ WasSubscribed bool }
			_ = json.Unmarshal(replyOf(t, reinvoke(t, srv, "$default", id, unsub)).Payload, &u1)
			_ = json.Unmarshal(replyOf(t, reinvoke(t, srv, "$default", id, unsub)).Payload, &u2)
			if !u1.WasSubscribed || u2.WasSubscribed {
				t.Fatalf("unsubscribe twice: wasSubscribed %v then %v, want true then false", u1.WasSubscribed, u2.WasSubscribed)
			}
			wantSubscribers(t, srv, "tenant-r", "order:1")

			replyOf(t, reinvoke(t, srv, "$default", id, sub))
			reinvoke(t, srv, "$disconnect", id, "")
			reinvoke(t, srv, "$disconnect", id, "")
			if _, err := srv.Built.Store.GetConnection(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("connection after $disconnect twice: %v", err)
			}
			wantSubscribers(t, srv, "tenant-r", "order:1")
			if conns, _ := srv.Built.Store.UserConnections(ctx, "tenant-r", "rey"); len(conns) != 0 {
				t.Fatalf("user index after $disconnect twice = %+v", conns)
			}
			listener.quiet()
			r.check(t)
		})
	}
}
