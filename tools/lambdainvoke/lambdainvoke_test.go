package lambdainvoke_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/tools/lambdainvoke"
)

var _ devserver.Invoker = (*lambdainvoke.Invoker)(nil)

// invocation is one request a fake Lambda API received.
type invocation struct {
	path    string
	payload []byte
}

// fakeLambda is a Lambda Invoke API stand-in: respond decides each answer.
type fakeLambda struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []invocation
	active  atomic.Int32
	peak    atomic.Int32
	respond func(path string, payload []byte) (status int, header http.Header, body string)
}

func newFakeLambda(t *testing.T, respond func(path string, payload []byte) (int, http.Header, string)) *fakeLambda {
	t.Helper()
	f := &fakeLambda{t: t, respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.active.Add(1)
		defer f.active.Add(-1)
		for {
			p := f.peak.Load()
			if n <= p || f.peak.CompareAndSwap(p, n) {
				break
			}
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			http.Error(w, "method", http.StatusMethodNotAllowed)
			return
		}
		f.mu.Lock()
		f.seen = append(f.seen, invocation{path: r.URL.Path, payload: body})
		f.mu.Unlock()
		status, hdr, out := f.respond(r.URL.Path, body)
		for k, vs := range hdr {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLambda) invocations() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.seen...)
}

func okProxy(string, []byte) (int, http.Header, string) {
	return http.StatusOK, nil, `{"statusCode":200,"body":"ok"}`
}

func TestRoutesReachTheirFunctions(t *testing.T) {
	shared := newFakeLambda(t, okProxy)
	per := map[lambdainvoke.Function]*fakeLambda{}
	eps := map[lambdainvoke.Function]string{}
	for _, f := range lambdainvoke.Functions() {
		per[f] = newFakeLambda(t, okProxy)
		eps[f] = per[f].srv.URL
	}
	tests := []struct {
		name    string
		targets map[lambdainvoke.Function]lambdainvoke.Target
		// where returns the fake that serves fn and the path it expects.
		where func(fn lambdainvoke.Function) (*fakeLambda, string)
	}{
		{"shared endpoint", lambdainvoke.Shared(shared.srv.URL, nil), func(fn lambdainvoke.Function) (*fakeLambda, string) {
			return shared, "/2015-03-31/functions/" + lambdainvoke.DefaultFunctionNames()[fn] + "/invocations"
		}},
		{"endpoint per function", lambdainvoke.PerFunction(eps), func(fn lambdainvoke.Function) (*fakeLambda, string) {
			return per[fn], "/2015-03-31/functions/function/invocations"
		}},
	}
	routes := []struct {
		routeKey string
		fn       lambdainvoke.Function
	}{
		{"$connect", lambdainvoke.Connect},
		{"$default", lambdainvoke.Message},
		{"$disconnect", lambdainvoke.Disconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := lambdainvoke.New(lambdainvoke.Options{Targets: tc.targets})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range routes {
				fake, path := tc.where(r.fn)
				before := len(fake.invocations())
				req := events.APIGatewayWebsocketProxyRequest{Body: `{"type":"ping"}`}
				req.RequestContext.RouteKey = r.routeKey
				req.RequestContext.ConnectionID = "Conn0000000001="
				resp, err := inv.Invoke(context.Background(), r.routeKey, req)
				if err != nil {
					t.Fatalf("%s: %v", r.routeKey, err)
				}
				if resp.StatusCode != 200 || resp.Body != "ok" {
					t.Fatalf("%s: response %+v", r.routeKey, resp)
				}
				got := fake.invocations()
				if len(got) != before+1 {
					t.Fatalf("%s: %d invocations at its endpoint, want %d", r.routeKey, len(got), before+1)
				}
				last := got[len(got)-1]
				if last.path != path {
					t.Errorf("%s: path %q, want %q", r.routeKey, last.path, path)
				}
				var sent events.APIGatewayWebsocketProxyRequest
				if err := json.Unmarshal(last.payload, &sent); err != nil || sent.RequestContext.ConnectionID != "Conn0000000001=" || sent.Body != req.Body {
					t.Errorf("%s: payload %s (%v)", r.routeKey, last.payload, err)
				}
			}
			fake, path := tc.where(lambdainvoke.Sweeper)
			if err := inv.Sweep(context.Background()); err != nil {
				t.Fatalf("sweep: %v", err)
			}
			got := fake.invocations()
			last := got[len(got)-1]
			if last.path != path {
				t.Errorf("sweep: path %q, want %q", last.path, path)
			}
			var ev events.EventBridgeEvent
			if err := json.Unmarshal(last.payload, &ev); err != nil || ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() {
				t.Errorf("sweep payload %s (%v)", last.payload, err)
			}
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		wantFuncErr bool
		wantErr     bool
	}{
		{"success", 200, nil, `{"statusCode":200}`, false, false},
		{"flagged by lambda", 200, http.Header{"X-Amz-Function-Error": {"Unhandled"}}, `{"errorMessage":"boom","errorType":"errorString"}`, true, true},
		{"error document without flag", 200, nil, `{"errorMessage":"boom","errorType":"errorString"}`, true, true},
		{"flag with odd body", 200, http.Header{"X-Amz-Function-Error": {"Unhandled"}}, `oops`, true, true},
		{"api error", 502, nil, `bad gateway`, false, true},
		{"undecodable response", 200, nil, `not json`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeLambda(t, func(string, []byte) (int, http.Header, string) { return tc.status, tc.header, tc.body })
			inv, err := lambdainvoke.New(lambdainvoke.Options{Targets: lambdainvoke.Shared(fake.srv.URL, nil)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = inv.Invoke(context.Background(), "$default", events.APIGatewayWebsocketProxyRequest{})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got := lambdainvoke.IsFunctionError(err); got != tc.wantFuncErr {
				t.Fatalf("IsFunctionError(%v) = %v, want %v", err, got, tc.wantFuncErr)
			}
			if n := len(fake.invocations()); n != 1 {
				t.Fatalf("%d attempts, want 1 (no retries)", n)
			}
		})
	}
}

func TestMaxConcurrent(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		wantPeak int32
	}{
		{"default is one at a time", 0, 1},
		{"bounded", 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeLambda(t, func(string, []byte) (int, http.Header, string) {
				time.Sleep(30 * time.Millisecond)
				return 200, nil, `{"statusCode":200}`
			})
			inv, err := lambdainvoke.New(lambdainvoke.Options{Targets: lambdainvoke.Shared(fake.srv.URL, nil), MaxConcurrent: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 6 {
				wg.Go(func() {
					if _, err := inv.Invoke(context.Background(), "$default", events.APIGatewayWebsocketProxyRequest{}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if p := fake.peak.Load(); p != tc.wantPeak {
				t.Fatalf("peak concurrency %d, want %d", p, tc.wantPeak)
			}
		})
	}
}

func TestWaitingForAFreeFunctionHonoursContext(t *testing.T) {
	release := make(chan struct{})
	fake := newFakeLambda(t, func(string, []byte) (int, http.Header, string) {
		<-release
		return 200, nil, `{"statusCode":200}`
	})
	defer close(release)
	inv, err := lambdainvoke.New(lambdainvoke.Options{Targets: lambdainvoke.Shared(fake.srv.URL, nil)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = inv.Invoke(context.Background(), "$default", events.APIGatewayWebsocketProxyRequest{}) }()
	waitUntil(t, func() bool { return fake.active.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := inv.Invoke(ctx, "$default", events.APIGatewayWebsocketProxyRequest{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestParseEndpoints(t *testing.T) {
	full := "connect=http://127.0.0.1:1, disconnect=http://127.0.0.1:2,message=http://127.0.0.1:3,sweeper=http://127.0.0.1:4"
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"all four", full, ""},
		{"missing one", "connect=http://a,disconnect=http://b,message=http://c", "missing sweeper"},
		{"unknown function", full + ",authorizer=http://e", "unknown function"},
		{"twice", full + ",connect=http://e", "given twice"},
		{"no url", "connect=,disconnect=http://b,message=http://c,sweeper=http://d", "want function=URL"},
		{"empty", "", "missing connect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := lambdainvoke.ParseEndpoints(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if eps[lambdainvoke.Message] != "http://127.0.0.1:3" || len(eps) != 4 {
				t.Fatalf("endpoints = %v", eps)
			}
		})
	}
}

func TestNewValidatesTargets(t *testing.T) {
	eps := map[lambdainvoke.Function]string{"connect": "http://a", "disconnect": "http://b", "message": "http://c", "sweeper": "http://d"}
	tests := []struct {
		name    string
		targets map[lambdainvoke.Function]lambdainvoke.Target
		wantErr bool
	}{
		{"complete", lambdainvoke.PerFunction(eps), false},
		{"missing function", lambdainvoke.PerFunction(map[lambdainvoke.Function]string{"connect": "http://a"}), true},
		{"not a URL", lambdainvoke.Shared("127.0.0.1:3001", nil), true},
		{"none", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := lambdainvoke.New(lambdainvoke.Options{Targets: tc.targets}); (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestSharedNameOverride(t *testing.T) {
	ts := lambdainvoke.Shared("http://127.0.0.1:3001", map[lambdainvoke.Function]string{lambdainvoke.Message: "Custom"})
	if ts[lambdainvoke.Message].FunctionName != "Custom" || ts[lambdainvoke.Connect].FunctionName != "ConnectFunction" {
		t.Fatalf("targets = %v", ts)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
