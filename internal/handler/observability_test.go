package handler_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// recorder is a Poster that keeps what it was asked to post; the Management
// API itself is exercised by the end-to-end tests.
type recorder struct {
	mu    sync.Mutex
	posts map[string][][]byte
}

func (r *recorder) PostToConnection(_ context.Context, id string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.posts == nil {
		r.posts = map[string][][]byte{}
	}
	r.posts[id] = append(r.posts[id], data)
	return nil
}

type fixedAuth struct{}

func (fixedAuth) Authenticate(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	return auth.Identity{UserID: req.QueryStringParameters["userId"], Username: "U", Tenant: "t1"}, nil
}

func event(conn, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: conn, RequestID: "req-" + conn, DomainName: "abc.execute-api.us-east-1.amazonaws.com", Stage: "prod",
		},
		QueryStringParameters: map[string]string{"userId": "user-" + conn},
	}
}

// TestPublishLogsAndMetrics captures the logs and the EMF document of a
// publish and checks the document against the EMF specification's shape.
func TestPublishLogsAndMetrics(t *testing.T) {
	var logs, emf bytes.Buffer
	rec := &recorder{}
	h, err := handler.New(handler.Config{}, handler.Deps{
		Store:   memory.New(nil),
		Posters: func(string) broadcast.Poster { return rec },
		Auth:    fixedAuth{},
		Logger:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: &emf,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []string{"A", "B"} {
		if resp, _ := h.Connect(ctx, event(c, "")); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d", c, resp.StatusCode)
		}
		if resp, _ := h.Message(ctx, event(c, `{"type":"subscribe","channel":"order-updates","messageId":"s"}`)); !strings.Contains(resp.Body, `"ack"`) {
			t.Fatalf("subscribe: %s", resp.Body)
		}
	}
	emf.Reset()
	logs.Reset()
	resp, _ := h.Message(ctx, event("A", `{"type":"publish","channel":"order-updates","payload":{"x":1},"messageId":"p1"}`))
	if !strings.Contains(resp.Body, `"ack"`) {
		t.Fatalf("publish: %s", resp.Body)
	}

	lines := nonEmptyLines(emf.String())
	if len(lines) != 1 {
		t.Fatalf("want one EMF document per invocation, got %d:\n%s", len(lines), emf.String())
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil {
		t.Fatalf("EMF document is not JSON: %v", err)
	}
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws metadata: %s", lines[0])
	}
	if ts, ok := aws["Timestamp"].(float64); !ok || ts <= 0 {
		t.Fatalf("_aws.Timestamp = %v, want epoch milliseconds", aws["Timestamp"])
	}
	cwm, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(cwm) != 1 {
		t.Fatalf("_aws.CloudWatchMetrics = %v", aws["CloudWatchMetrics"])
	}
	dir := cwm[0].(map[string]any)
	if dir["Namespace"] != metrics.Namespace {
		t.Errorf("Namespace = %v", dir["Namespace"])
	}
	dims, _ := dir["Dimensions"].([]any)
	if len(dims) != 1 {
		t.Fatalf("Dimensions = %v", dir["Dimensions"])
	}
	for _, d := range dims[0].([]any) {
		if _, ok := doc[d.(string)].(string); !ok {
			t.Errorf("dimension %v has no string value at the top level", d)
		}
	}
	want := map[string]string{
		metrics.FramesIn: "Count", metrics.FramesOut: "Count", metrics.FanoutSize: "Count",
		metrics.GoneConnections: "Count", metrics.HandlerLatency: "Milliseconds",
	}
	validUnits := map[string]bool{"Count": true, "Milliseconds": true, "Bytes": true, "Seconds": true}
	got := map[string]string{}
	for _, m := range dir["Metrics"].([]any) {
		mm := m.(map[string]any)
		name, unit := mm["Name"].(string), mm["Unit"].(string)
		if !validUnits[unit] {
			t.Errorf("metric %s has unit %q", name, unit)
		}
		if _, ok := doc[name].(float64); !ok {
			t.Errorf("metric %s has no numeric value at the top level", name)
		}
		got[name] = unit
	}
	for name, unit := range want {
		if got[name] != unit {
			t.Errorf("metric %s unit = %q, want %q", name, got[name], unit)
		}
	}
	if doc[metrics.FanoutSize] != 2.0 || doc[metrics.FramesOut] != 2.0 || doc[metrics.FramesIn] != 1.0 {
		t.Errorf("values: fanout %v, out %v, in %v", doc[metrics.FanoutSize], doc[metrics.FramesOut], doc[metrics.FramesIn])
	}

	// Logs are JSON lines carrying the request and connection ids, route
	// and latency.
	found := false
	for _, l := range nonEmptyLines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if rec["requestId"] == "req-A" && rec["connectionId"] == "A" && rec["route"] == "$default" && rec["latencyMs"] != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line with requestId, connectionId, route and latencyMs:\n%s", logs.String())
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}
