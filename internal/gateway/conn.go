package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// Close statuses and reasons the gateway sends, as API Gateway does.
const (
	closeGoingAway       = websocket.StatusGoingAway       // idle timeout, lifetime, shutdown
	closeTooBig          = websocket.StatusMessageTooBig   // frame over MaxFrameBytes, message over MaxMessageBytes
	closeDeleted         = websocket.StatusNormalClosure   // Management API DELETE
	closeBinary          = websocket.StatusUnsupportedData // a binary message: API Gateway takes text frames only
	reasonGoingAway      = "Going away"
	reasonTooBig         = "Message too big"
	reasonBinary         = "Binary frames are not supported" // ours: AWS documents the code, not the reason
	reasonNoStatus       = "Client-side close frame status not set"
	reasonDeleted        = "Connection Closed Normally" // $disconnect's reason after a DELETE (the close frame's stays empty)
	statusAbnormal       = 1006                         // the socket ended without a close frame
	writeTimeout         = 10 * time.Second
	internalErrorMessage = "Internal server error"
	timeoutMessage       = "Endpoint request timed out"
	throttledMessage     = "Too Many Requests"
)

// maxInFlight bounds the $default invocations of one connection that run
// at once. API Gateway invokes the integration for every message on its
// own, as it arrives, and has no such bound (only its throttles, by rate,
// across the account and the stage); the local gateway needs one so that
// a client cannot make it hold an unbounded number of messages and
// goroutines. It lies well above what a client of ours has outstanding:
// the SDK sends in bursts of at most 32 (16 a second after them), so it
// has at most 192 requests waiting within its 10 s request timeout, and
// the server answers a connection's requests past bursts of 40 with
// RATE_LIMITED at once. A message past the bound is read (the connection
// goes on reading, so pings are answered and a close is seen) but not
// invoked: the client gets the "Too Many Requests" frame, as a message
// API Gateway throttles is refused with 429 Too Many Requests, and the
// connection stays open. At most maxInFlight messages of MaxMessageBytes
// each are held for one connection.
const maxInFlight = 256

// conn is one open WebSocket connection.
type conn struct {
	peer
	srv   *Server
	ready chan struct{}   // closed once the handshake is done, ws set or not
	ws    *websocket.Conn // nil until ready, and after a failed handshake

	lastActive atomic.Int64 // unix nanoseconds of the last message either way

	inFlight    atomic.Int32   // $default invocations running; only the read loop adds to it
	invocations sync.WaitGroup // the same, for the connection's goroutine to wait for
	refused     int            // messages refused since the last one invoked; read loop only

	writeTimer *time.Timer  // closes the connection when a write runs too long; used by the socket's holder (writing) only
	raw        *guardedConn // the hijacked connection, for sending queued messages in one write

	queueMu     sync.Mutex // guards the fields below
	room        sync.Cond  // signalled when the queue empties or the connection fails
	writing     bool       // a writer (writeQueued, or a sender writing itself) has the socket
	closing     bool       // a server-side close is under way: sends fail
	queue       []outMessage
	queuedBytes int
	writeErr    error         // the failed write that closed the connection
	wake        chan struct{} // tells a waiting writer that the queue has a message

	mu        sync.Mutex
	cause     *websocket.CloseError // why the gateway closed it; nil while open or closed by the client
	idleTimer *time.Timer
	lifeTimer *time.Timer
}

// serveWebSocket handles a handshake: $connect decides whether it is
// accepted; an accepted connection is then served on a goroutine of its
// own until it closes, and $disconnect runs once, without waiting for the
// connection's $default invocations still running (its id stays live
// until they return, so that Shutdown waits for them).
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Sec-WebSocket-Version", "13")
		writeJSONError(w, http.StatusUpgradeRequired, "", "Upgrade Required")
		return
	}
	// A request the WebSocket library would refuse after $connect is
	// refused before it: no integration runs for a connection that cannot
	// open.
	if status := handshakeFault(r); status != 0 {
		s.log.Info("malformed WebSocket handshake refused", "status", status, "version", r.Header.Get("Sec-WebSocket-Version"))
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		writeJSONError(w, status, "", http.StatusText(status))
		return
	}
	if !s.admitConnection(time.Now()) {
		// API Gateway's account quota of new connections a second.
		writeJSONError(w, http.StatusTooManyRequests, "", "Too Many Requests")
		return
	}
	id, ok := s.reserveID()
	if !ok {
		writeJSONError(w, http.StatusServiceUnavailable, "", "Service Unavailable")
		return
	}
	served := false // the connection's goroutine releases the id instead
	defer func() {
		if !served {
			s.release(id, false)
		}
	}()

	now := time.Now()
	p := peer{id: id, connectedAt: now, domainName: r.Host, sourceIP: clientIP(r), userAgent: r.UserAgent()}
	req := s.connectEvent(&p, r, now)
	log := s.log.With("connectionId", id)
	resp, err := s.invoke(RouteConnect, req)
	switch {
	case errors.Is(err, errIntegrationTimeout):
		log.Warn("$connect timed out", "error", err)
		writeJSONError(w, http.StatusGatewayTimeout, "", timeoutMessage)
		return
	case err != nil:
		log.Warn("$connect failed", "error", err)
		writeJSONError(w, http.StatusInternalServerError, "", internalErrorMessage)
		return
	case resp.StatusCode != 0 && (resp.StatusCode < 200 || resp.StatusCode > 299):
		log.Info("$connect refused the connection", "status", resp.StatusCode)
		writeProxyResponse(w, resp)
		return
	}

	// Register before the handshake completes, so that the Management API
	// knows the connection as soon as the client does; calls for it wait
	// for ready.
	c := &conn{peer: p, srv: s, ready: make(chan struct{})}
	c.room.L = &c.queueMu
	c.wake = make(chan struct{}, 1)
	c.touch()
	if !s.register(c) {
		close(c.ready)
		writeJSONError(w, http.StatusServiceUnavailable, "", "Service Unavailable")
		s.disconnect(&p, int(closeGoingAway), reasonGoingAway)
		return
	}
	opts := &websocket.AcceptOptions{
		// API Gateway checks no origin: the $connect route may.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	}
	// As API Gateway's pages describe it, the gateway sends back the
	// Sec-WebSocket-Protocol header $connect returned. It goes unchanged
	// and unchecked against what the client offered (AWS documents no
	// such check), so that a client fails a handshake whose subprotocol
	// it did not offer (RFC 6455, 4.1) here as a browser would. Accept
	// keeps a header set before it; opts.Subprotocols stays empty, as
	// Accept would answer with the client's spelling of a match, or with
	// nothing.
	proto := header(resp, "Sec-WebSocket-Protocol")
	if proto != "" {
		w.Header().Set("Sec-WebSocket-Protocol", proto)
	}
	// Say in the log why the client will fail the handshake. Browsers also
	// fail one that offered subprotocols and got none back. The offered
	// values are not logged: one may carry a token.
	offered := r.Header.Values("Sec-WebSocket-Protocol")
	n := 0
	if len(offered) > 0 {
		n = len(strings.Split(strings.Join(offered, ","), ","))
	}
	switch {
	case proto != "" && !headerHasToken(r.Header, "Sec-WebSocket-Protocol", proto):
		log.Warn("$connect selected a subprotocol the client did not offer: clients fail this handshake", "selected", proto, "offered", n)
	case proto == "" && n > 0:
		log.Warn("$connect selected no subprotocol the client offered: browsers fail this handshake", "offered", n)
	}
	// The client's frames are read through a frameGuard: a frame over
	// MaxFrameBytes closes the connection as API Gateway closes it.
	fw := &frameLimitWriter{ResponseWriter: w, limit: s.cfg.MaxFrameBytes, tooBig: func() {
		log.Info("frame over the frame size limit: closing", "limit", s.cfg.MaxFrameBytes)
		c.closeWith(closeTooBig, reasonTooBig)
	}}
	ws, err := websocket.Accept(fw, r, opts)
	if err != nil {
		close(c.ready)
		s.unregister(c)
		// $connect has run: let the integration forget the connection.
		log.Warn("handshake failed after $connect", "error", err)
		s.disconnect(&p, statusAbnormal, "")
		return
	}
	ws.SetReadLimit(-1) // the read loop enforces MaxMessageBytes itself
	c.ws = ws
	c.raw = fw.conn
	close(c.ready)
	c.startTimers()
	log.Debug("connected", "sourceIp", p.sourceIP)
	// The connection lives on in a goroutine of its own, and this handler
	// returns: the HTTP server then lets go of what it kept for the
	// handshake (its read buffer, the request and its headers, a deep
	// stack), several KB per idle connection. Shutdown waits for the
	// connection through s.live, not through the HTTP server.
	served = true
	go func() {
		c.finish(c.readLoop())
		// As on AWS, the invocations of the connection's messages outlive
		// it: $disconnect has run, and they run on to their end.
		outliving := c.inFlight.Load() > 0
		if outliving {
			s.outlive()
		}
		c.invocations.Wait()
		s.release(id, outliving)
	}()
}

// readLoop reads messages until the connection ends and invokes $default
// for each on a goroutine of its own, as API Gateway invokes the
// integration for every message on its own: a slow invocation holds up
// neither the next message nor the control frames (pings are answered, a
// close frame is seen), and the messages of one connection may be handled
// in any order.
func (c *conn) readLoop() error {
	ctx := context.Background()
	limit := c.srv.cfg.MaxMessageBytes
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			return err
		}
		if typ == websocket.MessageBinary {
			// API Gateway refuses binary frames and disconnects the client
			// with 1003 ("Binary media types for WebSocket APIs"). The type
			// is known from the message's first frame: the close does not
			// wait for the rest, so that a long binary message closes with
			// 1003 too, not with 1009. The rest is discarded, unbuffered,
			// while the close handshake runs (which bounds it in time).
			if !c.closingDown() {
				c.srv.log.Info("binary message: closing", "connectionId", c.id)
				c.closeWith(closeBinary, reasonBinary)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if int64(len(data)) > limit {
			// The connection leaves the Management API at once (410), as
			// with every close the gateway decides.
			c.markClosing(closeTooBig, reasonTooBig)
			// Closing here, on the reading goroutine, lets Close drain the
			// rest of the message while it waits for the client's reply.
			_ = c.ws.Close(closeTooBig, reasonTooBig)
			return websocket.CloseError{Code: closeTooBig, Reason: reasonTooBig}
		}
		if c.closingDown() {
			// The gateway has closed the connection (a frame over the
			// limit, DELETE, a timeout): what the client sent before it
			// read the close frame reaches no integration, as the
			// connection is gone from the Management API too. The loop
			// reads on until the client answers the close.
			continue
		}
		c.touch()
		req := c.srv.messageEvent(&c.peer, data, time.Now())
		if c.inFlight.Load() >= maxInFlight {
			c.throttle(req)
			continue
		}
		if c.refused > 0 {
			c.srv.log.Info("$default invocations below the bound again", "connectionId", c.id, "refused", c.refused)
			c.refused = 0
		}
		c.inFlight.Add(1)
		c.invocations.Add(1)
		go func() {
			defer c.invocations.Done()
			defer c.inFlight.Add(-1)
			c.handleMessage(req)
		}()
	}
}

// throttle refuses a message past maxInFlight: it is not invoked, and the
// client gets the "Too Many Requests" frame. The frame never waits for the
// client (a post's path): the read loop must not stop on a client that
// does not read. Only the first message of a spell of refusals is logged
// as a warning, so a client that floods does not flood the log as well;
// the read loop logs how many were refused once a message is invoked again.
func (c *conn) throttle(req events.APIGatewayWebsocketProxyRequest) {
	level := slog.LevelDebug
	if c.refused == 0 {
		level = slog.LevelWarn
	}
	c.refused++
	c.srv.log.Log(context.Background(), level, "too many $default invocations running on the connection: message refused",
		"connectionId", c.id, "requestId", req.RequestContext.RequestID, "limit", maxInFlight)
	frame := integrationErrorFrame(throttledMessage, c.id, req.RequestContext.RequestID)
	if err := c.send(websocket.MessageText, frame, false); err != nil {
		c.srv.log.Debug("throttle frame not delivered", "connectionId", c.id, "error", err)
	}
}

// closingDown reports whether the gateway has begun to close c.
func (c *conn) closingDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause != nil
}

// handleMessage invokes $default for one message and sends the route
// response, if any, back to the client; once the connection has ended,
// the response is dropped.
func (c *conn) handleMessage(req events.APIGatewayWebsocketProxyRequest) {
	resp, err := c.srv.invoke(RouteDefault, req)
	var out []byte
	typ := websocket.MessageText
	switch {
	case err != nil:
		msg := internalErrorMessage
		if errors.Is(err, errIntegrationTimeout) {
			msg = timeoutMessage
		}
		c.srv.log.Warn("$default failed", "connectionId", c.id, "requestId", req.RequestContext.RequestID, "error", err)
		out = integrationErrorFrame(msg, c.id, req.RequestContext.RequestID)
	case resp.Body == "":
		return
	case resp.IsBase64Encoded:
		b, derr := base64.StdEncoding.DecodeString(resp.Body)
		if derr != nil {
			c.srv.log.Warn("$default returned a bad base64 body", "connectionId", c.id, "error", derr)
			return
		}
		out, typ = b, websocket.MessageBinary
	default:
		out = []byte(resp.Body)
	}
	if limit := c.srv.cfg.MaxMessageBytes; int64(len(out)) > limit {
		// API Gateway cannot deliver a message over its 128 KB payload
		// quota; the client gets the integration-failure frame instead. An
		// integration that produces one has a bug: say so loudly.
		c.srv.log.Error("route response over the message payload limit: not delivered",
			"connectionId", c.id, "requestId", req.RequestContext.RequestID, "bytes", len(out), "limit", limit)
		out, typ = integrationErrorFrame(internalErrorMessage, c.id, req.RequestContext.RequestID), websocket.MessageText
	}
	if err := c.send(typ, out, true); err != nil {
		c.srv.log.Debug("route response not delivered", "connectionId", c.id, "error", err)
	}
}

// integrationErrorFrame is the frame API Gateway sends a client when a
// route's integration fails.
func integrationErrorFrame(msg, connectionID, requestID string) []byte {
	return fmt.Appendf(nil, `{"message": %q, "connectionId":%q, "requestId":%q}`, msg, connectionID, requestID)
}

// outMessage is a message waiting for the connection's writer, or, with
// close set, the close handshake, which follows the messages queued
// before it.
type outMessage struct {
	typ    websocket.MessageType
	data   []byte
	close  bool
	code   websocket.StatusCode
	reason string
}

// maxQueuedBytes bounds what waits for one connection's writer before a
// route response (whose sender, the goroutine of its invocation, can
// spare the wait) waits for room. A post (over HTTP or in
// process) never waits on a client: past maxBacklogBytes the client's
// buffer is full and the post is refused with ErrLimitExceeded (429), the
// connection staying open. Each message counts its data and
// queueEntryBytes.
const (
	maxQueuedBytes  = 64 << 10
	maxBacklogBytes = 1 << 20
	queueEntryBytes = 64
)

// send sends one message to the client. Normally it queues the message
// and returns; the connection's writer, a goroutine that runs while
// messages come, writes them in order. Messages that queued up while it
// wrote leave together, in one system call, each still a WebSocket
// message of its own: under load a connection costs fewer system calls
// per message, and a sender (a fan-out posting to a thousand connections)
// never waits on one client's socket. As with API Gateway's
// PostToConnection, success means the message was accepted for the
// connection, not that the client has it. data may be written after send
// returns: the caller must not change it.
//
// reply is for a route response, sent by the goroutine of its
// invocation: when nothing is being written to the connection, send
// writes the message itself before it returns, and no writer starts, so
// that a connection costs no writer goroutine for its replies; otherwise
// the message queues as above, and send waits for room while
// maxQueuedBytes wait (a message is always accepted onto an empty queue,
// whatever its size), so that a client that sends without reading is held
// back: its invocations wait with their responses, and past maxInFlight
// of them its messages are refused.
//
// Any other sender (a post) never waits: a backlog over maxBacklogBytes
// (a client reading more slowly than messages are posted to it) refuses
// the message with ErrLimitExceeded and leaves the connection open, as
// API Gateway answers 429 when "the WebSocket client side buffer is full".
//
// The write timeout is the last resort for a socket that is stuck: one
// write (a message, or the batch the writer took from the queue) still
// blocked after the server's write timeout, 10 s, because the client has
// not read enough of what its socket buffers hold, closes the connection
// without a close frame (1006), as a write with a timed-out context does
// in coder/websocket. A client that stops reading altogether is thus
// closed about 10 s after its socket buffers fill; until then posts to it
// are accepted up to the backlog limit and refused with 429 past it. A
// failed or timed-out write closes the connection, and later sends fail
// (410), as they do once a server-side close is under way.
func (c *conn) send(typ websocket.MessageType, data []byte, reply bool) error {
	cost := len(data) + queueEntryBytes
	c.queueMu.Lock()
	for reply && c.queuedBytes > 0 && c.queuedBytes+cost > maxQueuedBytes && c.writeErr == nil && !c.closing {
		c.room.Wait()
	}
	if err := c.writeErr; err != nil {
		c.queueMu.Unlock()
		return fmt.Errorf("send to connection %q: %w", c.id, err)
	}
	if c.closing {
		c.queueMu.Unlock()
		return fmt.Errorf("send to connection %q: %w", c.id, errClosed)
	}
	if !reply && c.queuedBytes+cost > maxBacklogBytes {
		c.queueMu.Unlock()
		return fmt.Errorf("send to connection %q: backlog of %d bytes: %w", c.id, maxBacklogBytes, ErrLimitExceeded)
	}
	if !reply || c.writing {
		c.enqueue(outMessage{typ: typ, data: data})
		c.queueMu.Unlock()
		return nil
	}
	// Nothing is being written: write here. Messages sent meanwhile
	// queue, and the writer takes them over afterwards.
	c.writing = true
	c.queueMu.Unlock()
	c.touch()
	err := c.write(typ, data)
	c.queueMu.Lock()
	if err != nil {
		c.fail(err)
		c.queueMu.Unlock()
		_ = c.ws.CloseNow()
		return fmt.Errorf("send to connection %q: %w", c.id, err)
	}
	if len(c.queue) == 0 {
		c.writing = false
	} else {
		c.startWriter()
	}
	c.queueMu.Unlock()
	return nil
}

// enqueue adds m to the queue and makes sure the writer runs; queueMu is
// held.
func (c *conn) enqueue(m outMessage) {
	c.queue = append(c.queue, m)
	c.queuedBytes += len(m.data) + queueEntryBytes
	switch {
	case !c.writing:
		c.writing = true
		c.startWriter()
	case len(c.queue) == 1:
		c.poke() // the writer may be waiting for more
	}
}

// fail records the write error that ends the connection, drops what is
// queued and lets waiting senders see it; queueMu is held.
func (c *conn) fail(err error) {
	c.writeErr = err
	c.queue, c.queuedBytes, c.writing = nil, 0, false
	c.room.Broadcast()
}

// startWriter starts the writer; queueMu is held and writing set.
func (c *conn) startWriter() { go c.writeQueued() }

// maxSpareEntries is the largest queue array a writer reuses.
const maxSpareEntries = 256

// writerLinger is how long a connection's writer waits for the next
// message before it ends; a steady stream keeps one goroutine (and its
// grown stack) instead of starting one per message.
const writerLinger = time.Second

// writeQueued writes the queue until it has stayed empty for
// writerLinger.
func (c *conn) writeQueued() {
	var spare []outMessage
	// One timer per writer, not one per wait: when it fires, the writer
	// ends if nothing came for writerLinger, or sleeps again for the rest.
	var due atomic.Bool // the timer has fired since it was last armed
	lastWrite := time.Now()
	linger := time.AfterFunc(writerLinger, func() { due.Store(true); c.poke() })
	defer linger.Stop()
	for {
		c.queueMu.Lock()
		batch := c.queue
		if len(batch) == 0 {
			idle := time.Since(lastWrite)
			if idle >= writerLinger {
				c.writing = false
				c.queue = nil // an idle connection keeps no array a burst grew
				c.queueMu.Unlock()
				return
			}
			if due.Swap(false) {
				linger.Reset(writerLinger - idle)
			}
			c.queueMu.Unlock()
			<-c.wake
			continue
		}
		c.queue, c.queuedBytes = spare[:0], 0
		c.room.Broadcast()
		c.queueMu.Unlock()
		// Activity is recorded as the batch goes out, so that a client
		// that has read a message sees lastActiveAt at or after it.
		lastWrite = time.Now()
		c.lastActive.Store(lastWrite.UnixNano())
		if err := c.writeBatch(batch); err != nil {
			if !errors.Is(err, errClosed) {
				c.srv.log.Debug("write failed: closing", "connectionId", c.id, "error", err)
				_ = c.ws.CloseNow()
			}
			c.queueMu.Lock()
			c.fail(err)
			c.queueMu.Unlock()
			return
		}
		clear(batch)
		spare = nil
		if cap(batch) <= maxSpareEntries {
			spare = batch
		}
	}
}

// poke wakes the writer if it waits.
func (c *conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// write writes one message under the write timeout. Only the holder of
// the socket (c.writing: the writer, or a sender writing itself) writes.
func (c *conn) write(typ websocket.MessageType, data []byte) error {
	c.armWriteTimer()
	err := c.ws.Write(context.Background(), typ, data)
	c.writeTimer.Stop()
	return err
}

// errClosed ends the writer after the close handshake.
var errClosed = errors.New("connection closed by the gateway")

// writeBatch writes queued messages, each its own WebSocket message, in
// one system call where the connection allows it. A close in the batch
// sends what came before it, then runs the close handshake and returns
// errClosed: nothing is written after it.
func (c *conn) writeBatch(batch []outMessage) error {
	if c.raw == nil || len(batch) == 1 {
		for _, m := range batch {
			if m.close {
				c.closeHandshake(m.code, m.reason)
				return errClosed
			}
			if err := c.write(m.typ, m.data); err != nil {
				return err
			}
		}
		return nil
	}
	c.armWriteTimer()
	c.raw.cork()
	for _, m := range batch {
		if m.close {
			err := c.raw.uncork()
			c.writeTimer.Stop()
			if err != nil {
				return err
			}
			c.closeHandshake(m.code, m.reason)
			return errClosed
		}
		if err := c.ws.Write(context.Background(), m.typ, m.data); err != nil {
			_ = c.raw.uncork()
			c.writeTimer.Stop()
			return err
		}
	}
	err := c.raw.uncork()
	c.writeTimer.Stop()
	return err
}

// closeHandshake sends the close frame and waits, up to
// closeHandshakeWait, for the peer's; a peer that has gone quiet should
// not hold up a shutdown that long.
func (c *conn) closeHandshake(code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		_ = c.ws.Close(code, reason)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeHandshakeWait):
		_ = c.ws.CloseNow()
	}
}

// armWriteTimer starts the write timeout.
func (c *conn) armWriteTimer() {
	if c.writeTimer == nil {
		c.writeTimer = time.AfterFunc(c.srv.writeTimeout, c.writeTimedOut)
	} else {
		c.writeTimer.Reset(c.srv.writeTimeout)
	}
}

// writeTimedOut closes the connection under a write that has run too long;
// the write then fails and the read loop ends.
func (c *conn) writeTimedOut() {
	c.srv.log.Debug("write timed out", "connectionId", c.id, "timeout", c.srv.writeTimeout)
	_ = c.ws.CloseNow()
}

// touch records activity for the idle timeout.
func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// lastActiveAt returns when the last message went over the connection.
func (c *conn) lastActiveAt() time.Time { return time.Unix(0, c.lastActive.Load()) }

// startTimers arms the idle timeout and the lifetime limit.
func (c *conn) startTimers() {
	cfg := c.srv.cfg
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idleTimer = time.AfterFunc(cfg.IdleTimeout, c.checkIdle)
	c.lifeTimer = time.AfterFunc(cfg.MaxLifetime, func() { c.closeWith(closeGoingAway, reasonGoingAway) })
}

// checkIdle closes the connection if it has been idle for IdleTimeout, and
// otherwise re-arms the idle timer for the time left.
func (c *conn) checkIdle() {
	idle := c.srv.cfg.IdleTimeout
	since := time.Since(c.lastActiveAt())
	if since >= idle {
		c.closeWith(closeGoingAway, reasonGoingAway)
		return
	}
	c.mu.Lock()
	if c.cause == nil {
		c.idleTimer.Reset(idle - since)
	}
	c.mu.Unlock()
}

// setCause records why the gateway closes the connection. Only the first
// cause counts; it reports whether this one did.
func (c *conn) setCause(code websocket.StatusCode, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return false
	}
	c.cause = &websocket.CloseError{Code: code, Reason: reason}
	return true
}

// closeWith closes the connection from the gateway's side with code and
// reason. The connection leaves the Management API at once; the close
// handshake completes in the background, ending the read loop, which runs
// $disconnect.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	if !c.markClosing(code, reason) {
		return
	}
	go func() {
		<-c.ready
		if c.ws == nil {
			return
		}
		// The close follows the messages already queued, as it followed
		// the posts that had returned before it when they wrote themselves.
		c.queueMu.Lock()
		defer c.queueMu.Unlock()
		if c.writeErr == nil {
			c.enqueue(outMessage{close: true, code: code, reason: reason})
		}
	}()
}

// markClosing records the first close the gateway decides (code and
// reason), fails later sends and takes c out of the Management API. It
// reports whether this close was the first.
func (c *conn) markClosing(code websocket.StatusCode, reason string) bool {
	if !c.setCause(code, reason) {
		return false
	}
	c.queueMu.Lock()
	c.closing = true // later sends fail; the close follows what is queued
	c.room.Broadcast()
	c.queueMu.Unlock()
	c.srv.unregister(c)
	return true
}

// closeHandshakeWait bounds how long a server-initiated close waits for the
// peer to answer the close frame.
const closeHandshakeWait = time.Second

// await waits until the handshake of c is done and reports whether c
// is a WebSocket (false after a failed handshake or when ctx ends).
func (c *conn) await(ctx context.Context) bool {
	select {
	case <-c.ready:
		return c.ws != nil
	default:
	}
	select {
	case <-c.ready:
		return c.ws != nil
	case <-ctx.Done():
		return false
	}
}

// finish runs when the read loop has ended: it stops the timers, removes
// the connection and runs $disconnect with the close status.
func (c *conn) finish(readErr error) {
	c.mu.Lock()
	c.idleTimer.Stop()
	c.lifeTimer.Stop()
	cause := c.cause
	if cause == nil {
		// Closed by the client or the network: no later cause may claim it.
		c.cause = &websocket.CloseError{Code: statusAbnormal}
	}
	c.mu.Unlock()
	c.srv.unregister(c)
	c.queueMu.Lock()
	c.closing = true // responses of invocations still running are dropped
	c.room.Broadcast()
	c.queueMu.Unlock()
	_ = c.ws.CloseNow()

	code, reason := statusAbnormal, ""
	var ce websocket.CloseError
	switch {
	case cause != nil && cause.Code == closeDeleted:
		code, reason = int(cause.Code), reasonDeleted
	case cause != nil:
		code, reason = int(cause.Code), cause.Reason
	case errors.As(readErr, &ce) && ce.Code == websocket.StatusNoStatusRcvd:
		code, reason = int(ce.Code), reasonNoStatus
	case errors.As(readErr, &ce):
		code, reason = int(ce.Code), ce.Reason
	}
	c.srv.log.Debug("disconnected", "connectionId", c.id, "status", code, "reason", reason)
	c.srv.disconnect(&c.peer, code, reason)
}

// disconnect runs $disconnect for a connection that has ended. Once
// Shutdown has begun, the calls take turns (shutdownDisconnects at a
// time), and those still waiting when Shutdown gives up are not made:
// the process is about to exit.
func (s *Server) disconnect(p *peer, code int, reason string) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		select {
		case s.shutdownSlots <- struct{}{}:
			defer func() { <-s.shutdownSlots }()
		case <-s.abandon:
			return
		}
		select {
		case <-s.abandon: // both were ready: the select may have picked the slot
			return
		default:
		}
	}
	req := s.disconnectEvent(p, code, reason, time.Now())
	if _, err := s.invoke(RouteDisconnect, req); err != nil {
		s.log.Warn("$disconnect failed", "connectionId", p.id, "error", err)
	}
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

// handshakeFault returns the status that refuses r, a request for a
// WebSocket, when RFC 6455 (section 4.2.1) does not allow it as a
// handshake: 400 for HTTP/1.0 or a Sec-WebSocket-Key that is missing,
// repeated or not 16 bytes in base64; 426 for a Sec-WebSocket-Version
// other than 13, which the caller answers with the version it speaks
// (section 4.4). It returns 0 for a valid handshake.
func handshakeFault(r *http.Request) int {
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusBadRequest
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return http.StatusUpgradeRequired
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return http.StatusBadRequest
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return http.StatusBadRequest
	}
	return 0
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// header returns a response header of an integration, whatever its case.
func header(resp events.APIGatewayProxyResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// writeProxyResponse writes an integration's response as the HTTP answer
// to a refused handshake.
func writeProxyResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Del("Content-Length")
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
