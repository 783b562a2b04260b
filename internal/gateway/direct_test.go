package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// TestPostToConnection sends through the in-process path what
// TestManagementPostGetDelete and TestManagementErrors send over HTTP, and
// expects the same frames and outcomes.
func TestPostToConnection(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id := connected(t, s, inv)
	ctx := context.Background()

	before := time.Now()
	if err := s.PostToConnection(ctx, id, []byte(`{"type":"notification"}`)); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := string(c.next(t)); got != `{"type":"notification"}` {
		t.Errorf("client got %q", got)
	}
	if got := s.lookup(id).lastActiveAt(); got.Before(before) {
		t.Errorf("lastActiveAt = %v, want after the post at %v", got, before)
	}

	// Text when the data is valid UTF-8, binary otherwise, as for a POST.
	for _, tt := range []struct {
		data []byte
		want websocket.MessageType
	}{
		{[]byte("héllo"), websocket.MessageText},
		{[]byte{0xff, 0xfe, 0x00}, websocket.MessageBinary},
	} {
		typ, got := postTyped(t, s, inv, tt.data, s.PostToConnection)
		if typ != tt.want || !bytes.Equal(got, tt.data) {
			t.Errorf("PostToConnection(%q): client got %v %q, want %v", tt.data, typ, got, tt.want)
		}
	}

	atLimit := bytes.Repeat([]byte("a"), DefaultMaxMessageBytes)
	if err := s.PostToConnection(ctx, id, atLimit); err != nil {
		t.Fatalf("PostToConnection at the limit: %v", err)
	}
	if got := c.next(t); len(got) != DefaultMaxMessageBytes {
		t.Errorf("client got %d bytes, want %d", len(got), DefaultMaxMessageBytes)
	}
	if err := s.PostToConnection(ctx, id, make([]byte, DefaultMaxMessageBytes+1)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("oversized PostToConnection = %v, want ErrPayloadTooLarge", err)
	}
	// A refused payload leaves the connection open.
	if err := s.PostToConnection(ctx, id, []byte("still open")); err != nil {
		t.Fatalf("PostToConnection after an oversized one: %v", err)
	}
	if got := string(c.next(t)); got != "still open" {
		t.Errorf("client got %q", got)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.PostToConnection(cancelled, id, []byte("x")); !errors.Is(err, context.Canceled) || errors.Is(err, ErrGone) {
		t.Errorf("PostToConnection with a cancelled context = %v, want context.Canceled", err)
	}

	if err := s.PostToConnection(ctx, "R1kmxc2VNjMCFIA=", []byte("x")); !errors.Is(err, ErrGone) {
		t.Errorf("PostToConnection to an unknown id = %v, want ErrGone", err)
	}
	if status, _, _ := manage(t, s, http.MethodDelete, id, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", status)
	}
	if err := s.PostToConnection(ctx, id, []byte("late")); !errors.Is(err, ErrGone) {
		t.Errorf("PostToConnection after DELETE = %v, want ErrGone", err)
	}
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, reasonDeleted)
}

// TestPostToConnectionClosedByClient: once the client has closed, posts
// fail with ErrGone.
func TestPostToConnectionClosedByClient(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id := connected(t, s, inv)
	if err := c.conn.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, "bye")
	if err := s.PostToConnection(context.Background(), id, []byte("late")); !errors.Is(err, ErrGone) {
		t.Errorf("PostToConnection after the client closed = %v, want ErrGone", err)
	}
}

// TestPostToConnectionIgnoresFaults: ManagementFault applies to the HTTP
// Management API only.
func TestPostToConnectionIgnoresFaults(t *testing.T) {
	var calls atomic.Int32
	inv := newFakeInvoker()
	s := startGateway(t, Config{ManagementFault: func(*http.Request) (int, time.Duration) {
		calls.Add(1)
		return http.StatusInternalServerError, 0
	}}, inv)
	c, id := connected(t, s, inv)
	if status, _, _ := manage(t, s, http.MethodPost, id, []byte("over HTTP")); status != http.StatusInternalServerError {
		t.Fatalf("POST = %d, want the injected 500", status)
	}
	if err := s.PostToConnection(context.Background(), id, []byte("direct")); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := string(c.next(t)); got != "direct" {
		t.Errorf("client got %q, want only the direct post", got)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("ManagementFault called %d times, want 1 (the HTTP POST)", n)
	}
}

// TestPostToConnectionConcurrent: posts from many goroutines to many
// connections, mixed with POSTs over HTTP and route responses to the same
// connections, each arrive once and whole.
func TestPostToConnectionConcurrent(t *testing.T) {
	const conns, posts = 20, 50
	inv := newFakeInvoker()
	inv.respond = func(_ context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if routeKey == RouteDefault {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: "reply:" + req.Body}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	s := startGateway(t, Config{}, inv)
	clients := make([]*client, conns)
	ids := make([]string, conns)
	for i := range clients {
		clients[i], ids[i] = connected(t, s, inv)
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns*posts)
	for i := range conns {
		for k := range posts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := []byte(fmt.Sprintf("c%d-m%d", i, k))
				if k%10 == 0 {
					if status, _, _ := manage(t, s, http.MethodPost, ids[i], msg); status != http.StatusOK {
						errs <- fmt.Errorf("POST %s = %d", msg, status)
					}
					return
				}
				if err := s.PostToConnection(context.Background(), ids[i], msg); err != nil {
					errs <- err
				}
			}()
		}
		clients[i].send(t, websocket.MessageText, []byte("ping"))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, c := range clients {
		seen := map[string]bool{}
		for range posts + 1 {
			seen[string(c.next(t))] = true
		}
		for k := range posts {
			if msg := fmt.Sprintf("c%d-m%d", i, k); !seen[msg] {
				t.Errorf("connection %d did not get %q", i, msg)
			}
		}
		if !seen["reply:ping"] {
			t.Errorf("connection %d did not get its route response", i)
		}
		select {
		case m := <-c.messages:
			t.Errorf("connection %d got an extra message %q", i, m)
		default:
		}
	}
}

// TestWriteTimeout: a client that stops reading gets POSTs over HTTP
// refused with 429 once the socket buffers and the connection's backlog
// are full, the connection staying open; the write timeout, the last
// resort for a stuck socket, then closes it without a close frame:
// $disconnect reports 1006 and later posts get 410.
func TestWriteTimeout(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	s.writeTimeout = time.Second
	ctx, id, _ := silentClient(t, s, inv)

	frame := bytes.Repeat([]byte("x"), DefaultMaxMessageBytes)
	for n := 0; ; n++ {
		status, hdr, body := manage(t, s, http.MethodPost, id, frame)
		if status == http.StatusOK {
			if n > 10000 {
				t.Fatal("1.3 GB posted to a client that does not read")
			}
			continue
		}
		if status != http.StatusTooManyRequests || hdr.Get("x-amzn-ErrorType") != "LimitExceededException" {
			t.Fatalf("POST %d = %d %q %s, want 429 LimitExceededException before the write timeout", n, status, hdr.Get("x-amzn-ErrorType"), body)
		}
		break
	}
	req := next(t, inv.disconnects, "$disconnect")
	if code := req.RequestContext.DisconnectStatusCode; code != statusAbnormal {
		t.Errorf("$disconnect status = %d, want %d", code, statusAbnormal)
	}
	if status, hdr, _ := manage(t, s, http.MethodPost, id, []byte("late")); status != http.StatusGone {
		t.Errorf("POST after the timeout = %d %q, want 410", status, hdr.Get("x-amzn-ErrorType"))
	}
	if err := s.PostToConnection(ctx, id, []byte("late")); !errors.Is(err, ErrGone) {
		t.Errorf("PostToConnection after the timeout = %v, want ErrGone", err)
	}
}

// silentClient connects a client that does not read until the test reads
// from it, and returns a context for the test's posts, the connection's
// id and the client's end.
func silentClient(t *testing.T, s *Server, inv *fakeInvoker) (context.Context, string, *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, s.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return ctx, next(t, inv.connects, "$connect").RequestContext.ConnectionID, conn
}

// TestSlowClientBacklog: posts, in process or over HTTP, never wait on a
// client; to one that does not read, they are accepted until its backlog
// passes maxBacklogBytes, then refused with ErrLimitExceeded (429
// LimitExceededException over HTTP), and the connection stays open. Once
// the client reads again it gets every accepted message, in order, and
// posts are accepted again.
func TestSlowClientBacklog(t *testing.T) {
	for _, overHTTP := range []bool{false, true} {
		t.Run(map[bool]string{false: "in process", true: "over HTTP"}[overHTTP], func(t *testing.T) {
			inv := newFakeInvoker()
			s := startGateway(t, Config{}, inv)
			ctx, id, conn := silentClient(t, s, inv)
			post := func(data []byte) error {
				if !overHTTP {
					return s.PostToConnection(ctx, id, data)
				}
				switch status, hdr, body := manage(t, s, http.MethodPost, id, data); {
				case status == http.StatusOK:
					return nil
				case status == http.StatusTooManyRequests && hdr.Get("x-amzn-ErrorType") == "LimitExceededException" &&
					string(body) == `{"message":"`+BufferFullMessage+`"}`:
					return ErrLimitExceeded
				default:
					return fmt.Errorf("POST = %d %q %s", status, hdr.Get("x-amzn-ErrorType"), body)
				}
			}
			frame := func(n int) []byte { // under the client's 32 KiB read limit
				return append(fmt.Appendf(nil, "%08d", n), bytes.Repeat([]byte("x"), 16<<10)...)
			}
			accepted := 0
			for ; ; accepted++ {
				err := post(frame(accepted))
				if err == nil {
					if accepted > 100000 {
						t.Fatal("1.6 GB posted to a client that does not read")
					}
					continue
				}
				if !errors.Is(err, ErrLimitExceeded) {
					t.Fatalf("post %d: %v, want ErrLimitExceeded", accepted, err)
				}
				break
			}
			// What the socket took plus the backlog: no more than a few MiB.
			if max := 64 << 20; accepted*len(frame(0)) > max {
				t.Errorf("%d bytes accepted before the backlog limit, want under %d", accepted*len(frame(0)), max)
			}
			if status, _, body := manage(t, s, http.MethodGet, id, nil); status != http.StatusOK {
				t.Fatalf("GET with the backlog full = %d %s, want 200 (still open)", status, body)
			}
			for n := range accepted {
				_, got, err := conn.Read(ctx)
				if err != nil {
					t.Fatalf("read %d of %d: %v", n, accepted, err)
				}
				if !bytes.Equal(got, frame(n)) {
					t.Fatalf("message %d starts %q, want %q", n, got[:min(len(got), 8)], frame(n)[:8])
				}
			}
			if err := post([]byte("after the backlog")); err != nil {
				t.Fatalf("post once the client has read: %v", err)
			}
			if _, got, err := conn.Read(ctx); err != nil || string(got) != "after the backlog" {
				t.Fatalf("read = %q, %v", got, err)
			}
			if n := s.ConnectionCount(); n != 1 {
				t.Errorf("%d connections open, want 1", n)
			}
		})
	}
}

// postTyped posts data with post to a fresh connection of its own and
// returns the type and bytes of the message the client reads.
func postTyped(t *testing.T, s *Server, inv *fakeInvoker, data []byte, post func(ctx context.Context, id string, data []byte) error) (websocket.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	id := next(t, inv.connects, "$connect").RequestContext.ConnectionID
	if err := post(ctx, id, data); err != nil {
		t.Fatalf("post %q: %v", data, err)
	}
	typ, got, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, "")
	return typ, got
}
