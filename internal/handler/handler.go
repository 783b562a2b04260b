// Package handler holds the logic behind the four Lambda functions: the
// $connect, $disconnect and $default routes of the WebSocket API and the
// scheduled sweeper. The functions' main packages and the local gateway
// both call the same Handler methods.
//
// Entry points: New, then Handler.Connect, Handler.Disconnect,
// Handler.Message and Handler.Sweep.
package handler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/ratelimit"
	"github.com/omnisales/rtcollab/internal/store"
)

// Authenticator verifies a $connect request and says who is connecting
// (auth.TokenAuth is the one the functions use). An error means the
// handshake is refused with 401; the error text is logged, never sent. A
// non-zero Identity.ExpiresAt ends the connection's right to send frames
// then; the sweeper closes it.
type Authenticator interface {
	Authenticate(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (auth.Identity, error)
}

var _ Authenticator = (*auth.TokenAuth)(nil)

// Config holds the handler's settings. The zero value gives the defaults
// noted on each field.
type Config struct {
	// ConnectionTTL is how long a connection record lives; API Gateway
	// closes connections after 2 h, so the default is 2 h 5 min.
	ConnectionTTL time.Duration
	// MaxSubscriptions bounds the channels one connection may join.
	// Default 100.
	MaxSubscriptions int
	// MaxLocksPerConnection bounds the live edit locks one connection
	// holds: a lock.acquire or lock.renew that would give the connection
	// one more is refused with TOO_MANY_LOCKS (see lockRoom). Each lock
	// held costs writes and broadcasts when the connection goes, so the
	// bound keeps one connection's clean-up within a function's time.
	// Default 20.
	MaxLocksPerConnection int
	// MaxConnectionsPerUser bounds the open connections of one user of a
	// tenant, counted in the store so that it holds across instances; a
	// $connect past it is refused with 429. Default 20 (see connlimit.go).
	MaxConnectionsPerUser int
	// FanoutConcurrency bounds concurrent posts per broadcast. Default
	// broadcast.DefaultConcurrency.
	FanoutConcurrency int
	// Policy decides channel access from roles. Default: auth's default
	// policy (see internal/auth/POLICY.md).
	Policy auth.Policy
	// RequestLimit is the per-connection token bucket for requests.
	// Default 20 per second, burst 40.
	RequestLimit ratelimit.Config
	// CursorLimit is the separate bucket for cursor frames. Default one per
	// 50 ms, burst 2.
	CursorLimit ratelimit.Config
	// ManagementEndpoint overrides the Management API endpoint derived from
	// each event (see Endpoint). Default "" (derive). The sweeper, which
	// receives no WebSocket event, needs it set.
	ManagementEndpoint string
	// Region is the API's AWS region, from which Endpoint derives the
	// execute-api endpoint of an event received on a custom domain name.
	// Default "" (such an event's own domain is used).
	Region string
	// Presence tunes presence, cursors, the activity feed and the presence
	// sweeper. Default: see PresenceConfig (away 5 min, offline 90 s).
	Presence PresenceConfig
	// Editing tunes locks, versioned changes, conflict strategies, history
	// and comments. Default: see EditingConfig (lock TTL 30 s, at most
	// 5 min; 100 changes of history; strategies of editing.DefaultStrategies).
	// New refuses a LockTTL longer than MaxLockTTL (EditingConfig.Check).
	Editing EditingConfig
	// History is the channel history retention, per channel pattern (see
	// Retention). Default nil: DefaultRetention().
	History Retention
	// ServiceIDs are the user ids of the server's own identities: the
	// Service.ID under which the publish API and the EventBridge publish
	// function publish and notify (publishapi.Config.ServiceID). Their
	// frames carry it as userId, and their idempotency keys become
	// messageIds of that user. Serve accepts no other Service.ID, and
	// $connect refuses (401) an identity whose user id is one of them,
	// whatever the authenticator, so that no user can pass for the
	// backend or take its keys. Each must be a valid user id
	// (ident.UserID). Default [DefaultServiceID].
	ServiceIDs []string
}

// DefaultServiceID is the default of Config.ServiceIDs and of
// publishapi.Config.ServiceID: the user id of the frames and
// notifications backend services publish.
const DefaultServiceID = "service"

func (c Config) withDefaults() Config {
	if c.ConnectionTTL <= 0 {
		c.ConnectionTTL = 2*time.Hour + 5*time.Minute
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 100
	}
	if c.MaxLocksPerConnection <= 0 {
		c.MaxLocksPerConnection = 20
	}
	if c.FanoutConcurrency <= 0 {
		c.FanoutConcurrency = broadcast.DefaultConcurrency
	}
	if c.MaxConnectionsPerUser <= 0 {
		c.MaxConnectionsPerUser = DefaultMaxConnectionsPerUser
	}
	if c.RequestLimit.Rate <= 0 {
		c.RequestLimit = ratelimit.RequestConfig()
	}
	if c.CursorLimit.Rate <= 0 {
		c.CursorLimit = ratelimit.CursorConfig()
	}
	c.Presence = c.Presence.withDefaults()
	c.Editing = c.Editing.WithDefaults()
	if c.History == nil {
		c.History = DefaultRetention()
	}
	if len(c.ServiceIDs) == 0 {
		c.ServiceIDs = []string{DefaultServiceID}
	} else {
		c.ServiceIDs = slices.Clone(c.ServiceIDs)
	}
	return c
}

// Deps are the handler's collaborators, built once at cold start.
type Deps struct {
	// Store holds all state. Required.
	Store store.Store
	// Posters returns the Management API poster for an endpoint. Required.
	Posters func(endpoint string) broadcast.Poster
	// IsGone reports whether a post error means the connection is gone
	// (410). Required.
	IsGone func(error) bool
	// Auth verifies $connect. Required.
	Auth Authenticator
	// Clock is the time source. Default time.Now.
	Clock store.Clock
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives one CloudWatch EMF document per invocation (stdout
	// in Lambda). Default nil: no metrics.
	Metrics io.Writer
}

// Handler serves the WebSocket routes. It is safe for concurrent use; one
// Handler lives for the life of a warm Lambda environment.
type Handler struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	routes map[string]route

	// Rate limits live in the warm environment: exact in the local server,
	// best effort across Lambda instances.
	requests *ratelimit.Limiter
	cursors  *ratelimit.Limiter

	// cleanups run after a connection is removed ($disconnect, a 410 on
	// broadcast, the sweeper); features register theirs in New.
	cleanups []func(ctx context.Context, c store.Connection, channels []string)
	// sweeps run on every sweeper pass; features register theirs in New.
	sweeps []func(ctx context.Context, now time.Time) error
	// removedByTTL run for each item that DynamoDB's TTL removed (a record
	// of the table's stream, see SweepStream), with its key and the
	// record's time; each ignores the keys of items not its own, and
	// reports whether it announced anything. Features register theirs in
	// New.
	removedByTTL []func(ctx context.Context, pk, sk string, removedAt, now time.Time) (bool, error)
	// onFrame runs for every frame of a known type, before its route;
	// features register theirs in New (presence: the frame counts as
	// activity). They never fail the request.
	onFrame []func(ctx context.Context, r *request)

	mu           sync.Mutex
	broadcasters map[string]*broadcast.Broadcaster
	connCache    map[string]cachedConn
}

// request is one decoded client frame with the caller's connection.
type request struct {
	env   protocol.Envelope
	conn  store.Connection
	event events.APIGatewayWebsocketProxyRequest
	now   time.Time
	bc    *broadcast.Broadcaster
}

// route handles one request type and returns the ack payload or an error;
// *protocol.Error values reach the client, any other error becomes INTERNAL
// or UNAVAILABLE.
type route func(ctx context.Context, r *request) (any, error)

// New builds a Handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if deps.Store == nil || deps.Posters == nil || deps.Auth == nil {
		return nil, errors.New("handler: Store, Posters and Auth are required")
	}
	if deps.IsGone == nil {
		deps.IsGone = func(error) bool { return false }
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if err := cfg.Editing.Check(); err != nil {
		return nil, fmt.Errorf("handler: Config.Editing: %w", err)
	}
	cfg = cfg.withDefaults()
	for _, id := range cfg.ServiceIDs {
		if err := ident.Check(ident.UserID, id); err != nil {
			return nil, fmt.Errorf("handler: Config.ServiceIDs: %w", err)
		}
	}
	h := &Handler{cfg: cfg, deps: deps, log: deps.Logger, broadcasters: map[string]*broadcast.Broadcaster{}, connCache: map[string]cachedConn{},
		requests: ratelimit.New(cfg.RequestLimit), cursors: ratelimit.New(cfg.CursorLimit)}
	h.routes = map[string]route{
		protocol.TypePing:        h.ping,
		protocol.TypeHello:       h.hello,
		protocol.TypeSubscribe:   h.subscribe,
		protocol.TypeUnsubscribe: h.unsubscribe,
		protocol.TypePublish:     h.publish,
	}
	h.registerFeatures()
	return h, nil
}

func (h *Handler) now() time.Time { return h.deps.Clock.Now() }

// Endpoint returns the Management API endpoint for an event: the configured
// override, else the one mgmtapi.EndpointForAPI derives from the event's
// domain name, API id and stage and Config.Region (the execute-api host
// even when the event came through a custom domain name, which does not
// serve the Management API; http for the local gateway).
func (h *Handler) Endpoint(rc events.APIGatewayWebsocketProxyRequestContext) string {
	if h.cfg.ManagementEndpoint != "" {
		return h.cfg.ManagementEndpoint
	}
	return mgmtapi.EndpointForAPI(rc.DomainName, rc.APIID, rc.Stage, h.cfg.Region)
}

// client returns the Management API client of endpoint, for the calls
// other than broadcasts that connectionProber and connectionCloser look
// for: the poster of Deps.Posters, under its sharding when it shards
// (broadcast.ShardedPosters, as the functions that broadcast use).
func (h *Handler) client(endpoint string) broadcast.Poster {
	return broadcast.Unwrap(h.deps.Posters(endpoint))
}

func (h *Handler) broadcaster(endpoint string) *broadcast.Broadcaster {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.broadcasters[endpoint]
	if !ok {
		b = broadcast.New(h.deps.Store, h.deps.Posters(endpoint), broadcast.Config{
			Concurrency: h.cfg.FanoutConcurrency,
			IsGone:      h.deps.IsGone,
			Logger:      h.log,
			OnGone:      h.cleanup,
		})
		h.broadcasters[endpoint] = b
	}
	return b
}

func response(status int, body string) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: status, Body: body}
}

// withMetrics gives ctx the metrics set of one invocation of function
// (its posts count their frames there) and returns the function that
// writes it.
func (h *Handler) withMetrics(ctx context.Context, function string, rc events.APIGatewayWebsocketProxyRequestContext, log *slog.Logger) (context.Context, func()) {
	m := metrics.New(function)
	m.Property("requestId", rc.RequestID)
	m.Property("connectionId", rc.ConnectionID)
	ctx = metrics.With(ctx, m)
	return ctx, func() {
		if err := m.Flush(h.deps.Metrics, h.now()); err != nil {
			log.WarnContext(ctx, "write metrics", "error", err)
		}
	}
}

// Connect handles $connect: it authenticates the request and records the
// connection. A refused identity answers 401, which makes API Gateway (and
// the local gateway) reject the handshake.
func (h *Handler) Connect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := req.RequestContext
	log := h.log.With("requestId", rc.RequestID, "connectionId", rc.ConnectionID, "route", "$connect")
	start := time.Now()
	ctx, flush := h.withMetrics(ctx, metrics.FunctionConnect, rc, log) // the clean-up of gone connections at the limit posts
	defer flush()
	id, err := h.deps.Auth.Authenticate(ctx, req)
	if err == nil {
		err = h.checkIdentity(&id)
	}
	if err != nil {
		log.WarnContext(ctx, "connect refused", "error", err)
		return response(http.StatusUnauthorized, "Unauthorized"), nil
	}
	id = boundIdentity(id)
	now := h.now()
	// The authenticator checked the token's exp as issued; the record keeps
	// it cut to the second, and the frames are checked against that. Check
	// it here too, so that a token accepted now is not refused by a frame
	// sent within the same second.
	id.ExpiresAt = storedTokenExpiry(id.ExpiresAt)
	if tokenExpired(store.Connection{TokenExpiresAt: id.ExpiresAt}, now) {
		log.WarnContext(ctx, "connect refused: token expired at its exp cut to the second", "exp", id.ExpiresAt)
		return response(http.StatusUnauthorized, "Unauthorized"), nil
	}
	c := store.Connection{
		ID: rc.ConnectionID, UserID: id.UserID, Username: id.Username, Avatar: id.Avatar,
		Tenant: id.Tenant, Roles: id.Roles, ConnectedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(h.cfg.ConnectionTTL), Endpoint: h.Endpoint(rc), SourceIP: rc.Identity.SourceIP,
		TokenExpiresAt: id.ExpiresAt,
		// A new connection's presence was in no room yet: a silent
		// spell before its first room brings it back in none.
		RoomsKnown: true,
		// A client that appears offline says so here, before any frame:
		// API Gateway hands a connection's frames to parallel
		// invocations, so a frame stating the status may be handled after
		// another frame already wrote the connection's presence.
		Hidden: req.QueryStringParameters["status"] == store.StatusOffline,
	}
	if err := h.openConnection(ctx, c); errors.Is(err, store.ErrTooManyConnections) {
		log.WarnContext(ctx, "connect refused: connection limit", "userId", c.UserID, "tenant", c.Tenant, "limit", h.cfg.MaxConnectionsPerUser)
		return tooManyConnections(h.cfg.MaxConnectionsPerUser), nil
	} else if err != nil {
		log.ErrorContext(ctx, "record connection", "error", err)
		return response(http.StatusInternalServerError, "Internal Server Error"), nil
	}
	if err := h.recordTokenAlarm(ctx, c); err != nil {
		// Without its alarm the sweeper could not close the connection when
		// the token expires: refuse the handshake instead.
		log.ErrorContext(ctx, "record token alarm", "error", err)
		if _, _, err := h.deps.Store.DeleteConnection(ctx, c.ID); err != nil {
			log.ErrorContext(ctx, "remove refused connection", "error", err)
		}
		return response(http.StatusInternalServerError, "Internal Server Error"), nil
	}
	log.InfoContext(ctx, "connected", "userId", c.UserID, "tenant", c.Tenant, "latencyMs", time.Since(start).Milliseconds())
	resp := response(http.StatusOK, "")
	// A browser that offered subprotocols fails the handshake unless one
	// comes back; never the one that carries the token.
	if p := auth.SelectProtocol(auth.Protocols(req.Headers, req.MultiValueHeaders)); p != "" {
		resp.Headers = map[string]string{"Sec-WebSocket-Protocol": p}
	}
	return resp, nil
}

// errServiceID refuses at $connect a user id that is one of the server's
// own (Config.ServiceIDs).
var errServiceID = errors.New("the user id is reserved for the server's own identities (Config.ServiceIDs)")

// checkIdentity applies the identifier rules (internal/ident) to what any
// Authenticator returned: the user id and tenant, which become storage
// keys, must pass them, and the user id must not be one of the server's
// own identities (Config.ServiceIDs); the display name and avatar are
// cleaned of invisible and control characters.
func (h *Handler) checkIdentity(id *auth.Identity) error {
	if err := ident.Check(ident.UserID, id.UserID); err != nil {
		return err
	}
	if h.isServiceID(id.UserID) {
		return errServiceID
	}
	if err := ident.Check(ident.Tenant, id.Tenant); err != nil {
		return err
	}
	id.Username = ident.Clean(id.Username, ident.MaxDisplayNameLen, false)
	id.Avatar = ident.Clean(id.Avatar, ident.MaxURLLen, false)
	if id.Username == "" {
		id.Username = id.UserID
	}
	return nil
}

// isServiceID reports whether userID is one of Config.ServiceIDs.
func (h *Handler) isServiceID(userID string) bool {
	return slices.Contains(h.cfg.ServiceIDs, userID)
}

// Disconnect handles $disconnect: it removes the connection and all of its
// subscriptions. $disconnect is best effort in API Gateway; the sweeper and
// the 410 path of broadcasts remove what it misses. What its clean-ups
// cannot finish for a failing store (a presence whose departure cannot be
// computed) they leave in place for the sweeper, never half removed.
func (h *Handler) Disconnect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := req.RequestContext
	log := h.log.With("requestId", rc.RequestID, "connectionId", rc.ConnectionID, "route", "$disconnect")
	start := time.Now()
	ctx, flush := h.withMetrics(ctx, metrics.FunctionDisconnect, rc, log) // the clean-ups' broadcasts count their frames here
	defer flush()
	c, chans, err := h.deps.Store.DeleteConnection(ctx, rc.ConnectionID)
	if err != nil {
		log.ErrorContext(ctx, "remove connection", "error", err)
		return response(http.StatusInternalServerError, ""), nil
	}
	if c.ID != "" {
		h.cleanup(ctx, c, chans)
	}
	h.forgetConnection(rc.ConnectionID)
	log.InfoContext(ctx, "disconnected", "userId", c.UserID, "channels", len(chans), "latencyMs", time.Since(start).Milliseconds())
	return response(http.StatusOK, ""), nil
}

// Message handles $default: every client frame. It always answers with
// exactly one frame in the route response body: the reply or an error.
func (h *Handler) Message(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := req.RequestContext
	start := time.Now()
	ctx, flush := h.withMetrics(ctx, "message", rc, h.log)
	m := metrics.From(ctx)
	m.Property("route", "$default")
	resp := h.message(ctx, req)
	m.Add(metrics.FramesIn, 1, metrics.Count)
	m.Add(metrics.HandlerLatency, float64(time.Since(start).Microseconds())/1000, metrics.Milliseconds)
	flush()
	return resp, nil
}

func (h *Handler) message(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	rc := req.RequestContext
	start := time.Now()
	now := h.now()
	body := []byte(req.Body)
	env, err := protocol.Decode(body)
	log := h.log.With("requestId", rc.RequestID, "connectionId", rc.ConnectionID, "route", "$default", "type", env.Type)
	if err != nil {
		log.InfoContext(ctx, "bad frame", "error", err)
		return h.errorResponse(ctx, env.MessageID, clientError(err), now)
	}
	limiter := h.requests
	if env.Type == protocol.TypeCursor {
		limiter = h.cursors
	}
	if !limiter.Allow(rc.ConnectionID, now) {
		retry := limiter.RetryAfter(rc.ConnectionID, now)
		return h.errorResponse(ctx, env.MessageID, protocol.NewError(protocol.CodeRateLimited, "too many frames; this one was dropped").
			WithDetails(map[string]any{"retryAfterMs": max(1, retry/time.Millisecond+min(retry%time.Millisecond, 1))}), now)
	}
	var reuse time.Duration // how old a cached record the frame may use
	if env.Type == protocol.TypeCursor {
		reuse = connCacheTTL
	}
	conn, err := h.connection(ctx, rc.ConnectionID, reuse, now)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return h.errorResponse(ctx, env.MessageID, errNotRegistered(), now)
		}
		log.ErrorContext(ctx, "load connection", "error", err)
		return h.errorResponse(ctx, env.MessageID, clientError(err), now)
	}
	if tokenExpired(conn, now) {
		log.InfoContext(ctx, "token expired", "userId", conn.UserID)
		return h.errorResponse(ctx, env.MessageID, errTokenExpired(), now)
	}
	rt, ok := h.routes[env.Type]
	if !ok {
		return h.errorResponse(ctx, env.MessageID, protocol.NewError(protocol.CodeUnknownType, "unknown request type %q", env.Type), now)
	}
	r := &request{env: env, conn: conn, event: req, now: now, bc: h.broadcaster(h.Endpoint(rc))}
	for _, f := range h.onFrame {
		f(ctx, r)
	}
	result, err := rt(ctx, r)
	latency := time.Since(start)
	if err != nil {
		pe := clientError(err)
		if pe.Code == protocol.CodeInternal || pe.Code == protocol.CodeUnavailable {
			log.ErrorContext(ctx, "request failed", "error", err, "latencyMs", latency.Milliseconds())
		} else {
			log.InfoContext(ctx, "request refused", "code", pe.Code, "latencyMs", latency.Milliseconds())
		}
		return h.errorResponse(ctx, env.MessageID, pe, now)
	}
	out, err := protocol.Reply(env, result, h.now())
	if err != nil {
		log.ErrorContext(ctx, "encode reply", "error", err)
		return h.errorResponse(ctx, env.MessageID, clientError(err), now)
	}
	log.InfoContext(ctx, "handled", "latencyMs", latency.Milliseconds())
	return response(http.StatusOK, string(out))
}

// connCacheTTL is how long a cursor frame may rely on a connection record
// read by an earlier frame of the same connection in this warm environment.
// The record's identity fields never change, and API Gateway stops routing
// frames of a closed connection, so the only staleness is LastSeenAt.
const connCacheTTL = 10 * time.Second

// connCacheMax bounds the cache; it is cleared when full.
const connCacheMax = 10000

type cachedConn struct {
	conn store.Connection
	at   time.Time
}

// connection returns the caller's connection record: the one cached by
// an earlier frame of the connection in this warm environment when it was
// read less than reuse ago, else one read from the store, which refreshes
// the cache. High-frequency ephemeral frames (cursors) may use a record
// cached for connCacheTTL, so that they cost no DynamoDB read; every
// other frame reads the store (reuse 0).
func (h *Handler) connection(ctx context.Context, id string, reuse time.Duration, now time.Time) (store.Connection, error) {
	if reuse > 0 {
		h.mu.Lock()
		c, ok := h.connCache[id]
		h.mu.Unlock()
		if ok && now.Sub(c.at) < min(reuse, connCacheTTL) && now.Before(c.conn.ExpiresAt) {
			return c.conn, nil
		}
	}
	conn, err := h.deps.Store.GetConnection(ctx, id)
	h.mu.Lock()
	if err != nil {
		delete(h.connCache, id)
	} else {
		if len(h.connCache) >= connCacheMax {
			clear(h.connCache)
		}
		h.connCache[id] = cachedConn{conn: conn, at: now}
	}
	h.mu.Unlock()
	return conn, err
}

// connSession notes in the cached record of connection id, if any, the
// hidden flag and the rooms session write w just stored, HiddenBefore
// when it set it, and the rooms of hidden sessions when it set them.
func (h *Handler) connSession(id string, w store.SessionWrite) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.connCache[id]; ok {
		c.conn.Hidden = w.Session.Hidden()
		c.conn.Rooms = slices.Clone(w.Session.Rooms)
		c.conn.RoomsKnown = true
		c.conn.HiddenBefore = c.conn.HiddenBefore || w.HiddenBefore
		if w.SetHiddenRooms {
			c.conn.HiddenRooms, c.conn.HiddenRoomsKnown = store.HiddenRoomsOf(w), w.HiddenRoomsKnown
		}
		h.connCache[id] = c
	}
}

func (h *Handler) errorResponse(ctx context.Context, replyTo string, e *protocol.Error, now time.Time) events.APIGatewayProxyResponse {
	metrics.From(ctx).Add(metrics.Errors, 1, metrics.Count)
	return response(http.StatusOK, string(protocol.ErrorReply(replyTo, e, now)))
}

// cleanup runs every feature's clean-up for a removed connection.
func (h *Handler) cleanup(ctx context.Context, c store.Connection, channels []string) {
	for _, f := range h.cleanups {
		f(ctx, c, channels)
	}
}

// sweeperMetrics starts the metrics of a sweeper invocation, in the
// context it returns, with SweepRemoved at 0; flush writes them.
func (h *Handler) sweeperMetrics(ctx context.Context) (_ context.Context, flush func()) {
	m := metrics.New("sweeper")
	ctx = metrics.With(ctx, m)
	m.Add(metrics.SweepRemoved, 0, metrics.Count)
	return ctx, func() {
		if err := m.Flush(h.deps.Metrics, h.now()); err != nil {
			h.log.WarnContext(ctx, "write metrics", "error", err)
		}
	}
}

// Sweep runs one pass of the scheduled sweeper: every registered sweep, in
// order. It is idempotent and safe when two passes overlap.
func (h *Handler) Sweep(ctx context.Context) error {
	now := h.now()
	ctx, flush := h.sweeperMetrics(ctx)
	defer flush()
	var errs []error
	for _, f := range h.sweeps {
		if deadline.Near(ctx, deadline.SweepReserve) {
			h.log.WarnContext(ctx, "sweep cut short: the invocation is about to end", "route", "sweeper")
			break
		}
		if err := f(ctx, now); err != nil {
			errs = append(errs, err)
		}
	}
	h.log.InfoContext(ctx, "sweep done", "route", "sweeper", "errors", len(errs))
	return errors.Join(errs...)
}
