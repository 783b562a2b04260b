package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/store"
)

// dialRefusal opens a WebSocket that the server must refuse and returns the
// handshake's status and body.
func dialRefusal(t *testing.T, srv *devserver.Server, q url.Values) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := connect(ctx, t, srv, "refused", q, nil)
	if err == nil {
		c.drop()
		t.Fatalf("handshake for %v succeeded, want it refused", q)
	}
	if resp == nil {
		t.Fatalf("dial %v: %v", q, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestConnectionLimit: a user may hold MaxConnectionsPerUser open
// WebSockets; the next handshake is refused with 429 and a clear reason,
// while other users, and the same user id in another tenant, still
// connect. Closing one frees a place. A counted connection that vanished
// without its $disconnect reaching the store is found by probing the
// Management API at the limit, removed, and its place given to the new
// connection. It runs on the memory store and on DynamoDB (moto).
func TestConnectionLimit(t *testing.T) {
	const limit = 3
	type run struct {
		name     string
		settings app.Settings
	}
	runs := []run{{"memory", app.Settings{DevIdentity: true, MaxConnectionsPerUser: limit}}}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		runs = append(runs, run{"dynamo", app.Settings{DevIdentity: true, MaxConnectionsPerUser: limit,
			TableName: fmt.Sprintf("connlimit-%d-%d", time.Now().UnixNano(), tableSeq.Add(1)), DynamoDBEndpoint: ep, Region: "us-east-1"}})
	} else {
		t.Log("DYNAMODB_TEST_ENDPOINT not set: the dynamo run needs scripts/with-moto.sh")
	}
	alice := url.Values{"userId": {"alice"}, "tenant": {"acme"}}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			srv := startServer(t, r.settings, gateway.Config{})
			ctx := context.Background()
			st := srv.Built.Store
			var open []*client
			for i := range limit {
				open = append(open, mustDialQuery(t, srv, fmt.Sprintf("alice-%d", i), alice))
			}
			status, body := dialRefusal(t, srv, alice)
			if status != http.StatusTooManyRequests || !strings.Contains(body, fmt.Sprintf("at most %d open connections per user", limit)) {
				t.Fatalf("connection %d of alice: handshake %d %q, want 429 naming the limit", limit+1, status, body)
			}
			if got, err := st.UserConnections(ctx, "acme", "alice"); err != nil || len(got) != limit {
				t.Fatalf("alice has %d connections stored (%v), want %d: the refused one must not be", len(got), err, limit)
			}
			mustDialQuery(t, srv, "bob", url.Values{"userId": {"bob"}, "tenant": {"acme"}})
			mustDialQuery(t, srv, "alice-globex", url.Values{"userId": {"alice"}, "tenant": {"globex"}})
			for _, c := range open {
				c.quiet() // the open ones are unaffected
			}

			// Closing one frees its place once $disconnect has run.
			closeAndWait := func(c *client) {
				t.Helper()
				if err := c.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
					t.Fatal(err)
				}
				waitFor(t, func() bool {
					got, err := st.UserConnections(ctx, "acme", "alice")
					return err == nil && len(got) == limit-1
				}, "alice's closed connection removed")
			}
			closeAndWait(open[0])
			open[0] = mustDialQuery(t, srv, "alice-again", alice)
			if status, _ := dialRefusal(t, srv, alice); status != http.StatusTooManyRequests {
				t.Fatalf("past the limit again: handshake %d, want 429", status)
			}

			// A connection gone without $disconnect still counts, until a
			// refused $connect probes it (410) and removes it.
			closeAndWait(open[1])
			now := time.Now()
			ghost := store.Connection{ID: "GhostConnLimit0=", UserID: "alice", Username: "alice", Tenant: "acme",
				ConnectedAt: now.Add(-time.Hour), LastSeenAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Endpoint: srv.Endpoint()}
			if err := st.OpenConnection(ctx, ghost, limit); err != nil {
				t.Fatalf("record the ghost: %v", err)
			}
			healed := mustDialQuery(t, srv, "alice-healed", alice)
			healed.quiet()
			if _, err := st.GetConnection(ctx, ghost.ID); err == nil {
				t.Fatal("the gone connection is still stored")
			}
			if status, _ := dialRefusal(t, srv, alice); status != http.StatusTooManyRequests {
				t.Fatalf("at the limit with live connections only: handshake %d, want 429", status)
			}
		})
	}
}
