package mgmtapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/omnisales/rtcollab/internal/awsrest"
)

// Defaults applied by New for zero Options fields (see awsrest.Options).
const (
	// DefaultMaxAttempts is the number of attempts per call, the first
	// included (the SDK's standard retryer uses the same).
	DefaultMaxAttempts = awsrest.DefaultMaxAttempts
	// DefaultMaxBackoff caps the delay between two attempts (the SDK's
	// standard retryer uses the same).
	DefaultMaxBackoff = awsrest.DefaultMaxBackoff
	// DefaultAttemptTimeout bounds a single attempt.
	DefaultAttemptTimeout = awsrest.DefaultAttemptTimeout
	// DefaultRegion is the signing region used when aws.Config has none.
	DefaultRegion = awsrest.DefaultRegion
)

// SigningService is the SigV4 service name of the Management API.
const SigningService = "execute-api"

// postHeader is the header of every post; awsrest copies its values into
// each request and never modifies them.
var postHeader = http.Header{"Content-Type": {"application/octet-stream"}}

// Operation names, as used in APIError.Op and in wrapped errors.
const (
	OpPostToConnection = "PostToConnection"
	OpGetConnection    = "GetConnection"
	OpDeleteConnection = "DeleteConnection"
)

// Options tunes a Client: its HTTP client, attempts, backoff, attempt
// timeout and signing clock. A nil *Options means every default.
type Options = awsrest.Options

// Connection is the metadata GetConnection returns.
type Connection struct {
	// ConnectedAt is when the connection was established.
	ConnectedAt time.Time `json:"connectedAt"`
	// Identity describes the client that opened the connection.
	Identity Identity `json:"identity"`
	// LastActiveAt is when a frame last went over the connection.
	LastActiveAt time.Time `json:"lastActiveAt"`
}

// Identity describes the client of a connection.
type Identity struct {
	// SourceIP is the client's address as API Gateway saw it.
	SourceIP string `json:"sourceIp"`
	// UserAgent is the User-Agent header of the WebSocket handshake.
	UserAgent string `json:"userAgent"`
}

// Client calls the Management API of one API stage. It is safe for
// concurrent use.
type Client struct {
	endpoint string
	base     *url.URL // endpoint, parsed
	baseErr  error
	rest     *awsrest.Client
}

// New returns a Client for endpoint, the stage URL of a WebSocket API such
// as "https://abc123.execute-api.eu-west-1.amazonaws.com/prod" (see
// EndpointFromEvent). Requests are signed for cfg.Region (DefaultRegion when
// empty) with cfg.Credentials; nil credentials or aws.AnonymousCredentials
// send unsigned requests, as the SDK does. A malformed endpoint is reported
// by every call rather than here.
func New(endpoint string, cfg aws.Config, opts *Options) *Client {
	endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
	c := &Client{endpoint: endpoint, rest: awsrest.New(SigningService, cfg, opts)}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		c.baseErr = err
	case u.Scheme != "http" && u.Scheme != "https":
		c.baseErr = fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		c.baseErr = errors.New("no host")
	default:
		u.RawPath = u.EscapedPath()
		u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", false
		c.base = u
	}
	return c
}

// Endpoint returns the stage URL the client calls.
func (c *Client) Endpoint() string { return c.endpoint }

// PostToConnection sends data to the connection as one frame.
func (c *Client) PostToConnection(ctx context.Context, connectionID string, data []byte) error {
	_, err := c.call(ctx, OpPostToConnection, http.MethodPost, connectionID, data, "")
	return err
}

// PrepareFrame returns a function that sends data to one connection, as
// PostToConnection does, for a frame posted to many connections: the
// payload's hash, which every signed request carries, is computed here
// once instead of once per post. data must not change while the function
// is in use. The function is safe for concurrent use.
func (c *Client) PrepareFrame(data []byte) func(ctx context.Context, connectionID string) error {
	hash := awsrest.PayloadHash(data)
	return func(ctx context.Context, connectionID string) error {
		_, err := c.call(ctx, OpPostToConnection, http.MethodPost, connectionID, data, hash)
		return err
	}
}

// GetConnection returns the metadata of the connection.
func (c *Client) GetConnection(ctx context.Context, connectionID string) (*Connection, error) {
	body, err := c.call(ctx, OpGetConnection, http.MethodGet, connectionID, nil, "")
	if err != nil {
		return nil, err
	}
	var conn Connection
	if err := json.Unmarshal(body, &conn); err != nil {
		return nil, fmt.Errorf("%s %q: decode response: %w", OpGetConnection, connectionID, err)
	}
	return &conn, nil
}

// DeleteConnection closes the connection. API Gateway then runs the
// $disconnect route for it.
func (c *Client) DeleteConnection(ctx context.Context, connectionID string) error {
	_, err := c.call(ctx, OpDeleteConnection, http.MethodDelete, connectionID, nil, "")
	return err
}

// call runs one operation with retries and returns the body of the
// successful response. A failed response becomes an *APIError. payloadHash
// is body's (awsrest.PayloadHash), or "" to have it computed.
func (c *Client) call(ctx context.Context, op, method, connectionID string, body []byte, payloadHash string) ([]byte, error) {
	if c.baseErr != nil {
		return nil, fmt.Errorf("%s %q: endpoint %q: %w", op, connectionID, c.endpoint, c.baseErr)
	}
	if connectionID == "" {
		return nil, fmt.Errorf("%s %q: empty connection id", op, connectionID)
	}
	const connections = "/@connections/"
	target := *c.base
	target.Path = c.base.Path + connections + connectionID
	raw := make([]byte, 0, len(c.base.RawPath)+len(connections)+3*len(connectionID))
	raw = append(append(raw, c.base.RawPath...), connections...)
	target.RawPath = string(awsrest.AppendEscapedPath(raw, connectionID, true))
	req := awsrest.Request{Method: method, Target: &target}
	if method == http.MethodPost {
		req.Header = postHeader
		req.Body = body
		req.PayloadHash = payloadHash
	}
	out, _, err := c.rest.Do(ctx, req)
	if err == nil {
		return out, nil
	}
	var se *awsrest.StatusError
	if errors.As(err, &se) {
		apiErr := &APIError{Op: op, ConnectionID: connectionID, Status: se.Status, Type: se.Type, Message: se.Message}
		if apiErr.Type == "" {
			apiErr.Type = defaultType(se.Status)
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("%s %q: %w; last attempt: %w", op, connectionID, ctx.Err(), apiErr)
		}
		return nil, apiErr
	}
	return nil, fmt.Errorf("%s %q: %w", op, connectionID, err)
}
