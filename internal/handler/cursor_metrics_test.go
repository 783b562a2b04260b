package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/metrics"
)

// TestCursorPostsCounted: a cursor frame's post to a room
// member that fails (not a 410) must count in the message function's
// FanoutDeliveryErrors, and the one that succeeds in FramesOut, as the
// publish's do (TestMessageFunctionCountsFailedPosts).
func TestCursorPostsCounted(t *testing.T) {
	h, emf := metricsHandler(t, failingPoster{})
	ctx := context.Background()
	if resp, _ := h.Connect(ctx, event("C", "")); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	for _, c := range []string{"A", "B", "C"} {
		if resp, _ := h.Message(ctx, event(c, `{"type":"room.join","messageId":"j","payload":{"room":"r1"}}`)); !strings.Contains(resp.Body, `"ack"`) {
			t.Fatalf("join: %s", resp.Body)
		}
	}
	emf.Reset()
	resp, _ := h.Message(ctx, event("A", `{"type":"cursor","messageId":"c1","payload":{"room":"r1","x":1,"y":2}}`))
	if !strings.Contains(resp.Body, `"ack"`) {
		t.Fatalf("cursor: %s", resp.Body)
	}
	t.Logf("reply: %s", resp.Body)
	var doc map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(emf.Bytes()), &doc); err != nil {
		t.Fatalf("EMF %q: %v", emf.String(), err)
	}
	if n, _ := doc[metrics.FanoutDeliveryErrors].(float64); n != 1 {
		t.Errorf("the cursor's post to B failed, but %s = %v, want 1", metrics.FanoutDeliveryErrors, doc[metrics.FanoutDeliveryErrors])
	}
	if n, _ := doc[metrics.FramesOut].(float64); n != 1 {
		t.Errorf("%s = %v, want 1 (the cursor posted to C)", metrics.FramesOut, doc[metrics.FramesOut])
	}
}
