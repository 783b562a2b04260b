package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/protocol/protocoltest"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// frame is a decoded server frame.
type frame struct {
	Type      string          `json:"type"`
	Channel   string          `json:"channel"`
	Payload   json.RawMessage `json:"payload"`
	UserID    string          `json:"userId"`
	MessageID string          `json:"messageId"`
	ReplyTo   string          `json:"replyTo"`
	Timestamp string          `json:"timestamp"`
	// Offset and Epoch place an update in its channel's history (channels
	// with history only).
	Offset int64  `json:"offset"`
	Epoch  string `json:"epoch"`

	size int // bytes on the wire
}

func (f frame) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(f.Payload, &p)
	return p.Code
}

// describeFrames lists frames for a failure message.
func describeFrames(fs []frame) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s %s", f.Type, f.Channel, f.Payload)
	}
	return b.String()
}

// spec is the protocol document every client checks its frames against.
var spec = sync.OnceValues(protocoltest.Default)

// client is the WebSocket test client of every end-to-end test: a real
// connection with a reader goroutine. Every frame it writes and reads is
// checked against docs/asyncapi.yaml (package protocoltest); a frame that
// does not match fails the test when it ends. Requests that a test sends
// malformed on purpose go through bad() (or sendRaw), which skips the
// check of the request but still checks the server's reply.
//
// Frames the reader receives wait in a queue: next takes the oldest,
// await the oldest one a match accepts (leaving the others queued). A
// reply to a request sent with sendAsync or roundTrip goes straight to
// its caller instead. The methods that take a context return errors
// instead of failing the test, for load tests that call them from their
// own goroutines; the others fail the test and must be called from it.
type client struct {
	t     *testing.T
	name  string
	nonce string // makes this connection's message ids unique, as UUIDs would
	conn  *websocket.Conn
	conv  *protocoltest.Conversation
	seq   atomic.Int64
	id    string // connection id, when the dialler asked for it (presDial)

	// wait bounds next and await. Default 10s.
	wait time.Duration
	// clock, when set, moves on 100 ms before each write, so that a test
	// of many requests stays within the rate limit. Default nil.
	clock *storetest.FakeClock
	// sized makes every frame read fail the test when over the 128 KB of
	// a reply, and every request when over the 32 KB of a client frame.
	sized bool
	// unchecked makes the next request skip the schema check (see bad).
	unchecked atomic.Bool
	// report receives the schema failures when the test ends. Default the
	// test itself.
	report testing.TB

	mu      sync.Mutex
	waiters map[string]chan frame // replies routed to roundTrip callers
	queue   []frame
	signal  chan struct{} // receives a value when a frame is queued
	done    chan struct{} // closed when the connection ends
	closed  chan error    // receives the error that ended the connection
}

// nonces numbers the test connections.
var nonces atomic.Int64

// connect opens a connection to srv with query q and dial options opts
// (nil for none) and starts its reader. It returns the handshake's
// response when the handshake failed. The connection is closed, and its
// frames' schema errors reported, when t ends.
func connect(ctx context.Context, t *testing.T, srv *devserver.Server, name string, q url.Values, opts *websocket.DialOptions) (*client, *http.Response, error) {
	return connectURL(ctx, t, srv.WebSocketURL(), name, q, opts)
}

func connectURL(ctx context.Context, t *testing.T, u, name string, q url.Values, opts *websocket.DialOptions) (*client, *http.Response, error) {
	s, err := spec()
	if err != nil {
		return nil, nil, fmt.Errorf("load the protocol schema: %w", err)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u, opts)
	if err != nil {
		return nil, resp, fmt.Errorf("dial %s: %w", name, err)
	}
	conn.SetReadLimit(1 << 20)
	c := &client{t: t, name: name, nonce: fmt.Sprintf("%x", nonces.Add(1)), conn: conn, conv: s.NewConversation(),
		wait: 10 * time.Second, waiters: map[string]chan frame{},
		signal: make(chan struct{}, 1), done: make(chan struct{}), closed: make(chan error, 1)}
	go c.read()
	t.Cleanup(func() {
		c.conn.Close(websocket.StatusNormalClosure, "")
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
		if c.report != nil {
			c.checkConversation(c.report)
		} else {
			c.checkConversation(t)
		}
	})
	return c, resp, nil
}

// checkConversation fails t with the frames that did not match the
// protocol schema.
func (c *client) checkConversation(t testing.TB) {
	t.Helper()
	for _, err := range c.conv.Errors() {
		t.Errorf("%s: frame does not match docs/asyncapi.yaml: %v", c.name, err)
	}
}

// dial connects user (username its upper case) in development mode.
func dial(t *testing.T, srv *devserver.Server, user string) *client {
	t.Helper()
	c, resp, err := connect(context.Background(), t, srv, user, url.Values{"userId": {user}, "username": {strings.ToUpper(user)}}, nil)
	if err != nil {
		t.Fatalf("%v (resp %v)", err, resp)
	}
	return c
}

func (c *client) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.closed <- err
			return
		}
		_ = c.conv.Received(data) // failures are reported when the test ends
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			f = frame{Type: "raw:" + string(data)}
		}
		f.size = len(data)
		c.mu.Lock()
		if w, ok := c.waiters[f.ReplyTo]; ok && f.ReplyTo != "" {
			delete(c.waiters, f.ReplyTo)
			c.mu.Unlock()
			w <- f
			continue
		}
		c.queue = append(c.queue, f)
		c.mu.Unlock()
		select {
		case c.signal <- struct{}{}:
		default:
		}
	}
}

// bad marks the next request as malformed on purpose: it is sent without
// the schema check (its reply is still checked). It returns c, as in
// c.bad().request(...).
func (c *client) bad() *client {
	c.unchecked.Store(true)
	return c
}

// write sends data as one text frame, checking it against the schema
// unless checked is false or bad() marked it.
func (c *client) write(ctx context.Context, data []byte, checked bool) error {
	if c.unchecked.Swap(false) || !checked {
		c.conv.SentUnchecked(data)
	} else {
		_ = c.conv.Sent(data) // failures are reported when the test ends
	}
	if c.clock != nil {
		c.clock.Advance(100 * time.Millisecond)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.conn.Write(wctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("%s write: %w", c.name, err)
	}
	return nil
}

// sendRaw sends data as one text frame, unchecked: raw frames are
// malformed on purpose.
func (c *client) sendRaw(data string) {
	c.t.Helper()
	if err := c.write(context.Background(), []byte(data), false); err != nil {
		c.t.Fatal(err)
	}
}

// sendValid sends data, a well-formed request written by hand, as one
// text frame, checked against the schema.
func (c *client) sendValid(data string) {
	c.t.Helper()
	if err := c.write(context.Background(), []byte(data), true); err != nil {
		c.t.Fatal(err)
	}
}

// nextID returns a fresh messageId.
func (c *client) nextID() string { return fmt.Sprintf("%s-%s-%d", c.name, c.nonce, c.seq.Add(1)) }

// encode builds a request frame.
func (c *client) encode(typ, channel, messageID string, payload any, extra map[string]any) ([]byte, error) {
	m := map[string]any{"type": typ, "messageId": messageID}
	if !c.sized { // sized requests are measured to the byte without it
		m["timestamp"] = time.Now().UTC().Format(time.RFC3339)
	}
	if channel != "" {
		m["channel"] = channel
	}
	if payload != nil {
		m["payload"] = payload
	}
	for k, v := range extra {
		m[k] = v
	}
	return json.Marshal(m)
}

// send sends a request with extra envelope members and returns its
// messageId; its reply is queued.
func (c *client) send(typ, channel string, payload any, extra map[string]any) string {
	c.t.Helper()
	id := c.nextID()
	b, err := c.encode(typ, channel, id, payload, extra)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.sized && len(b) > protocol.MaxClientFrameBytes {
		c.t.Fatalf("%s %s: request of %d bytes, over the %d of a client frame", c.name, typ, len(b), protocol.MaxClientFrameBytes)
	}
	if err := c.write(context.Background(), b, true); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// take removes and returns the oldest queued frame that match accepts,
// waiting up to c.wait; ok is false on timeout, err set when the
// connection ended first.
func (c *client) take(match func(frame) bool) (f frame, ok bool, err error) {
	deadline := time.NewTimer(c.wait)
	defer deadline.Stop()
	ended := false
	for {
		c.mu.Lock()
		for i, f := range c.queue {
			if c.sized && f.size > protocol.MaxFrameBytes {
				c.mu.Unlock()
				return f, false, fmt.Errorf("%s frame of %d bytes, over %d", f.Type, f.size, protocol.MaxFrameBytes)
			}
			if match(f) {
				c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
				c.mu.Unlock()
				return f, true, nil
			}
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-c.done:
			if ended { // scanned once more after the reader ended
				return frame{}, false, errClosed
			}
			ended = true
		case <-deadline.C:
			return frame{}, false, nil
		}
	}
}

// await returns the oldest queued frame that match accepts; the others
// stay queued.
func (c *client) await(match func(frame) bool, what string) frame {
	c.t.Helper()
	f, ok, err := c.take(match)
	if err != nil {
		c.t.Fatalf("%s: %v while waiting for %s", c.name, err, what)
	}
	if !ok {
		c.t.Fatalf("%s: no %s within %s; queued %s", c.name, what, c.wait, describeFrames(c.pending()))
	}
	return f
}

// pending returns a copy of the queued frames.
func (c *client) pending() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frame(nil), c.queue...)
}

// next returns the oldest queued frame.
func (c *client) next() frame {
	c.t.Helper()
	return c.await(func(frame) bool { return true }, "frame")
}

// request sends a request and returns its reply; it fails on frames that
// arrive in between.
func (c *client) request(typ, channel string, payload any) frame {
	c.t.Helper()
	return c.requestExtra(typ, channel, payload, nil)
}

// requestExtra sends a request with extra envelope members and returns its
// reply.
func (c *client) requestExtra(typ, channel string, payload any, extra map[string]any) frame {
	c.t.Helper()
	id := c.send(typ, channel, payload, extra)
	f := c.next()
	if f.ReplyTo != id {
		c.t.Fatalf("%s: got %+v while waiting for the reply to %s", c.name, f, id)
	}
	return f
}

func (c *client) mustAck(typ, channel string, payload any) frame {
	c.t.Helper()
	f := c.request(typ, channel, payload)
	if f.Type != "ack" {
		c.t.Fatalf("%s %s: got %s %s %s", c.name, typ, f.Type, f.code(), f.Payload)
	}
	return f
}

// quiet asserts no frame is pending: a ping's pong must be the next frame.
func (c *client) quiet() {
	c.t.Helper()
	f := c.request("ping", "", nil)
	if f.Type != "pong" {
		c.t.Fatalf("%s: expected pong, got %+v", c.name, f)
	}
}

// call sends a request and returns its reply, keeping other frames queued.
func (c *client) call(typ, channel string, payload any) frame {
	c.t.Helper()
	id := c.send(typ, channel, payload, nil)
	return c.await(func(f frame) bool { return f.ReplyTo == id }, "reply to "+id)
}

// ok sends a request and requires an ack (or pong).
func (c *client) ok(typ, channel string, payload any) frame {
	c.t.Helper()
	f := c.call(typ, channel, payload)
	if f.Type != "ack" && f.Type != "pong" {
		c.t.Fatalf("%s %s: got %s %s %.300s", c.name, typ, f.Type, f.code(), f.Payload)
	}
	return f
}

// fails sends a request and requires an error with code.
func (c *client) fails(typ, channel string, payload any, code string) {
	c.t.Helper()
	if f := c.call(typ, channel, payload); f.Type != "error" || f.code() != code {
		c.t.Fatalf("%s %s: got %s %s %.300s, want error %s", c.name, typ, f.Type, f.code(), f.Payload, code)
	}
}

// none fails if a frame that matches has arrived by the time a ping is
// answered.
func (c *client) none(match func(frame) bool, what string) {
	c.t.Helper()
	c.ok("ping", "", nil)
	for _, f := range c.pending() {
		if match(f) {
			c.t.Fatalf("%s: unexpected %s: %s %s %s", c.name, what, f.Type, f.Channel, f.Payload)
		}
	}
}

// forget drops the queued frames.
func (c *client) forget() { c.takeEvents() }

// errClosed is returned by requests whose connection ended first.
var errClosed = errors.New("connection closed")

// sendAsync sends a request with messageID and returns a channel that
// receives its reply (which is not queued).
func (c *client) sendAsync(ctx context.Context, typ, channel, messageID string, payload any) (<-chan frame, error) {
	b, err := c.encode(typ, channel, messageID, payload, nil)
	if err != nil {
		return nil, err
	}
	ch := make(chan frame, 1)
	c.mu.Lock()
	c.waiters[messageID] = ch
	c.mu.Unlock()
	if err := c.write(ctx, b, true); err != nil {
		c.mu.Lock()
		delete(c.waiters, messageID)
		c.mu.Unlock()
		return nil, fmt.Errorf("%s %s: %w", c.name, typ, err)
	}
	return ch, nil
}

// roundTrip sends a request with messageID ("" for a fresh one) and waits
// for its reply.
func (c *client) roundTrip(ctx context.Context, typ, channel, messageID string, payload any) (frame, error) {
	if messageID == "" {
		messageID = c.nextID()
	}
	ch, err := c.sendAsync(ctx, typ, channel, messageID, payload)
	if err != nil {
		return frame{}, err
	}
	select {
	case f := <-ch:
		return f, nil
	case <-c.done:
		return frame{}, fmt.Errorf("%s %s: %w", c.name, typ, errClosed)
	case <-time.After(20 * time.Second):
		return frame{}, fmt.Errorf("%s %s: no reply within 20s", c.name, typ)
	case <-ctx.Done():
		return frame{}, ctx.Err()
	}
}

// takeEvents removes and returns the queued frames.
func (c *client) takeEvents() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.queue
	c.queue = nil
	return out
}

// waitEvent waits up to d for a queued frame that match accepts, removing
// it and every frame before it from the queue.
func (c *client) waitEvent(d time.Duration, match func(frame) bool) (frame, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i, f := range c.queue {
			if match(f) {
				c.queue = c.queue[i+1:]
				c.mu.Unlock()
				return f, true
			}
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-deadline.C:
			return frame{}, false
		}
	}
}

// close closes the connection normally.
func (c *client) close() { c.conn.Close(websocket.StatusNormalClosure, "") }

// drop ends the connection abruptly, as a lost network would.
func (c *client) drop() {
	c.conn.CloseNow()
	// The reader ends with the connection: wait, so that done tells a
	// dropped connection from a live one as soon as drop returns.
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// dialQuery connects with query q. It returns the handshake's HTTP status
// and, when the handshake succeeded, the client.
func dialQuery(t *testing.T, srv *devserver.Server, name string, q url.Values) (*client, int) {
	t.Helper()
	c, resp, err := connect(context.Background(), t, srv, name, q, nil)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.StatusCode
	}
	return c, http.StatusSwitchingProtocols
}

// mustDialQuery dials and fails the test unless the handshake succeeds.
func mustDialQuery(t *testing.T, srv *devserver.Server, name string, q url.Values) *client {
	t.Helper()
	c, status := dialQuery(t, srv, name, q)
	if c == nil {
		t.Fatalf("dial %s: handshake status %d", name, status)
	}
	return c
}

// devDial connects in development mode as user of tenant.
func devDial(t *testing.T, srv *devserver.Server, user, tenant string, roles ...string) *client {
	t.Helper()
	q := url.Values{"userId": {user}, "username": {strings.ToUpper(user)}, "tenant": {tenant}}
	if len(roles) > 0 {
		q.Set("roles", strings.Join(roles, ","))
	}
	return mustDialQuery(t, srv, user, q)
}

// presDial connects user (username capitalised) with extra query
// parameters (roles, tenant) and learns its connection id (c.id).
func presDial(t *testing.T, srv *presServer, user string, q url.Values) *client {
	t.Helper()
	if q == nil {
		q = url.Values{}
	}
	q.Set("userId", user)
	q.Set("username", strings.ToUpper(user[:1])+user[1:])
	c := mustDialQuery(t, srv.Server, user, q)
	var h struct {
		ConnectionID string `json:"connectionId"`
	}
	if err := json.Unmarshal(c.ok("hello", "", nil).Payload, &h); err != nil || h.ConnectionID == "" {
		t.Fatalf("%s hello: %v", user, err)
	}
	c.id = h.ConnectionID
	return c
}

// sizedDial connects user as presDial does, without the hello, for tests
// of reply sizes: every frame read must fit in 128 KB and every request in
// 32 KB, and srv's clock moves on before each request to stay within the
// rate limit.
func sizedDial(t *testing.T, srv *presServer, user string, q url.Values) *client {
	t.Helper()
	if q == nil {
		q = url.Values{}
	}
	q.Set("userId", user)
	if q.Get("username") == "" {
		q.Set("username", strings.ToUpper(user))
	}
	c := mustDialQuery(t, srv.Server, user, q)
	c.clock, c.sized, c.wait = srv.clock, true, 15*time.Second
	return c
}

// edConnect connects user without failing t, for load tests that
// reconnect from their own goroutines.
func edConnect(ctx context.Context, t *testing.T, srv *devserver.Server, user string) (*client, error) {
	c, _, err := connect(ctx, t, srv, user, url.Values{"userId": {user}, "username": {strings.ToUpper(user)}}, nil)
	return c, err
}

// edDial connects user or fails t.
func edDial(t *testing.T, srv *devserver.Server, user string) *client {
	t.Helper()
	c, err := edConnect(context.Background(), t, srv, user)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
