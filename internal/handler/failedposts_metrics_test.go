package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/metrics"
)

// failingPoster fails every post to "B" with an error that is not a 410.
type failingPoster struct{}

func (failingPoster) PostToConnection(_ context.Context, id string, _ []byte) error {
	if id == "B" {
		return errors.New("500 internal error from the Management API")
	}
	return nil
}

// TestMessageFunctionCountsFailedPosts: a recipient the message function
// could not reach (a failed post, not a 410) must show in its metrics as
// the fan-out function's do (FanoutDeliveryErrors), or the alarm and the
// dashboard's "recipients not reached" miss every broadcast under
// FanoutShardSize.
func TestMessageFunctionCountsFailedPosts(t *testing.T) {
	h, emf := metricsHandler(t, failingPoster{})
	ctx := context.Background()
	for _, c := range []string{"A", "B"} {
		if resp, _ := h.Message(ctx, event(c, `{"type":"subscribe","channel":"order-updates","messageId":"s"}`)); !strings.Contains(resp.Body, `"ack"`) {
			t.Fatalf("subscribe: %s", resp.Body)
		}
	}
	emf.Reset()
	if resp, _ := h.Message(ctx, event("A", `{"type":"publish","channel":"order-updates","payload":{"x":1},"messageId":"p1"}`)); !strings.Contains(resp.Body, `"ack"`) {
		t.Fatalf("publish: %s", resp.Body)
	}
	var doc map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(emf.Bytes()), &doc); err != nil {
		t.Fatalf("EMF %q: %v", emf.String(), err)
	}
	if n, _ := doc[metrics.FanoutDeliveryErrors].(float64); n != 1 {
		t.Errorf("the post to B failed, but the message function's %s is %v, want 1: %s", metrics.FanoutDeliveryErrors, doc[metrics.FanoutDeliveryErrors], emf.String())
	}
	if n, _ := doc[metrics.FramesOut].(float64); n != 1 {
		t.Errorf("%s = %v, want 1 (the post to A)", metrics.FramesOut, doc[metrics.FramesOut])
	}
}
