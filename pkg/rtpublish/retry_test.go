package rtpublish_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// TestRetriesComeBackAfterAnOutage: the standard retryer's retry quota
// (500 tokens; each retry takes some) is refilled by the release of each
// attempt's token after a success, as the AWS SDK's retry middleware
// does. An outage that spent the quota must not leave the client without
// retries for good: once calls succeed again, a later transient 503 is
// retried.
func TestRetriesComeBackAfterAnOutage(t *testing.T) {
	var down atomic.Bool
	var failNext atomic.Int32
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if down.Load() || failNext.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"code":"UNAVAILABLE","message":"retry","retryable":true}`))
			return
		}
		_, _ = w.Write([]byte(`{"channel":"order-updates","recipients":1,"delivered":1}`))
	}))
	defer stub.Close()
	c, err := rtpublish.New(stub.URL, &rtpublish.Options{Credentials: localCreds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 1 })})
	if err != nil {
		t.Fatal(err)
	}
	m := rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: 1}
	down.Store(true) // an outage: every call fails after its retries, until the quota is spent
	for range 100 {
		if _, err := c.Publish(t.Context(), m); rtpublish.CodeOf(err) != rtpublish.CodeUnavailable {
			t.Fatalf("during the outage: %v, want UNAVAILABLE", err)
		}
	}
	down.Store(false) // recovered: successes refill the quota
	for range 1000 {
		if _, err := c.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	failNext.Store(1) // one transient 503
	if _, err := c.Publish(t.Context(), m); err != nil {
		t.Fatalf("a transient 503 after the outage is not retried: %v", err)
	}
}

// attemptRecorder is a retryer that records the attempt tokens taken and
// the errors they were released with.
type attemptRecorder struct {
	aws.RetryerV2
	released []error
}

func (r *attemptRecorder) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	r.released = append(r.released, errTaken)
	i := len(r.released) - 1
	return func(err error) error {
		r.released[i] = err
		return nil
	}, nil
}

var errTaken = errors.New("taken, not released")

// TestEveryAttemptTakesAnAttemptToken: each attempt, retries included,
// takes the retryer's attempt token and releases it with that attempt's
// outcome (an adaptive retryer paces attempts and learns of throttling
// this way).
func TestEveryAttemptTakesAnAttemptToken(t *testing.T) {
	var calls atomic.Int32
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"code":"UNAVAILABLE","message":"retry","retryable":true}`))
			return
		}
		_, _ = w.Write([]byte(`{"channel":"order-updates","recipients":1,"delivered":1}`))
	}))
	defer stub.Close()
	rec := &attemptRecorder{RetryerV2: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 1 })}
	c, err := rtpublish.New(stub.URL, &rtpublish.Options{Credentials: localCreds, Retryer: rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: 1}); err != nil {
		t.Fatal(err)
	}
	if len(rec.released) != 2 || rtpublish.CodeOf(rec.released[0]) != rtpublish.CodeUnavailable || rec.released[1] != nil {
		t.Fatalf("attempt tokens released with %v, want [the 503, nil]", rec.released)
	}
}

// unboundedAttempts is a retryer whose MaxAttempts is 0, which the AWS
// SDK's retry middleware reads as no bound on attempts (the retry quota
// and the context still end them).
type unboundedAttempts struct{ aws.RetryerV2 }

func (unboundedAttempts) MaxAttempts() int { return 0 }

// TestZeroMaxAttemptsIsUnbounded: a retryer with MaxAttempts 0 retries,
// as it does in the AWS SDK, rather than making one attempt.
func TestZeroMaxAttemptsIsUnbounded(t *testing.T) {
	var failNext, calls atomic.Int32
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if failNext.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"code":"UNAVAILABLE","message":"retry","retryable":true}`))
			return
		}
		_, _ = w.Write([]byte(`{"channel":"order-updates","recipients":1,"delivered":1}`))
	}))
	defer stub.Close()
	std := retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 1 })
	c, err := rtpublish.New(stub.URL, &rtpublish.Options{Credentials: localCreds,
		Retryer: unboundedAttempts{std}})
	if err != nil {
		t.Fatal(err)
	}
	failNext.Store(4) // more than the standard retryer's 3 attempts
	if _, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: 1}); err != nil {
		t.Fatalf("after %d calls: %v, want success on the fifth", calls.Load(), err)
	}
	if calls.Load() != 5 {
		t.Fatalf("%d calls, want 5", calls.Load())
	}
}
