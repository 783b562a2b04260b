package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/metrics"
)

// TestDisconnectFramesOutCounted: the frames $disconnect posts (the
// released lock on edit-locks, here) are frames out like any other; the
// dashboard's FramesOut must count them.
func TestDisconnectFramesOutCounted(t *testing.T) {
	rec := &recorder{}
	h, emf := metricsHandler(t, rec)
	ctx := context.Background()
	if resp, _ := h.Message(ctx, event("B", `{"type":"subscribe","channel":"edit-locks","messageId":"s"}`)); !strings.Contains(resp.Body, `"ack"`) {
		t.Fatal(resp.Body)
	}
	if resp, _ := h.Message(ctx, event("A", `{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"o1"}}`)); !strings.Contains(resp.Body, `"ack"`) {
		t.Fatal(resp.Body)
	}
	before := len(rec.posts["B"])
	emf.Reset()
	if resp, _ := h.Disconnect(ctx, event("A", "")); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	posted := len(rec.posts["B"]) - before
	if posted != 1 {
		t.Fatalf("$disconnect posted %d frames to B, want 1 (the released lock)", posted)
	}
	var doc map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(emf.Bytes()), &doc); err != nil {
		t.Fatalf("EMF %q: %v", emf.String(), err)
	}
	if n, _ := doc[metrics.FramesOut].(float64); n != float64(posted) {
		t.Errorf("$disconnect posted %d frame(s) but its FramesOut is %v: %s", posted, doc[metrics.FramesOut], emf.String())
	}
}
