package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// emfValues decodes the one EMF document in out and returns its metric
// values by name, checking the namespace and the Function dimension.
func emfValues(t *testing.T, out []byte) map[string]float64 {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one EMF line, got %d:\n%s", len(lines), out)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil {
		t.Fatalf("EMF line %q: %v", lines[0], err)
	}
	aws, _ := doc["_aws"].(map[string]any)
	cwm, _ := aws["CloudWatchMetrics"].([]any)
	if len(cwm) != 1 || doc["Function"] != metrics.FunctionFanout {
		t.Fatalf("EMF document %s: want one metric directive and Function %q", lines[0], metrics.FunctionFanout)
	}
	d := cwm[0].(map[string]any)
	if d["Namespace"] != metrics.Namespace {
		t.Errorf("namespace %v, want %s", d["Namespace"], metrics.Namespace)
	}
	values := map[string]float64{}
	for _, m := range d["Metrics"].([]any) {
		name := m.(map[string]any)["Name"].(string)
		v, ok := doc[name].(float64)
		if !ok {
			t.Fatalf("metric %s has no value in %s", name, lines[0])
		}
		values[name] = v
	}
	return values
}

// TestFanoutDeliveryErrorsAreCounted: the fan-out function's handler
// swallows failed posts (a retry would post twice), so it counts the
// recipients it could not reach as FanoutDeliveryErrors. Gone connections
// (410) are counted apart, not as errors. The Management API is a stub that
// answers per connection: 200, 410, or 400 (a failure that is not retried).
func TestFanoutDeliveryErrorsAreCounted(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/gone"):
			w.WriteHeader(http.StatusGone)
		case strings.HasSuffix(r.URL.Path, "/broken1"), strings.HasSuffix(r.URL.Path, "/broken2"):
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"Invalid connectionId"}`))
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer api.Close()

	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	f := fanout.New(cfg, fanout.Config{}, nil)
	var out bytes.Buffer
	f.SetMetrics(&out)
	h := f.Handler(memory.New(nil))

	ev := fanout.Event{Shard: &broadcast.Shard{
		Endpoint: api.URL + "/prod", Tenant: "acme", Channel: "order-updates", Index: 1,
		Frame: []byte(`{"type":"update"}`), IDs: []string{"ok1", "ok2", "gone", "broken1", "broken2"},
	}}
	if _, err := h(context.Background(), ev); err != nil {
		t.Fatalf("handler error %v: the shard's failures must not fail the invocation (it would be retried)", err)
	}
	got := emfValues(t, out.Bytes())
	want := map[string]float64{metrics.FanoutSize: 5, metrics.GoneConnections: 1, metrics.FanoutDeliveryErrors: 2}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], v, got)
		}
	}
}

// TestMeasuredCountsARefusedShard: a shard that deliver refuses whole
// counts every recipient as a delivery error; without a writer, Measured
// changes nothing.
func TestMeasuredCountsARefusedShard(t *testing.T) {
	refuse := func(context.Context, broadcast.Shard) (broadcast.Result, error) {
		return broadcast.Result{}, errors.New("shard endpoint is not this API's")
	}
	var out bytes.Buffer
	s := broadcast.Shard{Channel: "c", IDs: []string{"a", "b", "c"}}
	if _, err := fanout.Measured(refuse, &out, nil)(context.Background(), s); err == nil {
		t.Fatal("Measured hid the refusal from its caller")
	}
	if got := emfValues(t, out.Bytes())[metrics.FanoutDeliveryErrors]; got != 3 {
		t.Errorf("%s = %v, want 3 (every recipient of the refused shard)", metrics.FanoutDeliveryErrors, got)
	}
	out.Reset()
	if _, err := fanout.Measured(refuse, nil, nil)(context.Background(), s); err == nil || out.Len() != 0 {
		t.Errorf("without a writer: err %v, output %q", err, out.String())
	}
}

// TestHandlerPostsOnlyToItsEndpoint: with Config.Endpoint set (the
// deployment's MANAGEMENT_ENDPOINT), a shard naming another endpoint is
// refused whole: no signed request reaches that host, and a connection
// it would call gone stays in the store. A shard naming the endpoint
// (trailing slash or not) is delivered.
func TestHandlerPostsOnlyToItsEndpoint(t *testing.T) {
	var foreign, own atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreign.Add(1)
		w.WriteHeader(http.StatusGone)
	}))
	defer evil.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		own.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer api.Close()
	ctx := context.Background()
	st := memory.New(nil)
	live := store.Connection{ID: "LiveConn1=", UserID: "u1", Tenant: "acme", ConnectedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.PutConnection(ctx, live); err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDFANOUT", "secret", "SESSION")}
	var out bytes.Buffer
	f := fanout.New(cfg, fanout.Config{Endpoint: api.URL + "/prod"}, nil)
	f.SetMetrics(&out)
	h := f.Handler(st)
	shard := func(endpoint string) fanout.Event {
		return fanout.Event{Shard: &broadcast.Shard{Endpoint: endpoint, Tenant: "acme", Channel: "c", Index: 1, Frame: []byte(`{}`), IDs: []string{live.ID}}}
	}
	if _, err := h(ctx, shard(evil.URL+"/prod")); err != nil {
		t.Fatalf("handler error %v: a refused shard must not fail the invocation", err)
	}
	if n := foreign.Load(); n != 0 {
		t.Fatalf("%d requests reached the endpoint the shard named", n)
	}
	if _, err := st.GetConnection(ctx, live.ID); err != nil {
		t.Fatalf("the live connection after the refused shard: %v", err)
	}
	if got := emfValues(t, out.Bytes()); got[metrics.FanoutDeliveryErrors] != 1 {
		t.Errorf("FanoutDeliveryErrors = %v, want 1 (the refused shard's recipient)", got[metrics.FanoutDeliveryErrors])
	}
	out.Reset()
	if _, err := h(ctx, shard(api.URL+"/prod/")); err != nil || own.Load() != 1 {
		t.Fatalf("a shard naming the endpoint: %v, %d posts; want one", err, own.Load())
	}
}
