package changefeed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// failingSink fails its first send, as an unreachable bus would.
type failingSink struct {
	changefeed.Log
	failed bool
}

func (f *failingSink) Send(ctx context.Context, events []changefeed.Event) error {
	if !f.failed {
		f.failed = true
		return errors.New("bus unreachable")
	}
	return f.Log.Send(ctx, events)
}

func commit(t *testing.T, st store.Store, e store.EntityKey, v int64) {
	t.Helper()
	data := fmt.Appendf(nil, `{"change":{"version":%d,"userId":"u1","op":{"kind":"set"}},"inverse":{}}`, v)
	if err := st.Commit(t.Context(), store.Commit{Entity: e, BaseVersion: v - 1,
		Head: &store.Head{Version: v, Doc: []byte(`{}`)}, Change: &store.Change{Version: v, Data: data}}); err != nil {
		t.Fatal(err)
	}
}

// TestRelay: a failed send deletes nothing and the next drain sends the
// same events; events carry the change as applied (not its inverse), in
// version order per entity; the log serves them in pages.
func TestRelay(t *testing.T) {
	st := memory.New(nil)
	a := store.EntityKey{Tenant: "t", Type: "order", ID: "a"}
	b := store.EntityKey{Tenant: "t", Type: "order", ID: "b"}
	for v := int64(1); v <= 120; v++ {
		commit(t, st, a, v)
		if v <= 3 {
			commit(t, st, b, v)
		}
	}
	sink := &failingSink{}
	r := changefeed.NewRelay(st, sink, nil)
	if n, err := r.Drain(t.Context()); err == nil || n != 0 {
		t.Fatalf("drain with a failing sink = %d, %v", n, err)
	}
	n, err := r.Drain(t.Context())
	if err != nil || n != 123 {
		t.Fatalf("drain = %d, %v; want 123", n, err)
	}
	last := map[string]int64{}
	for _, ev := range sink.Since(0) {
		key := ev.Tenant + "/" + ev.EntityType + "/" + ev.EntityID
		if ev.Version != last[key]+1 || ev.ID != fmt.Sprintf("%s/%d", key, ev.Version) {
			t.Fatalf("%s after version %d of %s", ev.ID, last[key], key)
		}
		last[key] = ev.Version
		if want := fmt.Sprintf(`{"version":%d,"userId":"u1","op":{"kind":"set"}}`, ev.Version); string(ev.Change) != want {
			t.Fatalf("%s carries %s, want %s", ev.ID, ev.Change, want)
		}
	}
	if last["t/order/a"] != 120 || last["t/order/b"] != 3 {
		t.Fatalf("last versions %v", last)
	}
	if n, _ := r.Drain(t.Context()); n != 0 {
		t.Fatalf("a drained outbox sent %d again", n)
	}
	rec := httptest.NewRecorder()
	sink.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/changes?after=100", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"next":123`) {
		t.Fatalf("GET ?after=100 = %d %s", rec.Code, rec.Body.String()[:min(200, rec.Body.Len())])
	}
	rec = httptest.NewRecorder()
	sink.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/changes?after=-1", nil))
	if rec.Code != 400 {
		t.Fatalf("GET ?after=-1 = %d, want 400", rec.Code)
	}
}

// TestLogBoundsAndEpochs: the local log keeps at most Max events, and a
// reader's position that the log no longer holds, or never held (a
// restarted server's log, whose positions start again), answers 410 with
// a stable code instead of an empty page that skips events unawares.
func TestLogBoundsAndEpochs(t *testing.T) {
	get := func(l *changefeed.Log, query string) (int, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/changes?"+query, nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("GET ?%s: %v: %s", query, err, rec.Body.String())
		}
		return rec.Code, body
	}
	events := func(from, n int) []changefeed.Event {
		out := make([]changefeed.Event, n)
		for i := range out {
			out[i] = changefeed.Event{ID: fmt.Sprint("e", from+i), Version: int64(from + i + 1)}
		}
		return out
	}
	l := &changefeed.Log{Max: 100}
	for i := range 20 {
		if err := l.Send(t.Context(), events(i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	kept := l.Since(0)
	if len(kept) < 100 || len(kept) > 125 || kept[len(kept)-1].ID != "e199" {
		t.Fatalf("the log keeps %d events ending %s, want 100..125 ending e199", len(kept), kept[len(kept)-1].ID)
	}
	epoch := l.Epoch()
	if code, body := get(l, "after=0"); code != 200 || body["epoch"] != epoch || int(body["next"].(float64)) != 200-len(kept)+100 {
		t.Fatalf("GET after=0 = %d %v; want the oldest 100 kept", code, body["next"])
	}
	if code, body := get(l, "after=10&epoch="+epoch); code != 410 || body["code"] != "FEED_TRIMMED" {
		t.Fatalf("GET after=10 (dropped) = %d %v, want 410 FEED_TRIMMED", code, body["code"])
	}
	if code, body := get(l, "after=195&epoch="+epoch); code != 200 || len(body["events"].([]any)) != 5 || body["next"].(float64) != 200 {
		t.Fatalf("GET after=195 = %d %v", code, body)
	}
	// A restarted server: a new log, whose positions start again.
	l2 := &changefeed.Log{}
	if err := l2.Send(t.Context(), events(0, 3)); err != nil {
		t.Fatal(err)
	}
	if code, body := get(l2, "after=2&epoch="+epoch); code != 410 || body["code"] != "FEED_RESTARTED" {
		t.Fatalf("GET with the old epoch = %d %v, want 410 FEED_RESTARTED", code, body["code"])
	}
	if code, body := get(l2, "after=195"); code != 410 || body["code"] != "FEED_RESTARTED" {
		t.Fatalf("GET past the end = %d %v, want 410 FEED_RESTARTED", code, body["code"])
	}
}
