package publishapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/publishapi"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// counting runs requests on a real handler and counts them; fail, when
// set, makes the next request fail as a throttled store would.
type counting struct {
	h     *handler.Handler
	calls atomic.Int32
	fail  atomic.Bool
}

func (c *counting) Serve(ctx context.Context, svc handler.Service, frame []byte) (json.RawMessage, *protocol.Error) {
	c.calls.Add(1)
	if c.fail.Swap(false) {
		return nil, protocol.NewError(protocol.CodeUnavailable, "service temporarily unavailable; retry")
	}
	return c.h.Serve(ctx, svc, frame)
}

var quiet = slog.New(slog.DiscardHandler)

func newAPI(t *testing.T) (*publishapi.API, *counting, store.Store) {
	t.Helper()
	b, err := app.Build(t.Context(), app.Settings{DevIdentity: true, ManagementEndpoint: "http://127.0.0.1:1/ws"}, &app.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{h: b.Handler}
	return publishapi.New(publishapi.Config{}, c, b.Store, nil, quiet), c, b.Store
}

type answer struct {
	status int
	body   map[string]any
}

func post(t *testing.T, api *publishapi.API, path, body string) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	a := answer{status: rec.Code}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("%s: answer %q is not a JSON object", path, rec.Body.String())
	}
	return a
}

func TestOperations(t *testing.T) {
	big := strings.Repeat("x", protocol.MaxClientFrameBytes)
	// 12 KB that json.Marshal's HTML escaping would make 72 KB (past the
	// client frame limit), and 2.4 KB that it would make 14.4 KB (past a
	// notification's 8 KB of data).
	markup := strings.Repeat("<&>", 4<<10)
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"publish", "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"id":1}}`, 200, ""},
		{"publish without payload", "/publish", `{"tenant":"acme","channel":"order-updates"}`, 200, ""},
		{"notify everyone", "/notify", `{"tenant":"acme","title":"Stock low","body":"SKU-1","level":"warning"}`, 200, ""},
		{"notify a user", "/notify", `{"tenant":"acme","userId":"u1","title":"Hi"}`, 200, ""},
		{"snapshot", "/presence/snapshot", `{"tenant":"acme","room":"order-1"}`, 200, ""},
		{"policy forbids the channel", "/publish", `{"tenant":"acme","channel":"payroll","payload":1}`, 403, "FORBIDDEN"},
		{"malformed channel", "/publish", `{"tenant":"acme","channel":"a b","payload":1}`, 400, "INVALID_CHANNEL"},
		{"missing channel", "/publish", `{"tenant":"acme","payload":1}`, 400, "BAD_REQUEST"},
		{"missing tenant", "/publish", `{"channel":"order-updates"}`, 400, "BAD_REQUEST"},
		{"tenant with #", "/publish", `{"tenant":"a#b","channel":"order-updates"}`, 400, "BAD_REQUEST"},
		{"tenant with a bidi control", "/publish", `{"tenant":"a\u202eb","channel":"order-updates"}`, 400, "BAD_REQUEST"},
		{"unknown field", "/publish", `{"tenant":"acme","channel":"order-updates","chanel":"x"}`, 400, "BAD_REQUEST"},
		{"field in another case", "/publish", `{"tenant":"acme","channel":"order-updates","CHANNEL":"x"}`, 400, "BAD_REQUEST"},
		{"only field in another case", "/publish", `{"tenant":"acme","Channel":"order-updates"}`, 400, "BAD_REQUEST"},
		{"publish of names that differ in case", "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"id":1,"ID":2,"d":{"k":1,"K":2}}}`, 200, ""},
		{"notify with data names that differ in case", "/notify", `{"tenant":"acme","title":"x","data":{"id":1,"ID":2}}`, 200, ""},
		{"payload repeating a name", "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"d":{"id":1,"id":2}}}`, 400, "BAD_REQUEST"},
		{"data repeating a name", "/notify", `{"tenant":"acme","title":"x","data":{"id":1,"id":2}}`, 400, "BAD_REQUEST"},
		{"field of another operation", "/presence/snapshot", `{"tenant":"acme","channel":"order-updates"}`, 400, "BAD_REQUEST"},
		{"wrong type", "/publish", `{"tenant":"acme","channel":7}`, 400, "BAD_REQUEST"},
		{"not an object", "/publish", `[1]`, 400, "BAD_FRAME"},
		{"invalid UTF-8", "/publish", "{\"tenant\":\"a\xffb\",\"channel\":\"order-updates\"}", 400, "BAD_FRAME"},
		{"trailing data", "/publish", `{"tenant":"acme","channel":"order-updates"} {}`, 400, "BAD_FRAME"},
		{"tenant of 129 bytes", "/publish", `{"tenant":"` + strings.Repeat("t", 129) + `","channel":"order-updates"}`, 400, "BAD_REQUEST"},
		{"key of 129 bytes", "/publish", `{"tenant":"acme","channel":"order-updates","idempotencyKey":"` + strings.Repeat("k", 129) + `"}`, 400, "BAD_REQUEST"},
		{"publish of markup", "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"html":"` + markup + `"}}`, 200, ""},
		{"notify with markup", "/notify", `{"tenant":"acme","title":"x","data":{"html":"` + markup[:2400] + `"}}`, 200, ""},
		{"frame too large", "/publish", `{"tenant":"acme","channel":"order-updates","payload":"` + big + `"}`, 413, "FRAME_TOO_LARGE"},
		{"key not printable", "/publish", `{"tenant":"acme","channel":"order-updates","idempotencyKey":"a b"}`, 400, "BAD_REQUEST"},
		{"notify without text", "/notify", `{"tenant":"acme"}`, 400, "BAD_REQUEST"},
		{"notify bad level", "/notify", `{"tenant":"acme","title":"x","level":"panic"}`, 400, "BAD_REQUEST"},
		{"snapshot limit out of range", "/presence/snapshot", `{"tenant":"acme","limit":-9223372036854775808}`, 400, "BAD_REQUEST"},
		{"snapshot limit overflows int", "/presence/snapshot", `{"tenant":"acme","limit":1e400}`, 400, "BAD_REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api, _, _ := newAPI(t)
			a := post(t, api, tc.path, tc.body)
			if a.status != tc.status || (tc.code != "" && a.body["code"] != tc.code) {
				t.Fatalf("%s %s = %d %v, want %d %s", tc.path, tc.body[:min(len(tc.body), 80)], a.status, a.body, tc.status, tc.code)
			}
			if tc.code == "" {
				if _, ok := a.body["code"]; ok {
					t.Fatalf("success carries a code: %v", a.body)
				}
			} else if msg, _ := a.body["message"].(string); msg == "" {
				t.Fatalf("error without a message: %v", a.body)
			}
		})
	}
}

// TestNoRoute: a request that matches none of the HTTP API's routes (POST
// /publish, /notify, /presence/snapshot; locally also POST /events) gets
// API Gateway's own answer, 404 {"message":"Not Found"}, whatever its
// method, and reaches no operation.
func TestNoRoute(t *testing.T) {
	api, c, _ := newAPI(t)
	body := `{"tenant":"acme","channel":"order-updates","payload":1}`
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/publish"},
		{http.MethodPut, "/publish"},
		{http.MethodDelete, "/notify"},
		{http.MethodPatch, "/presence/snapshot"},
		{http.MethodHead, "/publish"},
		{http.MethodOptions, "/publish"},
		{"BREW", "/publish"},
		{http.MethodGet, "/events"},
		{http.MethodPost, "/subscribe"},
		{http.MethodPost, "/"},
		{http.MethodPost, "/publish/x"},
		{http.MethodPost, "/Publish"},
		{http.MethodGet, "/changes"},
	} {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(body)))
		if rec.Code != http.StatusNotFound || rec.Body.String() != `{"message":"Not Found"}` || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %s = %d %q (%s), want 404 {\"message\":\"Not Found\"}", tc.method, tc.path, rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
		}
	}
	if n := c.calls.Load(); n != 0 {
		t.Fatalf("an unrouted request ran %d operations", n)
	}
	// Through the Lambda handler too: a route key the API does not route
	// (the template defines only the three POST routes) answers the same.
	var req events.APIGatewayV2HTTPRequest
	readFixture(t, "apigw-http-publish.json", &req)
	req.RouteKey = "GET /publish"
	if resp, _ := api.HTTPAPI(t.Context(), req); resp.StatusCode != 404 || resp.Body != `{"message":"Not Found"}` {
		t.Fatalf("HTTPAPI %s = %d %s, want 404 Not Found", req.RouteKey, resp.StatusCode, resp.Body)
	}
}

// TestIdempotent: a retried publish runs once and answers the first reply
// as a duplicate; the same key for another request is refused; a key is
// per tenant; a failed publish releases its key so that a retry runs.
func TestIdempotent(t *testing.T) {
	api, c, _ := newAPI(t)
	body := `{"tenant":"acme","channel":"order-updates","payload":{"v":1},"idempotencyKey":"so-1#v1"}`
	first := post(t, api, "/publish", body)
	again := post(t, api, "/publish", body)
	if first.status != 200 || again.status != 200 || again.body["duplicate"] != true || again.body["channel"] != "order-updates" {
		t.Fatalf("first %v, retry %v", first, again)
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	other := post(t, api, "/publish", strings.Replace(body, `"v":1`, `"v":2`, 1))
	if other.status != 409 || other.body["code"] != "IDEMPOTENCY_MISMATCH" {
		t.Fatalf("same key, other payload = %v", other)
	}
	otherTenant := post(t, api, "/publish", strings.Replace(body, "acme", "globex", 1))
	if otherTenant.status != 200 || otherTenant.body["duplicate"] == true {
		t.Fatalf("same key, other tenant = %v", otherTenant)
	}
	c.fail.Store(true)
	k2 := strings.Replace(body, "so-1#v1", "so-2", 1)
	if a := post(t, api, "/publish", k2); a.status != 503 || a.body["code"] != "UNAVAILABLE" || a.body["retryable"] != true {
		t.Fatalf("failed publish = %v", a)
	}
	if a := post(t, api, "/publish", k2); a.status != 200 || a.body["duplicate"] == true {
		t.Fatalf("retry after a failure = %v, want a fresh publish", a)
	}
	if n := c.calls.Load(); n != 4 {
		t.Fatalf("handler ran %d times, want 4", n)
	}
}

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestEventDeliveredTwice: an EventBridge event delivered twice (same id)
// runs once; an event of another detail-type is an error.
func TestEventDeliveredTwice(t *testing.T) {
	api, c, _ := newAPI(t)
	var ev events.EventBridgeEvent
	readFixture(t, "eventbridge-publish.json", &ev)
	for i := range 2 {
		if err := api.Event(t.Context(), ev); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times for one event delivered twice, want 1", n)
	}
	ev.ID, ev.DetailType = "other", "rtcollab.Unknown"
	if err := api.Event(t.Context(), ev); !errors.Is(err, publishapi.ErrEvent) {
		t.Fatalf("unknown detail-type: %v", err)
	}
	ev.DetailType, ev.Detail = publishapi.DetailTypePublish, json.RawMessage(`{"tenant":"acme","channel":"payroll"}`)
	if err := api.Event(t.Context(), ev); !errors.Is(err, publishapi.ErrEvent) || !strings.Contains(err.Error(), "FORBIDDEN") {
		t.Fatalf("forbidden channel: %v", err)
	}
}

// TestHTTPAPIEvent: the Lambda handler of the HTTP API serves a real
// payload format 2.0 event (base64 body) and answers JSON.
func TestHTTPAPIEvent(t *testing.T) {
	api, c, _ := newAPI(t)
	var req events.APIGatewayV2HTTPRequest
	readFixture(t, "apigw-http-publish.json", &req)
	for i := range 2 {
		resp, err := api.HTTPAPI(t.Context(), req)
		if err != nil || resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("call %d: %+v, %v", i+1, resp, err)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body["channel"] != "order-updates" || (i == 1) != (body["duplicate"] == true) {
			t.Fatalf("call %d: body %s", i+1, resp.Body)
		}
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	req.RouteKey, req.RawPath = "POST /events", "/events"
	if resp, _ := api.HTTPAPI(t.Context(), req); resp.StatusCode != 404 {
		t.Fatalf("the local-only /events through the HTTP API = %d, want 404", resp.StatusCode)
	}
}

// TestMetrics: each service request writes one EMF document of the
// publish Function, with its errors counted.
func TestMetrics(t *testing.T) {
	var emf bytes.Buffer
	b, err := app.Build(t.Context(), app.Settings{DevIdentity: true, ManagementEndpoint: "http://127.0.0.1:1/ws"}, &app.Options{Logger: quiet, Metrics: &emf})
	if err != nil {
		t.Fatal(err)
	}
	api := publishapi.New(publishapi.Config{}, b.Handler, b.Store, nil, quiet)
	post(t, api, "/publish", `{"tenant":"acme","channel":"order-updates","payload":1}`)
	post(t, api, "/publish", `{"tenant":"acme","channel":"payroll","payload":1}`)
	docs := strings.Split(strings.TrimSpace(emf.String()), "\n")
	if len(docs) != 2 {
		t.Fatalf("%d EMF documents, want 2:\n%s", len(docs), emf.String())
	}
	for i, d := range docs {
		var doc map[string]any
		if err := json.Unmarshal([]byte(d), &doc); err != nil || doc["Function"] != "publish" {
			t.Fatalf("document %d = %s, want Function publish", i, d)
		}
		if errs, _ := doc["Errors"].(float64); (i == 1) != (errs == 1) {
			t.Fatalf("document %d counts %v errors", i, doc["Errors"])
		}
	}
}

// diesOnce is a Server whose first request dies before it returns (as an
// invocation killed at its function's timeout): its claim on the key is
// neither completed nor released.
type diesOnce struct {
	inner *counting
	died  atomic.Bool
}

func (d *diesOnce) Serve(ctx context.Context, svc handler.Service, frame []byte) (json.RawMessage, *protocol.Error) {
	if !d.died.Swap(true) {
		panic("the invocation timed out")
	}
	return d.inner.Serve(ctx, svc, frame)
}

// buildAt builds the local app on a memory store whose clock is clock.
func buildAt(t *testing.T, clock func() time.Time) (*memory.Store, *app.Built) {
	t.Helper()
	st := memory.New(clock)
	b, err := app.Build(t.Context(), app.Settings{DevIdentity: true, ManagementEndpoint: "http://127.0.0.1:1/ws"},
		&app.Options{Logger: quiet, Store: st, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return st, b
}

// TestEventRetriedAfterADeadAttempt: an event whose first attempt died is
// not lost. A retry while the dead attempt's claim holds is an error (so
// that Lambda retries again later, instead of taking a success), and the
// retry after the claim's lease runs the publish, once.
func TestEventRetriedAfterADeadAttempt(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st, b := buildAt(t, clock)
	c := &counting{h: b.Handler}
	api := publishapi.New(publishapi.Config{}, &diesOnce{inner: c}, st, clock, quiet)
	var ev events.EventBridgeEvent
	readFixture(t, "eventbridge-publish.json", &ev)
	func() {
		defer func() { _ = recover() }()
		_ = api.Event(t.Context(), ev)
	}()
	now = now.Add(time.Minute) // Lambda's first retry
	if err := api.Event(t.Context(), ev); !errors.Is(err, publishapi.ErrEvent) {
		t.Fatalf("retry while the dead attempt's claim holds: %v, want an error for Lambda to retry", err)
	}
	now = now.Add(2 * time.Minute) // the second retry, past the claim's lease
	if err := api.Event(t.Context(), ev); err != nil {
		t.Fatalf("retry after the lease: %v", err)
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("published %d times, want once", n)
	}
	if err := api.Event(t.Context(), ev); err != nil || c.calls.Load() != 1 {
		t.Fatalf("a later delivery: %v, %d publishes; want the recorded reply", err, c.calls.Load())
	}
}

// failCompleteKeys fails the next fails calls of CompletePublishKey, as
// a throttled UpdateItem would.
type failCompleteKeys struct {
	store.PublishKeys
	fails atomic.Int32
}

func (k *failCompleteKeys) CompletePublishKey(ctx context.Context, tenant, key, hash string, reply []byte) error {
	if k.fails.Add(-1) >= 0 {
		return fmt.Errorf("throttled: %w", store.ErrUnavailable)
	}
	return k.PublishKeys.CompletePublishKey(ctx, tenant, key, hash, reply)
}

// slowServe is a Server whose requests take a while on the API's clock
// (advance moves it on).
type slowServe struct {
	inner   *counting
	advance func()
}

func (s *slowServe) Serve(ctx context.Context, svc handler.Service, frame []byte) (json.RawMessage, *protocol.Error) {
	s.advance()
	return s.inner.Serve(ctx, svc, frame)
}

// TestPublishKeptForKeyTTL: a publish with an idempotency key is carried
// out once for KeyTTL, not only for the claim's lease (2 min): a reply
// whose first write failed is written again, and a publish that ran past
// the lease keeps its reply. Retries 3 minutes later answer the reply as
// a duplicate and publish nothing.
func TestPublishKeptForKeyTTL(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st, b := buildAt(t, clock)
	t.Run("reply written again", func(t *testing.T) {
		c := &counting{h: b.Handler}
		keys := &failCompleteKeys{PublishKeys: st}
		api := publishapi.New(publishapi.Config{}, c, keys, clock, quiet)
		body := `{"tenant":"acme","channel":"order-updates","payload":{"status":"shipped"},"idempotencyKey":"so-1001-v7"}`
		keys.fails.Store(1)
		if a := post(t, api, "/publish", body); a.status != 200 {
			t.Fatalf("first = %v", a)
		}
		now = now.Add(3 * time.Minute) // a retry well within KeyTTL
		if a := post(t, api, "/publish", body); a.status != 200 || a.body["duplicate"] != true || a.body["pending"] == true {
			t.Fatalf("retry 3 min later = %v, want the first reply as a duplicate", a)
		}
		if n := c.calls.Load(); n != 1 {
			t.Fatalf("published %d times under one idempotencyKey, want once", n)
		}
	})
	t.Run("publish past the lease", func(t *testing.T) {
		c := &counting{h: b.Handler}
		slow := &slowServe{inner: c, advance: func() { now = now.Add(3 * time.Minute) }}
		api := publishapi.New(publishapi.Config{}, slow, st, clock, quiet)
		body := `{"tenant":"acme","channel":"order-updates","payload":{"status":"shipped"},"idempotencyKey":"so-1002-v1"}`
		if a := post(t, api, "/publish", body); a.status != 200 {
			t.Fatalf("first = %v", a)
		}
		api = publishapi.New(publishapi.Config{}, c, st, clock, quiet)
		if a := post(t, api, "/publish", body); a.status != 200 || a.body["duplicate"] != true || a.body["pending"] == true {
			t.Fatalf("retry after a publish that ran past its lease = %v, want the first reply as a duplicate", a)
		}
		if n := c.calls.Load(); n != 1 {
			t.Fatalf("published %d times under one idempotencyKey, want once", n)
		}
	})
}

// idPoster records the notification ids posted to each connection.
type idPoster struct {
	mu  sync.Mutex
	ids map[string][]string
}

func (p *idPoster) PostToConnection(_ context.Context, id string, frame []byte) error {
	var ev struct {
		MessageID string `json:"messageId"`
		Payload   struct {
			ID string `json:"id"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(frame, &ev); err != nil || ev.MessageID != ev.Payload.ID {
		return fmt.Errorf("frame %s: the messageId is not the notification's id", frame)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids[id] = append(p.ids[id], ev.Payload.ID)
	return nil
}

// pageFailStore fails the listing of a channel's second subscriber page
// once (a throttled Query), after the first page has been posted.
type pageFailStore struct {
	*memory.Store
	failNextPage atomic.Bool
}

func (s *pageFailStore) Subscribers(ctx context.Context, tenant, channel string, p store.Page) ([]string, string, error) {
	if p.Cursor != "" && s.failNextPage.Swap(false) {
		return nil, "", fmt.Errorf("throttled: %w", store.ErrUnavailable)
	}
	return s.Store.Subscribers(ctx, tenant, channel, p)
}

// TestKeyedNotifyRetriedAfterAPartialFanout: a keyed notify whose fan-out
// fails after its first page was delivered answers the retryable
// UNAVAILABLE and releases its key; the retry reaches every subscriber,
// and sends the ones the first attempt reached the notification again
// with the same id, so that they can drop the repeat. So too when the
// retry serialises the same request another way (its data's keys in
// another order, a character escaped), which the API takes for the same
// request.
func TestKeyedNotifyRetriedAfterAPartialFanout(t *testing.T) {
	body := `{"tenant":"acme","title":"Order SO-1 shipped","data":{"orderId":"SO-1","carrier":"ups"},"idempotencyKey":"so-1-shipped"}`
	for _, tc := range []struct{ name, retry string }{
		{"the same body", body},
		{"reserialised", `{"idempotencyKey":"so-1-shipped","data":{"carrier":"\u0075ps", "orderId":"SO-1"},"title":"Order SO-1 shipped","tenant":"acme"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := &pageFailStore{Store: memory.New(nil)}
			poster := &idPoster{ids: map[string][]string{}}
			b, err := app.Build(ctx, app.Settings{DevIdentity: true, ManagementEndpoint: "http://127.0.0.1:1/ws"},
				&app.Options{Logger: quiet, Store: st, Posters: func(string) broadcast.Poster { return poster }})
			if err != nil {
				t.Fatal(err)
			}
			const subscribers = 501 // two pages of subscribers (page size 500)
			for i := range subscribers {
				id := fmt.Sprintf("c%04d", i)
				if err := st.PutConnection(ctx, store.Connection{ID: id, UserID: "u" + id, Tenant: "acme", ConnectedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Subscribe(ctx, "acme", "notifications", id, 0); err != nil {
					t.Fatal(err)
				}
			}
			api := publishapi.New(publishapi.Config{}, b.Handler, st, nil, quiet)
			st.failNextPage.Store(true)
			if a := post(t, api, "/notify", body); a.status != 503 || a.body["code"] != "UNAVAILABLE" || a.body["retryable"] != true {
				t.Fatalf("notify whose second page failed = %v, want a retryable 503 UNAVAILABLE", a)
			}
			var reached int
			first := ""
			for _, ids := range poster.ids {
				reached++
				first = ids[0]
			}
			if reached == 0 || reached == subscribers {
				t.Fatalf("the first attempt reached %d of %d subscribers, want some", reached, subscribers)
			}
			retry := post(t, api, "/notify", tc.retry)
			if retry.status != 200 || retry.body["duplicate"] == true || retry.body["id"] != first {
				t.Fatalf("retry = %v, want a fresh notify with the first attempt's id %s", retry, first)
			}
			if len(poster.ids) != subscribers {
				t.Fatalf("%d of %d subscribers got the notification", len(poster.ids), subscribers)
			}
			for conn, ids := range poster.ids {
				for _, id := range ids {
					if id != first {
						t.Fatalf("connection %s got notifications %v, want every one with the id %s", conn, ids, first)
					}
				}
			}
		})
	}
}
