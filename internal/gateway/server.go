package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/ratelimit"
)

// shutdownGrace bounds the graceful shutdown ListenAndServe performs when
// its context ends.
const shutdownGrace = 10 * time.Second

// shutdownDisconnects bounds the $disconnect calls Shutdown runs at once.
// Started all at once, hundreds of them share a slow store (DynamoDB
// Local, moto) or a Lambda emulator and all finish late together, so that
// a bound on the shutdown cuts off every one of them; a few at a time,
// they finish one after another and a cut-off leaves only the rest.
const shutdownDisconnects = 16

// maxConnectionBurst bounds the bucket of Config.NewConnectionsPerSecond
// (one second's handshakes): a rate of 2^63 or more would overflow int.
const maxConnectionBurst = math.MaxInt32

// Server is a local API Gateway WebSocket API. It is safe for concurrent
// use. Create it with New; a Server serves once and cannot be restarted
// after Shutdown.
type Server struct {
	cfg Config
	inv Invoker
	log *slog.Logger

	writeTimeout time.Duration   // bounds one write to a client
	signer       *awsrest.Signer // checks signatures (for Config.Region); caches derived keys

	newConns   ratelimit.Bucket // handshakes, when Config.NewConnectionsPerSecond is set
	newConnsMu sync.Mutex

	mu       sync.Mutex
	conns    map[string]*conn // open connections, by id
	reserved map[string]bool  // ids handed out to handshakes in progress
	closing  bool
	addr     net.Addr     // the listener's address, once serving
	httpSrv  *http.Server // set by Serve
	live     sync.WaitGroup
	nLive    int // ids counted in live, under mu
	// nOutliving counts the ids in live whose $disconnect has run and
	// whose $default invocations still run, under mu.
	nOutliving int

	shutdownSlots chan struct{} // $disconnect calls running during Shutdown
	abandon       chan struct{} // closed when Shutdown gives up waiting
	abandonOnce   sync.Once
}

// ShutdownIncompleteError is returned by Shutdown when its context ends
// before $disconnect has run for every connection, or before the $default
// invocations still running on closed connections have returned. The
// connection records of the abandoned $disconnect calls stay in the
// integration's store until something else removes them (the sweeper, or
// a post to the connection that gets 410 Gone).
type ShutdownIncompleteError struct {
	Abandoned int   // connections whose $disconnect had not finished
	Total     int   // connections open (or being opened) when Shutdown began
	Running   int   // connections whose $disconnect had run and whose $default invocations were still running
	Err       error // the context's error
}

func (e *ShutdownIncompleteError) Error() string {
	msg := fmt.Sprintf("gateway shutdown: %v", e.Err)
	if e.Abandoned > 0 || e.Running == 0 {
		msg += fmt.Sprintf(" with $disconnect unfinished for %d of %d connections: their connection records stay in the store until the sweeper or a later post to them cleans them up",
			e.Abandoned, e.Total)
	}
	if e.Running > 0 {
		msg += fmt.Sprintf("; $default invocations still running for %d closed connections", e.Running)
	}
	return msg
}

func (e *ShutdownIncompleteError) Unwrap() error { return e.Err }

// New returns a Server that invokes inv for every route. cfg's zero fields
// take their defaults.
func New(cfg Config, inv Invoker) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg:           cfg,
		inv:           inv,
		log:           cfg.Logger,
		writeTimeout:  writeTimeout,
		signer:        awsrest.NewSigner(signingService, cfg.Region),
		conns:         make(map[string]*conn),
		reserved:      make(map[string]bool),
		newConns:      ratelimit.Bucket{Rate: cfg.NewConnectionsPerSecond, Burst: int(min(math.Ceil(cfg.NewConnectionsPerSecond), maxConnectionBurst))},
		shutdownSlots: make(chan struct{}, shutdownDisconnects),
		abandon:       make(chan struct{}),
	}
}

// admitConnection reports whether a new handshake is within
// Config.NewConnectionsPerSecond.
func (s *Server) admitConnection(now time.Time) bool {
	if s.cfg.NewConnectionsPerSecond <= 0 {
		return true
	}
	s.newConnsMu.Lock()
	defer s.newConnsMu.Unlock()
	return s.newConns.Allow(now)
}

// Handler returns the HTTP handler of the whole gateway: the WebSocket
// endpoint at /<stage>, the Management API under /<stage>/@connections/,
// Config.SignedAPI under /api/ and Config.Static for everything else. Use it to mount the gateway on a
// server of your own (then Endpoint and WebSocketURL report Config.Addr).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// ListenAndServe listens on Config.Addr and serves until ctx ends, then
// shuts down gracefully (closing every connection, running $disconnect
// for each and letting the $default invocations still running return,
// within 10s). It returns nil after a shutdown caused by ctx.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %q: %w", s.cfg.Addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err = s.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Serve serves the gateway on ln until Shutdown, after which it returns
// http.ErrServerClosed, like http.Server.Serve. It may be called once.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	if s.httpSrv != nil {
		s.mu.Unlock()
		return errors.New("gateway: Serve called twice")
	}
	s.httpSrv = hs
	s.addr = ln.Addr()
	s.mu.Unlock()
	s.log.Info("gateway listening", "websocket", s.WebSocketURL(), "management", s.Endpoint())
	return hs.Serve(ln)
}

// Shutdown stops accepting connections, closes every open connection with
// 1001 "Going away", waits until $disconnect has run for each (at most
// 16 calls at a time) and the $default invocations still running have
// returned (each at most the integration timeout: a $disconnect does not
// wait for them, as on AWS, but the process should not cut them off),
// and then stops the HTTP server started by Serve (the Management API
// stays up while handlers run). If ctx ends first, it closes the HTTP
// server at once (so that Serve returns), starts no more $disconnect
// calls, and returns a *ShutdownIncompleteError wrapping ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	total := s.nLive
	open := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		open = append(open, c)
	}
	hs := s.httpSrv
	s.mu.Unlock()

	for _, c := range open {
		c.closeWith(closeGoingAway, reasonGoingAway)
	}
	done := make(chan struct{})
	go func() {
		s.live.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.abandonOnce.Do(func() { close(s.abandon) })
		s.mu.Lock()
		left, running := s.nLive, s.nOutliving
		s.mu.Unlock()
		if hs != nil {
			_ = hs.Close() // Serve returns; handlers still running see their requests end
		}
		return &ShutdownIncompleteError{Abandoned: left - running, Total: max(total, left), Running: running, Err: ctx.Err()}
	}
	if hs != nil {
		if err := hs.Shutdown(ctx); err != nil {
			return fmt.Errorf("gateway shutdown: %w", err)
		}
	}
	return nil
}

// WebSocketURL is the URL clients connect to, e.g. "ws://127.0.0.1:3001/ws".
func (s *Server) WebSocketURL() string { return "ws://" + s.hostPort() + "/" + s.cfg.Stage }

// Endpoint is the Management API endpoint handlers post to, e.g.
// "http://127.0.0.1:3001/ws" (the API's stage URL, as a deployed handler
// derives from its event's domainName and stage).
func (s *Server) Endpoint() string { return endpointURL(s.hostPort(), s.cfg.Stage) }

// Endpoint is the Management API endpoint of a Server made with c that
// listens on c.Addr: what its Endpoint reports, the stage as the Server
// takes it (without slashes around it, "ws" when empty). Code that must
// know the endpoint before the Server exists (to give it to the handlers
// the Server invokes) takes it from here, so that the two cannot differ.
func (c Config) Endpoint() string {
	c = c.withDefaults()
	return endpointURL(reachableAddr(c.Addr), c.Stage)
}

func endpointURL(hostPort, stage string) string { return "http://" + hostPort + "/" + stage }

// Region is the API's region, which every signature must be scoped to
// (Config.Region).
func (s *Server) Region() string { return s.cfg.Region }

// ConnectionCount returns the number of open connections.
func (s *Server) ConnectionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// hostPort is the address clients reach the server at: the listener's, or
// Config.Addr, with an unspecified host replaced by 127.0.0.1.
func (s *Server) hostPort() string {
	s.mu.Lock()
	addr := s.cfg.Addr
	if s.addr != nil {
		addr = s.addr.String()
	}
	s.mu.Unlock()
	return reachableAddr(addr)
}

// reachableAddr is addr with an unspecified host replaced by 127.0.0.1.
func reachableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// serveHTTP routes a request to the WebSocket endpoint, the Management API
// or the static handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	stage := "/" + s.cfg.Stage
	p := r.URL.EscapedPath()
	// The Management API and the signed API are left out: they need a
	// signature and refuse browsers anyway, and functions in containers
	// reach them by names such as host.docker.internal.
	rawID, isMgmt := managementPath(p, stage)
	isSigned := s.cfg.SignedAPI != nil && strings.HasPrefix(p, signedAPIPrefix+"/")
	if why := s.loopbackRefusal(r, p == stage || p == stage+"/"); why != "" && !isMgmt && !isSigned {
		s.log.Warn("request refused: development server accepts local pages only", "host", r.Host, "origin", r.Header.Get("Origin"), "reason", why)
		writeJSONError(w, http.StatusForbidden, "", "Forbidden")
		return
	}
	switch {
	case p == stage || p == stage+"/":
		s.serveWebSocket(w, r)
	case isMgmt:
		s.serveManagement(w, r, rawID)
	case isSigned:
		s.serveSigned(w, r)
	case s.cfg.Static != nil:
		s.cfg.Static.ServeHTTP(w, r)
	default:
		writeJSONError(w, http.StatusNotFound, "NotFoundException", "Not Found")
	}
}

// managementPath reports whether the escaped path p addresses the
// Management API of stage (stage/@connections/{id}), and returns the
// escaped id. The command segment is compared unescaped: AWS's own
// example URL-encodes it as %40connections. The id stays escaped for
// serveManagement, and the signature is checked against the path as
// sent (r.RequestURI), whichever form the client signed.
func managementPath(p, stage string) (rawID string, ok bool) {
	rest, ok := strings.CutPrefix(p, stage+"/")
	if !ok {
		return "", false
	}
	command, rawID, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	if command != "@connections" {
		if u, err := url.PathUnescape(command); err != nil || u != "@connections" {
			return "", false
		}
	}
	return rawID, true
}

// reserveID hands out a fresh connection id for a handshake, and counts
// the connection as live until release. It fails once Shutdown has begun.
func (s *Server) reserveID() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return "", false
	}
	id := newID()
	for s.conns[id] != nil || s.reserved[id] {
		id = newID()
	}
	s.reserved[id] = true
	s.live.Add(1)
	s.nLive++
	return id, true
}

// release ends the life of a connection id: after the handshake was
// refused, or after $disconnect ran and the connection's $default
// invocations returned; outlived says whether outlive counted it.
func (s *Server) release(id string, outlived bool) {
	s.mu.Lock()
	delete(s.reserved, id)
	s.nLive--
	if outlived {
		s.nOutliving--
	}
	s.mu.Unlock()
	s.live.Done()
}

// outlive counts a live id whose $disconnect has run and whose $default
// invocations still run.
func (s *Server) outlive() {
	s.mu.Lock()
	s.nOutliving++
	s.mu.Unlock()
}

// register makes an accepted connection reachable through the Management
// API. It fails once Shutdown has begun.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c.id] = c
	return true
}

// unregister removes c from the open connections; later Management API
// calls for it get 410.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
}

// lookup returns the open connection id, or nil.
func (s *Server) lookup(id string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// errIntegrationTimeout reports an invocation that outlived
// Config.IntegrationTimeout.
var errIntegrationTimeout = errors.New("integration timed out")

// invoke runs one route through the Invoker, bounded by the integration
// timeout. A panic in the Invoker is reported as an error, as the Lambda
// runtime reports a crashed function.
func (s *Server) invoke(routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.IntegrationTimeout)
	defer cancel()
	type result struct {
		resp events.APIGatewayProxyResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("invoke %s: panic: %v", routeKey, p)}
			}
		}()
		resp, err := s.inv.Invoke(ctx, routeKey, req)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		return events.APIGatewayProxyResponse{}, fmt.Errorf("invoke %s for connection %q: %w", routeKey, req.RequestContext.ConnectionID, errIntegrationTimeout)
	}
}
