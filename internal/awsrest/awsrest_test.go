package awsrest_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/awsrest/awsresttest"
	"github.com/omnisales/rtcollab/internal/ratelimit"
)

// noWait is a backoff without delay, so that retry tests run at once.
type noWait struct{}

func (noWait) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

func testConfig() aws.Config {
	return aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "TOKEN")}
}

func TestDoRetries(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int  // answered in turn; the last repeats
		errType   string // x-amzn-ErrorType of failures
		wantCalls int
		wantErr   bool
		wantType  string
	}{
		{"ok at once", []int{200}, "", 1, false, ""},
		{"server error then ok", []int{500, 503, 200}, "", 3, false, ""},
		{"throttled until attempts run out", []int{429}, "TooManyRequestsException", 3, true, "TooManyRequestsException"},
		{"400 throttling is retried", []int{400, 200}, "ThrottlingException", 2, false, ""},
		{"client error is not retried", []int{400}, "ParameterNotFound", 1, true, "ParameterNotFound"},
		{"gone is not retried", []int{410}, "GoneException", 1, true, "GoneException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var badAuth atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				auth := r.Header.Get("Authorization")
				if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(auth, "/eu-west-1/ssm/aws4_request") ||
					r.Header.Get("X-Amz-Security-Token") != "TOKEN" || r.Header.Get("X-Amz-Target") != "T" {
					badAuth.Store(fmt.Sprintf("%q %v", auth, r.Header))
				}
				status := tt.statuses[min(n, len(tt.statuses))-1]
				if status != 200 {
					w.Header().Set("X-Amzn-Errortype", tt.errType+":http://internal.amazon.com/")
					w.WriteHeader(status)
					_, _ = w.Write([]byte(`{"message":"no"}`))
					return
				}
				_, _ = w.Write([]byte(`{"ok":true}`))
			}))
			defer srv.Close()
			c := awsrest.New("ssm", testConfig(), &awsrest.Options{Backoff: noWait{}})
			out, status, err := c.Do(context.Background(), awsrest.Request{
				Method: http.MethodPost, URL: srv.URL + "/", Header: http.Header{"X-Amz-Target": {"T"}}, Body: []byte(`{}`),
			})
			if v := badAuth.Load(); v != nil {
				t.Fatalf("request not signed as expected: %v", v)
			}
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				if status != 200 || string(out) != `{"ok":true}` {
					t.Errorf("got %d %s", status, out)
				}
				return
			}
			var se *awsrest.StatusError
			if !errors.As(err, &se) || se.Type != tt.wantType || se.Message != "no" || se.Status != status {
				t.Errorf("err = %#v (status %d), want a StatusError of type %s", err, status, tt.wantType)
			}
		})
	}
}

// TestStatusErrorRetryAfter: a failed answer's Retry-After header, in
// whole seconds or as an HTTP date counted from the answer's Date, is the
// StatusError's RetryAfter; a missing header, a date not after the
// answer's, or anything else is 0.
func TestStatusErrorRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := r.URL.Query()["after"]; ok {
			w.Header().Set("Retry-After", v[0])
		}
		if v, ok := r.URL.Query()["date"]; ok {
			w.Header().Set("Date", v[0])
		}
		w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := awsrest.New("lambda", testConfig(), &awsrest.Options{MaxAttempts: 1, Backoff: noWait{}})
	for _, tt := range []struct {
		query string
		want  time.Duration
	}{
		{"", 0},
		{"?after=1", time.Second},
		{"?after=120", 2 * time.Minute},
		{"?after=%201%20", time.Second},
		{"?after=0", 0},
		{"?after=-1", 0},
		{"?after=1.5", 0},
		{"?after=soon", 0},
		{"?after=Wed,%2021%20Oct%202015%2007:28:00%20GMT", 0},
		{"?after=Wed,%2021%20Oct%202015%2007:29:30%20GMT&date=Wed,%2021%20Oct%202015%2007:28:00%20GMT", 90 * time.Second},
		{"?after=Wednesday,%2021-Oct-15%2007:28:05%20GMT&date=Wed,%2021%20Oct%202015%2007:28:00%20GMT", 5 * time.Second},
		{"?after=Wed,%2021%20Oct%202015%2007:28:00%20GMT&date=Wed,%2021%20Oct%202015%2007:28:00%20GMT", 0},
		{"?after=Wed,%2021%20Oct%202015%2007:28:00%20GMT&date=Wed,%2021%20Oct%202015%2007:29:00%20GMT", 0},
		{"?after=99999999999999999999", math.MaxUint32 * time.Second},
	} {
		_, _, err := c.Do(context.Background(), awsrest.Request{Method: http.MethodPost, URL: srv.URL + "/x" + tt.query})
		var se *awsrest.StatusError
		if !errors.As(err, &se) || se.RetryAfter != tt.want {
			t.Errorf("%q: err = %#v, want a StatusError with RetryAfter %v", tt.query, err, tt.want)
		}
	}
}

// TestDoRetryAfterPastDeadline: a 429 whose Retry-After asks for a wait
// that would end past the caller's deadline ends the call at once with
// that 429; the service is not asked again before the wait is over.
func TestDoRetryAfterPastDeadline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "120")
			w.Header().Set("X-Amzn-Errortype", "LimitExceededException")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := awsrest.New("execute-api", testConfig(), &awsrest.Options{Backoff: noWait{}, MaxBackoff: time.Hour, MaxThrottleAttempts: 8})
	_, _, err := c.Do(ctx, awsrest.Request{Method: http.MethodPost, URL: srv.URL + "/@connections/c1", Body: []byte("x")})
	if got := calls.Load(); got != 1 {
		t.Errorf("calls = %d, want 1: the second attempt came before the 120 s that Retry-After asked for", got)
	}
	var se *awsrest.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || se.RetryAfter != 2*time.Minute {
		t.Errorf("err = %v, want the 429 asking for 2m0s", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Do returned after the deadline (%v) instead of at once", ctx.Err())
	}
}

// fixedBackoff is a backoff of the same delay after every attempt.
type fixedBackoff time.Duration

func (b fixedBackoff) BackoffDelay(int, error) (time.Duration, error) { return time.Duration(b), nil }

// TestDoRetryAfter: a retried answer that carries Retry-After (whole
// seconds, or an HTTP date counted from the answer's Date) is sent again
// after at least that wait, the backoff's delay added within MaxBackoff;
// one that asks for longer than MaxBackoff ends the call at once. The
// waits go through Options.Sleep, which records them instead of
// sleeping; the Pacer still hears of the call's throttling once.
func TestDoRetryAfter(t *testing.T) {
	const date = "Mon, 02 Jun 2025 10:00:00 GMT"
	tests := []struct {
		name       string
		status     int
		header     http.Header // of the failed answers
		backoff    time.Duration
		wantCalls  int
		wantSleeps []time.Duration
		wantErr    bool
	}{
		{"429 in seconds", 429, http.Header{"Retry-After": {"3"}}, 0, 3, []time.Duration{3 * time.Second, 3 * time.Second}, false},
		{"backoff added", 429, http.Header{"Retry-After": {"3"}}, 500 * time.Millisecond, 3, []time.Duration{3500 * time.Millisecond, 3500 * time.Millisecond}, false},
		{"capped by MaxBackoff", 429, http.Header{"Retry-After": {"19"}}, 5 * time.Second, 3, []time.Duration{20 * time.Second, 20 * time.Second}, false},
		{"503 with a date", 503, http.Header{"Date": {date}, "Retry-After": {"Mon, 02 Jun 2025 10:00:05 GMT"}}, 0, 3, []time.Duration{5 * time.Second, 5 * time.Second}, false},
		{"date already past", 503, http.Header{"Date": {date}, "Retry-After": {"Mon, 02 Jun 2025 09:59:00 GMT"}}, time.Second, 3, []time.Duration{time.Second, time.Second}, false},
		{"none: the backoff alone", 429, nil, time.Second, 3, []time.Duration{time.Second, time.Second}, false},
		{"longer than MaxBackoff", 429, http.Header{"Retry-After": {"21"}}, 0, 1, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= 2 {
					for k, v := range tt.header {
						w.Header()[k] = v
					}
					w.WriteHeader(tt.status)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			var sleeps []time.Duration
			p := &countingPacer{}
			c := awsrest.New("execute-api", testConfig(), &awsrest.Options{
				Backoff: fixedBackoff(tt.backoff), MaxBackoff: 20 * time.Second, MaxThrottleAttempts: 8, Pacer: p,
				Sleep: func(ctx context.Context, d time.Duration) error {
					sleeps = append(sleeps, d)
					return ctx.Err()
				},
			})
			_, _, err := c.Do(context.Background(), awsrest.Request{Method: http.MethodPost, URL: srv.URL + "/@connections/c1", Body: []byte("x")})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var se *awsrest.StatusError
			if tt.wantErr && (!errors.As(err, &se) || se.Status != tt.status) {
				t.Errorf("err = %v, want the %d answer", err, tt.status)
			}
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if fmt.Sprint(sleeps) != fmt.Sprint(tt.wantSleeps) {
				t.Errorf("waits before the retries = %v, want %v", sleeps, tt.wantSleeps)
			}
			if got := p.throttled.Load(); tt.status == http.StatusTooManyRequests && got != 1 {
				t.Errorf("throttled reports = %d, want 1", got)
			}
		})
	}
}

func TestDoStopsAtContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	c := awsrest.New("lambda", testConfig(), &awsrest.Options{MaxAttempts: 10, MaxBackoff: time.Hour})
	start := time.Now()
	_, _, err := c.Do(ctx, awsrest.Request{Method: http.MethodGet, URL: srv.URL})
	var se *awsrest.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want the last 503", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Do took %v past a 200 ms deadline", d)
	}
}

// TestDoCancelledTakesNoBudget: a call whose context is done before it
// starts returns the context's error without taking a token of the
// Pacer's budget, so that abandoned posts of a cancelled fan-out do not
// delay the instance's later ones.
func TestDoCancelledTakesNoBudget(t *testing.T) {
	now := time.Now()
	p := ratelimit.NewPacerBurst(100, 1, func() time.Time { return now })
	c := awsrest.New("execute-api", testConfig(), &awsrest.Options{Pacer: p})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 200 {
		if _, _, err := c.Do(ctx, awsrest.Request{Method: http.MethodPost, URL: "http://127.0.0.1:1/x"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Do with a cancelled context: %v", err)
		}
	}
	if d := p.Reserve(); d != 0 {
		t.Fatalf("the next call waits %v: cancelled calls took tokens", d)
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := awsrest.FromEnv(env(map[string]string{
		"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || cfg.Region != "eu-central-1" || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "S" || creds.SessionToken != "T" {
		t.Errorf("got %q %+v %v", cfg.Region, creds, err)
	}
	cfg, err = awsrest.FromEnv(env(map[string]string{"AWS_DEFAULT_REGION": "ap-south-1"}), true)
	if err != nil || cfg.Region != "ap-south-1" || cfg.Credentials != nil {
		t.Errorf("allowMissing: got %+v %v", cfg, err)
	}
	if _, err := awsrest.FromEnv(env(map[string]string{"AWS_ACCESS_KEY_ID": "AKID"}), false); err == nil {
		t.Error("half the credentials: no error")
	}
}

func TestEndpoint(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		getenv  func(string) string
		service string
		region  string
		want    string
	}{
		{nil, "ssm", "eu-west-1", "https://ssm.eu-west-1.amazonaws.com"},
		{nil, "lambda", "", "https://lambda.us-east-1.amazonaws.com"},
		{nil, "ssm", "cn-north-1", "https://ssm.cn-north-1.amazonaws.com.cn"},
		{env(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000/"}), "ssm", "eu-west-1", "http://127.0.0.1:5000"},
		{env(map[string]string{"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_LAMBDA": "http://b"}), "lambda", "", "http://b"},
	}
	for _, tt := range tests {
		if got := awsrest.Endpoint(tt.getenv, tt.service, tt.region); got != tt.want {
			t.Errorf("Endpoint(%s, %s) = %q, want %q", tt.service, tt.region, got, tt.want)
		}
	}
}

// TestGetParameterMoto reads a SecureString parameter from moto's SSM,
// which checks the request's protocol and signature scope as SSM does.
func TestGetParameterMoto(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT") // moto's server serves SSM on the same port
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set (make test starts moto)")
	}
	ctx := context.Background()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	c := awsrest.New(awsrest.SSMService, cfg, nil)
	name := fmt.Sprintf("/rtcollab/test/%d/jwt-secret", time.Now().UnixNano())
	put, _ := json.Marshal(map[string]any{"Name": name, "Value": "s3cret-value", "Type": "SecureString"})
	if _, _, err := c.Do(ctx, awsrest.Request{Method: http.MethodPost, URL: ep + "/", Body: put, Header: http.Header{
		"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"AmazonSSM.PutParameter"},
	}}); err != nil {
		t.Fatalf("PutParameter: %v", err)
	}
	got, err := awsrest.GetParameter(ctx, c, ep, name)
	if err != nil || got != "s3cret-value" {
		t.Fatalf("GetParameter = %q, %v", got, err)
	}
	_, err = awsrest.GetParameter(ctx, c, ep, name+"-missing")
	var se *awsrest.StatusError
	if !errors.As(err, &se) || se.Type != "ParameterNotFound" {
		t.Fatalf("missing parameter: err = %v, want ParameterNotFound", err)
	}
}

// countingPacer records the waits and throttling reports of a Client.
type countingPacer struct{ waits, throttled atomic.Int32 }

func (p *countingPacer) Wait(ctx context.Context) error { p.waits.Add(1); return ctx.Err() }
func (p *countingPacer) Throttled()                     { p.throttled.Add(1) }

// recordingBackoff records the attempts it is asked a delay for.
type recordingBackoff struct{ attempts []int }

func (b *recordingBackoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	b.attempts = append(b.attempts, attempt)
	return 0, nil
}

// TestDoThrottleAttempts: throttled answers get MaxThrottleAttempts
// attempts, other failures still MaxAttempts, every attempt waits for the
// Pacer and every retry for the backoff of the attempt before it; the
// Pacer hears of a call's throttling once, however many of its attempts
// are throttled, so that one connection answered 429 again and again (a
// slow client's full buffer) does not cut the whole instance's rate again
// and again.
func TestDoThrottleAttempts(t *testing.T) {
	tests := []struct {
		name          string
		statuses      []int // answered in turn; the last repeats
		wantCalls     int
		wantThrottled int
		wantErr       bool
	}{
		{"throttled six times then ok", []int{429, 429, 429, 429, 429, 429, 200}, 7, 1, false},
		{"throttled until throttle attempts run out", []int{429}, 8, 1, true},
		{"server errors stop at MaxAttempts", []int{500}, 3, 0, true},
		{"mixed: the third server error stops", []int{429, 500, 429, 500, 429, 500, 200}, 6, 1, true},
		{"throttled after a server error", []int{500, 429, 200}, 3, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				if status := tt.statuses[min(n, len(tt.statuses))-1]; status != 200 {
					w.WriteHeader(status)
					return
				}
				_, _ = w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			p := &countingPacer{}
			b := &recordingBackoff{}
			c := awsrest.New("execute-api", testConfig(), &awsrest.Options{Backoff: b, MaxAttempts: 3, MaxThrottleAttempts: 8, Pacer: p})
			_, _, err := c.Do(context.Background(), awsrest.Request{Method: http.MethodPost, URL: srv.URL + "/", Body: []byte("x")})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if got := int(p.waits.Load()); got != tt.wantCalls {
				t.Errorf("pacer waits = %d, want one per attempt (%d)", got, tt.wantCalls)
			}
			if got := int(p.throttled.Load()); got != tt.wantThrottled {
				t.Errorf("throttled reports = %d, want %d", got, tt.wantThrottled)
			}
			if want := tt.wantCalls - 1; len(b.attempts) != want || (want > 0 && b.attempts[want-1] != want) {
				t.Errorf("backoff asked for attempts %v, want 1 to %d: every retry backs off", b.attempts, want)
			}
		})
	}
}

// TestDoPacerContext: a Pacer wait cut short by the context ends the call
// with the context's error and the last attempt's outcome.
func TestDoPacerContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	p := &cancelSecondWait{cancel: cancel}
	c := awsrest.New("execute-api", testConfig(), &awsrest.Options{Backoff: noWait{}, MaxThrottleAttempts: 8, Pacer: p})
	_, _, err := c.Do(ctx, awsrest.Request{Method: http.MethodPost, URL: srv.URL + "/"})
	var se *awsrest.StatusError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want context.Canceled with the last 429", err)
	}
}

// cancelSecondWait lets the first attempt go and cancels the call's
// context while the second waits, as a deadline that passes during a wait
// does.
type cancelSecondWait struct {
	cancel context.CancelFunc
	waits  int
}

func (p *cancelSecondWait) Wait(ctx context.Context) error {
	if p.waits++; p.waits == 2 {
		p.cancel()
	}
	return ctx.Err()
}
func (p *cancelSecondWait) Throttled() {}

func TestH1TransportThroughClientRetriesAStaleConnection(t *testing.T) {
	// A server that closes every connection after answering, without
	// saying so: the next request on the kept connection finds it closed
	// before its answer, and Client.Do's retry sends it again.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.EscapedPath(), body)
	}))
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateIdle {
			c.Close()
		}
	}
	srv.Start()
	defer srv.Close()
	c := awsrest.New("execute-api", testConfig(), &awsrest.Options{HTTPClient: &http.Client{Transport: &awsrest.H1Transport{}}, Backoff: noWait{}})
	for i := range 5 {
		out, status, err := c.Do(context.Background(), awsrest.Request{Method: http.MethodPost, URL: srv.URL + "/p", Body: []byte("q")})
		if err != nil || status != 200 || string(out) != "POST /p q" {
			t.Fatalf("request %d: %d %q %v", i, status, out, err)
		}
	}
}

// closeAfterHello reads the client's first TLS record (its ClientHello)
// to the end and closes the connection without a word.
func closeAfterHello(c net.Conn) {
	defer c.Close()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return
	}
	_, _ = io.ReadFull(c, make([]byte, int(hdr[3])<<8|int(hdr[4])))
}

// notTLS answers the client's first bytes with plain text.
func notTLS(c net.Conn) {
	_, _ = c.Read(make([]byte, 512))
	_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
	c.Close()
}

// silent reads what the client sends and never answers.
func silent(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
	c.Close()
}

// deadlineAfterWrite is a connection whose reads time out once something
// was written, as when the server does not answer before the attempt's
// deadline, without waiting for a clock: over TLS the handshake's wait
// for the server's first answer, over plain HTTP the wait for the answer
// to the request.
type deadlineAfterWrite struct {
	net.Conn
	wrote atomic.Bool
}

func (c *deadlineAfterWrite) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.wrote.Store(true)
	return n, err
}

func (c *deadlineAfterWrite) Read(p []byte) (int, error) {
	if c.wrote.Load() {
		_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
	return c.Conn.Read(p)
}

// TestNotSent: a request that failed before any byte of it was written
// was never sent: its connection was refused, or the TLS handshake failed
// (reset or closed by the server, timed out, answered by something that
// does not speak TLS, a certificate this side rejects, a protocol version the
// server refuses), or a proxy could not be reached. A failure after the
// request was written (the server closed or reset the connection before
// the answer, the answer did not come in time) was sent and may have been
// carried out, and an answer of the service is not a failure to send.
// HandshakeRejected tells the handshakes that another attempt would fail
// the same way from those cut short by the connection.
func TestNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := ln.Addr().String()
	ln.Close()
	var calls atomic.Int32
	hangUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // read the request, then close without an answer
		}
	}))
	defer hangUp.Close()
	resetTLS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil { // read the request, then reset the connection
			tcp := conn.(*tls.Conn).NetConn().(*net.TCPConn)
			_ = tcp.SetLinger(0)
			tcp.Close()
		}
	}))
	defer resetTLS.Close()
	trusting := &tls.Config{RootCAs: resetTLS.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	// A server that fails its side of the handshake answers with an
	// internal_error alert: not sent, and another attempt may succeed.
	failing := awsresttest.Listen(t, func(c net.Conn) {
		srv := tls.Server(c, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, errors.New("no certificate at hand")
		}})
		_ = srv.Handshake()
		srv.Close()
	})
	tls13 := httptest.NewUnstartedServer(http.NotFoundHandler())
	tls13.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	tls13.StartTLS()
	defer tls13.Close()
	throttle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer throttle.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.ReadAll(r.Body)
		<-r.Context().Done() // never answers; the client gives up first
	}))
	defer slow.Close()
	var dialer net.Dialer
	timingOut := &awsrest.H1Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &deadlineAfterWrite{Conn: c}, nil
	}}
	for _, tt := range []struct {
		name      string
		url       string
		transport http.RoundTripper // nil: an H1Transport with its defaults
		want      bool
		rejected  bool
	}{
		{"refused", "http://" + refusedAddr, nil, true, false},
		{"reset during the TLS handshake", "https://" + awsresttest.Listen(t, awsresttest.ResetAfterHello), nil, true, false},
		{"closed during the TLS handshake", "https://" + awsresttest.Listen(t, closeAfterHello), nil, true, false},
		{"timed out during the TLS handshake", "https://" + awsresttest.Listen(t, silent), timingOut, true, false},
		{"not TLS", "https://" + awsresttest.Listen(t, notTLS), nil, true, true},
		{"certificate rejected", resetTLS.URL, nil, true, true},
		{"server failed during the TLS handshake", "https://" + failing, nil, true, false},
		{"protocol version refused", tls13.URL, &awsrest.H1Transport{TLSClientConfig: &tls.Config{MaxVersion: tls.VersionTLS12}}, true, true},
		{"proxy refused", "https://lambda.eu-west-1.amazonaws.com",
			&http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: refusedAddr})}, true, false},
		{"closed before the answer", hangUp.URL, nil, false, false},
		{"reset before the answer", resetTLS.URL, &awsrest.H1Transport{TLSClientConfig: trusting}, false, false},
		{"timed out waiting for the answer", slow.URL, timingOut, false, false},
		{"throttled", throttle.URL, nil, false, false},
	} {
		opts := &awsrest.Options{MaxAttempts: 1, Backoff: noWait{}}
		if tt.transport != nil {
			opts.HTTPClient = &http.Client{Transport: tt.transport}
		}
		c := awsrest.New("lambda", testConfig(), opts)
		_, _, err := c.Do(context.Background(), awsrest.Request{Method: http.MethodPost, URL: tt.url + "/x", Body: []byte("{}")})
		if err == nil {
			t.Fatalf("%s: no error", tt.name)
		}
		if got := awsrest.NotSent(err); got != tt.want {
			t.Errorf("%s: NotSent(%v) = %v, want %v", tt.name, err, got, tt.want)
		}
		if got := awsrest.HandshakeRejected(err); got != tt.rejected {
			t.Errorf("%s: HandshakeRejected(%v) = %v, want %v", tt.name, err, got, tt.rejected)
		}
		var ne net.Error // the *url.Error around a failure to send, asked as a caller would
		timeout := errors.As(err, &ne) && ne.Timeout()
		if want := strings.HasPrefix(tt.name, "timed out"); timeout != want {
			t.Errorf("%s: %v is a timeout: %v, want %v", tt.name, err, timeout, want)
		}
	}
	// The client that times out waiting for the answer gives up as soon
	// as its request is written, maybe before the server's handler runs:
	// wait for the handler (bounded) rather than count at once.
	for end := time.Now().Add(10 * time.Second); calls.Load() < 3 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the servers that fail after the request got %d requests, want 3", n)
	}
	if awsrest.NotSent(nil) || awsrest.HandshakeRejected(nil) {
		t.Error("NotSent(nil) or HandshakeRejected(nil) = true")
	}
}
