package fanout_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// TestFanoutShardCountsFramesOut: the dashboard's "Frames in / out" widget
// sums RTCollab FramesOut over every Function; the frames the fan-out
// function posts for a shard must be among them, as the message
// function's own posts are.
func TestFanoutShardCountsFramesOut(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer api.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	f := fanout.New(cfg, fanout.Config{}, nil)
	var out bytes.Buffer
	f.SetMetrics(&out)
	h := f.Handler(memory.New(nil))
	ev := fanout.Event{Shard: &broadcast.Shard{
		Endpoint: api.URL + "/prod", Tenant: "acme", Channel: "order-updates", Index: 1,
		Frame: []byte(`{"type":"update"}`), IDs: []string{"a", "b", "c"},
	}}
	if _, err := h(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := emfValues(t, out.Bytes())
	if got[metrics.FramesOut] != 3 {
		t.Errorf("%s = %v, want 3 (3 frames posted); document: %s", metrics.FramesOut, got[metrics.FramesOut], out.String())
	}
}
