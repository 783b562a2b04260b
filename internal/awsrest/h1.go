package awsrest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of H1Transport.
const (
	// DefaultMaxIdlePerHost is the default of H1Transport.MaxIdlePerHost:
	// room for broadcast.DefaultConcurrency posts in flight twice over.
	DefaultMaxIdlePerHost = 1024
	// DefaultIdleTimeout is the default of H1Transport.IdleTimeout, the
	// same as http.DefaultTransport's.
	DefaultIdleTimeout = 90 * time.Second
	// idleCheckAfter is how long a connection may sit idle before it is
	// checked for a close by the server before reuse.
	idleCheckAfter = time.Second
	// maxDrain is the most of an unread response body Close reads so
	// that the connection can be reused.
	maxDrain = 64 << 10
	// earlyAnswerWait is how long a request whose write failed waits for
	// an answer the server sent before reading it all.
	earlyAnswerWait = 250 * time.Millisecond
)

// H1Transport is an http.RoundTripper that sends HTTP/1.1 requests over
// persistent connections in the caller's goroutine: it writes the request
// and reads the answer itself, where net/http's Transport hands every
// request to two goroutines of the connection (a writer and a reader).
// Those handoffs cost about as much CPU as the request itself when a
// fan-out sends thousands of small posts with hundreds in flight, and the
// Management API speaks HTTP/1.1 only, so HTTP/2 is no loss there.
//
// Requests and responses are written and parsed by net/http
// (Request.Write, ReadResponse). Requests through a proxy (the
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY variables) and to schemes other than
// http and https go to Fallback. A connection is reused when its response
// was read to the end and neither side asked to close it; one idle for
// more than a second is first checked for a close by the server. A
// failure to open the connection or of its TLS handshake, before any
// byte of the request was written, is a *NotSentError (see NotSent).
// Cancelling a request's context ends its wait at once. It is safe for
// concurrent use; its zero value is ready to use.
type H1Transport struct {
	// MaxIdlePerHost bounds the idle connections kept per host. Default
	// 1,024 (DefaultMaxIdlePerHost).
	MaxIdlePerHost int
	// IdleTimeout closes connections idle for longer. Default 90 s
	// (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// DialContext opens connections. Default: a net.Dialer with a 30 s
	// timeout and 30 s keep-alive, as http.DefaultTransport's.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSClientConfig configures TLS for https; ServerName is set per
	// host and NextProtos to HTTP/1.1. Default: the system's roots and a
	// session cache, so that the connections a fan-out opens to one host
	// resume one session instead of each doing a full handshake.
	TLSClientConfig *tls.Config
	// Fallback sends what this transport does not (proxied requests,
	// other schemes). Default: a clone of http.DefaultTransport.
	Fallback http.RoundTripper

	once     sync.Once
	tlsConf  *tls.Config
	fallback http.RoundTripper
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	idle map[string][]*h1Conn // by "scheme://host:port", most recent last
}

var _ http.RoundTripper = (*H1Transport)(nil)

// h1Conn is one persistent connection.
type h1Conn struct {
	t         *H1Transport
	key       string
	conn      net.Conn // the TLS connection for https
	raw       net.Conn // the TCP connection under it
	br        *bufio.Reader
	limit     *readLimit // under br: bounds a response's header
	bw        *bufio.Writer
	idleSince time.Time
}

func (t *H1Transport) init() {
	t.once.Do(func() {
		t.tlsConf = t.TLSClientConfig
		if t.tlsConf == nil {
			t.tlsConf = &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(64)}
		} else {
			t.tlsConf = t.tlsConf.Clone()
		}
		t.tlsConf.NextProtos = []string{"http/1.1"}
		t.fallback = t.Fallback
		if t.fallback == nil {
			if dt, ok := http.DefaultTransport.(*http.Transport); ok {
				t.fallback = dt.Clone()
			} else {
				t.fallback = http.DefaultTransport
			}
		}
		t.dial = t.DialContext
		if t.dial == nil {
			d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
			t.dial = d.DialContext
		}
	})
}

func (t *H1Transport) maxIdle() int {
	if t.MaxIdlePerHost > 0 {
		return t.MaxIdlePerHost
	}
	return DefaultMaxIdlePerHost
}

func (t *H1Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return DefaultIdleTimeout
}

// RoundTrip sends req and returns its response. The response body must be
// closed; its connection is reused once the body was read to the end.
func (t *H1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.init()
	u := req.URL
	if u == nil {
		closeBody(req)
		return nil, errors.New("awsrest: request without URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return t.fallback.RoundTrip(req)
	}
	if proxy, err := http.ProxyFromEnvironment(req); err != nil || proxy != nil {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	addr := canonicalAddr(u.Scheme, u.Host)
	key := u.Scheme + "://" + addr
	pc, err := t.get(ctx, key, u.Scheme, addr, u.Hostname())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// A cancelled context unblocks the write or read at once; the
	// deadline, when there is one, does so without a goroutine.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(aLongTimeAgo) })
	if dl, ok := ctx.Deadline(); ok {
		_ = pc.conn.SetDeadline(dl)
	}
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.close()
		cerr := ctx.Err()
		if dl, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(dl) {
			// The connection's deadline, the context's own, ran out
			// before the context noticed.
			cerr = context.DeadlineExceeded
		}
		if cerr != nil {
			return nil, fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, err
	}
	werr := req.Write(pc.bw)
	if werr == nil {
		werr = pc.bw.Flush()
	}
	if werr != nil {
		// A server may answer before it has read the whole request (413
		// for a body over its limit) and close the connection, which
		// fails the rest of the write: read that answer if it came.
		if ctx.Err() == nil {
			_ = pc.conn.SetReadDeadline(time.Now().Add(earlyAnswerWait))
			if resp, err := pc.readHeader(func() (*http.Response, error) { return http.ReadResponse(pc.br, req) }); err == nil {
				resp.Body = &h1Body{pc: pc, body: resp.Body, stop: stop, keep: false}
				return resp, nil
			}
		}
		return fail(werr)
	}
	resp, err := pc.readHeader(func() (*http.Response, error) { return readFinalResponse(pc.br, req) })
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the server closed before answering
		}
		return fail(err)
	}
	resp.Body = &h1Body{pc: pc, body: resp.Body, stop: stop, keep: !resp.Close && !req.Close}
	return resp, nil
}

// MaxResponseHeaderBytes bounds what a response's status line and header
// (interim responses included) may take; past it the request fails and
// the connection is closed, as net/http's Transport does (10 MB there; an
// AWS answer's header is well under a kilobyte).
const MaxResponseHeaderBytes = 1 << 20

// readLimit is the reader under a connection's bufio.Reader: while left is
// not negative, reads past left bytes fail (errHeaderTooLarge).
type readLimit struct {
	r    io.Reader
	left int64
}

var errHeaderTooLarge = fmt.Errorf("awsrest: response header over %d bytes", MaxResponseHeaderBytes)

func (l *readLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// readHeader runs read (which parses a response's header from pc.br) with
// the header bound in force, and lifts it for the body.
func (pc *h1Conn) readHeader(read func() (*http.Response, error)) (*http.Response, error) {
	pc.limit.left = MaxResponseHeaderBytes - int64(pc.br.Buffered())
	defer func() { pc.limit.left = -1 }()
	return read()
}

// maxInterimResponses bounds the 1xx answers read before the final one.
const maxInterimResponses = 5

// readFinalResponse reads the answer to req, skipping interim (1xx)
// responses other than 101, as net/http does (RFC 9110 lets a server send
// them unasked: 100 Continue, 103 Early Hints). Taken for the answer, one
// would leave the real answer unread on a kept connection, for the next
// request to read as its own.
func readFinalResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for range maxInterimResponses {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		_ = resp.Body.Close() // an interim response has no body
	}
	return nil, fmt.Errorf("awsrest: more than %d interim (1xx) responses", maxInterimResponses)
}

// get returns an idle connection to key, or dials one.
func (t *H1Transport) get(ctx context.Context, key, scheme, addr, host string) (*h1Conn, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		list := t.idle[key]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		t.mu.Unlock()
		idle := now.Sub(pc.idleSince)
		if idle > t.idleTimeout() || (idle > idleCheckAfter && !pc.alive()) {
			pc.close()
			continue
		}
		return pc, nil
	}
	// Nothing of the request is written before both succeed: their
	// failures are *NotSentErrors.
	raw, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, &NotSentError{Op: "dial", Addr: addr, Err: err}
	}
	pc := &h1Conn{t: t, key: key, conn: raw, raw: raw}
	if scheme == "https" {
		conf := t.tlsConf.Clone()
		if conf.ServerName == "" {
			conf.ServerName = host
		}
		tc := tls.Client(raw, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, &NotSentError{Op: "tls handshake", Addr: addr, Err: err}
		}
		pc.conn = tc
	}
	pc.limit = &readLimit{r: pc.conn, left: -1}
	pc.br = bufio.NewReaderSize(pc.limit, 4<<10)
	pc.bw = bufio.NewWriterSize(pc.conn, 4<<10)
	return pc, nil
}

// alive reports whether an idle connection may still be used: nothing is
// waiting to be read on it, neither data (an HTTP/1.1 server sends nothing
// unasked; a TLS close alert counts) nor the end of the stream.
func (pc *h1Conn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	sc, ok := pc.raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0, n == 0 && rerr == nil: // data, or the end of the stream
			alive = false
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		default:
			alive = false
		}
		return true // never wait
	})
	return alive && err == nil
}

// put keeps pc for reuse, or closes it when the host has enough. It also
// closes the host's connections idle for longer than IdleTimeout: the
// oldest are at the bottom of the stack, where reuse seldom reaches.
func (pc *h1Conn) put() {
	t := pc.t
	now := time.Now()
	pc.idleSince = now
	var stale []*h1Conn
	t.mu.Lock()
	if t.idle == nil {
		t.idle = make(map[string][]*h1Conn)
	}
	list := t.idle[pc.key]
	n := 0
	for n < len(list) && now.Sub(list[n].idleSince) > t.idleTimeout() {
		n++
	}
	if n > 0 {
		stale = append(stale, list[:n]...)
		list = append(list[:0], list[n:]...)
	}
	keep := len(list) < t.maxIdle()
	if keep {
		list = append(list, pc)
	}
	t.idle[pc.key] = list
	t.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
	if !keep {
		pc.close()
	}
}

func (pc *h1Conn) close() { _ = pc.conn.Close() }

// CloseIdleConnections closes the connections kept for reuse.
func (t *H1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.close()
		}
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// h1Body is a response body whose Close returns the connection for reuse
// when the body was read to the end.
type h1Body struct {
	pc   *h1Conn
	body io.ReadCloser
	stop func() bool
	keep bool

	mu     sync.Mutex
	eof    bool
	closed bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("awsrest: read on closed response body")
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if !b.eof && b.keep {
		// A short unread rest is cheaper to read than a new connection.
		n, err := io.CopyN(io.Discard, b.body, maxDrain+1)
		b.eof = err == io.EOF && n <= maxDrain
	}
	_ = b.body.Close()
	// stop reports false when the context's cancellation already ran and
	// poisoned the connection's deadline.
	if b.stop() && b.eof && b.keep && b.pc.conn.SetDeadline(time.Time{}) == nil {
		b.pc.put()
	} else {
		b.pc.close()
	}
	return nil
}

// aLongTimeAgo is a deadline in the past: it ends a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

// canonicalAddr returns host with the scheme's port when it names none.
func canonicalAddr(scheme, host string) string {
	if _, port, err := net.SplitHostPort(host); err == nil && port != "" {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
