package rtpublish_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/omnisales/rtcollab/pkg/rtpublish"
)

// TestOversizedIsNotSent: a publish or notify whose frame is over the
// API's 32 KB is refused by the client before it is sent, with
// FRAME_TOO_LARGE and not retryable. In AWS a body past Lambda's 6 MB
// payload never reaches the API's function: API Gateway answers a 5xx of
// its own (a stand-in answers that here), which a client that sent the
// call would retry as UNAVAILABLE until its attempts ran out.
func TestOversizedIsNotSent(t *testing.T) {
	var calls atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"Internal Server Error"}`))
	}))
	defer gw.Close()
	c, err := rtpublish.New(gw.URL, &rtpublish.Options{Credentials: localCreds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 5; o.MaxBackoff = 1 })})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 7<<20)
	check := func(name string, err error) {
		t.Helper()
		var e *rtpublish.Error
		if !asError(err, &e) || e.Code != rtpublish.CodeFrameTooLarge || e.Retryable || e.Status != 0 {
			t.Errorf("%s: %v (%+v), want FRAME_TOO_LARGE, not retryable, status 0", name, err, e)
		}
		if n := calls.Swap(0); n != 0 {
			t.Errorf("%s: sent %d times, want never", name, n)
		}
	}
	for name, m := range map[string]rtpublish.Message{
		"publish of 7 MB":  {Tenant: "acme", Channel: "order-updates", Payload: map[string]any{"pdf": big}},
		"publish of 40 KB": {Tenant: "acme", Channel: "order-updates", Payload: big[:40<<10]},
		"a tenant of 5 MB": {Tenant: big[:5<<20], Channel: "order-updates", Payload: 1},
	} {
		_, err := c.Publish(t.Context(), m)
		check(name, err)
	}
	for name, n := range map[string]rtpublish.Notification{
		"notify with 7 MB of data": {Tenant: "acme", Title: "Invoice", Data: map[string]any{"pdf": big}},
		"notify with a 40 KB body": {Tenant: "acme", Title: "Invoice", Body: big[:40<<10]},
	} {
		_, err := c.Notify(t.Context(), n)
		check(name, err)
	}
}

// TestFrameBoundIsTheAPIs: the client's bound is the API's, to the byte:
// against the local server, a publish whose frame is exactly 32 KB is
// sent and published, one byte more is refused unsent.
func TestFrameBoundIsTheAPIs(t *testing.T) {
	srv := servers(t)["memory"]
	a := subscribe(t, srv, "acme", "alice", "order-updates")
	a.conn.SetReadLimit(128 << 10) // an update frame of a 32 KB publish is more than the library's default
	cc := &countCalls{next: http.DefaultTransport}
	c := newClient(t, srv, localCreds, &http.Client{Transport: cc})
	// The frame: {"type":"publish","messageId":"k-1","channel":"order-updates","payload":["x...","x..."]}
	// (two strings: one may be at most 16 KB).
	payload := func(n int) []string {
		fill := n - len(`{"type":"publish","messageId":"k-1","channel":"order-updates","payload":["",""]}`)
		return []string{strings.Repeat("x", fill/2), strings.Repeat("x", fill-fill/2)}
	}
	if _, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: payload(rtpublish.MaxFrameBytes + 1), IdempotencyKey: "k-1"}); rtpublish.CodeOf(err) != rtpublish.CodeFrameTooLarge || cc.calls.Load() != 0 {
		t.Fatalf("a frame of %d bytes: %v after %d calls, want FRAME_TOO_LARGE unsent", rtpublish.MaxFrameBytes+1, err, cc.calls.Load())
	}
	res, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: payload(rtpublish.MaxFrameBytes), IdempotencyKey: "k-1"})
	if err != nil || res.Recipients != 1 || cc.calls.Load() != 1 {
		t.Fatalf("a frame of %d bytes = %+v, %v after %d calls; want it published", rtpublish.MaxFrameBytes, res, err, cc.calls.Load())
	}
	if f := a.next(); f.Type != "update" || len(f.Payload) != len(`["",""]`)+rtpublish.MaxFrameBytes-len(`{"type":"publish","messageId":"k-1","channel":"order-updates","payload":["",""]}`) {
		t.Fatalf("got %s of %d bytes", f.Type, len(f.Payload))
	}
}
