package rtpublish_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/omnisales/rtcollab/pkg/rtpublish"
)

// countCalls counts the requests that reach next.
type countCalls struct {
	next  http.RoundTripper
	calls atomic.Int32
}

func (c *countCalls) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(r)
}

// TestRefusalsAreNotRetried: a refusal the retry would only repeat (a
// forbidden channel, a bad signature) is sent once.
func TestRefusalsAreNotRetried(t *testing.T) {
	srv := servers(t)["memory"]
	for name, m := range map[string]rtpublish.Message{
		"forbidden": {Tenant: "acme", Channel: "payroll", Payload: 1},
		"malformed": {Tenant: "acme", Channel: "a b", Payload: 1},
	} {
		cc := &countCalls{next: http.DefaultTransport}
		_, err := newClient(t, srv, localCreds, &http.Client{Transport: cc}).Publish(t.Context(), m)
		if err == nil || cc.calls.Load() != 1 {
			t.Fatalf("%s: %v after %d calls, want one refused call", name, err, cc.calls.Load())
		}
	}
}

// TestUnavailableIsRetried: a 503 UNAVAILABLE (which the local server
// produces only when its store fails, so a stand-in answers here) is
// retried with the same body, up to the retryer's attempts, and the last
// error is returned with its code.
func TestUnavailableIsRetried(t *testing.T) {
	var calls atomic.Int32
	var keys []string
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") == "" || r.Header.Get("X-Amz-Date") == "" {
			t.Errorf("attempt %d is not signed", calls.Load())
		}
		var body struct{ IdempotencyKey string }
		_ = jsonDecode(r, &body)
		keys = append(keys, body.IdempotencyKey)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":"UNAVAILABLE","message":"service temporarily unavailable; retry","retryable":true}`))
	}))
	defer stub.Close()
	c, err := rtpublish.New(stub.URL, &rtpublish.Options{Credentials: localCreds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3; o.MaxBackoff = 1 })})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: 1})
	var e *rtpublish.Error
	if !asError(err, &e) || e.Code != rtpublish.CodeUnavailable || !e.Retryable || e.Status != 503 {
		t.Fatalf("err = %v, want the 503 UNAVAILABLE", err)
	}
	if calls.Load() != 3 || keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("%d attempts with keys %q, want 3 with one key", calls.Load(), keys)
	}
}

func jsonDecode(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }

func asError(err error, e **rtpublish.Error) bool { return errors.As(err, e) }
