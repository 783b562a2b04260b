package rtpublish_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/publishapi"
	"github.com/omnisales/rtcollab/pkg/rtpublish"
)

// diesOnce is a publish API server whose first request dies before it
// returns (a function that crashed or was stopped mid-request): its claim
// on the key is neither completed nor released.
type diesOnce struct {
	h         *handler.Handler
	died      atomic.Bool
	published atomic.Int32
}

func (d *diesOnce) Serve(ctx context.Context, svc handler.Service, frame []byte) (json.RawMessage, *protocol.Error) {
	if !d.died.Swap(true) {
		panic("invocation died")
	}
	d.published.Add(1)
	return d.h.Serve(ctx, svc, frame)
}

// TestPendingDuplicateIsNotSuccess: the client's own retry of a publish
// whose first attempt died (API Gateway answers its own 500) finds the
// dead attempt's claim on the key and is answered {"duplicate": true,
// "pending": true}. Nothing was published, so the client must not report
// a success: it retries, and then returns a retryable UNAVAILABLE.
func TestPendingDuplicateIsNotSuccess(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	b, err := app.Build(t.Context(), app.Settings{DevIdentity: true, ManagementEndpoint: "http://127.0.0.1:1/ws"}, &app.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := &diesOnce{h: b.Handler}
	api := publishapi.New(publishapi.Config{}, srv, b.Store, nil, quiet)
	var calls atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		defer func() {
			if recover() != nil { // API Gateway's answer to a failed invocation
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"message":"Internal Server Error"}`))
			}
		}()
		api.ServeHTTP(w, r)
	}))
	defer gw.Close()
	c, err := rtpublish.New(gw.URL, &rtpublish.Options{Credentials: localCreds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3; o.MaxBackoff = 1 })})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: map[string]any{"orderId": "SO-1"}, IdempotencyKey: "SO-1#v1"})
	var e *rtpublish.Error
	if !asError(err, &e) || e.Code != rtpublish.CodeUnavailable || !e.Retryable || e.Status != http.StatusOK {
		t.Fatalf("Publish = %+v, %v after %d publishes; want a retryable UNAVAILABLE", res, err, srv.published.Load())
	}
	if calls.Load() != 3 || srv.published.Load() != 0 {
		t.Fatalf("%d calls, %d publishes; want 3 calls (the pending answers retried) and none published", calls.Load(), srv.published.Load())
	}
}

// TestPendingThenDone: a pending duplicate is retried, and the answer of
// the retry is returned as it is: a completed duplicate's counts, not the
// pending mark of the attempt before it.
func TestPendingThenDone(t *testing.T) {
	var calls atomic.Int32
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			_, _ = w.Write([]byte(`{"duplicate":true,"pending":true}`))
			return
		}
		_, _ = w.Write([]byte(`{"channel":"order-updates","recipients":2,"delivered":2,"duplicate":true}`))
	}))
	defer stub.Close()
	c, err := rtpublish.New(stub.URL, &rtpublish.Options{Credentials: localCreds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 1 })})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: 1})
	want := rtpublish.Result{Channel: "order-updates", Recipients: 2, Delivered: 2, Duplicate: true}
	if err != nil || res != want || calls.Load() != 2 {
		t.Fatalf("Publish = %+v, %v after %d calls; want %+v after 2", res, err, calls.Load(), want)
	}
}
