package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/publishapi"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// shardingAPIs are local stand-ins for the Management API and Lambda's
// Invoke API: they record who a broadcast reached, by a post of the
// invocation itself or in a shard handed to FANOUT_FUNCTION_NAME
// ("fanout-fn").
type shardingAPIs struct {
	mgmt, lambda *httptest.Server

	mu      sync.Mutex
	got     map[string]int  // recipient: frames reached it
	invoked int             // fan-out invokes
	gone    map[string]bool // connections GetConnection answers 410 for
	probed  []string        // GetConnection calls
	closed  []string        // DeleteConnection calls
	// frames: frame: recipient: how often it reached them, posted by the
	// invocation or in a shard; own: frame: the invocation's own posts.
	frames map[string]map[string]int
	own    map[string]int
}

// reached records that frame reached id; a.mu is held.
func (a *shardingAPIs) reached(frame, id string) {
	a.got[id]++
	if a.frames[frame] == nil {
		a.frames[frame] = map[string]int{}
	}
	a.frames[frame][id]++
}

func newShardingAPIs(t *testing.T) *shardingAPIs {
	a := &shardingAPIs{got: map[string]int{}, gone: map[string]bool{}, frames: map[string]map[string]int{}, own: map[string]int{}}
	a.mgmt = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ok := strings.CutPrefix(r.URL.Path, "/prod/@connections/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.Method {
		case http.MethodPost:
			a.reached(string(body), id)
			a.own[string(body)]++
		case http.MethodGet:
			a.probed = append(a.probed, id)
			if a.gone[id] {
				http.Error(w, `{"message":"Gone"}`, http.StatusGone)
				return
			}
			_, _ = io.WriteString(w, `{"connectedAt":"2030-01-01T00:00:00Z","lastActiveAt":"2030-01-01T00:00:00Z"}`)
		case http.MethodDelete:
			a.closed = append(a.closed, id)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(a.mgmt.Close)
	a.lambda = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev fanout.Event
		if r.URL.Path != "/2015-03-31/functions/fanout-fn/invocations" || r.Header.Get("X-Amz-Invocation-Type") != "Event" ||
			json.NewDecoder(r.Body).Decode(&ev) != nil || ev.Shard == nil {
			http.Error(w, "not a fan-out invoke", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.invoked++
		for _, id := range ev.Shard.IDs {
			a.reached(string(ev.Shard.Frame), id)
		}
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(a.lambda.Close)
	return a
}

// build builds the handler as a sharding function's main does, with the
// posters of Lambda.ShardingPosters (shards of 1,000), on st.
func (a *shardingAPIs) build(t *testing.T, st store.Store, clock store.Clock) (*Built, Lambda) {
	t.Helper()
	return a.buildWith(t, st, clock, NoAuth{}, nil)
}

// buildWith is build with authn and the variables of extra besides.
func (a *shardingAPIs) buildWith(t *testing.T, st store.Store, clock store.Clock, authn handler.Authenticator, extra map[string]string) (*Built, Lambda) {
	t.Helper()
	env := map[string]string{
		"MANAGEMENT_ENDPOINT":     a.mgmt.URL + "/prod",
		"FANOUT_FUNCTION_NAME":    "fanout-fn",
		"FANOUT_SHARD_SIZE":       "1000",
		"AWS_ENDPOINT_URL_LAMBDA": a.lambda.URL,
		"LOG_LEVEL":               "error",
		// A budget that several broadcasts' own shards of 1,000 fit in
		// (the template's, 1,000/s, would pace them a second each).
		"DELIVERY_RATE_PER_SECOND": "100000",
	}
	maps.Copy(env, extra)
	getenv := lambdaEnv(env)
	cfg, err := LambdaFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	posters, err := cfg.ShardingPosters(getenv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), cfg.Settings, &Options{Auth: authn, AWS: &cfg.AWS, Store: st, Clock: clock, Metrics: io.Discard, Posters: posters})
	if err != nil {
		t.Fatal(err)
	}
	return b, cfg
}

// subscribeMany connects n subscribers of channel in tenant t.
func subscribeMany(t *testing.T, st store.Store, now time.Time, channel string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("Conn%011d=", i)
		c := store.Connection{ID: id, UserID: "u" + id[:8], Tenant: "t", ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Subscribe(ctx, "t", channel, id, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// take returns and clears what the APIs recorded.
func (a *shardingAPIs) take() (got map[string]int, invoked int, probed []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	got, invoked, probed = a.got, a.invoked, a.probed
	a.got, a.invoked, a.probed = map[string]int{}, 0, nil
	a.frames, a.own = map[string]map[string]int{}, map[string]int{}
	return got, invoked, probed
}

// takeFrames returns and clears the frames recorded since the last take,
// with the invocation's own posts of each.
func (a *shardingAPIs) takeFrames() (frames map[string]map[string]int, own map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	frames, own = a.frames, a.own
	a.got, a.invoked, a.probed = map[string]int{}, 0, nil
	a.frames, a.own = map[string]map[string]int{}, map[string]int{}
	return frames, own
}

// checkSharded fails unless one broadcast reached each of n subscribers
// exactly once (got), with the shards after the first of 1,000 handed to
// the fan-out function (invoked).
func checkSharded(t *testing.T, what string, n int, got map[string]int, invoked int) {
	t.Helper()
	if want := (n - 1) / 1000; invoked != want {
		t.Errorf("%s: %d fan-out invokes, want %d (shards of 1,000 after the invocation's own)", what, invoked, want)
	}
	if len(got) != n {
		t.Errorf("%s: %d of %d subscribers reached", what, len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Fatalf("%s: %s reached %d times", what, id, k)
		}
	}
}

// checkTaken is checkSharded on what the APIs recorded since the last
// take.
func (a *shardingAPIs) checkTaken(t *testing.T, what string, n int) {
	t.Helper()
	got, invoked, _ := a.take()
	checkSharded(t, what, n, got, invoked)
}

// TestShardingPostersFromEnv builds the publish API as functions/publish
// does, with the posters of Lambda.ShardingPosters, and publishes to a
// channel of 2,500: the invocation posts the first shard of 1,000 itself
// and hands the rest to asynchronous invokes of FANOUT_FUNCTION_NAME (a
// local stand-in for Lambda's Invoke API), each recipient exactly once.
// Without sharding one invocation posted all 2,500 (a channel of 26,000
// would take the whole 25 s timeout at the delivery budget).
func TestShardingPostersFromEnv(t *testing.T) {
	a := newShardingAPIs(t)
	st := memory.New(nil)
	const n = 2500
	subscribeMany(t, st, time.Now(), "order-updates", n)
	b, cfg := a.build(t, st, nil)
	api := publishapi.New(publishapi.Config{}, b.Handler, b.Store, nil, cfg.Settings.Logger())
	if status, body := api.Do(context.Background(), publishapi.OpPublish, []byte(`{"tenant":"t","channel":"order-updates","payload":{"x":1}}`), ""); status != http.StatusOK {
		t.Fatalf("publish: %d %s", status, body)
	}
	a.checkTaken(t, "publish", n)
}

// TestShardingPostersDisconnectAndSweeper builds the handler as
// functions/disconnect and functions/sweeper do, with the posters of
// Lambda.ShardingPosters, and has both announce a user going offline to
// 2,500 subscribers of user-presence: each broadcast posts the first
// shard itself and hands the rest to the fan-out function. The sweeper
// still probes an expired session's connection through those posters
// (GetConnection) and removes it when it is gone, and closes a connection
// whose token expired (DeleteConnection): sharded posters must not hide
// the Management API client's other calls.
func TestShardingPostersDisconnectAndSweeper(t *testing.T) {
	a := newShardingAPIs(t)
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(clock.Now)
	const n = 2500
	subscribeMany(t, st, clock.Now(), protocol.ChannelPresence, n)
	b, _ := a.build(t, st, clock.Now)
	ctx := context.Background()
	event := func(conn, body string) events.APIGatewayWebsocketProxyRequest {
		return events.APIGatewayWebsocketProxyRequest{Body: body, RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: conn, RequestID: "req-" + conn, RouteKey: "$default", Stage: "prod"}}
	}
	for _, user := range []string{"dave", "erin"} { // each in a room of their own
		conn := strings.ToUpper(user[:1]) + user[1:] + "Conn="
		c := store.Connection{ID: conn, UserID: user, Tenant: "t", Roles: []string{"editor"}, ConnectedAt: clock.Now(),
			LastSeenAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour), Endpoint: a.mgmt.URL + "/prod"}
		if err := st.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		resp, err := b.Handler.Message(ctx, event(conn, `{"type":"room.join","messageId":"j1","payload":{"room":"`+user+`-desk"}}`))
		if err != nil || !strings.Contains(resp.Body, `"ack"`) {
			t.Fatalf("%s joins: %v %s", user, err, resp.Body)
		}
		a.checkTaken(t, user+" online", n)
	}

	// Erin closes her connection: $disconnect announces her offline.
	if resp, err := b.Handler.Disconnect(ctx, event("ErinConn=", "")); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("disconnect: %v %d", err, resp.StatusCode)
	}
	a.checkTaken(t, "disconnect", n)

	// Frank's token expires within the minute: the sweeper closes his
	// connection.
	frank := store.Connection{ID: "FrankConn=", UserID: "frank", Tenant: "t", ConnectedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour),
		Endpoint: a.mgmt.URL + "/prod", TokenExpiresAt: clock.Now().Add(time.Minute)}
	if err := st.PutConnection(ctx, frank); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTokenAlarm(ctx, store.TokenAlarm{ConnID: frank.ID, Tenant: "t", UserID: "frank", At: frank.TokenExpiresAt}); err != nil {
		t.Fatal(err)
	}
	// Dave's connection went away unannounced: his session expires, the
	// sweeper announces him offline, probes his connection and removes it.
	a.mu.Lock()
	a.gone["DaveConn="] = true
	a.mu.Unlock()
	clock.Advance(2 * time.Minute)
	if err := b.Handler.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	got, invoked, probed := a.take()
	if _, err := st.GetConnection(ctx, "DaveConn="); err == nil {
		t.Errorf("the sweeper kept dave's gone connection (GetConnection calls: %q)", probed)
	}
	if !slices.Equal(closed, []string{"FrankConn="}) {
		t.Errorf("the sweeper closed %q, want frank's connection, whose token expired", closed)
	}
	checkSharded(t, "sweeper", n, got, invoked)
}
