package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

const testUserAgent = "Mozilla/5.0 (X11; Linux x86_64) rtcollab-gateway-test"

// fakeInvoker records every invocation on a channel per route and answers
// with respond (nil: an empty 200).
type fakeInvoker struct {
	connects, messages, disconnects chan events.APIGatewayWebsocketProxyRequest
	respond                         func(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
}

func newFakeInvoker() *fakeInvoker {
	return &fakeInvoker{
		connects:    make(chan events.APIGatewayWebsocketProxyRequest, 256),
		messages:    make(chan events.APIGatewayWebsocketProxyRequest, 256),
		disconnects: make(chan events.APIGatewayWebsocketProxyRequest, 256),
	}
}

func (f *fakeInvoker) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	switch routeKey {
	case RouteConnect:
		f.connects <- req
	case RouteDefault:
		f.messages <- req
	case RouteDisconnect:
		f.disconnects <- req
	default:
		return events.APIGatewayProxyResponse{}, fmt.Errorf("unexpected route %q", routeKey)
	}
	if f.respond != nil {
		return f.respond(ctx, routeKey, req)
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

var _ Invoker = (*fakeInvoker)(nil)

// next returns the next event from ch, failing the test after 5s.
func next(t *testing.T, ch <-chan events.APIGatewayWebsocketProxyRequest, what string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	select {
	case req := <-ch:
		return req
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s event within 5s", what)
		return events.APIGatewayWebsocketProxyRequest{}
	}
}

// none fails the test if ch yields an event within d.
func none(t *testing.T, ch <-chan events.APIGatewayWebsocketProxyRequest, d time.Duration, what string) {
	t.Helper()
	select {
	case req := <-ch:
		t.Fatalf("unexpected %s event: %+v", what, req.RequestContext)
	case <-time.After(d):
	}
}

// startGateway serves a gateway on a free port until the test ends.
func startGateway(t *testing.T, cfg Config, inv Invoker) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String() // the URLs are right before Serve starts
	if cfg.Logger == nil {
		// Errors the gateway logs are bugs of an integration or of the
		// gateway: they fail the test that produced them.
		rec := &logRecorder{}
		cfg.Logger = slog.New(rec)
		t.Cleanup(func() {
			for _, r := range rec.errors() {
				t.Errorf("gateway logged an error: %s", r)
			}
		})
	}
	s := New(cfg, inv)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return s
}

// client is a WebSocket client whose reader goroutine collects messages
// and the error that ended the connection.
type client struct {
	conn     *websocket.Conn
	messages chan []byte
	closed   chan error
}

// dial connects to s with extra query parameters; it fails the test if the
// handshake is refused.
func dial(t *testing.T, s *Server, query url.Values) *client {
	t.Helper()
	c, resp, err := tryDial(t, s.WebSocketURL(), query, nil)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	return c
}

func tryDial(t *testing.T, wsURL string, query url.Values, opts *websocket.DialOptions) (*client, *http.Response, error) {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	if opts.HTTPHeader == nil {
		opts.HTTPHeader = http.Header{}
	}
	opts.HTTPHeader.Set("User-Agent", testUserAgent)
	if len(query) > 0 {
		wsURL += "?" + query.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, wsURL, opts)
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(1 << 20)
	c := &client{conn: conn, messages: make(chan []byte, 256), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.closed <- err
				return
			}
			c.messages <- data
		}
	}()
	t.Cleanup(func() { _ = conn.CloseNow() })
	return c, resp, nil
}

func (c *client) send(t *testing.T, typ websocket.MessageType, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, typ, data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// sendInFrames sends one text message of size bytes in frames of at most
// frame bytes (coder/websocket's Writer sends each Write as one frame). A
// write may fail once the server closes.
func (c *client) sendInFrames(t *testing.T, size, frame int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := c.conn.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatalf("writer: %v", err)
	}
	for left := size; left > 0; left -= frame {
		if _, err := w.Write(make([]byte, min(left, frame))); err != nil {
			return
		}
	}
	_ = w.Close()
}

func (c *client) next(t *testing.T) []byte {
	t.Helper()
	select {
	case m := <-c.messages:
		return m
	case err := <-c.closed:
		t.Fatalf("connection closed while waiting for a message: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return nil
}

// closeStatus waits for the server to close the connection and returns the
// close status and reason it sent.
func (c *client) closeStatus(t *testing.T, within time.Duration) (websocket.StatusCode, string) {
	t.Helper()
	select {
	case err := <-c.closed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	case m := <-c.messages:
		t.Fatalf("unexpected message %q while waiting for close", m)
	case <-time.After(within):
		t.Fatalf("connection still open after %v", within)
	}
	return 0, ""
}

func TestConnectionIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if !isConnID(id) {
			t.Fatalf("id %q does not match %s", id, connIDForm)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestConnectEvent(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	q := url.Values{"token": {"abc.def"}, "room": {"a", "b"}}
	c, _, err := tryDial(t, s.WebSocketURL(), q, &websocket.DialOptions{
		HTTPHeader:   http.Header{"X-Custom": {"one"}},
		Subprotocols: []string{"rtcollab.v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := next(t, inv.connects, "$connect")
	host := strings.TrimPrefix(s.WebSocketURL(), "ws://")
	host = strings.TrimSuffix(host, "/ws")
	rc := req.RequestContext
	checks := []struct {
		name      string
		got, want any
	}{
		{"routeKey", rc.RouteKey, RouteConnect},
		{"eventType", rc.EventType, EventConnect},
		{"messageDirection", rc.MessageDirection, "IN"},
		{"stage", rc.Stage, "ws"},
		{"apiId", rc.APIID, DefaultAPIID},
		{"domainName", rc.DomainName, host},
		{"messageId", rc.MessageID, nil},
		{"identity.sourceIp", rc.Identity.SourceIP, "127.0.0.1"},
		{"identity.userAgent", rc.Identity.UserAgent, testUserAgent},
		{"connectedAt = requestTimeEpoch", rc.ConnectedAt, rc.RequestTimeEpoch},
		{"requestId = extendedRequestId", rc.RequestID, rc.ExtendedRequestID},
		{"Host", req.Headers["Host"], host},
		{"X-Custom", req.Headers["X-Custom"], "one"},
		{"Sec-WebSocket-Version", req.Headers["Sec-WebSocket-Version"], "13"},
		{"Sec-WebSocket-Protocol", req.Headers["Sec-WebSocket-Protocol"], "rtcollab.v1"},
		{"X-Forwarded-For", req.Headers["X-Forwarded-For"], "127.0.0.1"},
		{"X-Forwarded-Proto", req.Headers["X-Forwarded-Proto"], "http"},
		{"multi Host", fmt.Sprint(req.MultiValueHeaders["Host"]), fmt.Sprint([]string{host})},
		{"token", req.QueryStringParameters["token"], "abc.def"},
		{"room (last value)", req.QueryStringParameters["room"], "b"},
		{"multi room", fmt.Sprint(req.MultiValueQueryStringParameters["room"]), "[a b]"},
		{"body", req.Body, ""},
		{"isBase64Encoded", req.IsBase64Encoded, false},
		{"disconnectReason", rc.DisconnectReason == nil, true},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	for _, k := range []string{"Sec-WebSocket-Key", "X-Forwarded-Port", "X-Amzn-Trace-Id"} {
		if req.Headers[k] == "" {
			t.Errorf("header %q missing from $connect: %v", k, req.Headers)
		}
	}
	if _, ok := req.Headers["Connection"]; ok {
		t.Error("hop-by-hop header Connection passed to $connect")
	}
	if !isConnID(rc.ConnectionID) {
		t.Errorf("connectionId %q does not match %s", rc.ConnectionID, connIDForm)
	}
	if c.conn.Subprotocol() != "" {
		t.Errorf("subprotocol %q negotiated though $connect chose none", c.conn.Subprotocol())
	}
}

func TestConnectResponse(t *testing.T) {
	tests := []struct {
		name       string
		resp       events.APIGatewayProxyResponse
		err        error
		wantStatus int    // 0: accepted
		wantBody   string // substring
	}{
		{"401 refuses", events.APIGatewayProxyResponse{StatusCode: 401, Body: `{"message":"Unauthorized"}`, Headers: map[string]string{"Content-Type": "application/json"}}, nil, 401, `{"message":"Unauthorized"}`},
		{"403 refuses", events.APIGatewayProxyResponse{StatusCode: 403, Body: "forbidden"}, nil, 403, "forbidden"},
		{"429 refuses", events.APIGatewayProxyResponse{StatusCode: 429}, nil, 429, ""},
		{"error refuses with 500", events.APIGatewayProxyResponse{}, errors.New("boom"), 500, "Internal server error"},
		{"200 accepts", events.APIGatewayProxyResponse{StatusCode: 200}, nil, 0, ""},
		{"204 accepts", events.APIGatewayProxyResponse{StatusCode: 204}, nil, 0, ""},
		{"no status accepts", events.APIGatewayProxyResponse{}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newFakeInvoker()
			inv.respond = func(_ context.Context, route string, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				if route == RouteConnect {
					return tt.resp, tt.err
				}
				return events.APIGatewayProxyResponse{}, nil
			}
			s := startGateway(t, Config{}, inv)
			c, resp, err := tryDial(t, s.WebSocketURL(), nil, nil)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				_ = c.conn.Close(websocket.StatusNormalClosure, "")
				next(t, inv.disconnects, "$disconnect")
				return
			}
			if err == nil {
				t.Fatal("handshake accepted, want it refused")
			}
			if resp == nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("handshake response = %v, want status %d", resp, tt.wantStatus)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body = %q, want it to contain %q", body, tt.wantBody)
			}
			for k, v := range tt.resp.Headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			next(t, inv.connects, "$connect")
			none(t, inv.disconnects, 100*time.Millisecond, "$disconnect")
			if n := s.ConnectionCount(); n != 0 {
				t.Errorf("ConnectionCount = %d after a refused handshake", n)
			}
		})
	}
}

// TestSubprotocolFromConnect: the Sec-WebSocket-Protocol header of the
// $connect response reaches the client unchanged, so that a real client
// fails a handshake whose subprotocol it did not offer (RFC 6455, 4.1).
func TestSubprotocolFromConnect(t *testing.T) {
	tests := []struct {
		name     string
		offered  []string
		selected string // the $connect response's Sec-WebSocket-Protocol; "" for none
		wantFail bool   // the client fails the handshake
	}{
		{"offered and selected", []string{"rtcollab.v1", "rtcollab.v2"}, "rtcollab.v2", false},
		{"selected in another case", []string{"rtcollab.v1"}, "RTCollab.V1", false},
		{"selected but not offered", []string{"rtcollab.v1"}, "rtcollab.v2", true},
		{"selected, none offered", nil, "rtcollab.v1", true},
		{"none selected, none offered", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv := newFakeInvoker()
			inv.respond = func(_ context.Context, route string, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				resp := events.APIGatewayProxyResponse{StatusCode: 200}
				if route == RouteConnect && tt.selected != "" {
					resp.Headers = map[string]string{"sec-websocket-protocol": tt.selected}
				}
				return resp, nil
			}
			s := startGateway(t, Config{}, inv)
			c, resp, err := tryDial(t, s.WebSocketURL(), nil, &websocket.DialOptions{Subprotocols: tt.offered})
			if resp == nil {
				t.Fatalf("no handshake response: %v", err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake status %d, want 101", resp.StatusCode)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); strings.Join(got, ",") != tt.selected {
				t.Errorf("Sec-WebSocket-Protocol of the 101 = %q, want %q as $connect returned it", got, tt.selected)
			}
			if tt.wantFail {
				if err == nil {
					_ = c.conn.Close(websocket.StatusNormalClosure, "")
					t.Fatalf("handshake succeeded with subprotocol %q, which the client did not offer (%q)", c.conn.Subprotocol(), tt.offered)
				}
				if !strings.Contains(err.Error(), "unexpected Sec-WebSocket-Protocol") {
					t.Errorf("dial error = %v, want the client's subprotocol check", err)
				}
				// The gateway accepted the connection (the 101 went out);
				// it ends when the client gives up, and $disconnect follows.
				next(t, inv.connects, "$connect")
				next(t, inv.disconnects, "$disconnect")
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if got := c.conn.Subprotocol(); got != tt.selected {
				t.Errorf("subprotocol = %q, want %q", got, tt.selected)
			}
			_ = c.conn.Close(websocket.StatusNormalClosure, "")
			next(t, inv.disconnects, "$disconnect")
		})
	}
}

// TestMalformedHandshake: an upgrade request that RFC 6455 (4.2.1) does
// not allow is refused before any integration runs: without a valid
// Sec-WebSocket-Key, or over HTTP/1.0, with 400; with a
// Sec-WebSocket-Version other than 13, with 426 and the version the
// server speaks (4.4). No $connect runs, so no $disconnect follows.
func TestMalformedHandshake(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's sample nonce, 16 bytes
	tests := []struct {
		name    string
		proto   string
		headers []string
		want    int
	}{
		{"no key", "HTTP/1.1", []string{"Sec-WebSocket-Version: 13"}, http.StatusBadRequest},
		{"key not 16 bytes", "HTTP/1.1", []string{"Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"}, http.StatusBadRequest},
		{"key not base64", "HTTP/1.1", []string{"Sec-WebSocket-Key: not base64 at all!", "Sec-WebSocket-Version: 13"}, http.StatusBadRequest},
		{"two keys", "HTTP/1.1", []string{"Sec-WebSocket-Key: " + key, "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"}, http.StatusBadRequest},
		{"HTTP/1.0", "HTTP/1.0", []string{"Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"}, http.StatusBadRequest},
		{"version 8", "HTTP/1.1", []string{"Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 8"}, http.StatusUpgradeRequired},
		{"no version", "HTTP/1.1", []string{"Sec-WebSocket-Key: " + key}, http.StatusUpgradeRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newFakeInvoker()
			s := startGateway(t, Config{}, inv)
			addr := strings.TrimSuffix(strings.TrimPrefix(s.WebSocketURL(), "ws://"), "/ws")
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			req := "GET /ws " + tt.proto + "\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
				strings.Join(tt.headers, "\r\n") + "\r\n\r\n"
			if _, err := io.WriteString(nc, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if v := resp.Header.Get("Sec-WebSocket-Version"); tt.want == http.StatusUpgradeRequired && v != "13" {
				t.Errorf("Sec-WebSocket-Version %q on the 426, want 13", v)
			}
			none(t, inv.connects, 100*time.Millisecond, "$connect")
			none(t, inv.disconnects, 10*time.Millisecond, "$disconnect")
		})
	}
}

func TestNotAWebSocket(t *testing.T) {
	inv := newFakeInvoker()
	static := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "demo page") })
	tests := []struct {
		name     string
		static   http.Handler
		path     string
		want     int
		wantBody string
	}{
		{"plain GET of the stage", nil, "/ws", http.StatusUpgradeRequired, "Upgrade Required"},
		{"no static handler", nil, "/", http.StatusNotFound, "Not Found"},
		{"static handler", static, "/", http.StatusOK, "demo page"},
		{"static handler, other path", static, "/app.js", http.StatusOK, "demo page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startGateway(t, Config{Static: tt.static}, inv)
			resp, err := http.Get(s.Endpoint()[:strings.LastIndex(s.Endpoint(), "/")] + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.want, tt.wantBody)
			}
		})
	}
	none(t, inv.connects, 10*time.Millisecond, "$connect")
}

func TestRouteResponse(t *testing.T) {
	tests := []struct {
		name    string
		typ     websocket.MessageType
		send    string
		respond func(req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
		check   func(t *testing.T, req events.APIGatewayWebsocketProxyRequest, got []byte)
	}{
		{
			name: "body is sent back", typ: websocket.MessageText, send: `{"type":"ping","messageId":"m1"}`,
			respond: func(req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				return events.APIGatewayProxyResponse{StatusCode: 200, Body: "echo:" + req.Body}, nil
			},
			check: func(t *testing.T, req events.APIGatewayWebsocketProxyRequest, got []byte) {
				if want := `echo:{"type":"ping","messageId":"m1"}`; string(got) != want {
					t.Errorf("reply = %q, want %q", got, want)
				}
				if req.IsBase64Encoded {
					t.Error("text message passed as base64")
				}
			},
		},
		{
			name: "empty body sends nothing", typ: websocket.MessageText, send: "quiet",
			respond: func(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				return events.APIGatewayProxyResponse{StatusCode: 200}, nil
			},
			check: func(t *testing.T, _ events.APIGatewayWebsocketProxyRequest, got []byte) {
				if got != nil {
					t.Errorf("got %q, want no reply", got)
				}
			},
		},
		{
			name: "function error", typ: websocket.MessageText, send: "x",
			respond: func(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				return events.APIGatewayProxyResponse{}, errors.New("handler crashed")
			},
			check: func(t *testing.T, req events.APIGatewayWebsocketProxyRequest, got []byte) {
				want := fmt.Sprintf(`{"message": "Internal server error", "connectionId":%q, "requestId":%q}`, req.RequestContext.ConnectionID, req.RequestContext.RequestID)
				if string(got) != want {
					t.Errorf("reply = %q, want %q", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newFakeInvoker()
			inv.respond = func(_ context.Context, route string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				if route != RouteDefault {
					return events.APIGatewayProxyResponse{StatusCode: 200}, nil
				}
				if req.Body == "sentinel" {
					return events.APIGatewayProxyResponse{StatusCode: 200, Body: "sentinel"}, nil
				}
				return tt.respond(req)
			}
			s := startGateway(t, Config{}, inv)
			c := dial(t, s, nil)
			c.send(t, tt.typ, []byte(tt.send))
			req := next(t, inv.messages, "$default")
			// The messages of one connection are invoked concurrently and
			// their replies come in any order: the sentinel's reply marks
			// the end of any reply to the first message only once the
			// first message's invocation has returned and its reply has
			// gone to the connection.
			invocationsReturned(t, s, req.RequestContext.ConnectionID)
			c.send(t, websocket.MessageText, []byte("sentinel"))
			var got []byte
			if m := c.next(t); string(m) != "sentinel" {
				got = m
				if m2 := c.next(t); string(m2) != "sentinel" {
					t.Fatalf("second reply = %q, want the sentinel", m2)
				}
			}
			tt.check(t, req, got)
		})
	}
}

// invocationsReturned waits until no $default invocation of connection id
// is running. Its route responses have then been written, or queued ahead
// of any message sent to the connection later. The caller sends nothing on
// the connection meanwhile.
func invocationsReturned(t *testing.T, s *Server, id string) {
	t.Helper()
	sc := s.lookup(id)
	if sc == nil {
		t.Fatalf("connection %q is not open", id)
	}
	done := make(chan struct{})
	go func() {
		sc.invocations.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("$default invocations of connection %q still running after 5s", id)
	}
}

func TestIntegrationTimeout(t *testing.T) {
	inv := newFakeInvoker()
	inv.respond = func(ctx context.Context, route string, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if route == RouteDefault {
			<-ctx.Done()
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	s := startGateway(t, Config{IntegrationTimeout: 50 * time.Millisecond}, inv)
	c := dial(t, s, nil)
	c.send(t, websocket.MessageText, []byte("slow"))
	if got := string(c.next(t)); !strings.Contains(got, `"message": "Endpoint request timed out"`) {
		t.Errorf("reply = %q, want the timeout message", got)
	}
}

// TestConnectIntegrationTimeout: a $connect integration past the timeout
// refuses the handshake with 504, and no $disconnect follows (the
// connection never opened).
func TestConnectIntegrationTimeout(t *testing.T) {
	inv := newFakeInvoker()
	inv.respond = func(ctx context.Context, route string, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if route == RouteConnect {
			<-ctx.Done()
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	s := startGateway(t, Config{IntegrationTimeout: 50 * time.Millisecond}, inv)
	_, resp, err := tryDial(t, s.WebSocketURL(), nil, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("dial = %v, %v; want a 504 refusal", resp, err)
	}
	none(t, inv.disconnects, 100*time.Millisecond, "$disconnect")
}

// blockingInvoker answers $default by echoing the body, except for a
// message "block", whose invocation waits until release is called (or its
// integration timeout). Every route is recorded as by fakeInvoker. A test
// defers release: Shutdown, in startGateway's cleanup, waits for the
// invocations still running.
func blockingInvoker() (inv *fakeInvoker, release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	inv = newFakeInvoker()
	inv.respond = func(ctx context.Context, route string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if route == RouteDefault && req.Body == "block" {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		if route != RouteDefault {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: req.Body}, nil
	}
	return inv, release
}

// TestSlowDefaultHoldsNothingUp: API Gateway invokes the integration for
// every message on its own, so a $default that runs long holds up nothing
// else of its connection: the next message is invoked and answered, a
// ping gets its pong, and a close runs $disconnect, while it still runs.
func TestSlowDefaultHoldsNothingUp(t *testing.T) {
	tests := []struct {
		name string
		// act runs while the message "block" of c (connection id) is
		// being invoked; release lets that invocation return.
		act func(t *testing.T, s *Server, inv *fakeInvoker, c *client, id string, release func())
	}{
		{"next message", func(t *testing.T, _ *Server, inv *fakeInvoker, c *client, _ string, release func()) {
			c.send(t, websocket.MessageText, []byte("free"))
			next(t, inv.messages, "$default of the second message")
			if got := string(c.next(t)); got != "free" {
				t.Fatalf("reply = %q, want the second message's while the first still runs", got)
			}
			release()
			if got := string(c.next(t)); got != "block" {
				t.Errorf("reply = %q, want the first message's once it returns", got)
			}
		}},
		{"ping", func(t *testing.T, _ *Server, _ *fakeInvoker, c *client, _ string, _ func()) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.conn.Ping(ctx); err != nil {
				t.Fatalf("ping while a $default runs: %v", err)
			}
		}},
		{"close", func(t *testing.T, s *Server, inv *fakeInvoker, c *client, id string, release func()) {
			closed := make(chan error, 1)
			go func() { closed <- c.conn.Close(websocket.StatusNormalClosure, "bye") }()
			// $disconnect does not wait for the $default still running.
			checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, "bye")
			if err := <-closed; err != nil {
				t.Errorf("client close handshake: %v", err)
			}
			if n := s.ConnectionCount(); n != 0 {
				t.Errorf("ConnectionCount = %d after the close", n)
			}
			// The invocation still running returns to a connection that
			// is gone: its reply is dropped, and nothing is logged as an
			// error.
			release()
			none(t, inv.disconnects, 100*time.Millisecond, "second $disconnect")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, release := blockingInvoker()
			defer release()
			s := startGateway(t, Config{}, inv)
			c := dial(t, s, nil)
			id := next(t, inv.connects, "$connect").RequestContext.ConnectionID
			c.send(t, websocket.MessageText, []byte("block"))
			next(t, inv.messages, "$default of the blocking message")
			tt.act(t, s, inv, c, id, release)
		})
	}
}

// TestMessagesInvokedConcurrently: the messages of one connection are
// invoked at once, each on its own, not one after another: a message sent
// after one that blocks is invoked, and so is one after that.
func TestMessagesInvokedConcurrently(t *testing.T) {
	var running, most atomic.Int32
	inv, release := blockingInvoker()
	defer release()
	echo := inv.respond
	inv.respond = func(ctx context.Context, route string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		return echo(ctx, route, req)
	}
	s := startGateway(t, Config{}, inv)
	c := dial(t, s, nil)
	next(t, inv.connects, "$connect")
	const n = 3
	for range n {
		c.send(t, websocket.MessageText, []byte("block"))
	}
	for i := range n {
		next(t, inv.messages, fmt.Sprintf("$default %d of %d blocking messages", i+1, n))
	}
	if m := most.Load(); m != n {
		t.Errorf("%d invocations ran at once, want %d", m, n)
	}
	release()
	for range n {
		if got := string(c.next(t)); got != "block" {
			t.Errorf("reply = %q", got)
		}
	}
}

// TestInvocationsInFlightBound: past maxInFlight invocations running on
// one connection, a message is read but not invoked, and the client gets
// the "Too Many Requests" frame; the connection stays open, answers pings,
// and invokes messages again once invocations return.
func TestInvocationsInFlightBound(t *testing.T) {
	var invoked atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	inv := InvokerFunc(func(ctx context.Context, route string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if route != RouteDefault {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}
		invoked.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: req.Body}, nil
	})
	rec := &logRecorder{}
	s := startGateway(t, Config{Logger: slog.New(rec)}, inv)
	c := dial(t, s, nil)
	for range maxInFlight {
		c.send(t, websocket.MessageText, []byte("held"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for invoked.Load() < maxInFlight {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages invoked", invoked.Load(), maxInFlight)
		}
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		c.send(t, websocket.MessageText, []byte("one too many"))
		var refusal struct{ Message, ConnectionID, RequestID string }
		if got := c.next(t); json.Unmarshal(got, &refusal) != nil || refusal.Message != "Too Many Requests" || refusal.ConnectionID == "" || refusal.RequestID == "" {
			t.Fatalf("reply = %q, want the Too Many Requests frame", got)
		}
	}
	if n := rec.warnings(); n != 1 {
		t.Errorf("%d warnings logged for three refused messages in a row, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Ping(ctx); err != nil {
		t.Fatalf("ping past the bound: %v", err)
	}
	if n := invoked.Load(); n != maxInFlight {
		t.Errorf("%d messages invoked, want %d: the one past the bound was invoked", n, maxInFlight)
	}
	once.Do(func() { close(release) })
	for range maxInFlight {
		if got := string(c.next(t)); got != "held" {
			t.Fatalf("reply = %q, want the held messages' replies", got)
		}
	}
	c.send(t, websocket.MessageText, []byte("again"))
	if got := string(c.next(t)); got != "again" {
		t.Errorf("reply = %q once the invocations returned, want the message invoked", got)
	}
}

func TestConnectionsRunConcurrently(t *testing.T) {
	release := make(chan struct{})
	inv := newFakeInvoker()
	inv.respond = func(_ context.Context, route string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if route == RouteDefault && req.Body == "block" {
			<-release
		}
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: req.Body}, nil
	}
	s := startGateway(t, Config{}, inv)
	a, b := dial(t, s, nil), dial(t, s, nil)
	a.send(t, websocket.MessageText, []byte("block"))
	next(t, inv.messages, "$default")
	b.send(t, websocket.MessageText, []byte("free"))
	if got := string(b.next(t)); got != "free" {
		t.Errorf("b got %q while a's message was still running", got)
	}
	close(release)
	if got := string(a.next(t)); got != "block" {
		t.Errorf("a got %q", got)
	}
}

func TestServerCloses(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		act        func(t *testing.T, c *client)
		within     time.Duration
		wantCode   websocket.StatusCode
		wantReason string
	}{
		{
			// 128 KB + 1 in frames of 32 KB, each within the frame limit:
			// the message limit (128 KB) closes the connection.
			name:     "message too big",
			cfg:      Config{},
			act:      func(t *testing.T, c *client) { c.sendInFrames(t, 128*1024+1, 32*1024) },
			within:   5 * time.Second,
			wantCode: websocket.StatusMessageTooBig, wantReason: "Message too big",
		},
		{
			name: "message over a configured limit",
			cfg:  Config{MaxMessageBytes: 10},
			act: func(t *testing.T, c *client) {
				c.send(t, websocket.MessageText, []byte("0123456789")) // at the limit: fine
				c.send(t, websocket.MessageText, []byte("0123456789A"))
			},
			within:   5 * time.Second,
			wantCode: websocket.StatusMessageTooBig, wantReason: "Message too big",
		},
		{
			name:     "idle timeout",
			cfg:      Config{IdleTimeout: 150 * time.Millisecond},
			act:      func(*testing.T, *client) {},
			within:   3 * time.Second,
			wantCode: websocket.StatusGoingAway, wantReason: "Going away",
		},
		{
			name: "lifetime despite activity",
			cfg:  Config{MaxLifetime: 300 * time.Millisecond},
			act: func(t *testing.T, c *client) {
				for range 4 {
					c.send(t, websocket.MessageText, []byte("busy"))
					time.Sleep(50 * time.Millisecond)
				}
			},
			within:   3 * time.Second,
			wantCode: websocket.StatusGoingAway, wantReason: "Going away",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newFakeInvoker()
			s := startGateway(t, tt.cfg, inv)
			c := dial(t, s, nil)
			conn := next(t, inv.connects, "$connect")
			tt.act(t, c)
			code, reason := c.closeStatus(t, tt.within)
			if code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("close = %d %q, want %d %q", code, reason, tt.wantCode, tt.wantReason)
			}
			d := next(t, inv.disconnects, "$disconnect")
			checkDisconnect(t, d, conn.RequestContext.ConnectionID, int(tt.wantCode), tt.wantReason)
			none(t, inv.disconnects, 100*time.Millisecond, "second $disconnect")
		})
	}
}

func TestActivityDefersIdleTimeout(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{IdleTimeout: 200 * time.Millisecond}, inv)
	c := dial(t, s, nil)
	for range 8 { // 400ms of traffic, never 200ms apart
		c.send(t, websocket.MessageText, []byte("keepalive"))
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-c.closed:
		t.Fatalf("connection closed despite activity: %v", err)
	default:
	}
	if code, _ := c.closeStatus(t, 3*time.Second); code != websocket.StatusGoingAway {
		t.Errorf("close = %d, want 1001 once idle", code)
	}
}

// TestPingsDoNotDeferIdleTimeout: API Gateway's idle timeout counts
// messages only; control frames do not keep a connection open (DEPLOY's
// parity table, "Idle timeout"). The server still answers every ping.
func TestPingsDoNotDeferIdleTimeout(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{IdleTimeout: 300 * time.Millisecond}, inv)
	c := dial(t, s, nil)
	pings := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.conn.Ping(ctx)
		cancel()
		if err != nil {
			break
		}
		pings++
		if pings > 100 {
			t.Fatal("still open after 100 pings 50 ms apart, past three idle timeouts")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pings == 0 {
		t.Fatal("the first ping got no pong")
	}
	if code, _ := c.closeStatus(t, 3*time.Second); code != websocket.StatusGoingAway {
		t.Errorf("close = %d, want 1001 once idle despite pings", code)
	}
}

func TestClientCloses(t *testing.T) {
	tests := []struct {
		name       string
		code       websocket.StatusCode
		reason     string
		wantCode   int
		wantReason string
	}{
		{"normal", websocket.StatusNormalClosure, "bye", 1000, "bye"},
		{"going away", websocket.StatusGoingAway, "", 1001, ""},
		{"no status", websocket.StatusNoStatusRcvd, "", 1005, "Client-side close frame status not set"},
		{"dropped", -1, "", 1006, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newFakeInvoker()
			s := startGateway(t, Config{}, inv)
			c := dial(t, s, nil)
			id := next(t, inv.connects, "$connect").RequestContext.ConnectionID
			if tt.code < 0 {
				_ = c.conn.CloseNow()
			} else {
				_ = c.conn.Close(tt.code, tt.reason)
			}
			d := next(t, inv.disconnects, "$disconnect")
			checkDisconnect(t, d, id, tt.wantCode, tt.wantReason)
			none(t, inv.disconnects, 100*time.Millisecond, "second $disconnect")
			if n := s.ConnectionCount(); n != 0 {
				t.Errorf("ConnectionCount = %d after close", n)
			}
		})
	}
}

func checkDisconnect(t *testing.T, d events.APIGatewayWebsocketProxyRequest, id string, code int, reason string) {
	t.Helper()
	rc := d.RequestContext
	if rc.ConnectionID != id || rc.RouteKey != RouteDisconnect || rc.EventType != EventDisconnect {
		t.Errorf("$disconnect for %q route %q type %q, want %q", rc.ConnectionID, rc.RouteKey, rc.EventType, id)
	}
	if rc.DisconnectStatusCode != int64(code) || rc.DisconnectReason == nil || *rc.DisconnectReason != reason {
		got := "<nil>"
		if rc.DisconnectReason != nil {
			got = *rc.DisconnectReason
		}
		t.Errorf("$disconnect status %d reason %q, want %d %q", rc.DisconnectStatusCode, got, code, reason)
	}
}

func TestShutdownDisconnectsEveryone(t *testing.T) {
	inv := newFakeInvoker()
	s, served := serveUnmanaged(t, inv)

	const n = 5
	clients := make([]*client, n)
	ids := map[string]bool{}
	for i := range clients {
		clients[i] = dial(t, s, nil)
		ids[next(t, inv.connects, "$connect").RequestContext.ConnectionID] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown returns after every $disconnect ran.
	for range n {
		select {
		case d := <-inv.disconnects:
			if !ids[d.RequestContext.ConnectionID] {
				t.Errorf("$disconnect for unknown or repeated id %q", d.RequestContext.ConnectionID)
			}
			delete(ids, d.RequestContext.ConnectionID)
			if d.RequestContext.DisconnectStatusCode != 1001 {
				t.Errorf("$disconnect status %d, want 1001", d.RequestContext.DisconnectStatusCode)
			}
		default:
			t.Fatalf("Shutdown returned before $disconnect ran for %v", ids)
		}
	}
	for i, c := range clients {
		if code, _ := c.closeStatus(t, 5*time.Second); code != websocket.StatusGoingAway {
			t.Errorf("client %d closed with %d, want 1001", i, code)
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v, want http.ErrServerClosed", err)
	}
	if _, _, err := tryDial(t, s.WebSocketURL(), nil, nil); err == nil {
		t.Error("dial after Shutdown succeeded")
	}
	none(t, inv.disconnects, 100*time.Millisecond, "extra $disconnect")
}

func TestListenAndServe(t *testing.T) {
	inv := newFakeInvoker()
	s := New(Config{Addr: "127.0.0.1:0"}, inv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for strings.HasSuffix(s.WebSocketURL(), ":0/ws") {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, s, nil)
	next(t, inv.connects, "$connect")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenAndServe = %v, want nil after cancel", err)
	}
	next(t, inv.disconnects, "$disconnect")
	if code, _ := c.closeStatus(t, 5*time.Second); code != websocket.StatusGoingAway {
		t.Errorf("close = %d, want 1001", code)
	}
}

func TestURLs(t *testing.T) {
	tests := []struct {
		addr, stage, wantWS, wantEndpoint string
	}{
		{"", "", "ws://127.0.0.1:3001/ws", "http://127.0.0.1:3001/ws"},
		{":4000", "dev", "ws://127.0.0.1:4000/dev", "http://127.0.0.1:4000/dev"},
		{"0.0.0.0:4000", "/prod/", "ws://127.0.0.1:4000/prod", "http://127.0.0.1:4000/prod"},
		{"localhost:5000", "ws", "ws://localhost:5000/ws", "http://localhost:5000/ws"},
	}
	for _, tt := range tests {
		t.Run(tt.addr+tt.stage, func(t *testing.T) {
			s := New(Config{Addr: tt.addr, Stage: tt.stage}, newFakeInvoker())
			if got := s.WebSocketURL(); got != tt.wantWS {
				t.Errorf("WebSocketURL = %q, want %q", got, tt.wantWS)
			}
			if got := s.Endpoint(); got != tt.wantEndpoint {
				t.Errorf("Endpoint = %q, want %q", got, tt.wantEndpoint)
			}
		})
	}
}

func TestInvokerPanicIsAnError(t *testing.T) {
	var once sync.Once
	inv := newFakeInvoker()
	inv.respond = func(_ context.Context, route string, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if route == RouteDefault {
			once.Do(func() { panic("handler bug") })
		}
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: "ok"}, nil
	}
	s := startGateway(t, Config{}, inv)
	c := dial(t, s, nil)
	c.send(t, websocket.MessageText, []byte("first"))
	if got := string(c.next(t)); !strings.Contains(got, "Internal server error") {
		t.Errorf("reply = %q, want the internal error frame", got)
	}
	c.send(t, websocket.MessageText, []byte("second"))
	if got := string(c.next(t)); got != "ok" {
		t.Errorf("reply = %q after a panic, want the connection to keep working", got)
	}
}

// logRecorder is a slog.Handler that keeps the records at Error level,
// and counts those at Warn level.
type logRecorder struct {
	mu    sync.Mutex
	errs  []string
	warns int
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelError {
		r.mu.Lock()
		r.warns++
		r.mu.Unlock()
		return nil
	}
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.errs = append(r.errs, b.String())
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) warnings() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.warns
}

func (r *logRecorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// TestOversizedRouteResponse: a route response over the 128 KB message
// payload quota is not delivered; the client gets the integration-failure
// frame and the gateway logs an error (which fails tests using
// startGateway's default logger).
func TestOversizedRouteResponse(t *testing.T) {
	for _, size := range []int{DefaultMaxMessageBytes, DefaultMaxMessageBytes + 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			inv := newFakeInvoker()
			inv.respond = func(_ context.Context, route string, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				if route != RouteDefault {
					return events.APIGatewayProxyResponse{StatusCode: 200}, nil
				}
				return events.APIGatewayProxyResponse{StatusCode: 200, Body: strings.Repeat("r", size)}, nil
			}
			rec := &logRecorder{}
			s := startGateway(t, Config{Logger: slog.New(rec)}, inv)
			c := dial(t, s, nil)
			c.send(t, websocket.MessageText, []byte("big please"))
			req := next(t, inv.messages, "$default")
			got := c.next(t)
			if size <= DefaultMaxMessageBytes {
				if len(got) != size {
					t.Errorf("reply of %d bytes, want %d", len(got), size)
				}
				if errs := rec.errors(); len(errs) > 0 {
					t.Errorf("errors logged for a reply at the limit: %q", errs)
				}
				return
			}
			want := fmt.Sprintf(`{"message": "Internal server error", "connectionId":%q, "requestId":%q}`, req.RequestContext.ConnectionID, req.RequestContext.RequestID)
			if string(got) != want {
				t.Errorf("client got %d bytes %.80q, want %q", len(got), got, want)
			}
			errs := rec.errors()
			if len(errs) != 1 || !strings.Contains(errs[0], "route response over the message payload limit") || !strings.Contains(errs[0], fmt.Sprintf("bytes=%d", size)) {
				t.Errorf("error logs = %q, want one about the oversized route response", errs)
			}
		})
	}
}
