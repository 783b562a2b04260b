package handler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// managementStandIn is a Management API client: posts, GetConnection
// (410 for the connections in gone) and DeleteConnection (recorded).
type managementStandIn struct {
	mu     sync.Mutex
	gone   map[string]bool
	closed []string
}

func (m *managementStandIn) PostToConnection(context.Context, string, []byte) error { return nil }

func (m *managementStandIn) GetConnection(_ context.Context, id string) (*mgmtapi.Connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone[id] {
		return nil, errConnGone
	}
	return &mgmtapi.Connection{}, nil
}

func (m *managementStandIn) DeleteConnection(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = append(m.closed, id)
	return nil
}

// refusingDispatcher accepts no shard: the broadcaster posts every one
// itself.
type refusingDispatcher struct{}

func (refusingDispatcher) Dispatch(context.Context, broadcast.Shard) error {
	return errors.New("no fan-out function")
}

// expiringAuth is fuzzAuth with the token's exp in the "exp" query
// parameter (a duration from now; none: no exp).
type expiringAuth struct{ now func() time.Time }

func (a expiringAuth) Authenticate(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	id, err := fuzzAuth{}.Authenticate(ctx, req)
	if d, perr := time.ParseDuration(req.QueryStringParameters["exp"]); perr == nil {
		id.ExpiresAt = a.now().Add(d)
	}
	return id, err
}

// TestShardedPostersKeepTheClientsOtherCalls: with the posters of
// broadcast.ShardedPosters (as the functions that broadcast build them),
// the handler still reaches the Management API client's calls other than
// posts: $connect at the connection limit probes the user's connections
// (GetConnection) and removes a gone one, and the sweeper probes an
// expired session's connection and removes it when it is gone, and closes
// a connection whose token expired (DeleteConnection). The sharding
// wrapper offers only posts, so each was silently skipped: the new
// connection refused, the gone one kept, the expired one left open.
func TestShardedPostersKeepTheClientsOtherCalls(t *testing.T) {
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(clock.Now)
	m := &managementStandIn{gone: map[string]bool{}}
	posters := broadcast.ShardedPosters(func(string) broadcast.Poster { return m }, broadcast.Sharding{Dispatcher: refusingDispatcher{}})
	h, err := handler.New(handler.Config{MaxConnectionsPerUser: 1, ManagementEndpoint: "https://mgmt.example/prod"}, handler.Deps{
		Store: st, Clock: clock.Now, Posters: posters, IsGone: func(err error) bool { return errors.Is(err, errConnGone) },
		Auth: expiringAuth{now: clock.Now}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	query := func(user, exp string) map[string]string {
		return map[string]string{"userId": user, "tenant": "t1", "role": "editor", "exp": exp}
	}
	connect := func(conn string, q map[string]string) {
		t.Helper()
		if resp, _ := h.Connect(ctx, fuzzEvent(conn, "", q)); resp.StatusCode != http.StatusOK {
			t.Errorf("connect %s: %d %s", conn, resp.StatusCode, resp.Body)
		}
	}
	stored := func(conn string) bool {
		_, err := st.GetConnection(ctx, conn)
		return err == nil
	}

	// Ann is at her limit of one connection, which API Gateway closed
	// without a $disconnect.
	connect("AnnOld=", query("ann", ""))
	m.gone["AnnOld="] = true
	connect("AnnNew=", query("ann", ""))
	if stored("AnnOld=") {
		t.Error("$connect at the limit kept ann's gone connection")
	}

	// Bob joins a room and falls silent; his connection goes away too.
	// Frank's token expires in a minute.
	connect("Bob=", query("bob", ""))
	if resp, _ := h.Message(ctx, fuzzEvent("Bob=", `{"type":"room.join","messageId":"j1","payload":{"room":"lobby"}}`, query("bob", ""))); !strings.Contains(resp.Body, `"ack"`) {
		t.Fatalf("join: %s", resp.Body)
	}
	connect("Frank=", query("frank", "1m"))
	m.gone["Bob="] = true
	clock.Advance(2 * time.Minute)
	if err := h.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if stored("Bob=") {
		t.Error("the sweeper kept bob's gone connection after his session expired")
	}
	if !slices.Equal(m.closed, []string{"Frank="}) {
		t.Errorf("the sweeper closed %q, want frank's connection, whose token expired", m.closed)
	}
}
