package handler_test

import (
	"context"
	"strings"
	"testing"
)

// TestActivityLongNamesListedOrRefused: an entry is shown to those who may
// subscribe to its entity's channel, so an activity whose entity type and
// id cannot form a channel together ("type:id" over 128 bytes; each may be
// 64) is refused with BAD_REQUEST rather than stored and shown to nobody;
// one that fits is listed.
func TestActivityLongNamesListedOrRefused(t *testing.T) {
	h, _ := metricsHandler(t, &recorder{})
	ctx := context.Background()
	send := func(body string) string {
		t.Helper()
		resp, _ := h.Message(ctx, event("A", body))
		return resp.Body
	}
	typ := strings.Repeat("t", 64)
	if b := send(`{"type":"activity","messageId":"a1","payload":{"action":"viewed","entityType":"` + typ + `","entityId":"` + strings.Repeat("i", 64) + `"}}`); !strings.Contains(b, "BAD_REQUEST") {
		t.Fatalf("activity about a 129-byte channel: %s, want BAD_REQUEST", b)
	}
	id := strings.Repeat("j", 63)
	if b := send(`{"type":"activity","messageId":"a2","payload":{"action":"viewed","entityType":"` + typ + `","entityId":"` + id + `"}}`); !strings.Contains(b, `"ack"`) {
		t.Fatalf("activity about a 128-byte channel: %s", b)
	}
	if b := send(`{"type":"activity.list","messageId":"l1","payload":{}}`); !strings.Contains(b, id) {
		t.Fatalf("activity accepted the entry, but activity.list does not list it: %s", b)
	}
}
