package rtpublish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/pkg/rtpublish"
)

// localCreds are the documented credentials of the local server.
var localCreds = credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")

// servers starts a local server on the memory store and, under
// scripts/with-moto.sh, one on DynamoDB.
func servers(t *testing.T) map[string]*devserver.Server {
	t.Helper()
	out := map[string]*devserver.Server{"memory": start(t, app.Settings{DevIdentity: true}, nil)}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		s := app.Settings{DevIdentity: true, TableName: fmt.Sprintf("rtpublish-%d", time.Now().UnixNano()), DynamoDBEndpoint: ep, Region: "us-east-1"}
		out["dynamo"] = start(t, s, &app.Options{DynamoOptions: []func(*dynamodb.Options){dynamo.SerialHTTP()}})
	} else {
		t.Log("DYNAMODB_TEST_ENDPOINT not set: the DynamoDB server runs under scripts/with-moto.sh")
	}
	return out
}

func start(t *testing.T, s app.Settings, ao *app.Options) *devserver.Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	srv, err := devserver.Start(context.Background(), devserver.Options{Addr: "127.0.0.1:0", SweepInterval: -1, Settings: s, App: ao,
		Logger: slog.New(slog.DiscardHandler)})
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

// frame is a server frame as a subscriber reads it.
type frame struct {
	Type      string          `json:"type"`
	Channel   string          `json:"channel"`
	Payload   json.RawMessage `json:"payload"`
	UserID    string          `json:"userId"`
	MessageID string          `json:"messageId"`
}

// subscriber is a real WebSocket connection of the local server.
type subscriber struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	frames chan frame
}

// subscribe connects user of tenant and subscribes it to channels.
func subscribe(t *testing.T, srv *devserver.Server, tenant, user string, channels ...string) *subscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := srv.WebSocketURL() + "?" + url.Values{"userId": {user}, "tenant": {tenant}}.Encode()
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	s := &subscriber{t: t, name: user, conn: conn, frames: make(chan frame, 64)}
	go func() {
		defer close(s.frames)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(data, &f) == nil {
				s.frames <- f
			}
		}
	}()
	t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	for i, ch := range channels {
		id := fmt.Sprintf("sub-%d", i)
		b, _ := json.Marshal(map[string]any{"type": "subscribe", "messageId": id, "channel": ch})
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		if f := s.next(); f.Type != "ack" {
			t.Fatalf("%s: subscribe %s answered %+v", user, ch, f)
		}
	}
	return s
}

// next returns the next frame, failing after 5 s.
func (s *subscriber) next() frame {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatalf("%s: connection closed", s.name)
		}
		return f
	case <-time.After(5 * time.Second):
		s.t.Fatalf("%s: no frame within 5s", s.name)
	}
	return frame{}
}

// expect reads the next frame and checks that it is the update of
// channel with payload want.
func (s *subscriber) expect(channel, want string) {
	s.t.Helper()
	f := s.next()
	if f.Type != "update" || f.Channel != channel || string(f.Payload) != want {
		s.t.Fatalf("%s: got %s %s %s, want the update %s on %s", s.name, f.Type, f.Channel, f.Payload, want, channel)
	}
}

// marker publishes a fresh payload on channel and makes every subscriber
// read it next: whatever was published before it arrived exactly as many
// times as the subscribers read it before.
func marker(t *testing.T, c *rtpublish.Client, tenant, channel string, subs ...*subscriber) {
	t.Helper()
	want := fmt.Sprintf(`{"marker":%d}`, time.Now().UnixNano())
	if _, err := c.Publish(t.Context(), rtpublish.Message{Tenant: tenant, Channel: channel, Payload: json.RawMessage(want)}); err != nil {
		t.Fatalf("marker: %v", err)
	}
	for _, s := range subs {
		s.expect(channel, want)
	}
}

func newClient(t *testing.T, srv *devserver.Server, creds aws.CredentialsProvider, hc *http.Client) *rtpublish.Client {
	t.Helper()
	c, err := rtpublish.New(srv.APIURL(), &rtpublish.Options{Credentials: creds, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPublishFromGo: a Go service publishes through the local server's
// signed endpoint and every subscriber of the tenant's channel receives
// the frame exactly once, retried calls included (an explicit retry with
// the same key, and the client's own retry after a lost answer); other
// tenants receive nothing.
func TestPublishFromGo(t *testing.T) {
	for name, srv := range servers(t) {
		t.Run(name, func(t *testing.T) {
			a := subscribe(t, srv, "acme", "alice", "order-updates")
			b := subscribe(t, srv, "acme", "bob", "order-updates")
			other := subscribe(t, srv, "globex", "carol", "order-updates")
			c := newClient(t, srv, localCreds, nil)

			m := rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: map[string]any{"orderId": "SO-1042", "status": "shipped"}, IdempotencyKey: "SO-1042#v3"}
			res, err := c.Publish(t.Context(), m)
			if err != nil || res.Recipients != 2 || res.Delivered != 2 || res.Duplicate {
				t.Fatalf("Publish = %+v, %v; want 2 recipients", res, err)
			}
			again, err := c.Publish(t.Context(), m)
			if err != nil || !again.Duplicate || again.Recipients != 2 {
				t.Fatalf("retried Publish = %+v, %v; want a duplicate with the first counts", again, err)
			}
			for _, s := range []*subscriber{a, b} {
				s.expect("order-updates", `{"orderId":"SO-1042","status":"shipped"}`)
			}
			marker(t, c, "acme", "order-updates", a, b)

			// The answer is lost after the server published: the client
			// retries by itself (the SDK's standard retryer), with the
			// same key, and nothing is sent twice.
			lossy := &loseFirstAnswer{next: http.DefaultTransport}
			lc := newClient(t, srv, localCreds, &http.Client{Transport: lossy})
			res, err = lc.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: "lost answer"})
			if err != nil || !res.Duplicate || res.Recipients != 2 || lossy.calls.Load() != 2 {
				t.Fatalf("Publish with a lost answer = %+v, %v after %d calls; want a duplicate on the second", res, err, lossy.calls.Load())
			}
			for _, s := range []*subscriber{a, b} {
				s.expect("order-updates", `"lost answer"`)
			}
			marker(t, c, "acme", "order-updates", a, b)
			marker(t, c, "globex", "order-updates", other)
		})
	}
}

// loseFirstAnswer forwards every request but drops the answer to the
// first: the caller sees a connection reset after the server acted.
type loseFirstAnswer struct {
	next  http.RoundTripper
	calls atomic.Int32
}

func (l *loseFirstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if l.calls.Add(1) == 1 && err == nil {
		resp.Body.Close()
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return resp, err
}

// TestPublishRefused: an unsigned call, a call signed with a wrong secret
// or an unknown key, a channel the policy forbids and a key reused for
// another payload are refused with their codes, and no subscriber
// receives anything from them.
func TestPublishRefused(t *testing.T) {
	srv := servers(t)["memory"]
	a := subscribe(t, srv, "acme", "alice", "order-updates")
	c := newClient(t, srv, localCreds, nil)

	resp, err := http.Post(srv.APIURL()+"/publish", "application/json", bytes.NewReader([]byte(`{"tenant":"acme","channel":"order-updates","payload":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned = %d %s, want 403 MissingAuthenticationTokenException", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
	}
	m := rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: 1}
	for name, tc := range map[string]struct {
		creds aws.CredentialsProvider
		typ   string
	}{
		"wrong secret": {credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, "not-the-secret", ""), "InvalidSignatureException"},
		"unknown key":  {credentials.NewStaticCredentialsProvider("AKIDNOTKNOWN", "x", ""), "UnrecognizedClientException"},
	} {
		_, err := newClient(t, srv, tc.creds, nil).Publish(t.Context(), m)
		var e *rtpublish.Error
		if !errors.As(err, &e) || e.Status != 403 || e.Code != rtpublish.CodeNotAuthorized || e.Type != tc.typ || e.Retryable {
			t.Fatalf("%s: %v (%+v), want 403 %s", name, err, e, tc.typ)
		}
	}
	for _, tc := range []struct {
		m    rtpublish.Message
		code string
	}{
		{rtpublish.Message{Tenant: "acme", Channel: "payroll", Payload: 1}, rtpublish.CodeForbidden},
		{rtpublish.Message{Tenant: "acme", Channel: "order updates", Payload: 1}, rtpublish.CodeInvalidChannel},
		{rtpublish.Message{Tenant: "", Channel: "order-updates", Payload: 1}, rtpublish.CodeBadRequest},
	} {
		if _, err := c.Publish(t.Context(), tc.m); rtpublish.CodeOf(err) != tc.code {
			t.Fatalf("Publish(%+v) = %v, want %s", tc.m, err, tc.code)
		}
	}
	first := rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: "first", IdempotencyKey: "k-1"}
	if _, err := c.Publish(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	a.expect("order-updates", `"first"`)
	first.Payload = "second"
	if _, err := c.Publish(t.Context(), first); rtpublish.CodeOf(err) != rtpublish.CodeIdempotencyMismatch {
		t.Fatalf("key reused for another payload: %v, want %s", err, rtpublish.CodeIdempotencyMismatch)
	}
	marker(t, c, "acme", "order-updates", a)
}

// TestNoRouteLocally: a signed request to the local publish API that
// matches none of its routes (each is a POST) gets 404
// {"message":"Not Found"}, as an API Gateway HTTP API answers a request
// it has no route for, not a 405.
func TestNoRouteLocally(t *testing.T) {
	srv := servers(t)["memory"]
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/publish"},
		{http.MethodPut, "/notify"},
		{http.MethodDelete, "/presence/snapshot"},
		{http.MethodPost, "/subscribe"},
	} {
		status, body := signedRequest(t, tc.method, srv.APIURL()+tc.path, nil)
		if status != http.StatusNotFound || string(body) != `{"message":"Not Found"}` {
			t.Errorf("%s /api%s = %d %s, want 404 {\"message\":\"Not Found\"}", tc.method, tc.path, status, body)
		}
		// Unsigned too: IAM authorization belongs to a route, so a request
		// no route matches is Not Found before any signature check.
		status, body = unsignedRequest(t, tc.method, srv.APIURL()+tc.path)
		if status != http.StatusNotFound || string(body) != `{"message":"Not Found"}` {
			t.Errorf("unsigned %s /api%s = %d %s, want 404 {\"message\":\"Not Found\"}", tc.method, tc.path, status, body)
		}
	}
	// A route still wants a signature (and the change feed's GET /changes
	// is a route).
	for _, route := range []string{"POST /publish", "POST /notify", "POST /presence/snapshot", "POST /events", "GET /changes", "HEAD /changes"} {
		method, path, _ := strings.Cut(route, " ")
		if status, body := unsignedRequest(t, method, srv.APIURL()+path); status != http.StatusForbidden {
			t.Errorf("unsigned %s /api%s = %d %s, want 403", method, path, status, body)
		}
	}
}

// unsignedRequest sends method to url with no signature and returns the
// status and body.
func unsignedRequest(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// send sends req and returns the status and body.
func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestNotifyAndSnapshot: a notification reaches the subscribers of
// notifications; the presence snapshot lists the tenant's online users.
func TestNotifyAndSnapshot(t *testing.T) {
	srv := servers(t)["memory"]
	a := subscribe(t, srv, "acme", "alice", "notifications")
	c := newClient(t, srv, localCreds, nil)
	res, err := c.Notify(t.Context(), rtpublish.Notification{Tenant: "acme", Title: "Stock low", Body: "SKU-7 has 3 left", Level: "warning"})
	if err != nil || res.Recipients != 1 || res.ID == "" {
		t.Fatalf("Notify = %+v, %v", res, err)
	}
	f := a.next()
	var n struct{ Title, Level string }
	if f.Type != "notification" || json.Unmarshal(f.Payload, &n) != nil || n.Title != "Stock low" || n.Level != "warning" {
		t.Fatalf("notification frame = %+v", f)
	}
	snap, err := c.PresenceSnapshot(t.Context(), rtpublish.SnapshotQuery{Tenant: "acme"})
	if err != nil || snap.UserCount != 1 || len(snap.Users) != 1 {
		t.Fatalf("PresenceSnapshot = %+v, %v; want alice", snap, err)
	}
	var u struct{ UserID, Status string }
	if err := json.Unmarshal(snap.Users[0], &u); err != nil || u.UserID != "alice" || u.Status != "online" {
		t.Fatalf("user = %s", snap.Users[0])
	}
}

// TestEventBridgeEventDeliveredTwice: the local /api/events endpoint takes
// an EventBridge event as a rule delivers it; delivered twice, it
// broadcasts once.
func TestEventBridgeEventDeliveredTwice(t *testing.T) {
	for name, srv := range servers(t) {
		t.Run(name, func(t *testing.T) {
			a := subscribe(t, srv, "acme", "alice", "order-updates")
			ev, err := os.ReadFile("../../internal/publishapi/testdata/eventbridge-publish.json")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				status, body := signedRequest(t, http.MethodPost, srv.APIURL()+"/events", ev)
				if status != 200 || (i == 1) != bytes.Contains(body, []byte(`"duplicate":true`)) {
					t.Fatalf("delivery %d = %d %s", i+1, status, body)
				}
			}
			a.expect("order-updates", `{"orderId":"SO-1042","status":"shipped"}`)
			marker(t, newClient(t, srv, localCreds, nil), "acme", "order-updates", a)
		})
	}
}

// signedRequest sends body to u with method, signed with the local
// credentials by the SDK's signer.
func signedRequest(t *testing.T, method, u string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := localCreds.Retrieve(t.Context())
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}
