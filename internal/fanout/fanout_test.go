package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/fanout"
)

// lambdaAPI stands in for Lambda's Invoke API, which cannot run here: it
// checks that each request is a signed asynchronous invoke of fanout-fn,
// records the event and answers with status, or with statuses in order
// (the last one repeating) when set. An error status carries the error
// type Lambda gives it, and a 429 the retryAfter it is given.
type lambdaAPI struct {
	status   int
	statuses []int
	// retryAfter, when set, is the Retry-After header of every 429.
	retryAfter string
	mu         sync.Mutex
	calls      int
	events     []fanout.Event
	sizes      []int
	errs       []string
}

// lambdaErrorTypes are the Invoke API's error types for the statuses the
// tests answer with.
var lambdaErrorTypes = map[int]string{
	http.StatusTooManyRequests:     "TooManyRequestsException",
	http.StatusInternalServerError: "ServiceException",
	http.StatusBadGateway:          "ResourceNotReadyException",
}

func (f *lambdaAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	status := f.status
	if len(f.statuses) > 0 {
		status = f.statuses[min(f.calls, len(f.statuses))-1]
	}
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/fanout-fn/invocations":
		f.errs = append(f.errs, "request "+r.Method+" "+r.URL.Path)
	case r.Header.Get("X-Amz-Invocation-Type") != "Event":
		f.errs = append(f.errs, "not an asynchronous invoke")
	case !strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/lambda/aws4_request"):
		f.errs = append(f.errs, "not signed for lambda in eu-west-1: "+r.Header.Get("Authorization"))
	}
	if status >= 400 {
		w.Header().Set("X-Amzn-Errortype", lambdaErrorTypes[status])
		if status == http.StatusTooManyRequests && f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.WriteHeader(status)
		return
	}
	var ev fanout.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		f.errs = append(f.errs, err.Error())
	}
	f.events = append(f.events, ev)
	f.sizes = append(f.sizes, len(body))
	w.WriteHeader(status)
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "R1kmxc2VNjMCFIA" + string(rune('a'+i%26))
	}
	return out
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name       string
		recipients int
		maxPayload int
		status     int
		wantEvents int
		wantErr    bool
	}{
		{"one event", 100, 0, http.StatusAccepted, 1, false},
		{"split in two", 100, 2000, http.StatusAccepted, 2, false},
		{"split in four", 100, 1000, http.StatusAccepted, 4, false},
		{"frame alone too large", 1, 10, http.StatusAccepted, 0, true},
		{"not accepted", 10, 0, http.StatusOK, 1, true},
		{"throttled on every attempt", 10, 0, http.StatusTooManyRequests, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &lambdaAPI{status: tt.status}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
			d := fanout.NewDispatcher(fanout.NewLambdaClient(cfg, srv.URL, nil), "fanout-fn")
			d.Sleep = noSleep
			if tt.maxPayload > 0 {
				d.MaxPayloadBytes = tt.maxPayload
			}
			s := broadcast.Shard{Endpoint: "https://x/prod", Tenant: "t", Channel: "c", Index: 1, Frame: []byte(`{"type":"update"}`), IDs: ids(tt.recipients)}
			err := d.Dispatch(context.Background(), s)
			if len(fake.errs) > 0 {
				t.Fatalf("invokes: %v", fake.errs)
			}
			if tt.status == http.StatusTooManyRequests && fake.calls != fanout.DefaultDispatchAttempts {
				t.Fatalf("a throttled invoke was sent %d times, want %d (Lambda queued none of them)", fake.calls, fanout.DefaultDispatchAttempts)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Dispatch error = %v, want error %v", err, tt.wantErr)
			}
			if len(fake.events) != tt.wantEvents {
				t.Fatalf("events = %d, want %d", len(fake.events), tt.wantEvents)
			}
			if tt.wantErr {
				return
			}
			var got []string
			for i, ev := range fake.events {
				if string(ev.Shard.Frame) != string(s.Frame) || ev.Shard.Endpoint != s.Endpoint {
					t.Errorf("event %d = %+v, want the shard's frame and endpoint", i, ev.Shard)
				}
				if tt.maxPayload > 0 && fake.sizes[i] > tt.maxPayload {
					t.Errorf("event %d has %d bytes, limit %d", i, fake.sizes[i], tt.maxPayload)
				}
				got = append(got, ev.Shard.IDs...)
			}
			if len(got) != len(s.IDs) {
				t.Errorf("recipients dispatched = %d, want %d", len(got), len(s.IDs))
			}
		})
	}
}

// TestHandler: the fan-out function's handler delivers the shard of a
// fan-out event; an API Gateway WebSocket event or any other event is
// refused with ErrNotFanout (the message function has its own typed
// handler and never sees fan-out events). Each fixture is decoded as the
// Lambda runtime does, into the handler's Event.
func TestHandler(t *testing.T) {
	tests := []struct {
		name      string
		fixture   string
		wantShard bool
		wantErr   error
	}{
		{"fan-out event", "testdata/fanout-event.json", true, nil},
		{"API Gateway event", "../gateway/testdata/apigw-websocket-request-send-message.json", false, fanout.ErrNotFanout},
		{"other event", "", false, fanout.ErrNotFanout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(`{"source":"aws.events"}`)
			if tt.fixture != "" {
				b, err := os.ReadFile(tt.fixture)
				if err != nil {
					t.Fatal(err)
				}
				raw = b
			}
			var ev fanout.Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("decode %s: %v", tt.name, err)
			}
			var gotShard *broadcast.Shard
			h := fanout.Handler(
				func(ctx context.Context, s broadcast.Shard) (broadcast.Result, error) {
					gotShard = &s
					return broadcast.Result{Recipients: len(s.IDs), Delivered: len(s.IDs)}, nil
				}, nil)
			out, err := h(context.Background(), ev)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("handler error = %v, want %v", err, tt.wantErr)
			}
			if (gotShard != nil) != tt.wantShard {
				t.Fatalf("shard delivered %v, want %v", gotShard != nil, tt.wantShard)
			}
			if gotShard != nil && (string(gotShard.Frame) != `{"type":"update"}` || len(gotShard.IDs) != 2 || gotShard.Index != 3) {
				t.Errorf("shard = %+v", gotShard)
			}
			if tt.wantShard && out != (fanout.Delivery{Recipients: 2, Delivered: 2}) {
				t.Errorf("answer %+v, want 2 recipients, 2 delivered", out)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    fanout.Config
		wantErr bool
	}{
		{"unset", nil, fanout.Config{}, false},
		{"set", map[string]string{"FANOUT_FUNCTION_NAME": "f", "FANOUT_SHARD_SIZE": "500", "AWS_REGION": "eu-west-1"},
			fanout.Config{FunctionName: "f", ShardSize: 500}, false},
		{"endpoint", map[string]string{"FANOUT_FUNCTION_NAME": "f", "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:9001/"},
			fanout.Config{FunctionName: "f", LambdaEndpoint: "http://127.0.0.1:9001"}, false},
		{"bad size", map[string]string{"FANOUT_SHARD_SIZE": "-1"}, fanout.Config{}, true},
		{"inline bound", map[string]string{"FANOUT_FUNCTION_NAME": "f", "FANOUT_INLINE_MAX": "25"},
			fanout.Config{FunctionName: "f", InlineMax: 25}, false},
		{"inline bound 0", map[string]string{"FANOUT_FUNCTION_NAME": "f", "FANOUT_INLINE_MAX": "0"},
			fanout.Config{FunctionName: "f"}, false},
		{"negative inline bound", map[string]string{"FANOUT_INLINE_MAX": "-1"}, fanout.Config{}, true},
		{"inline bound past int", map[string]string{"FANOUT_INLINE_MAX": "99999999999999999999"}, fanout.Config{}, true},
		{"inline bound not a number", map[string]string{"FANOUT_INLINE_MAX": "25 "}, fanout.Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fanout.ConfigFromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
