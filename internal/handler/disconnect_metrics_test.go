package handler_test

import (
	"context"
	"strings"
	"testing"
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
	t.Logf("frames posted to B by $disconnect: %d; EMF output: %q", posted, emf.String())
	if posted > 0 && !strings.Contains(emf.String(), `"FramesOut"`) {
		t.Errorf("$disconnect posted %d frame(s) but wrote no FramesOut", posted)
	}
}
