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
		typ, got := postTyped(t, s, inv, tt.data)
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

// TestWriteTimeout: a client that stops reading makes POSTs over HTTP
// wait once the socket buffers and the connection's queue are full; the
// write timeout then closes the connection, the POST fails with 410 and
// $disconnect reports 1006.
func TestWriteTimeout(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	s.writeTimeout = 200 * time.Millisecond
	ctx, id := silentClient(t, s, inv)

	frame := bytes.Repeat([]byte("x"), DefaultMaxMessageBytes)
	start := time.Now()
	for n := 0; ; n++ {
		status, _, _ := manage(t, s, http.MethodPost, id, frame)
		if status == http.StatusOK {
			if n > 10000 {
				t.Fatal("1.3 GB posted to a client that does not read")
			}
			continue
		}
		if status != http.StatusGone {
			t.Fatalf("POST %d = %d, want 410", n, status)
		}
		break
	}
	if d := time.Since(start); d < s.writeTimeout {
		t.Errorf("POST failed after %v, before the write timeout", d)
	}
	req := next(t, inv.disconnects, "$disconnect")
	if code := req.RequestContext.DisconnectStatusCode; code != statusAbnormal {
		t.Errorf("$disconnect status = %d, want %d", code, statusAbnormal)
	}
	if err := s.PostToConnection(ctx, id, []byte("late")); !errors.Is(err, ErrGone) {
		t.Errorf("PostToConnection after the timeout = %v, want ErrGone", err)
	}
}

// silentClient connects a client that never reads and returns a context
// for the test's posts and the connection's id.
func silentClient(t *testing.T, s *Server, inv *fakeInvoker) (context.Context, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, s.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return ctx, next(t, inv.connects, "$connect").RequestContext.ConnectionID
}

// TestSlowClientBacklog: in-process posts never wait on a client; one
// that does not read is closed once its backlog passes maxBacklogBytes,
// long before the write timeout, and later posts fail with ErrGone.
func TestSlowClientBacklog(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	ctx, id := silentClient(t, s, inv)

	frame := bytes.Repeat([]byte("x"), 32<<10)
	posted := 0
	for {
		start := time.Now()
		err := s.PostToConnection(ctx, id, frame)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("post %d waited %v on a client that does not read", posted, d)
		}
		if err != nil {
			if !errors.Is(err, ErrGone) {
				t.Fatalf("post %d: %v, want ErrGone", posted, err)
			}
			break
		}
		if posted++; posted > 100000 {
			t.Fatal("3 GB posted to a client that does not read")
		}
	}
	// What the socket took plus the backlog: no more than a few MiB.
	if max := 64 << 20; posted*len(frame) > max {
		t.Errorf("%d bytes accepted before the backlog limit, want under %d", posted*len(frame), max)
	}
	req := next(t, inv.disconnects, "$disconnect")
	if code := req.RequestContext.DisconnectStatusCode; code != statusAbnormal {
		t.Errorf("$disconnect status = %d, want %d", code, statusAbnormal)
	}
	if err := s.PostToConnection(ctx, id, []byte("late")); !errors.Is(err, ErrGone) {
		t.Errorf("PostToConnection after the close = %v, want ErrGone", err)
	}
}

// postTyped posts data to a fresh connection of its own and returns the
// type and bytes of the message the client reads.
func postTyped(t *testing.T, s *Server, inv *fakeInvoker, data []byte) (websocket.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	id := next(t, inv.connects, "$connect").RequestContext.ConnectionID
	if err := s.PostToConnection(ctx, id, data); err != nil {
		t.Fatalf("PostToConnection(%q): %v", data, err)
	}
	typ, got, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, "")
	return typ, got
}
