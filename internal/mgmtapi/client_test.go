package mgmtapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

const (
	testRegion = "eu-west-1"
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testToken  = "session-token-example"
	testConnID = "R1kmxc2VNjMCFIA="
)

func testConfig() aws.Config {
	return aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, testToken),
	}
}

// fastOptions retries without waiting, so that tests run quickly.
func fastOptions() *mgmtapi.Options {
	return &mgmtapi.Options{
		MaxAttempts: 3,
		Backoff: retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
			return time.Millisecond, nil
		}),
	}
}

// recorded is what the fake Management API saw of one request.
type recorded struct {
	method, escapedPath, auth, date, token string
	body                                   []byte
	sigErr                                 error
}

// fakeAPI is an httptest server that records requests and answers each with
// the next function of script (the last one repeats).
type fakeAPI struct {
	srv    *httptest.Server
	calls  atomic.Int32
	reqs   chan recorded
	script []func(w http.ResponseWriter, r *http.Request)
}

func newFakeAPI(t *testing.T, script ...func(w http.ResponseWriter, r *http.Request)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{reqs: make(chan recorded, 64), script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(f.calls.Add(1)) - 1
		body, _ := io.ReadAll(r.Body)
		f.reqs <- recorded{
			method: r.Method, escapedPath: r.URL.EscapedPath(),
			auth: r.Header.Get("Authorization"), date: r.Header.Get("X-Amz-Date"),
			token: r.Header.Get("X-Amz-Security-Token"), body: body,
			sigErr: checkSignature(r, body),
		}
		if n >= len(f.script) {
			n = len(f.script) - 1
		}
		f.script[n](w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) endpoint() string { return f.srv.URL + "/prod" }

func (f *fakeAPI) next(t *testing.T) recorded {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the fake API")
		return recorded{}
	}
}

func status(code int, errType string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if errType != "" {
			w.Header().Set("x-amzn-ErrorType", errType+":http://internal.amazon.com/coral/")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if code >= 300 {
			_, _ = io.WriteString(w, `{"message":"`+http.StatusText(code)+`"}`)
		}
	}
}

// checkSignature signs a copy of r again, over the headers r claims to have
// signed and at the time it claims, and compares the two signatures.
func checkSignature(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return nil
	}
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok {
		return errors.New("no SignedHeaders in Authorization")
	}
	signed, _, _ = strings.Cut(signed, ",")
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	cp.ContentLength = r.ContentLength
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: testToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), "execute-api", testRegion, when); err != nil {
		return err
	}
	if got := cp.Header.Get("Authorization"); got != auth {
		return errors.New("signature mismatch: request has " + auth + ", expected " + got)
	}
	return nil
}

func TestSignedRequests(t *testing.T) {
	const getBody = `{"connectedAt":"2024-01-20T11:54:57.419Z","identity":{"sourceIp":"49.105.91.154","userAgent":"Mozilla/5.0"},"lastActiveAt":"2024-01-20T11:55:08.326Z"}`
	tests := []struct {
		name     string
		method   string
		reply    func(http.ResponseWriter, *http.Request)
		call     func(ctx context.Context, c *mgmtapi.Client) error
		wantBody string
	}{
		{
			name: "post", method: http.MethodPost, reply: status(http.StatusOK, ""),
			call: func(ctx context.Context, c *mgmtapi.Client) error {
				return c.PostToConnection(ctx, testConnID, []byte(`{"type":"pong"}`))
			},
			wantBody: `{"type":"pong"}`,
		},
		{
			// A prepared frame is signed with the hash computed once; the
			// server checks it against the body it received.
			name: "prepared post", method: http.MethodPost, reply: status(http.StatusOK, ""),
			call: func(ctx context.Context, c *mgmtapi.Client) error {
				return c.PrepareFrame([]byte(`{"type":"update"}`))(ctx, testConnID)
			},
			wantBody: `{"type":"update"}`,
		},
		{
			name: "get", method: http.MethodGet,
			reply: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, getBody) },
			call: func(ctx context.Context, c *mgmtapi.Client) error {
				conn, err := c.GetConnection(ctx, testConnID)
				if err != nil {
					return err
				}
				want := mgmtapi.Connection{
					ConnectedAt:  time.Date(2024, 1, 20, 11, 54, 57, 419e6, time.UTC),
					LastActiveAt: time.Date(2024, 1, 20, 11, 55, 8, 326e6, time.UTC),
					Identity:     mgmtapi.Identity{SourceIP: "49.105.91.154", UserAgent: "Mozilla/5.0"},
				}
				if !conn.ConnectedAt.Equal(want.ConnectedAt) || !conn.LastActiveAt.Equal(want.LastActiveAt) || conn.Identity != want.Identity {
					return errors.New("decoded connection differs")
				}
				return nil
			},
		},
		{
			name: "delete", method: http.MethodDelete, reply: status(http.StatusNoContent, ""),
			call: func(ctx context.Context, c *mgmtapi.Client) error {
				return c.DeleteConnection(ctx, testConnID)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.reply)
			c := mgmtapi.New(api.endpoint(), testConfig(), fastOptions())
			if err := tt.call(context.Background(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := api.next(t)
			if got.method != tt.method {
				t.Errorf("method = %q, want %q", got.method, tt.method)
			}
			if want := "/prod/@connections/R1kmxc2VNjMCFIA%3D"; got.escapedPath != want {
				t.Errorf("path = %q, want %q", got.escapedPath, want)
			}
			if !strings.HasPrefix(got.auth, "AWS4-HMAC-SHA256 Credential="+testAKID+"/") ||
				!strings.Contains(got.auth, "/"+testRegion+"/execute-api/aws4_request") {
				t.Errorf("Authorization = %q, want a SigV4 header for execute-api in %s", got.auth, testRegion)
			}
			if got.date == "" {
				t.Error("X-Amz-Date is missing")
			}
			if got.token != testToken {
				t.Errorf("X-Amz-Security-Token = %q, want %q", got.token, testToken)
			}
			if got.sigErr != nil {
				t.Errorf("signature: %v", got.sigErr)
			}
			if string(got.body) != tt.wantBody {
				t.Errorf("body = %q, want %q", got.body, tt.wantBody)
			}
		})
	}
}

func TestConnectionIDIsEscaped(t *testing.T) {
	api := newFakeAPI(t, status(http.StatusOK, ""))
	c := mgmtapi.New(api.endpoint()+"/", testConfig(), fastOptions())
	if err := c.PostToConnection(context.Background(), "a+b/c-d_e=", []byte("x")); err != nil {
		t.Fatal(err)
	}
	got := api.next(t)
	if want := "/prod/@connections/a%2Bb%2Fc-d_e%3D"; got.escapedPath != want {
		t.Errorf("path = %q, want %q", got.escapedPath, want)
	}
	if got.sigErr != nil {
		t.Errorf("signature: %v", got.sigErr)
	}
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		header   string
		want     error
		wantType string
		attempts int32
	}{
		{"gone", http.StatusGone, "GoneException", mgmtapi.ErrGone, "GoneException", 1},
		{"gone without header", http.StatusGone, "", mgmtapi.ErrGone, "GoneException", 1},
		{"forbidden", http.StatusForbidden, "ForbiddenException", mgmtapi.ErrForbidden, "ForbiddenException", 1},
		{"too large", http.StatusRequestEntityTooLarge, "PayloadTooLargeException", mgmtapi.ErrPayloadTooLarge, "PayloadTooLargeException", 1},
		{"throttled", http.StatusTooManyRequests, "LimitExceededException", mgmtapi.ErrThrottled, "LimitExceededException", 3},
		{"internal", http.StatusInternalServerError, "", mgmtapi.ErrServer, "InternalServerErrorException", 3},
		{"unavailable", http.StatusServiceUnavailable, "", mgmtapi.ErrServer, "InternalServerErrorException", 3},
		{"bad request", http.StatusBadRequest, "BadRequestException", nil, "BadRequestException", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, status(tt.status, tt.header))
			c := mgmtapi.New(api.endpoint(), testConfig(), fastOptions())
			err := c.PostToConnection(context.Background(), testConnID, []byte("hi"))
			if err == nil {
				t.Fatal("PostToConnection succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.want)
			}
			if got, want := mgmtapi.IsGone(err), tt.want == mgmtapi.ErrGone; got != want {
				t.Errorf("IsGone(%v) = %v, want %v", err, got, want)
			}
			var apiErr *mgmtapi.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("errors.As(%v, *APIError) = false", err)
			}
			want := mgmtapi.APIError{Op: mgmtapi.OpPostToConnection, ConnectionID: testConnID, Status: tt.status, Type: tt.wantType, Message: http.StatusText(tt.status)}
			if *apiErr != want {
				t.Errorf("APIError = %+v, want %+v", *apiErr, want)
			}
			if got := api.calls.Load(); got != tt.attempts {
				t.Errorf("attempts = %d, want %d", got, tt.attempts)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	ok := status(http.StatusOK, "")
	tests := []struct {
		name     string
		script   []func(http.ResponseWriter, *http.Request)
		attempts int
		want     error
		calls    int32
	}{
		{"500 twice then 200", []func(http.ResponseWriter, *http.Request){status(500, ""), status(500, ""), ok}, 3, nil, 3},
		{"429 then 200", []func(http.ResponseWriter, *http.Request){status(429, "LimitExceededException"), ok}, 3, nil, 2},
		{"500 three times", []func(http.ResponseWriter, *http.Request){status(500, "")}, 3, mgmtapi.ErrServer, 3},
		{"attempts configurable", []func(http.ResponseWriter, *http.Request){status(502, "")}, 5, mgmtapi.ErrServer, 5},
		{"one attempt", []func(http.ResponseWriter, *http.Request){status(500, ""), ok}, 1, mgmtapi.ErrServer, 1},
		{"410 not retried", []func(http.ResponseWriter, *http.Request){status(410, "GoneException"), ok}, 3, mgmtapi.ErrGone, 1},
		{"dropped connection", []func(http.ResponseWriter, *http.Request){hangUp, ok}, 3, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.script...)
			opts := fastOptions()
			opts.MaxAttempts = tt.attempts
			c := mgmtapi.New(api.endpoint(), testConfig(), opts)
			err := c.PostToConnection(context.Background(), testConnID, []byte("hi"))
			if tt.want == nil && err != nil {
				t.Fatalf("PostToConnection: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("PostToConnection = %v, want %v", err, tt.want)
			}
			if got := api.calls.Load(); got != tt.calls {
				t.Errorf("attempts = %d, want %d", got, tt.calls)
			}
		})
	}
}

// hangUp closes the connection without answering.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	api := newFakeAPI(t, slow, status(http.StatusOK, ""))
	opts := fastOptions()
	opts.AttemptTimeout = 50 * time.Millisecond
	c := mgmtapi.New(api.endpoint(), testConfig(), opts)
	if err := c.PostToConnection(context.Background(), testConnID, []byte("hi")); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := api.calls.Load(); got != 2 {
		t.Errorf("attempts = %d, want 2", got)
	}
}

func TestContextDeadlineStopsRetries(t *testing.T) {
	tests := []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request)
		want  error
	}{
		// The backoff (1s) would outlast the deadline: give up at once.
		{"backoff past deadline", status(http.StatusInternalServerError, ""), mgmtapi.ErrServer},
		// The caller's deadline ends the only attempt.
		{"slow server", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.reply)
			opts := &mgmtapi.Options{
				MaxAttempts: 10,
				Backoff: retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
					return time.Second, nil
				}),
			}
			c := mgmtapi.New(api.endpoint(), testConfig(), opts)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := c.PostToConnection(ctx, testConnID, []byte("hi"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("PostToConnection = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("call took %v, want it to end near the 100ms deadline", d)
			}
			if got := api.calls.Load(); got != 1 {
				t.Errorf("attempts = %d, want 1", got)
			}
		})
	}
}

func TestUnsignedWithoutCredentials(t *testing.T) {
	tests := []struct {
		name  string
		creds aws.CredentialsProvider
	}{
		{"nil", nil},
		{"anonymous", aws.AnonymousCredentials{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, status(http.StatusOK, ""))
			c := mgmtapi.New(api.endpoint(), aws.Config{Credentials: tt.creds}, fastOptions())
			if err := c.PostToConnection(context.Background(), testConnID, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if got := api.next(t); got.auth != "" {
				t.Errorf("Authorization = %q, want none", got.auth)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		id       string
	}{
		{"empty id", "http://127.0.0.1:1/prod", ""},
		{"no scheme", "example.com/prod", testConnID},
		{"bad scheme", "ftp://example.com/prod", testConnID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mgmtapi.New(tt.endpoint, testConfig(), fastOptions())
			err := c.PostToConnection(context.Background(), tt.id, nil)
			if err == nil {
				t.Fatal("PostToConnection succeeded, want an error")
			}
			if !strings.Contains(err.Error(), mgmtapi.OpPostToConnection) {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}
