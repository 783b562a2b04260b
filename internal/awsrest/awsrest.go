// Package awsrest sends signed HTTP requests to AWS service APIs: Signature
// Version 4 with the SDK's signer and credentials, capped and jittered
// exponential backoff from the SDK's retry package, a timeout per attempt,
// and the service's error type and message read from failed responses.
//
// It lets the Lambda bootstraps call the few operations they need (the
// Management API, SSM GetParameter, Lambda Invoke) without linking a whole
// SDK service client and the SDK's configuration loader, which together
// make up several megabytes of every binary.
//
// Entry points: New builds a Client for one service; Client.Do sends one
// request with retries; FromEnv builds the aws.Config a Lambda function
// receives from its environment; Endpoint names a service's regional
// endpoint.
package awsrest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/omnisales/rtcollab/internal/backoff"
)

// Defaults applied for zero Options fields.
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

const (
	maxErrorBody   = 64 << 10
	maxSuccessBody = 1 << 20
)

// Options tunes a Client. A nil *Options means every default.
type Options struct {
	// HTTPClient sends the requests. Default: NewHTTPClient's, which sends
	// each request in the caller's goroutine over HTTP/1.1 connections
	// kept for reuse, up to 1,024 idle per host (a broadcast posts to one
	// host with up to broadcast.DefaultConcurrency requests in flight, and
	// a process that runs several shards at once, as the load generator
	// does, more), and has no overall timeout; AttemptTimeout bounds each
	// attempt instead.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts per call, the first included; 1
	// disables retries. Default 3 (DefaultMaxAttempts); values below 1 mean
	// the default.
	MaxAttempts int
	// MaxBackoff caps the delay between two attempts. Default 20s
	// (DefaultMaxBackoff); values of 0 or less mean the default. It also
	// bounds the wait a failed answer's Retry-After may ask for: a call
	// asked to wait longer ends with that answer (see Do).
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
	// Sleep waits d before a retry, or returns ctx's error when ctx ends
	// first. Default backoff.Wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxThrottleAttempts bounds the attempts per call while the service
	// answers with throttling (429 or a throttling error type), the first
	// included; other retryable failures still stop at MaxAttempts. A
	// throttled request was not carried out, so sending it again cannot
	// repeat its effect. Default MaxAttempts; values below MaxAttempts mean
	// MaxAttempts.
	MaxThrottleAttempts int
	// Pacer, when set, paces the attempts: every attempt, retries
	// included, first waits on it, and a call's first throttled answer is
	// reported to it (its retries' throttled answers are not: see Do).
	// Clients that share Options (a Pool's) share the Pacer. Default nil:
	// no pacing.
	Pacer Pacer
}

// Pacer spreads attempts over time and slows down on throttling; see
// ratelimit.Pacer.
type Pacer interface {
	// Wait blocks until one attempt may start, or returns ctx's error.
	Wait(ctx context.Context) error
	// Throttled reports that a call was answered with throttling: once
	// per call, at its first throttled attempt.
	Throttled()
}

// Resolved returns a copy of o with every default applied. A Pool resolves
// once so that its clients share one HTTP client.
func (o *Options) Resolved() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.HTTPClient == nil {
		r.HTTPClient = NewHTTPClient()
	}
	if r.MaxAttempts < 1 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.MaxThrottleAttempts < r.MaxAttempts {
		r.MaxThrottleAttempts = r.MaxAttempts
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
	if r.Sleep == nil {
		r.Sleep = backoff.Wait
	}
	return r
}

// NewHTTPClient returns the HTTP client a Client uses by default: an
// H1Transport with its defaults and no timeout of its own (attempts have
// their own deadline).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &H1Transport{}}
}

// StatusError is a non-2xx response of the last attempt.
type StatusError struct {
	// Status is the HTTP status code.
	Status int
	// Type is the service's error type, e.g. "GoneException" or
	// "ParameterNotFound", from the x-amzn-ErrorType header or the body,
	// without namespace prefix or ":..." suffix; "" when the response
	// names none.
	Type string
	// Message is the service's error message, possibly empty.
	Message string
	// RetryAfter is how long the service asks the caller to wait before
	// sending again: the Retry-After header, in whole seconds (the form
	// AWS documents, e.g. the retryAfterSeconds of Lambda's
	// TooManyRequestsException) or as an HTTP date, counted from the
	// answer's Date header (from now when it has none); 0 when there is
	// none, it is neither, or it asks for no wait. Do's retries wait at
	// least this long; callers that retry themselves may read it too.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, e.Type)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Client signs and sends requests to one AWS service. It is safe for
// concurrent use.
type Client struct {
	region string
	creds  aws.CredentialsProvider // nil: requests go unsigned
	signer *Signer                 // for the service and region
	opts   Options
}

// New returns a Client signing for service (the SigV4 name, e.g.
// "execute-api", "ssm", "lambda") in cfg.Region (DefaultRegion when empty)
// with cfg.Credentials; nil credentials or aws.AnonymousCredentials send
// unsigned requests, as the SDK does.
func New(service string, cfg aws.Config, opts *Options) *Client {
	c := &Client{
		region: cfg.Region,
		creds:  cfg.Credentials,
		opts:   opts.Resolved(),
	}
	if c.region == "" {
		c.region = DefaultRegion
	}
	c.signer = NewSigner(service, c.region)
	switch {
	case c.creds == nil, aws.IsCredentialsProvider(c.creds, aws.AnonymousCredentials{}):
		c.creds = nil
	case !aws.IsCredentialsProvider(c.creds, (*aws.CredentialsCache)(nil)):
		c.creds = aws.NewCredentialsCache(c.creds)
	}
	return c
}

// Region returns the signing region.
func (c *Client) Region() string { return c.region }

// Request is one call. Body is sent for POST and PUT only.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Target, when set, is URL already parsed: a caller that sends many
	// requests builds it from a parsed base rather than have each URL
	// parsed again. Its RawPath, when set, must be a valid escaping of
	// its Path (what URL.EscapedPath returns); it is signed as it is.
	Target *url.URL
	// PayloadHash is the SHA-256 of Body in lower-case hex (see
	// PayloadHash), signed as the request's payload. Callers that send one
	// body in many requests compute it once; when empty, Do computes it.
	PayloadHash string
}

// PayloadHash returns the SHA-256 of body in lower-case hex, the payload
// hash SigV4 signs.
func PayloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Do sends r, retrying throttling, server errors, timeouts and connection
// failures, and returns the body of the successful (2xx) response and its
// status. A failed response ends as a *StatusError (possibly wrapped with
// the context's error); other failures are returned as they are. Throttled
// attempts count against MaxThrottleAttempts, the others against
// MaxAttempts; with a Pacer, every attempt waits for it first.
//
// A retry waits for the Backoff's delay, or, when the failed answer
// carries Retry-After (StatusError.RetryAfter: a 429, a 503), for at
// least the wait it asks for: that wait plus the Backoff's delay, at most
// MaxBackoff. An answer that asks for a wait longer than MaxBackoff, or
// one that would end past ctx's deadline, ends the call at once with that
// answer rather than send again early or sleep into the deadline.
//
// The Pacer hears of a call's throttling once, at its first throttled
// attempt. Throttling of the whole budget (the account's, in API Gateway)
// shows as throttled answers to many calls, each of which reports it; but
// API Gateway also answers 429 to every post to one connection whose
// client reads slowly, and if each retry of that one post reported it, a
// single slow client would cut the rate of every call sharing the Pacer
// again and again. The retries still wait for the backoff and the Pacer.
func (c *Client) Do(ctx context.Context, r Request) ([]byte, int, error) {
	payloadHash := r.PayloadHash
	if payloadHash == "" {
		payloadHash = PayloadHash(r.Body)
	}
	var last error     // the previous attempt's failure
	others := 0        // attempts that failed other than by throttling
	throttled := false // an attempt was throttled (and the Pacer told)
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil && c.opts.Pacer != nil {
			// Given up already: no token of the budget for a call that
			// will not be sent.
			if last != nil {
				return nil, 0, fmt.Errorf("%w; last attempt: %w", err, last)
			}
			return nil, 0, err
		}
		if c.opts.Pacer != nil {
			if err := c.opts.Pacer.Wait(ctx); err != nil {
				if last != nil {
					return nil, 0, fmt.Errorf("wait for the request budget: %w; last attempt: %w", err, last)
				}
				return nil, 0, fmt.Errorf("wait for the request budget: %w", err)
			}
		}
		out, status, err := c.attempt(ctx, r, payloadHash)
		if err == nil {
			return out, status, nil
		}
		last = err
		stop := attempt >= c.opts.MaxThrottleAttempts
		if Throttling(err) {
			if !throttled && c.opts.Pacer != nil {
				c.opts.Pacer.Throttled()
			}
			throttled = true
		} else {
			others++
			stop = stop || others >= c.opts.MaxAttempts
		}
		if stop || !retryable(ctx, err) {
			return nil, status, err
		}
		delay, derr := c.opts.Backoff.BackoffDelay(attempt, err)
		if derr != nil {
			return nil, status, fmt.Errorf("compute backoff: %w", errors.Join(derr, err))
		}
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > 0 {
			if se.RetryAfter > c.opts.MaxBackoff {
				// Asked to wait longer than any wait here: sending
				// sooner would go against the answer.
				return nil, status, err
			}
			// At least the wait asked for, spread by the backoff's
			// delay within the cap, so that calls answered together do
			// not all come back at once.
			delay = max(delay, min(se.RetryAfter+delay, c.opts.MaxBackoff))
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
			// The next attempt could not start before the caller's
			// deadline: report the last outcome now rather than sleep.
			return nil, status, err
		}
		if werr := c.opts.Sleep(ctx, delay); werr != nil {
			return nil, status, fmt.Errorf("%w; last attempt: %w", werr, err)
		}
	}
}

// attempt sends one signed request. A non-2xx status is returned as a
// *StatusError.
func (c *Client) attempt(ctx context.Context, r Request, payloadHash string) ([]byte, int, error) {
	if c.opts.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.AttemptTimeout)
		defer cancel()
	}
	var rd io.Reader = http.NoBody
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		rd = bytes.NewReader(r.Body)
	}
	target := r.URL
	if r.Target != nil {
		target = ""
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	if r.Target != nil {
		req.URL, req.Host = r.Target, r.Target.Host
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if c.creds != nil {
		creds, err := c.creds.Retrieve(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("retrieve credentials: %w", err)
		}
		escaped := ""
		if r.Target != nil {
			escaped = r.Target.RawPath
		}
		if err := c.signer.sign(ctx, req, creds, payloadHash, c.opts.Now(), escaped); err != nil {
			return nil, 0, fmt.Errorf("sign request: %w", err)
		}
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if resp.ContentLength == 0 {
			return nil, resp.StatusCode, nil
		}
		out, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBody))
		if err != nil {
			return nil, resp.StatusCode, fmt.Errorf("read response: %w", err)
		}
		return out, resp.StatusCode, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, resp.StatusCode, newStatusError(resp, raw)
}

// send sends req. A plain client (no cookie jar, redirect policy or
// timeout of its own: AWS's APIs answer without redirects, and attempts
// have their own deadline) hands it to its transport directly, which saves
// the client's per-request header copying.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	hc := c.opts.HTTPClient
	if hc.Jar != nil || hc.CheckRedirect != nil || hc.Timeout != 0 {
		return hc.Do(req)
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: req.Method, URL: req.URL.Redacted(), Err: err}
	}
	return resp, nil
}

// newStatusError reads the error type and message of a failed response.
func newStatusError(resp *http.Response, body []byte) *StatusError {
	e := &StatusError{Status: resp.StatusCode}
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
	e.Message = doc.Message
	if e.Message == "" {
		e.Message = doc.MessageU
	}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"))
	return e
}

// retryAfter reads a Retry-After value v: whole seconds, or an HTTP date
// counted from date, the answer's Date header (from now when date is not
// one). It returns 0 when v is neither or the date is not later. A number
// past what a 32-bit count of seconds holds (136 years) counts as that
// much.
func retryAfter(v, date string) time.Duration {
	v = strings.TrimSpace(v)
	n, err := strconv.ParseUint(v, 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		n = math.MaxUint32
	} else if err != nil {
		at, err := http.ParseTime(v)
		if err != nil {
			return 0
		}
		from, err := http.ParseTime(strings.TrimSpace(date))
		if err != nil {
			from = time.Now()
		}
		return max(at.Sub(from), 0)
	}
	return time.Duration(n) * time.Second
}

// RetryableStatus reports whether a response with status may succeed when
// sent again: throttling (429) and server errors (5xx).
func RetryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status <= 599)
}

// Throttling reports whether err is a throttling answer: status 429, or a
// ThrottlingException or TooManyRequestsException. The service did not
// carry such a request out.
func Throttling(err error) bool {
	var se *StatusError
	return errors.As(err, &se) &&
		(se.Status == http.StatusTooManyRequests || se.Type == "ThrottlingException" || se.Type == "TooManyRequestsException")
}

// NotSentError is a request's failure before any byte of it was written:
// the connection could not be opened (Op "dial") or its TLS handshake
// failed (Op "tls handshake"). H1Transport returns it; the request cannot
// have reached the service.
type NotSentError struct {
	// Op is "dial" or "tls handshake".
	Op string
	// Addr is the host:port the connection was for.
	Addr string
	// Err is the failure: the dialer's error, or the handshake's (a
	// reset, an end of the stream, the context's error for one cut short
	// by the deadline, a *tls.CertificateVerificationError, ...).
	Err error
}

func (e *NotSentError) Error() string {
	if e.Op == "dial" {
		return e.Err.Error() // the dialer's errors name the address
	}
	return e.Op + " with " + e.Addr + ": " + e.Err.Error()
}

func (e *NotSentError) Unwrap() error { return e.Err }

// Timeout reports whether the dial or handshake ran out of time, so that
// a *url.Error around e reports the same.
func (e *NotSentError) Timeout() bool {
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// NotSent reports whether err shows that the request never left this
// process, so that the service cannot have carried it out: no byte of it
// was written because the connection could not be opened (refused,
// unreachable, a name that did not resolve, the dial's deadline) or its
// TLS handshake failed (a reset or close during the handshake, its
// deadline, a certificate this side rejected, a server that refused the
// handshake or does not speak TLS); see HandshakeRejected for the
// failures another attempt would meet again. Anything after the
// request's first write (a reset, a close, a timeout waiting for the
// answer) reports false, as do answers of the service.
//
// H1Transport says so with a *NotSentError. Through net/http's Transport
// (H1Transport's Fallback, which sends the requests through a proxy, or
// an Options.HTTPClient of its own) only a failed dial is recognised: a
// *net.OpError "dial", or "proxyconnect" for the connection to a proxy
// and the TLS handshake with an https proxy. The TLS handshake with the
// service inside a proxy's tunnel fails with the handshake's own error,
// which net/http does not mark, and a reset or timeout there looks the
// same as one after the request was written: such a request reports
// false, as though it might have been sent.
func NotSent(err error) bool { return notSentCause(err) != nil }

// notSentCause returns the failure that kept the request err reports from
// being sent (see NotSent), or nil when err shows no such failure.
func notSentCause(err error) error {
	var ns *NotSentError
	if errors.As(err, &ns) {
		return ns.Err
	}
	var op *net.OpError
	for e := err; errors.As(e, &op); e = op.Err {
		if op.Op == "dial" || op.Op == "proxyconnect" {
			return op
		}
	}
	return nil
}

// HandshakeRejected reports whether err is a request that was not sent
// (NotSent) because its TLS handshake failed on what one side said rather
// than on the connection, so that another attempt with the same
// configuration would fail the same way: this side rejected the server's
// certificate (an unknown authority, another host's name, expired), the
// server answered with an alert (no protocol version or cipher suite in
// common, or a refusal of its own), or what it sent was not TLS at all. A
// handshake cut short by a reset, a close or a deadline, and a failed
// dial, report false.
func HandshakeRejected(err error) bool {
	cause := notSentCause(err)
	if cause == nil {
		return false
	}
	var cert *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	if errors.As(cause, &cert) || errors.As(cause, &header) {
		return true
	}
	var op *net.OpError
	for e := cause; errors.As(e, &op); e = op.Err {
		if op.Op == "remote error" { // how crypto/tls reports the server's alert
			return !transientAlert(op.Err)
		}
	}
	return false
}

// transientAlert reports whether a TLS alert from the server tells of a
// failure of its own rather than of what was said (internal_error, or a
// handshake it cancelled): another attempt may succeed. crypto/tls does not
// export its alert type, so the alert is told by its text.
func transientAlert(alert error) bool {
	switch alert.Error() {
	case "tls: internal error", "tls: user canceled":
		return true
	}
	return false
}

// retryable reports whether err, the outcome of one attempt, may succeed on
// another attempt. Nothing is retried once the caller's context is done.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return RetryableStatus(se.Status) || Throttling(err)
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
