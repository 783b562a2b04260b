package gateway

import (
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
)

// Defaults, the limits of API Gateway WebSocket APIs.
const (
	// DefaultAddr is the listen address of ListenAndServe.
	DefaultAddr = "127.0.0.1:3001"
	// DefaultStage is the stage name, the path of the WebSocket endpoint.
	DefaultStage = "ws"
	// DefaultMaxMessageBytes is the largest message a client may send, the
	// largest route response and the largest body the Management API
	// accepts (128 KB, the "Message payload size" quota).
	DefaultMaxMessageBytes = 128 * 1024
	// DefaultMaxFrameBytes is the largest frame a client may send (32 KB,
	// the "WebSocket frame size" quota). A message may span several frames.
	DefaultMaxFrameBytes = 32 * 1024
	// DefaultIdleTimeout closes a connection that carried no message for
	// this long.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxLifetime closes every connection this long after it opened.
	DefaultMaxLifetime = 2 * time.Hour
	// DefaultIntegrationTimeout bounds one invocation of a route.
	DefaultIntegrationTimeout = 29 * time.Second
	// DefaultAPIID is the apiId reported in events.
	DefaultAPIID = "localapi01"
	// DefaultRegion is the region signatures must be scoped to.
	DefaultRegion = "us-east-1"
)

// Config configures a Server. The zero value is usable: every field has a
// default matching API Gateway.
type Config struct {
	// Addr is the address ListenAndServe listens on. Default
	// "127.0.0.1:3001". Serve uses its listener's address instead.
	Addr string
	// Stage is the stage name: clients connect to ws://host:port/<Stage>
	// and the Management API is served at
	// http://host:port/<Stage>/@connections/{id}. Default "ws".
	Stage string
	// MaxMessageBytes is the largest message a client may send (a larger
	// one closes the connection with 1009 "Message too big") and the largest
	// body of a Management API POST (a larger one gets 413). Default
	// 131072 (128 KB).
	MaxMessageBytes int64
	// MaxFrameBytes is the largest payload of one WebSocket frame a client
	// may send; a larger frame closes the connection with 1009 "Message too
	// big" before any of it reaches an integration. Browsers send every
	// message as one frame, so for them it is the message limit. Default
	// 32768 (32 KB).
	MaxFrameBytes int64
	// IdleTimeout closes a connection with 1001 "Going away" when no message
	// went over it, in either direction, for this long. Default 10 minutes.
	IdleTimeout time.Duration
	// MaxLifetime closes a connection with 1001 "Going away" this long
	// after it opened. Default 2 hours.
	MaxLifetime time.Duration
	// NewConnectionsPerSecond, when above zero and finite, refuses
	// handshakes past that rate with 429 before $connect runs, as API
	// Gateway does past its account quota of 500 new connections a second
	// (a bucket of that many, at most 2^31-1, refilled at that rate).
	// Default 0: no bound (load and test tools that open thousands of
	// connections at once), as are a negative value, NaN and +Inf; the
	// local server (cmd/localserver) sets 500.
	NewConnectionsPerSecond float64
	// IntegrationTimeout bounds one Invoke; a $default invocation that
	// takes longer gets API Gateway's "Endpoint request timed out" frame, a
	// $connect one a 504. Default 29 seconds.
	IntegrationTimeout time.Duration
	// APIID is the requestContext.apiId of every event. Default
	// "localapi01".
	APIID string
	// Logger receives connection lifecycle and integration errors. Default:
	// a logger that discards everything.
	Logger *slog.Logger
	// Static serves every request outside /<Stage> (the demo page at /, for
	// instance). Default nil: such requests get 404.
	Static http.Handler
	// LoopbackOnly, for development servers that trust identities without
	// verification, refuses with 403, before $connect runs, any request
	// outside the Management API (which needs a signature and refuses
	// browsers in any case) whose Host is not a loopback name (localhost, 127.0.0.0/8, [::1],
	// with any port) and any WebSocket handshake whose Origin is neither a
	// loopback page nor in AllowedOrigins; handshakes without Origin (not
	// from a browser) pass. API Gateway has no such check. Default false.
	LoopbackOnly bool
	// AllowedOrigins are further origins (e.g. "http://dev.example:5173")
	// whose pages may connect when LoopbackOnly is set. Default none.
	AllowedOrigins []string
	// Credentials maps each access key id the Management API accepts to its
	// secret access key: every Management API request (POST, GET and
	// DELETE) must carry a valid Signature Version 4 (service execute-api)
	// made with one of them, as API Gateway requires IAM authorization;
	// others get 403. Default: LocalAccessKeyID with LocalSecretAccessKey.
	Credentials map[string]string
	// Region is the API's region: a signature (Management API and
	// SignedAPI) must be scoped to it, and one scoped to another region
	// gets API Gateway's 403 InvalidSignatureException "Credential should
	// be scoped to a valid region, not 'X'. ". Default "us-east-1"; the
	// local server passes its AWS_REGION.
	Region string
	// ManagementFault, when set, is called before each Management API
	// request is handled, to inject faults in tests: the request is first
	// held for delay (or until the client gives up), then, if status is
	// non-zero, answered with that status and the matching API Gateway error
	// (429 LimitExceededException, 5xx InternalServerErrorException, ...),
	// or with an empty 2xx as a post is, instead of being carried out. The
	// request body may be read; it is buffered. Server.PostToConnection,
	// which bypasses HTTP, does not consult it. Default nil: no faults.
	ManagementFault func(r *http.Request) (status int, delay time.Duration)
	// SignedAPI, when set, serves the requests under /api/ (with the
	// prefix removed, so /api/publish reaches it as /publish) after the
	// same checks as a Management API request: a Signature Version 4
	// (service execute-api) made with one of Credentials, as an API
	// Gateway HTTP API with AWS_IAM authorization requires, and no
	// browser origin; others get 403. A body over SignedAPIMaxBytes (an
	// HTTP API's payload quota) gets 413. Default nil: /api/ is served
	// like any other path outside the stage.
	SignedAPI http.Handler
	// SignedAPIRoute, when set, reports whether a request to the signed
	// API (its method, and its path with the prefix removed) matches one
	// of its routes. One that does not gets 404 {"message":"Not Found"}
	// before its signature is checked: an HTTP API attaches IAM
	// authorization to routes, so a request no route matches is answered
	// Not Found, signed or not. Default nil: every request is checked for
	// a signature and handed to SignedAPI.
	SignedAPIRoute func(method, path string) bool
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	c.Stage = strings.Trim(c.Stage, "/")
	if c.Stage == "" {
		c.Stage = DefaultStage
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxLifetime <= 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.IntegrationTimeout <= 0 {
		c.IntegrationTimeout = DefaultIntegrationTimeout
	}
	if c.APIID == "" {
		c.APIID = DefaultAPIID
	}
	if !(c.NewConnectionsPerSecond > 0) || math.IsInf(c.NewConnectionsPerSecond, 1) {
		c.NewConnectionsPerSecond = 0 // zero, negative, NaN or +Inf: no bound
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if len(c.Credentials) == 0 {
		c.Credentials = map[string]string{LocalAccessKeyID: LocalSecretAccessKey}
	}
	return c
}
