package rtpublish

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signingService is the SigV4 service name of API Gateway APIs.
const signingService = "execute-api"

// maxAnswerBytes bounds the answer the client reads (replies are at most
// 128 KB).
const maxAnswerBytes = 1 << 20

// MaxFrameBytes is the largest frame the API runs, as a WebSocket client's
// (32 KB): a publish or notify becomes a frame of its type, idempotency key
// (as messageId), channel and payload, compact; the tenant and white space
// are not part of it. Publish and Notify refuse a call whose frame would be
// larger without sending it: an *Error with CodeFrameTooLarge, Status 0.
const MaxFrameBytes = 32 << 10

// maxBodyBytes is the largest body the API reads (4 MiB); a larger one is
// refused without sending it, as a frame over MaxFrameBytes is.
const maxBodyBytes = 4 << 20

// Options configure a Client.
type Options struct {
	// Credentials sign every request; the caller's IAM identity needs the
	// stack's publisher policy. Required.
	Credentials aws.CredentialsProvider
	// Region is the API's region, which the signature is scoped to (API
	// Gateway refuses another with 403, CodeNotAuthorized). Default: the
	// region of an execute-api endpoint ("eu-west-1" in
	// https://abc123.execute-api.eu-west-1.amazonaws.com), else
	// "us-east-1" (the local server's default; it takes AWS_REGION).
	Region string
	// HTTPClient sends the requests. Default: a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Retryer decides which failures are retried, how often and after
	// what delay. Default retry.NewStandard(): 3 attempts with jittered
	// exponential backoff, for connection errors, 5xx and the retryable
	// codes (RATE_LIMITED, UNAVAILABLE, INTERNAL). The client takes the
	// retryer's tokens as the AWS SDK's retry middleware does: an attempt
	// token for every attempt (a success refills the standard retryer's
	// retry quota; an adaptive retryer paces attempts with it), a retry
	// token for every retry (none left: the error is returned at once).
	// A MaxAttempts of 0 means no bound on attempts, as in the SDK.
	Retryer aws.Retryer
}

// Client calls the publish API. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	creds   aws.CredentialsProvider
	region  string
	http    *http.Client
	retryer aws.Retryer
	signer  *v4.Signer
}

// New returns a Client for the API at endpoint, e.g.
// "https://abc123.execute-api.eu-west-1.amazonaws.com" or the local
// server's "http://127.0.0.1:3001/api".
func New(endpoint string, o *Options) (*Client, error) {
	if o == nil || o.Credentials == nil {
		return nil, errors.New("rtpublish: Options.Credentials is required")
	}
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rtpublish: endpoint %q is not an http(s) URL", endpoint)
	}
	c := &Client{base: u, creds: o.Credentials, region: o.Region, http: o.HTTPClient, retryer: o.Retryer, signer: v4.NewSigner()}
	if c.region == "" {
		c.region = executeAPIRegion(u.Hostname())
	}
	if c.region == "" {
		c.region = "us-east-1"
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.retryer == nil {
		c.retryer = retry.NewStandard()
	}
	return c, nil
}

// executeAPIRegion returns the region of an API Gateway host,
// <api-id>.execute-api.<region>.amazonaws.com (or any other suffix, such as
// a VPC endpoint's), or "" for any other host (a custom domain, the local
// server).
func executeAPIRegion(host string) string {
	labels := strings.Split(host, ".")
	for i := 1; i+2 < len(labels); i++ {
		if labels[i] == signingService && labels[i+1] != "" {
			return labels[i+1]
		}
	}
	return ""
}

// Message is a publish: Payload (any JSON value) reaches every subscriber
// of Channel in Tenant as an "update" frame.
type Message struct {
	Tenant  string
	Channel string
	Payload any
	// IdempotencyKey makes retries of this publish broadcast once (for a
	// day). Default: a fresh key per call.
	IdempotencyKey string
}

// Notification is a system notification to every subscriber of the
// notifications channel, or to every connection of UserID.
type Notification struct {
	Tenant string
	UserID string // "" for everyone
	Title  string
	Body   string
	Level  string // info (default), success, warning or error
	Data   any    // optional JSON value
	// IdempotencyKey: as in Message.
	IdempotencyKey string
}

// Result is the answer to a publish or notify.
type Result struct {
	Channel    string `json:"channel,omitempty"`
	ID         string `json:"id,omitempty"` // the notification id
	Recipients int    `json:"recipients"`   // connections the frame was for
	Delivered  int    `json:"delivered"`    // of them, posts that succeeded
	// Duplicate is true when the key was used before: nothing was sent
	// again, and the counts are those of the first call.
	Duplicate bool `json:"duplicate,omitempty"`
	// Pending is the API's mark of a Duplicate whose first call has not
	// completed: that call may still be running, may fail and release the
	// key, or may have died, when its claim lapses after two minutes;
	// nothing is known to be sent. The client never returns it as a
	// success: it retries such an answer as it does a 503, and when the
	// attempts run out returns an *Error with CodeUnavailable, Status 200
	// and Retryable true. Retry later with the same IdempotencyKey (so set
	// one of your own): the retry answers the first call's counts, or
	// publishes once the claim has lapsed.
	Pending bool `json:"pending,omitempty"`
}

// SnapshotQuery asks for one page of a room's users (the tenant's, when
// Room is empty).
type SnapshotQuery struct {
	Tenant string
	Room   string
	Cursor string
	Limit  int // 0: the server's default
}

// Snapshot is one page of a room's presence.
type Snapshot struct {
	Room        string            `json:"room"`
	Users       []json.RawMessage `json:"usersInRoom"`
	UserCount   int               `json:"userCount"`
	OnlineCount int               `json:"onlineCount"`
	AwayCount   int               `json:"awayCount"`
	Next        string            `json:"next,omitempty"`
}

// Publish sends m. A publish whose frame would be over MaxFrameBytes is
// not sent: the error is an *Error with CodeFrameTooLarge, Status 0 and
// Retryable false.
func (c *Client) Publish(ctx context.Context, m Message) (Result, error) {
	const path = "/publish"
	payload, err := encode(m.Payload)
	if err != nil {
		return Result{}, fmt.Errorf("rtpublish: encode %s: %w", path, err)
	}
	key := orNewKey(m.IdempotencyKey)
	if err := checkFrame(path, "publish", key, m.Channel, json.RawMessage(payload)); err != nil {
		return Result{}, err
	}
	body := map[string]any{"tenant": m.Tenant, "channel": m.Channel, "payload": json.RawMessage(payload), "idempotencyKey": key}
	var r Result
	return r, c.call(ctx, path, body, &r)
}

// Notify sends n. A notification whose frame would be over MaxFrameBytes
// is not sent, as in Publish.
func (c *Client) Notify(ctx context.Context, n Notification) (Result, error) {
	const path = "/notify"
	key := orNewKey(n.IdempotencyKey)
	body := map[string]any{"tenant": n.Tenant, "title": n.Title, "body": n.Body, "idempotencyKey": key}
	var data json.RawMessage // absent: the API's frame holds null
	if n.Data != nil {
		b, err := encode(n.Data)
		if err != nil {
			return Result{}, fmt.Errorf("rtpublish: encode %s: %w", path, err)
		}
		data = b
		body["data"] = data
	}
	frame := map[string]any{"userId": n.UserID, "title": n.Title, "body": n.Body, "level": n.Level, "data": data}
	if err := checkFrame(path, "notify", key, "", frame); err != nil {
		return Result{}, err
	}
	if n.UserID != "" {
		body["userId"] = n.UserID
	}
	if n.Level != "" {
		body["level"] = n.Level
	}
	var r Result
	return r, c.call(ctx, path, body, &r)
}

// checkFrame refuses a call whose frame would be over MaxFrameBytes: the
// frame the API builds of it, {"type","messageId","channel"?,"payload"},
// encoded as the API encodes it (compact, without HTML escaping). In AWS
// a body past about 4.5 MB never reaches the API's function (a Lambda
// function is invoked with at most 6 MB of event) and API Gateway answers
// a 5xx, which the client would retry as UNAVAILABLE; refused here, the
// caller learns at once that the call can never succeed.
func checkFrame(path, typ, key, channel string, payload any) error {
	b, err := encode(struct {
		Type      string `json:"type"`
		MessageID string `json:"messageId"`
		Channel   string `json:"channel,omitempty"`
		Payload   any    `json:"payload"`
	}{typ, key, channel, payload})
	if err != nil {
		return fmt.Errorf("rtpublish: encode %s: %w", path, err)
	}
	if len(b) > MaxFrameBytes {
		return tooLarge(path, "the frame would be %d bytes, over the %d the API runs", len(b), MaxFrameBytes)
	}
	return nil
}

// tooLarge is the *Error of a call refused before it was sent for its
// size.
func tooLarge(path, format string, args ...any) *Error {
	return &Error{Op: path, Code: CodeFrameTooLarge, Message: fmt.Sprintf(format, args...) + "; not sent"}
}

// PresenceSnapshot reads one page of presence; it changes nothing.
func (c *Client) PresenceSnapshot(ctx context.Context, q SnapshotQuery) (Snapshot, error) {
	body := map[string]any{"tenant": q.Tenant}
	if q.Room != "" {
		body["room"] = q.Room
	}
	if q.Cursor != "" {
		body["cursor"] = q.Cursor
	}
	if q.Limit != 0 {
		body["limit"] = q.Limit
	}
	var s Snapshot
	return s, c.call(ctx, "/presence/snapshot", body, &s)
}

// orNewKey returns key, or a fresh random key when it is empty.
func orNewKey(key string) string {
	if key != "" {
		return key
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "rtp-" + hex.EncodeToString(b[:])
}

// call posts body to path, retrying as the retryer says, and decodes a
// 200 answer into out.
func (c *Client) call(ctx context.Context, path string, body any, out any) error {
	answer, err := c.send(ctx, path, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("rtpublish: %s: decode answer: %w", path, err)
	}
	return nil
}

// send posts body to path, retrying as the retryer says, and returns the
// answer of the attempt that succeeded.
func (c *Client) send(ctx context.Context, path string, body any) ([]byte, error) {
	payload, err := encode(body)
	if err != nil {
		return nil, fmt.Errorf("rtpublish: encode %s: %w", path, err)
	}
	if len(payload) > maxBodyBytes {
		return nil, tooLarge(path, "the body would be %d bytes, over the %d the API reads", len(payload), maxBodyBytes)
	}
	release := func(error) error { return nil }
	for attempt := 1; ; attempt++ {
		done, terr := c.attemptToken(ctx)
		if terr != nil {
			if attempt > 1 {
				return nil, err // the last attempt's error says more
			}
			return nil, fmt.Errorf("rtpublish: %s: %w", path, terr)
		}
		var answer []byte
		answer, err = c.attempt(ctx, path, payload)
		// A retry's cost returns to the quota when it succeeds; the
		// attempt token refills the quota after a success (and tells an
		// adaptive retryer how the attempt went).
		_ = release(err)
		_ = done(err)
		if err == nil {
			return answer, nil
		}
		// MaxAttempts 0 bounds nothing, as in the AWS SDK's retry
		// middleware: the retry quota and ctx end the attempts.
		if limit := c.retryer.MaxAttempts(); ctx.Err() != nil || limit > 0 && attempt >= limit || !c.retryer.IsErrorRetryable(err) {
			return nil, err
		}
		var qerr error
		if release, qerr = c.retryer.GetRetryToken(ctx, err); qerr != nil {
			return nil, err // the retry quota is spent
		}
		delay, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// encode writes body as JSON without HTML escaping: json.Marshal writes
// each '<', '>' and '&' (a caller's json.RawMessage included) as six
// bytes, so a payload of markup the API accepts as it is would grow up to
// six times, past the API's body limit (FRAME_TOO_LARGE). The API decodes
// either form to the same value.
func encode(body any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil // Encode ends the value with a newline
}

// attemptToken takes the retryer's token for one attempt, as the AWS
// SDK's retry middleware does before every attempt; its release is called
// with the attempt's error. The standard retryer's release puts a token
// back into the retry quota when the attempt succeeded: without it, the
// quota an outage spent would never refill and no later failure would be
// retried. An adaptive retryer's token also paces the attempts.
func (c *Client) attemptToken(ctx context.Context) (func(error) error, error) {
	if r, ok := c.retryer.(aws.RetryerV2); ok {
		return r.GetAttemptToken(ctx)
	}
	return c.retryer.GetInitialToken(), nil
}

// attempt sends one signed request and returns its 200 answer.
func (c *Client) attempt(ctx context.Context, path string, payload []byte) ([]byte, error) {
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("rtpublish: %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("rtpublish: credentials: %w", err)
	}
	sum := sha256.Sum256(payload)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingService, c.region, time.Now()); err != nil {
		return nil, fmt.Errorf("rtpublish: sign %s: %w", path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rtpublish: %s: %w", path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("rtpublish: %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errorOf(path, resp, answer)
	}
	if err := pendingOf(path, answer); err != nil {
		return nil, err
	}
	return answer, nil
}

// pendingOf returns the *Error of a 200 answer that is a pending
// duplicate ({"duplicate": true, "pending": true}): an earlier attempt
// holds the key's claim and has not completed, so nothing is known to be
// sent. It is retryable, as the claim is released when that attempt
// fails and lapses when it died.
func pendingOf(path string, answer []byte) error {
	var dup struct {
		Duplicate bool `json:"duplicate"`
		Pending   bool `json:"pending"`
	}
	if json.Unmarshal(answer, &dup) != nil || !dup.Duplicate || !dup.Pending {
		return nil
	}
	return &Error{Op: path, Status: http.StatusOK, Code: CodeUnavailable, Retryable: true,
		Message: "an earlier attempt with this key has not completed; retry later"}
}
