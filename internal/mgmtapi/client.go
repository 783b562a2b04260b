package mgmtapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// Defaults applied by New for zero Options fields.
const (
	// DefaultMaxAttempts is the number of attempts per call, the first
	// included (the SDK's standard retryer uses the same).
	DefaultMaxAttempts = retry.DefaultMaxAttempts
	// DefaultMaxBackoff caps the delay between two attempts (the SDK's
	// standard retryer uses the same).
	DefaultMaxBackoff = retry.DefaultMaxBackoff
	// DefaultAttemptTimeout bounds a single attempt.
	DefaultAttemptTimeout = 10 * time.Second
	// DefaultRegion is the signing region used when aws.Config has none.
	DefaultRegion = "us-east-1"
)

// SigningService is the SigV4 service name of the Management API.
const SigningService = "execute-api"

// Operation names, as used in APIError.Op and in wrapped errors.
const (
	OpPostToConnection = "PostToConnection"
	OpGetConnection    = "GetConnection"
	OpDeleteConnection = "DeleteConnection"
)

const (
	maxErrorBody   = 64 << 10
	maxSuccessBody = 1 << 20
)

// Options tunes a Client. A nil *Options means every default.
type Options struct {
	// HTTPClient sends the requests. Default: a client of its own with a
	// clone of http.DefaultTransport allowing 64 idle connections per host
	// (broadcasts post to one host concurrently) and no overall timeout;
	// AttemptTimeout bounds each attempt instead.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts per call, the first included; 1
	// disables retries. Default 3 (DefaultMaxAttempts); values below 1 mean
	// the default.
	MaxAttempts int
	// MaxBackoff caps the delay between two attempts. Default 20s
	// (DefaultMaxBackoff); values of 0 or less mean the default.
	MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt (connect, send, read the reply); a
	// timed-out attempt is retried. Default 10s (DefaultAttemptTimeout); a
	// negative value means no per-attempt limit (the caller's context still
	// applies).
	AttemptTimeout time.Duration
	// Backoff chooses the delay before the next attempt from the 1-based
	// number of the attempt that failed. Default: the SDK's
	// retry.NewExponentialJitterBackoff(MaxBackoff), a full-jitter
	// exponential backoff starting below 2s.
	Backoff retry.BackoffDelayer
	// Now is the clock used for signing. Default time.Now.
	Now func() time.Time
}

// resolved returns a copy of o with every default applied.
func (o *Options) resolved() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.HTTPClient == nil {
		r.HTTPClient = newHTTPClient()
	}
	if r.MaxAttempts < 1 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.AttemptTimeout == 0 {
		r.AttemptTimeout = DefaultAttemptTimeout
	}
	if r.Backoff == nil {
		r.Backoff = retry.NewExponentialJitterBackoff(r.MaxBackoff)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

func newHTTPClient() *http.Client {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t = t.Clone()
		t.MaxIdleConnsPerHost = 64
		return &http.Client{Transport: t}
	}
	return &http.Client{}
}

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
	baseErr  error
	region   string
	creds    aws.CredentialsProvider // nil: requests go unsigned
	signer   *v4.Signer
	opts     Options
}

// New returns a Client for endpoint, the stage URL of a WebSocket API such
// as "https://abc123.execute-api.eu-west-1.amazonaws.com/prod" (see
// EndpointFromEvent). Requests are signed for cfg.Region (DefaultRegion when
// empty) with cfg.Credentials; nil credentials or aws.AnonymousCredentials
// send unsigned requests, as the SDK does. A malformed endpoint is reported
// by every call rather than here.
func New(endpoint string, cfg aws.Config, opts *Options) *Client {
	endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
	c := &Client{
		endpoint: endpoint,
		region:   cfg.Region,
		creds:    cfg.Credentials,
		signer:   v4.NewSigner(),
		opts:     opts.resolved(),
	}
	if c.region == "" {
		c.region = DefaultRegion
	}
	switch {
	case c.creds == nil, aws.IsCredentialsProvider(c.creds, aws.AnonymousCredentials{}):
		c.creds = nil
	case !aws.IsCredentialsProvider(c.creds, (*aws.CredentialsCache)(nil)):
		c.creds = aws.NewCredentialsCache(c.creds)
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		c.baseErr = err
	case u.Scheme != "http" && u.Scheme != "https":
		c.baseErr = fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		c.baseErr = errors.New("no host")
	}
	return c
}

// Endpoint returns the stage URL the client calls.
func (c *Client) Endpoint() string { return c.endpoint }

// PostToConnection sends data to the connection as one frame.
func (c *Client) PostToConnection(ctx context.Context, connectionID string, data []byte) error {
	_, err := c.call(ctx, OpPostToConnection, http.MethodPost, connectionID, data)
	return err
}

// GetConnection returns the metadata of the connection.
func (c *Client) GetConnection(ctx context.Context, connectionID string) (*Connection, error) {
	body, err := c.call(ctx, OpGetConnection, http.MethodGet, connectionID, nil)
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
	_, err := c.call(ctx, OpDeleteConnection, http.MethodDelete, connectionID, nil)
	return err
}

// call runs one operation with retries and returns the body of the
// successful response.
func (c *Client) call(ctx context.Context, op, method, connectionID string, body []byte) ([]byte, error) {
	if c.baseErr != nil {
		return nil, fmt.Errorf("%s %q: endpoint %q: %w", op, connectionID, c.endpoint, c.baseErr)
	}
	if connectionID == "" {
		return nil, fmt.Errorf("%s %q: empty connection id", op, connectionID)
	}
	target := c.endpoint + "/@connections/" + httpbinding.EscapePath(connectionID, true)
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	for attempt := 1; ; attempt++ {
		out, err := c.attempt(ctx, op, method, target, connectionID, body, payloadHash)
		if err == nil {
			return out, nil
		}
		if !retryable(ctx, err) || attempt >= c.opts.MaxAttempts {
			return nil, finalError(op, connectionID, err)
		}
		delay, derr := c.opts.Backoff.BackoffDelay(attempt, err)
		if derr != nil {
			return nil, fmt.Errorf("%s %q: compute backoff: %w", op, connectionID, errors.Join(derr, err))
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
			// The next attempt could not start before the caller's
			// deadline: report the last outcome now rather than sleep.
			return nil, finalError(op, connectionID, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %q: %w; last attempt: %w", op, connectionID, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// finalError returns err as the result of a call: an *APIError as is,
// anything else wrapped with the operation and connection id.
func finalError(op, connectionID string, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return fmt.Errorf("%s %q: %w", op, connectionID, err)
}

// attempt sends one signed request. A non-2xx status is returned as an
// *APIError.
func (c *Client) attempt(ctx context.Context, op, method, target, connectionID string, body []byte, payloadHash string) ([]byte, error) {
	if c.opts.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.AttemptTimeout)
		defer cancel()
	}
	var rd io.Reader = http.NoBody
	if method == http.MethodPost {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if c.creds != nil {
		creds, err := c.creds.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("retrieve credentials: %w", err)
		}
		if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, SigningService, c.region, c.opts.Now()); err != nil {
			return nil, fmt.Errorf("sign request: %w", err)
		}
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		out, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBody))
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		return out, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, newAPIError(op, connectionID, resp, raw)
}

// newAPIError reads the error type and message of a failed response.
func newAPIError(op, connectionID string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Op: op, ConnectionID: connectionID, Status: resp.StatusCode}
	var doc struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(body, &doc) // bodies are often empty or not JSON
	e.Type = resp.Header.Get("X-Amzn-Errortype")
	if e.Type == "" {
		e.Type = doc.Type
	}
	if e.Type == "" {
		e.Type = doc.Code
	}
	// Types may carry a namespace prefix or a ":..." suffix.
	if i := strings.IndexByte(e.Type, ':'); i >= 0 {
		e.Type = e.Type[:i]
	}
	if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
		e.Type = e.Type[i+1:]
	}
	if e.Type == "" {
		e.Type = defaultType(resp.StatusCode)
	}
	e.Message = doc.Message
	if e.Message == "" {
		e.Message = doc.MessageU
	}
	return e
}

// retryable reports whether err, the outcome of one attempt, may succeed on
// another attempt. Nothing is retried once the caller's context is done.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return retryableStatus(apiErr.Status)
	}
	if errors.Is(err, context.DeadlineExceeded) { // the attempt timed out
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}
