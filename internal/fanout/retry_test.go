package fanout_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/awsrest/awsresttest"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/metrics"
)

// scriptedInvoker answers the asynchronous invokes with answers, in
// order (the last one repeats), as LambdaClient would return them: a
// throttle, which no real part here can produce on demand, is a 429
// TooManyRequestsException. It records the recipients of every accepted
// event: the fan-out function would post to them.
type scriptedInvoker struct {
	answers  []func() (int, error)
	mu       sync.Mutex
	calls    int
	accepted []string
}

func (f *scriptedInvoker) InvokeAsync(ctx context.Context, function string, payload []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	status, err := f.answers[min(f.calls, len(f.answers))-1]()
	if err != nil || status != http.StatusAccepted {
		return status, err
	}
	var ev fanout.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return 0, err
	}
	f.accepted = append(f.accepted, ev.Shard.IDs...)
	return status, nil
}

func accepted() (int, error) { return http.StatusAccepted, nil }

func throttled() (int, error) {
	return http.StatusTooManyRequests, &awsrest.StatusError{Status: http.StatusTooManyRequests, Type: "TooManyRequestsException", Message: "Rate Exceeded."}
}

// timedOut is what awsrest returns for an attempt whose deadline passed
// while it waited for the answer, after the request was written: Lambda
// may have queued the event.
func timedOut() (int, error) {
	return 0, &url.Error{Op: "POST", URL: "https://lambda/2015-03-31/functions/fanout-fn/invocations",
		Err: fmt.Errorf("%w (%w)", context.DeadlineExceeded, os.ErrDeadlineExceeded)}
}

// TestShardedFanoutRetriesAThrottledInvoke: a coordinator that posts to
// few recipients itself (InlineMax, as $disconnect does) hands the rest
// of a channel to the fan-out function. An invoke that Lambda throttles
// (429: the event was not queued) is sent again, so that a brief
// throttle does not make the coordinator post the whole shard itself;
// only when every attempt is throttled does it, as before. An invoke
// whose outcome is unknown (a timeout after it was sent) is never sent
// again: it may have been queued. Either way every recipient gets the
// frame exactly once.
func TestShardedFanoutRetriesAThrottledInvoke(t *testing.T) {
	const (
		n         = 25 // 5 posted by the coordinator, one shard of 20
		inlineMax = 5
	)
	tests := []struct {
		name       string
		answers    []func() (int, error)
		maxPayload int // split the shard in two events of 10
		wantCalls  int
		wantInline int // recipients the coordinator posts to
	}{
		{"throttled once", []func() (int, error){throttled, accepted}, 0, 2, inlineMax},
		{"throttled three times", []func() (int, error){throttled, throttled, throttled, accepted}, 0, 4, inlineMax},
		{"throttled every time", []func() (int, error){throttled}, 0, 4, n},
		{"timed out after sending", []func() (int, error){timedOut, accepted}, 0, 1, n},
		{"split, the first part throttled once", []func() (int, error){throttled, accepted}, 300, 3, inlineMax},
		{"split, the second part throttled every time", []func() (int, error){accepted, throttled}, 300, 5, inlineMax + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := bigRoom(t, n)
			inv := &scriptedInvoker{answers: tt.answers}
			d := fanout.NewDispatcher(inv, "fanout-fn")
			d.Sleep = noSleep
			if tt.maxPayload > 0 {
				d.MaxPayloadBytes = tt.maxPayload
			}
			poster := &countPoster{posts: map[string]int{}}
			raw := func(string) broadcast.Poster { return poster }
			posters := broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: 20, InlineMax: inlineMax, Dispatcher: d})
			b := broadcast.New(st, posters("https://x/prod"), broadcast.Config{Concurrency: 4})
			if _, err := b.Fanout(ctx, "t", "room:big", []byte(`{"type":"update"}`), nil); err != nil {
				t.Fatal(err)
			}
			if inv.calls != tt.wantCalls {
				t.Errorf("invokes = %d, want %d", inv.calls, tt.wantCalls)
			}
			if len(poster.posts) != tt.wantInline {
				t.Errorf("the coordinator posted to %d recipients, want %d", len(poster.posts), tt.wantInline)
			}
			got := map[string]int{}
			for id, k := range poster.posts {
				got[id] += k
			}
			for _, id := range inv.accepted {
				got[id]++
			}
			if len(got) != n {
				t.Errorf("%d of %d recipients got the frame", len(got), n)
			}
			for id, k := range got {
				if k != 1 {
					t.Errorf("%s got the frame %d times", id, k)
				}
			}
		})
	}
}

// noSleep stands in for the backoff's wait: the tests check how often an
// invoke is sent, not when.
func noSleep(ctx context.Context, d time.Duration) error { return ctx.Err() }

// sleeps records the backoff's waits without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func signedConfig() aws.Config {
	return aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
}

// dispatchTo dispatches a shard of 10 recipients through the real signed
// client to fake, with a dispatcher that set adjusts, and checks that
// fake received wantCalls invokes, all well formed.
func dispatchTo(t *testing.T, ctx context.Context, fake *lambdaAPI, wantCalls int, set func(*fanout.Dispatcher)) (broadcast.Shard, error) {
	t.Helper()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	d := fanout.NewDispatcher(fanout.NewLambdaClient(signedConfig(), srv.URL, nil), "fanout-fn")
	set(d)
	s := broadcast.Shard{Endpoint: "https://x/prod", Tenant: "t", Channel: "c", Index: 1, Frame: []byte(`{"type":"update"}`), IDs: ids(10)}
	err := d.Dispatch(ctx, s)
	if len(fake.errs) > 0 {
		t.Fatalf("invokes: %v", fake.errs)
	}
	if fake.calls != wantCalls {
		t.Errorf("invokes sent = %d, want %d", fake.calls, wantCalls)
	}
	return s, err
}

// TestDispatchRetriesOnlyCertainRefusals: through the real signed
// client, an invoke answered 429 TooManyRequestsException (Lambda did
// not queue the event) is sent again, up to DefaultDispatchAttempts in
// all, after jittered waits below 100, 200 and 400 ms, each retry
// counted in FanoutDispatchRetries; a 5xx (ServiceException,
// ResourceNotReadyException), which does not say whether the event was
// queued, is sent once. A context that ends during the wait stops the
// retries.
func TestDispatchRetriesOnlyCertainRefusals(t *testing.T) {
	tests := []struct {
		name        string
		statuses    []int
		maxAttempts int
		cancel      bool // ctx ends during the first wait
		wantCalls   int
		wantErr     bool
	}{
		{"throttled once", []int{429, 202}, 0, false, 2, false},
		{"throttled three times", []int{429, 429, 429, 202}, 0, false, 4, false},
		{"throttled every time", []int{429}, 0, false, 4, true},
		{"one attempt", []int{429, 202}, 1, false, 1, true},
		{"ended during the wait", []int{429, 202}, 0, true, 1, true},
		{"ServiceException", []int{500, 202}, 0, false, 1, true},
		{"ResourceNotReadyException", []int{502, 202}, 0, false, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &lambdaAPI{statuses: tt.statuses}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m := metrics.New("disconnect")
			ctx = metrics.With(ctx, m)
			var waits sleeps
			s, err := dispatchTo(t, ctx, fake, tt.wantCalls, func(d *fanout.Dispatcher) {
				d.MaxAttempts = tt.maxAttempts
				d.Sleep = waits.sleep
				if tt.cancel {
					d.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return waits.sleep(ctx, d) }
				}
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Dispatch error = %v, want error %v", err, tt.wantErr)
			}
			wantEvents := 1
			if tt.wantErr {
				wantEvents = 0
				var part *broadcast.UndispatchedError
				if !errors.As(err, &part) || len(part.IDs) != len(s.IDs) {
					t.Errorf("Dispatch error = %v, want an UndispatchedError of all %d recipients", err, len(s.IDs))
				}
			}
			if len(fake.events) != wantEvents {
				t.Errorf("events queued = %d, want %d", len(fake.events), wantEvents)
			}
			for i, w := range waits.d {
				if ceiling := fanout.DefaultDispatchBackoff << i; w < 0 || w >= ceiling {
					t.Errorf("wait %d = %v, want in [0, %v)", i+1, w, ceiling)
				}
			}
			retries := 0.0
			if v, ok := m.Document(time.Now())["FanoutDispatchRetries"].(float64); ok {
				retries = v
			}
			if want := len(waits.d); tt.cancel {
				if retries != 0 {
					t.Errorf("FanoutDispatchRetries = %v, want 0 (no retry was sent)", retries)
				}
			} else if retries != float64(want) || want != fake.calls-1 {
				t.Errorf("FanoutDispatchRetries = %v and %d waits, want %d of each", retries, want, fake.calls-1)
			}
		})
	}
}

// TestDispatchRetriesAnInvokeNeverSent: an invoke whose connection to
// Lambda was refused, or whose TLS handshake the server reset, was never
// sent, so it is sent again; when every attempt fails so the dispatch
// fails after DefaultDispatchAttempts connections and the coordinator
// posts the shard itself. A handshake that failed on Lambda's certificate
// was not sent either, but another attempt would reject the same
// certificate: it is not sent again.
func TestDispatchRetriesAnInvokeNeverSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there: a dial is refused
	resets := awsresttest.Listen(t, awsresttest.ResetAfterHello)
	tests := []struct {
		name      string
		failAt    string // where the failing connections go
		failures  int    // the first so many connections fail
		untrusted bool   // the client does not trust Lambda's certificate
		wantDials int
		wantErr   bool
	}{
		{"refused once", closed, 1, false, 2, false},
		{"refused every time", closed, fanout.DefaultDispatchAttempts, false, fanout.DefaultDispatchAttempts, true},
		{"reset during the TLS handshake once", resets, 1, false, 2, false},
		{"reset during the TLS handshake three times", resets, 3, false, 4, false},
		{"reset during the TLS handshake every time", resets, fanout.DefaultDispatchAttempts, false, fanout.DefaultDispatchAttempts, true},
		{"certificate rejected", "", 0, true, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &lambdaAPI{status: http.StatusAccepted}
			srv := httptest.NewTLSServer(fake)
			defer srv.Close()
			conf := &tls.Config{}
			if !tt.untrusted {
				conf.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			}
			var mu sync.Mutex
			dials := 0
			var dialer net.Dialer
			transport := &awsrest.H1Transport{TLSClientConfig: conf, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				mu.Lock()
				dials++
				fail := dials <= tt.failures
				mu.Unlock()
				if fail {
					addr = tt.failAt
				}
				return dialer.DialContext(ctx, network, addr)
			}}
			client := fanout.NewLambdaClient(signedConfig(), srv.URL, &awsrest.Options{HTTPClient: &http.Client{Transport: transport}})
			d := fanout.NewDispatcher(client, "fanout-fn")
			d.Sleep = noSleep
			s := broadcast.Shard{Endpoint: "https://x/prod", Tenant: "t", Channel: "c", Index: 1, Frame: []byte(`{"type":"update"}`), IDs: ids(10)}
			err := d.Dispatch(context.Background(), s)
			if len(fake.errs) > 0 {
				t.Fatalf("invokes: %v", fake.errs)
			}
			if dials != tt.wantDials {
				t.Errorf("connections = %d, want %d", dials, tt.wantDials)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Dispatch: %v", err)
				}
				if fake.calls != 1 || len(fake.events) != 1 {
					t.Errorf("invokes received = %d, events = %d; want 1, 1", fake.calls, len(fake.events))
				}
				return
			}
			var part *broadcast.UndispatchedError
			if !errors.As(err, &part) || len(part.IDs) != len(s.IDs) || !awsrest.NotSent(err) {
				t.Fatalf("Dispatch error = %v, want an UndispatchedError of all %d recipients, not sent", err, len(s.IDs))
			}
			if got := awsrest.HandshakeRejected(err); got != tt.untrusted {
				t.Errorf("HandshakeRejected(%v) = %v, want %v", err, got, tt.untrusted)
			}
			if fake.calls != 0 {
				t.Errorf("invokes received = %d, want 0", fake.calls)
			}
		})
	}
}

// timeoutError is a dial that ran out of time: what a real dial to an
// endpoint that does not answer returns after the attempt timeout, here
// at once.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestDispatchDoesNotRetryATimedOutDial: a dial that timed out was not
// sent, but another attempt would most likely time out too, each taking
// the attempt timeout from the time the coordinator needs to post the
// shard itself: the dispatch fails after one connection.
func TestDispatchDoesNotRetryATimedOutDial(t *testing.T) {
	fake := &lambdaAPI{status: http.StatusAccepted}
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	conf := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	dials := 0
	transport := &awsrest.H1Transport{TLSClientConfig: conf, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials++
		return nil, &net.OpError{Op: "dial", Net: network, Err: timeoutError{}}
	}}
	client := fanout.NewLambdaClient(signedConfig(), srv.URL, &awsrest.Options{HTTPClient: &http.Client{Transport: transport}})
	d := fanout.NewDispatcher(client, "fanout-fn")
	d.Sleep = noSleep
	s := broadcast.Shard{Endpoint: "https://x/prod", Tenant: "t", Channel: "c", Index: 1, Frame: []byte(`{"type":"update"}`), IDs: ids(10)}
	err := d.Dispatch(context.Background(), s)
	var part *broadcast.UndispatchedError
	if !errors.As(err, &part) || len(part.IDs) != len(s.IDs) || !awsrest.NotSent(err) {
		t.Fatalf("Dispatch error = %v, want an UndispatchedError of all %d recipients, not sent", err, len(s.IDs))
	}
	if dials != 1 {
		t.Errorf("connections = %d, want 1", dials)
	}
	if fake.calls != 0 {
		t.Errorf("invokes received = %d, want 0", fake.calls)
	}
}

// TestDispatchWaitsForRetryAfter: Lambda's 429 may say how long to wait
// before retrying (TooManyRequestsException's retryAfterSeconds, sent as
// the Retry-After header). The retry waits at least that long; a wait
// longer than MaxBackoff, or one that would end past ctx's deadline, ends
// the dispatch instead, and the coordinator posts the shard. A header
// that is not a whole number of seconds, or 0, leaves the jittered
// backoff as it is.
func TestDispatchWaitsForRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		maxBackoff time.Duration
		deadline   time.Duration // ctx's deadline from now; 0: none
		wantCalls  int
		wantWait   time.Duration // the one wait, at least; 0: below the backoff's 100 ms
	}{
		{"one second", "1", 0, 0, 2, time.Second},
		{"five seconds, MaxBackoff 10s", "5", 10 * time.Second, 0, 2, 5 * time.Second},
		{"longer than MaxBackoff", "2", 0, 0, 1, 0},
		{"past the deadline", "120", time.Hour, time.Minute, 1, 0},
		{"zero", "0", 0, 0, 2, 0},
		{"not a number of seconds", "soon", 0, 0, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			var waits sleeps
			fake := &lambdaAPI{statuses: []int{429, 202}, retryAfter: tt.retryAfter}
			_, err := dispatchTo(t, ctx, fake, tt.wantCalls, func(d *fanout.Dispatcher) {
				d.MaxBackoff = tt.maxBackoff
				d.Sleep = waits.sleep
			})
			if retried := tt.wantCalls > 1; (err == nil) != retried {
				t.Fatalf("Dispatch error = %v, want error %v", err, !retried)
			}
			if len(waits.d) != tt.wantCalls-1 {
				t.Fatalf("waits = %v, want %d", waits.d, tt.wantCalls-1)
			}
			if len(waits.d) == 0 {
				return
			}
			switch w := waits.d[0]; {
			case tt.wantWait == 0 && w >= fanout.DefaultDispatchBackoff:
				t.Errorf("wait = %v, want the jittered backoff, below %v", w, fanout.DefaultDispatchBackoff)
			case tt.wantWait > 0 && (w < tt.wantWait || w >= tt.wantWait+fanout.DefaultDispatchBackoff):
				t.Errorf("wait = %v, want %v (and at most the backoff's %v more)", w, tt.wantWait, fanout.DefaultDispatchBackoff)
			}
		})
	}
}
