package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// backend is one way of running the local server under test.
type backend struct {
	name  string
	start func(t *testing.T, gc gateway.Config) *devserver.Server
}

var tableSeq atomic.Int64

// backends lists the stores the end-to-end suite runs on: the embedded store
// always, DynamoDB when DYNAMODB_TEST_ENDPOINT names a server (make test
// starts moto for it).
func backends(t *testing.T) []backend {
	t.Helper()
	bs := []backend{{"memory", func(t *testing.T, gc gateway.Config) *devserver.Server {
		return startServer(t, app.Settings{DevIdentity: true}, gc)
	}}}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		bs = append(bs, backend{"dynamo", func(t *testing.T, gc gateway.Config) *devserver.Server {
			table := fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
			return startServer(t, app.Settings{DevIdentity: true, TableName: table, DynamoDBEndpoint: ep, Region: "us-east-1"}, gc)
		}})
	} else {
		t.Log("DYNAMODB_TEST_ENDPOINT not set: the dynamo backend runs under make test (scripts/with-moto.sh)")
	}
	if b, ok := rieBackend(t); ok {
		bs = append(bs, b)
	}
	return bs
}

func startServer(t *testing.T, s app.Settings, gc gateway.Config) *devserver.Server {
	t.Helper()
	o := devserver.Options{Settings: s, Gateway: gc}
	if s.TableName != "" {
		// moto needs requests one at a time to isolate transactions.
		o.App = &app.Options{DynamoOptions: []func(*dynamodb.Options){dynamo.SerialHTTP()}}
	}
	return startOptions(t, o)
}

// startOptions starts a local server with o on a free loopback port, with
// test credentials and no sweeper, and closes it when t ends.
func startOptions(t *testing.T, o devserver.Options) *devserver.Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	o.Addr, o.SweepInterval = "127.0.0.1:0", -1
	srv, err := devserver.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

func TestEndToEnd(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice, bob, carol := dial(t, srv, "alice"), dial(t, srv, "bob"), dial(t, srv, "carol")

			hello := alice.mustAck("hello", "", nil)
			var h struct{ ConnectionID, UserID, Tenant, ServerTime string }
			if err := json.Unmarshal(hello.Payload, &h); err != nil || h.UserID != "alice" || h.Tenant != "default" || h.ConnectionID == "" || h.ServerTime == "" {
				t.Fatalf("hello = %s (%v)", hello.Payload, err)
			}

			alice.mustAck("subscribe", "order-updates", nil)
			bob.mustAck("subscribe", "order-updates", nil)

			// A forged userId in the frame is ignored: the server stamps carol.
			id := carol.send("publish", "order-updates", map[string]any{"orderId": "123", "status": "shipped"}, map[string]any{"userId": "alice"})
			ack := carol.next()
			if ack.Type != "ack" || ack.ReplyTo != id {
				t.Fatalf("publish reply = %+v", ack)
			}
			for _, c := range []*client{alice, bob} {
				f := c.next()
				if f.Type != "update" || f.Channel != "order-updates" || f.UserID != "carol" || !strings.Contains(string(f.Payload), "shipped") {
					t.Fatalf("%s got %+v", c.name, f)
				}
			}
			carol.quiet() // the sender is not subscribed, so it gets nothing

			alice.mustAck("unsubscribe", "order-updates", nil)
			carol.mustAck("publish", "order-updates", map[string]any{"n": 2})
			if f := bob.next(); f.Type != "update" {
				t.Fatalf("bob got %+v", f)
			}
			alice.quiet()

			if f := alice.request("ping", "", nil); f.Type != "pong" {
				t.Fatalf("ping -> %+v", f)
			}

			alice.sendRaw(`{"type":"publish",`)
			if f := alice.next(); f.Type != "error" || f.code() != "BAD_FRAME" {
				t.Fatalf("malformed -> %+v", f)
			}
			if f := alice.bad().request("teleport", "", nil); f.Type != "error" || f.code() != "UNKNOWN_TYPE" {
				t.Fatalf("unknown type -> %+v", f)
			}
			if f := alice.bad().request("subscribe", "bad#channel", nil); f.Type != "error" || f.code() != "INVALID_CHANNEL" {
				t.Fatalf("bad channel -> %+v", f)
			}
			alice.quiet() // still usable

			// 200 KB closes the connection with 1009.
			big := `{"type":"publish","channel":"order-updates","messageId":"big","payload":"` + strings.Repeat("x", 200*1024) + `"}`
			_ = bob.write(context.Background(), []byte(big), false)
			select {
			case err := <-bob.closed:
				if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
					t.Fatalf("close status = %v (%v), want 1009", websocket.CloseStatus(err), err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("oversized frame did not close the connection")
			}
		})
	}
}

// localAWS is the AWS configuration that signs with the local gateway's
// fixed credentials.
func localAWS() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")}
}

// postedNotification is a notification as a backend posts it through the
// Management API, in the shape the protocol document gives it.
const postedNotification = `{"type":"notification","channel":"notifications","messageId":"posted-1","timestamp":"2026-01-01T00:00:00.000Z","payload":{"id":"n-1","level":"info","title":"hi","from":{"userId":"backend","username":"Backend"},"createdAt":"2026-01-01T00:00:00.000Z"}}`

func mgmtClient(t *testing.T, srv *devserver.Server) *mgmtapi.Client {
	t.Helper()
	return mgmtapi.New(srv.Endpoint(), localAWS(), nil)
}

func TestManagementAPI(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice := dial(t, srv, "alice")
			var h struct{ ConnectionID string }
			_ = json.Unmarshal(alice.mustAck("hello", "", nil).Payload, &h)
			mc := mgmtClient(t, srv)
			ctx := context.Background()

			if err := mc.PostToConnection(ctx, h.ConnectionID, []byte(postedNotification)); err != nil {
				t.Fatalf("POST: %v", err)
			}
			if f := alice.next(); f.Type != "notification" {
				t.Fatalf("posted frame = %+v", f)
			}
			info, err := mc.GetConnection(ctx, h.ConnectionID)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if info.ConnectedAt.IsZero() || info.LastActiveAt.IsZero() || info.Identity.SourceIP == "" {
				t.Fatalf("GET = %+v", info)
			}
			if err := mc.DeleteConnection(ctx, h.ConnectionID); err != nil {
				t.Fatalf("DELETE: %v", err)
			}
			select {
			case <-alice.closed:
			case <-time.After(5 * time.Second):
				t.Fatal("DELETE did not close the socket")
			}
			waitFor(t, func() bool {
				_, err := srv.Built.Store.GetConnection(ctx, h.ConnectionID)
				return errors.Is(err, store.ErrNotFound)
			}, "$disconnect removes the connection record")

			for name, call := range map[string]func() error{
				"POST":   func() error { return mc.PostToConnection(ctx, "unknownConnId=", []byte("x")) },
				"GET":    func() error { _, err := mc.GetConnection(ctx, "unknownConnId="); return err },
				"DELETE": func() error { return mc.DeleteConnection(ctx, "unknownConnId=") },
			} {
				if err := call(); !errors.Is(err, mgmtapi.ErrGone) {
					t.Errorf("%s unknown id: err = %v, want ErrGone", name, err)
				}
			}
		})
	}
}

// addGhost stores a connection subscribed to channel (tenant default) that
// the gateway does not hold, as when $disconnect never reached the store.
func addGhost(t *testing.T, st store.Store, channel string) store.Connection {
	t.Helper()
	ctx, now := context.Background(), time.Now()
	ghost := store.Connection{ID: "GhostConnId0Aw=", UserID: "ghost", Username: "ghost", Tenant: "default",
		ConnectedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.PutConnection(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscribe(ctx, "default", channel, ghost.ID, 0); err != nil {
		t.Fatal(err)
	}
	return ghost
}

// TestGoneRecipientRemoved: a subscriber whose connection vanished without
// $disconnect reaching the store is removed by the next publish; the
// sender is not.
func TestGoneRecipientRemoved(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			ctx := context.Background()
			st := srv.Built.Store
			ghost := addGhost(t, st, "order-updates")
			bob := dial(t, srv, "bob")
			var h struct{ ConnectionID string }
			_ = json.Unmarshal(bob.mustAck("hello", "", nil).Payload, &h)
			bob.mustAck("subscribe", "order-updates", nil)
			// The sender is subscribed: its own update is posted during the
			// request, before the ack returns as the route response.
			pid := bob.send("publish", "order-updates", map[string]any{"x": 1}, nil)
			if f := bob.next(); f.Type != "update" || f.MessageID != pid {
				t.Fatalf("bob got %+v, want its own update first", f)
			}
			ack := bob.next()
			if ack.Type != "ack" || ack.ReplyTo != pid {
				t.Fatalf("publish reply = %+v", ack)
			}
			var res struct{ Recipients, Delivered int }
			_ = json.Unmarshal(ack.Payload, &res)
			if res.Recipients != 2 || res.Delivered != 1 {
				t.Fatalf("publish result = %s", ack.Payload)
			}
			if _, err := st.GetConnection(ctx, ghost.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("ghost connection still stored: %v", err)
			}
			ids, _, err := st.Subscribers(ctx, "default", "order-updates", store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 1 || ids[0] != h.ConnectionID {
				t.Fatalf("subscribers after gone = %v, want only the sender %s", ids, h.ConnectionID)
			}
			if _, err := st.GetConnection(ctx, h.ConnectionID); err != nil {
				t.Fatalf("sender removed: %v", err)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out: %s", what)
}

var _ = http.StatusOK
