package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSendKeepsEachSendersOrder: eight senders post to one connection at
// once, half queueing (as a post does) and half writing themselves when
// the connection is idle (as a route response does), so that messages
// queue behind a writer and leave in
// batches; the client gets every message once, and each sender's in the
// order it sent them.
func TestSendKeepsEachSendersOrder(t *testing.T) {
	const senders, posts = 8, 400
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id, sc := connectedConn(t, s, inv)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range posts {
				msg := fmt.Appendf(nil, "%d:%d", g, k)
				var err error
				if g%2 == 0 {
					err = s.PostToConnection(context.Background(), id, msg)
				} else {
					err = sc.send(websocket.MessageText, msg, true)
				}
				if err != nil {
					t.Errorf("sender %d post %d: %v", g, k, err)
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	for range senders * posts {
		msg := string(c.next(t))
		g, k, ok := strings.Cut(msg, ":")
		gi, err1 := strconv.Atoi(g)
		ki, err2 := strconv.Atoi(k)
		if !ok || err1 != nil || err2 != nil || gi < 0 || gi >= senders {
			t.Fatalf("unexpected message %q", msg)
		}
		if ki != next[gi] {
			t.Fatalf("sender %d: got message %d, want %d", gi, ki, next[gi])
		}
		next[gi]++
	}
	wg.Wait()
	select {
	case m := <-c.messages:
		t.Errorf("extra message %q", m)
	case <-time.After(50 * time.Millisecond):
	}
}

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestCorkedWritesLeaveTogether: what is written while the connection is
// corked reaches the socket as one write, in order, when it is uncorked;
// other writes go straight through.
func TestCorkedWritesLeaveTogether(t *testing.T) {
	cc := &countingConn{}
	g := &guardedConn{Conn: cc}
	if _, err := g.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	g.cork()
	for _, p := range []string{"b", "cd", "e"} {
		if n, err := g.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("corked Write(%q) = %d, %v", p, n, err)
		}
	}
	if len(cc.writes) != 1 {
		t.Fatalf("%d writes reached the socket while corked, want 1 (before the cork)", len(cc.writes))
	}
	if err := g.uncork(); err != nil {
		t.Fatal(err)
	}
	if err := g.uncork(); err != nil { // nothing held: no write
		t.Fatal(err)
	}
	if _, err := g.Write([]byte("f")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cc.writes {
		got = append(got, string(w))
	}
	if want := []string{"a", "bcde", "f"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("writes = %q, want %q", got, want)
	}
}

// TestQueuedMessagesShareOneWrite: messages that queue while the
// connection's writer is busy reach the socket in one write, and the
// client reads each as a message of its own, in order.
func TestQueuedMessagesShareOneWrite(t *testing.T) {
	const n = 50
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id, sc := connectedConn(t, s, inv)
	before := sc.raw.writes.Load()
	queueBehindBusyWriter(t, s, sc, id, n)
	go sc.writeQueued()
	for k := range n {
		if got, want := string(c.next(t)), fmt.Sprintf("m%d", k); got != want {
			t.Fatalf("message %d = %q, want %q", k, got, want)
		}
	}
	if w := sc.raw.writes.Load() - before; w != 1 {
		t.Errorf("%d messages took %d writes, want 1", n, w)
	}
}

// TestCloseFollowsQueuedMessages: a DELETE while messages wait for the
// writer closes the connection after them, with the close code it asks
// for; a post after it is refused.
func TestCloseFollowsQueuedMessages(t *testing.T) {
	const n = 20
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id, sc := connectedConn(t, s, inv)
	queueBehindBusyWriter(t, s, sc, id, n)
	if status, _, _ := manage(t, s, http.MethodDelete, id, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc.queueMu.Lock()
		queued := len(sc.queue) == n+1 && sc.queue[n].close
		sc.queueMu.Unlock()
		if queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the close was not queued behind the messages")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.PostToConnection(context.Background(), id, []byte("late")); !errors.Is(err, ErrGone) {
		t.Errorf("post after DELETE = %v, want ErrGone", err)
	}
	// A route response holds the connection itself: refused too.
	if err := sc.send(websocket.MessageText, []byte("late reply"), true); err == nil {
		t.Error("send after DELETE succeeded, want an error")
	}
	go sc.writeQueued()
	// The client's reader hands over every message before the close.
	var err error
	select {
	case err = <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open")
	}
	for k := range n {
		select {
		case m := <-c.messages:
			if got, want := string(m), fmt.Sprintf("m%d", k); got != want {
				t.Fatalf("message %d = %q, want %q", k, got, want)
			}
		default:
			t.Fatalf("closed after %d of %d messages", k, n)
		}
	}
	if code := websocket.CloseStatus(err); code != closeDeleted {
		t.Errorf("close status %d (%v), want %d", code, err, closeDeleted)
	}
}

// TestClientCloseWhileCorked: a client's close frame that arrives while
// the writer holds messages back (corked) is answered after them, not
// lost with them: the client's close handshake completes. (coder/websocket's
// client drops data frames that arrive during its own close handshake,
// so the messages themselves are not checked here.)
func TestClientCloseWhileCorked(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id, sc := connectedConn(t, s, inv)
	// Stand for a writer in the middle of a batch.
	sc.raw.cork()
	for _, m := range []string{"m0", "m1"} {
		if err := sc.ws.Write(context.Background(), websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	before := sc.raw.writes.Load()
	done := make(chan error, 1)
	go func() { done <- c.conn.Close(websocket.StatusNormalClosure, "bye") }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("client close handshake: %v (the close answer was held back)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client close did not complete")
	}
	if w := sc.raw.writes.Load() - before; w != 1 {
		t.Errorf("%d writes at close, want 1 (the held messages and the close answer)", w)
	}
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, "bye")
}

// connectedConn is connected, with the server's side of the connection
// once its handshake is done.
func connectedConn(t *testing.T, s *Server, inv *fakeInvoker) (*client, string, *conn) {
	t.Helper()
	c, id := connected(t, s, inv)
	sc := s.lookup(id)
	if sc == nil || !sc.await(context.Background()) || sc.raw == nil {
		t.Fatal("no hijacked connection for the client")
	}
	return c, id, sc
}

// queueBehindBusyWriter marks sc as being written to, so that posts queue
// (the test starts the writer itself), and posts "m0" to "m<n-1>".
func queueBehindBusyWriter(t *testing.T, s *Server, sc *conn, id string, n int) {
	t.Helper()
	sc.queueMu.Lock()
	sc.writing = true
	sc.queueMu.Unlock()
	for k := range n {
		if err := s.PostToConnection(context.Background(), id, fmt.Appendf(nil, "m%d", k)); err != nil {
			t.Fatal(err)
		}
	}
}
