// Package devserver runs the whole backend on one machine with no AWS
// account: the local API Gateway emulation (package gateway) in front of the
// same handlers the Lambda functions run, the signed publish API of backend
// services (package publishapi) under /api/, the sweeper on a timer, and the
// embedded store or a DynamoDB endpoint.
//
// Entry point: Start. cmd/localserver is a thin main around it; the
// end-to-end tests start it in-process on a free port.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/publishapi"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// Options configure a local server. The zero value serves on
// 127.0.0.1:3001 with the memory store and dev identities.
type Options struct {
	// Addr is the listen address. Default "127.0.0.1:3001"; use
	// "127.0.0.1:0" for a free port.
	Addr string
	// Stage is the stage name, the last path segment of the WebSocket URL
	// and of the Management API endpoint; slashes around it are dropped
	// ("/ws" is "ws"). Default "ws".
	Stage string
	// Settings configure the handlers, as in the Lambda functions. A
	// non-empty TableName selects the DynamoDB store: created if missing
	// at a DynamoDBEndpoint; without one (AWS) it must exist, and Start
	// fails naming it otherwise.
	Settings app.Settings
	// App supplies collaborators (clock, store, authenticator). Default nil.
	App *app.Options
	// Gateway tunes the gateway's limits (message size, idle timeout,
	// lifetime) and hooks; Addr, Stage and Logger are filled in, and an
	// empty Region is Settings.Region (AWS_REGION; us-east-1 when that is
	// empty too), the region the server's own Management API client signs
	// for. Default zero value: API Gateway's limits.
	Gateway gateway.Config
	// Invoker replaces the in-process handlers, e.g. to invoke the built
	// bootstraps through the Lambda Invoke API. Default nil (in-process).
	Invoker Invoker
	// SweepInterval is the sweeper timer. Default 1 min, as the deployed
	// schedule; negative disables it.
	SweepInterval time.Duration
	// Static serves the demo page at /. Default nil (no page).
	Static http.Handler
	// Logger receives server logs. Default the settings' logger.
	Logger *slog.Logger
	// ManagementHTTP makes the handlers post every frame through the
	// signed HTTP Management API, as deployed code does. Default false: a
	// frame for a connection of this server is handed to the gateway in
	// process (gateway.Server.PostToConnection), with the POST's outcomes
	// (410 Gone, 413 Payload too large, 429 when the client's buffer is
	// full) but no HTTP request, no signing and no retries. The HTTP path
	// is used in any case when Gateway.ManagementFault is set (faults
	// apply to the HTTP API), when App.Posters or Invoker is set
	// (functions in other processes post over HTTP), and for any other
	// endpoint; GetConnection and DeleteConnection always use it.
	ManagementHTTP bool
	// WrapPosters, when set, wraps the posters the server gives the
	// handlers (in-process or HTTP, see ManagementHTTP), e.g. to shard
	// fan-outs with broadcast.ShardedPosters. It is not applied to
	// App.Posters. Default nil.
	WrapPosters func(posters func(endpoint string) broadcast.Poster) func(endpoint string) broadcast.Poster
	// ChangeFeedInterval is how often the change feed's relay drains the
	// outbox into Server.Changes. Default 200 ms; negative disables it.
	ChangeFeedInterval time.Duration
}

// Server is a running local server.
type Server struct {
	Gateway *gateway.Server
	Built   *app.Built
	// Changes is the change feed: every stored change, relayed from the
	// outbox (package changefeed), served at GET /api/changes (signed).
	Changes *changefeed.Log
	relay   *changefeed.Relay
	direct  *directPosters // nil when the handlers post over HTTP only
	ln      net.Listener
	stop    context.CancelFunc
	wg      sync.WaitGroup
	log     *slog.Logger
}

// Start listens, builds the handlers and serves until Close.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:3001"
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Minute
	}
	log := o.Logger
	if log == nil {
		log = o.Settings.Logger()
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			// Most often a local server left running, e.g. by a make dev
			// whose go run died of SIGTERM without passing it on.
			_, port, _ := net.SplitHostPort(o.Addr)
			return nil, fmt.Errorf("listen %q: port %s is in use (another localserver still running?); stop it or set PORT to a free port: %w", o.Addr, port, err)
		}
		return nil, fmt.Errorf("listen %q: %w", o.Addr, err)
	}
	// The gateway's own endpoint, the stage as it takes it (-stage /ws
	// serves /ws, not //ws): the handlers post there.
	endpoint := gateway.Config{Addr: ln.Addr().String(), Stage: o.Stage}.Endpoint()
	if o.Settings.ManagementEndpoint == "" {
		o.Settings.ManagementEndpoint = endpoint
	}
	ao := app.Options{}
	if o.App != nil {
		ao = *o.App
	}
	if ao.Logger == nil {
		ao.Logger = log
	}
	// The API's region, which every signature must be scoped to, as in
	// AWS: the functions sign for AWS_REGION, which Settings.Region is.
	if o.Gateway.Region == "" {
		o.Gateway.Region = o.Settings.Region
	}
	if o.Gateway.Region == "" {
		o.Gateway.Region = gateway.DefaultRegion
	}
	var direct *directPosters
	if ao.Posters == nil {
		// The local gateway requires signed requests, as API Gateway does;
		// the fixed local credentials, which it accepts by default, make
		// that work on a machine with no AWS credentials at all. The pool's
		// clients share the HTTP client deployed functions use (the
		// default of the options), and calls over HTTP are paced by the
		// settings' delivery-rate budget, as in a function instance.
		mo := o.Settings.ManagementOptions()
		pool := mgmtapi.NewPool(aws.Config{Region: o.Gateway.Region, Credentials: credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")},
			&mgmtapi.PoolOptions{Client: mo})
		ao.Posters = func(endpoint string) broadcast.Poster { return pool.Client(endpoint) }
		if !o.ManagementHTTP && o.Gateway.ManagementFault == nil && o.Invoker == nil {
			direct = &directPosters{pool: pool, endpoints: map[string]bool{trimEndpoint(endpoint): true}}
			ao.Posters = direct.poster
		}
		if o.WrapPosters != nil {
			ao.Posters = o.WrapPosters(ao.Posters)
		}
	}
	// A table is created at a local endpoint (DynamoDB Local, moto) only.
	// In AWS it must exist: a mistyped TABLE_NAME would otherwise create
	// a new, billed table, and a role need not be granted CreateTable.
	local := o.Settings.DynamoDBEndpoint != ""
	ao.CreateTable, ao.RequireTable = local, !local
	built, err := app.Build(ctx, o.Settings, &ao)
	if err != nil {
		ln.Close()
		if errors.Is(err, dynamo.ErrTableMissing) {
			return nil, fmt.Errorf("%w: check TABLE_NAME and AWS_REGION (the local server creates a table only at a DYNAMODB_ENDPOINT, never in AWS)", err)
		}
		return nil, err
	}
	inv := o.Invoker
	if inv == nil {
		inv = InProcess(built.Handler)
	}
	gc := o.Gateway
	changes := &changefeed.Log{}
	relay := changefeed.NewRelay(built.Store, changes, log)
	if gc.SignedAPI == nil {
		// The publish API of backend services and the change feed, signed
		// as in AWS.
		mux := http.NewServeMux()
		mux.Handle("GET /changes", changes)
		mux.Handle("/", publishapi.New(publishapi.Config{}, built.Handler, built.Store, ao.Clock, log))
		gc.SignedAPI = mux
		gc.SignedAPIRoute = func(method, path string) bool {
			// GET /changes also serves HEAD, as the mux does.
			return (method == http.MethodGet || method == http.MethodHead) && path == "/changes" || publishapi.Route(method, path, true)
		}
	}
	if o.Settings.DevIdentity {
		// Anyone who reaches a development server may claim any identity:
		// only pages of this machine (and Gateway.AllowedOrigins) may.
		gc.LoopbackOnly = true
	}
	gc.Addr = ln.Addr().String()
	gc.Stage = o.Stage
	if gc.Logger == nil {
		gc.Logger = log
	}
	if o.Static != nil {
		gc.Static = o.Static
	}
	gw := gateway.New(gc, inv)
	if direct != nil {
		// Set before serving: no handler runs, and nothing posts, earlier.
		direct.gw = gw
		direct.endpoints[trimEndpoint(gw.Endpoint())] = true
	}
	runCtx, stop := context.WithCancel(context.Background())
	s := &Server{Gateway: gw, Built: built, Changes: changes, relay: relay, direct: direct, ln: ln, stop: stop, log: log}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := gw.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("gateway stopped", "error", err)
		}
	}()
	if o.ChangeFeedInterval == 0 {
		o.ChangeFeedInterval = 200 * time.Millisecond
	}
	s.every(runCtx, o.ChangeFeedInterval, func(ctx context.Context) {
		if _, err := relay.Drain(ctx); err != nil && ctx.Err() == nil {
			log.Warn("change feed relay", "error", err)
		}
	})
	s.every(runCtx, o.SweepInterval, func(ctx context.Context) {
		if err := inv.Sweep(ctx); err != nil {
			log.Warn("sweep failed", "error", err)
		}
	})
	return s, nil
}

// every runs f every interval until ctx ends; a non-positive interval
// runs nothing. Close waits for it.
func (s *Server) every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	if interval <= 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// WebSocketURL is the ws:// URL clients connect to.
func (s *Server) WebSocketURL() string { return s.Gateway.WebSocketURL() }

// Endpoint is the Management API endpoint.
func (s *Server) Endpoint() string { return s.Gateway.Endpoint() }

// APIURL is the base URL of the publish API of backend services
// (package publishapi): POST <APIURL>/publish, /notify,
// /presence/snapshot and /events, and of the change feed: GET
// <APIURL>/changes?after=N; each signed (SigV4, service execute-api) with
// the gateway's credentials.
func (s *Server) APIURL() string { return s.Gateway.SignedAPIURL() }

// DrainChanges relays the pending outbox items to Changes now, as the
// relay's timer does, and returns how many it relayed.
func (s *Server) DrainChanges(ctx context.Context) (int, error) { return s.relay.Drain(ctx) }

// DirectDelivery reports whether the in-process handlers hand frames for
// this server's connections to the gateway directly rather than through
// the HTTP Management API (see Options.ManagementHTTP).
func (s *Server) DirectDelivery() bool { return s.direct != nil }

// Close shuts the gateway down gracefully, firing $disconnect for every open
// connection, and stops the sweeper.
func (s *Server) Close(ctx context.Context) error {
	err := s.Gateway.Shutdown(ctx)
	s.stop()
	s.wg.Wait()
	return err
}

// Invoker runs routes and the sweeper.
type Invoker interface {
	gateway.Invoker
	Sweep(ctx context.Context) error
}

// InProcess returns an Invoker that calls h directly.
func InProcess(h *handler.Handler) Invoker { return inProcess{h} }

type inProcess struct{ h *handler.Handler }

func (p inProcess) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	switch routeKey {
	case "$connect":
		return p.h.Connect(ctx, req)
	case "$disconnect":
		return p.h.Disconnect(ctx, req)
	default:
		return p.h.Message(ctx, req)
	}
}

func (p inProcess) Sweep(ctx context.Context) error { return p.h.Sweep(ctx) }

// directPosters gives the handlers a Poster per Management API endpoint:
// for this server's own endpoint, one that hands frames to the gateway in
// process; for any other, the HTTP client of the pool.
type directPosters struct {
	pool      *mgmtapi.Pool
	gw        *gateway.Server // set before the gateway serves
	endpoints map[string]bool // this server's endpoints, without a trailing slash; read-only once serving
}

func (d *directPosters) poster(endpoint string) broadcast.Poster {
	c := d.pool.Client(endpoint)
	if d.gw == nil || !d.endpoints[trimEndpoint(endpoint)] {
		return c
	}
	return directPoster{Client: c, gw: d.gw}
}

// directPoster posts to the local gateway's connections in process. Its
// errors are those of the HTTP client: an *mgmtapi.APIError with status 410
// (mgmtapi.IsGone), 413, or 429 LimitExceededException (mgmtapi.ErrThrottled)
// when the client's buffer is full. A 429 is returned at once, not retried
// as the HTTP client retries it: a slow client's backlog does not drain in
// a retry's time, and an inline fan-out (PostsInline) must not wait on one
// client; the connection stays open. GetConnection and DeleteConnection,
// which the handlers rarely call, go over HTTP through the embedded client.
type directPoster struct {
	*mgmtapi.Client
	gw *gateway.Server
}

// PostToConnection sends data to the connection as one frame.
func (p directPoster) PostToConnection(ctx context.Context, connectionID string, data []byte) error {
	if connectionID == "" {
		return fmt.Errorf("%s %q: empty connection id", mgmtapi.OpPostToConnection, connectionID)
	}
	err := p.gw.PostToConnection(ctx, connectionID, data)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gateway.ErrGone):
		return &mgmtapi.APIError{Op: mgmtapi.OpPostToConnection, ConnectionID: connectionID,
			Status: http.StatusGone, Type: "GoneException", Message: "Gone"}
	case errors.Is(err, gateway.ErrPayloadTooLarge):
		return &mgmtapi.APIError{Op: mgmtapi.OpPostToConnection, ConnectionID: connectionID,
			Status: http.StatusRequestEntityTooLarge, Type: "PayloadTooLargeException", Message: "Request entity too large"}
	case errors.Is(err, gateway.ErrLimitExceeded):
		return &mgmtapi.APIError{Op: mgmtapi.OpPostToConnection, ConnectionID: connectionID,
			Status: http.StatusTooManyRequests, Type: "LimitExceededException", Message: gateway.BufferFullMessage}
	}
	return fmt.Errorf("%s %q: %w", mgmtapi.OpPostToConnection, connectionID, err)
}

// PrepareFrame returns a function that posts data in process, as
// PostToConnection does; it hides the embedded client's, which would post
// over HTTP.
func (p directPoster) PrepareFrame(data []byte) func(ctx context.Context, connectionID string) error {
	return func(ctx context.Context, connectionID string) error {
		return p.PostToConnection(ctx, connectionID, data)
	}
}

// PostsInline reports that a post only queues the frame on the connection
// (broadcast.InlinePoster).
func (directPoster) PostsInline() bool { return true }

// trimEndpoint normalises an endpoint for comparison.
func trimEndpoint(endpoint string) string {
	return strings.TrimRight(strings.TrimSpace(endpoint), "/")
}
