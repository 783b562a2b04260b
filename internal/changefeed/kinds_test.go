package changefeed_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// lockAndCommentEvents stores a change, a lock grant and release, and a
// comment added and resolved on one entity, drains the outbox to a Log
// and returns the events.
func lockAndCommentEvents(t *testing.T) []changefeed.Event {
	t.Helper()
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	st := memory.New(func() time.Time { return now })
	e := store.EntityKey{Tenant: "acme", Type: "order", ID: "SO-1"}
	commit(t, st, e, 1)
	if err := st.PutConnection(t.Context(), store.Connection{ID: "c1", UserID: "u1", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	l, err := st.AcquireLock(t.Context(), store.Lock{Entity: e, Holder: "u1", HolderName: "Ann", ConnID: "c1", AcquiredAt: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReleaseLock(t.Context(), e, l.Holder); err != nil {
		t.Fatal(err)
	}
	c := store.Comment{Entity: e, ID: "0001796526000000-a", UserID: "u1", Text: "ship?", CreatedAt: now}
	if err := st.AddComment(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ResolveComment(t.Context(), e, c.ID, true, "u2", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var log changefeed.Log
	if n, err := changefeed.NewRelay(st, &log, nil).Drain(t.Context()); err != nil || n != 5 {
		t.Fatalf("drain = %d, %v; want 5 events", n, err)
	}
	return log.Since(0)
}

// TestLockAndCommentEvents: lock and comment events reach the sink with
// their kind, an id naming the event, the entity, and the event's
// details (user, fencing token or comment id, times); the change event
// keeps its shape (no kind, a version and the change); each kind has its
// detail-type.
func TestLockAndCommentEvents(t *testing.T) {
	evs := lockAndCommentEvents(t)
	byID := map[string]changefeed.Event{}
	for _, ev := range evs {
		if ev.Tenant != "acme" || ev.EntityType != "order" || ev.EntityID != "SO-1" {
			t.Fatalf("event %s names entity %s/%s/%s", ev.ID, ev.Tenant, ev.EntityType, ev.EntityID)
		}
		byID[ev.ID] = ev
	}
	ch, ok := byID["acme/order/SO-1/1"]
	if !ok || ch.Kind != "" || ch.Version != 1 || ch.Lock != nil || ch.Comment != nil || ch.DetailType() != "rtcollab.Change" {
		t.Fatalf("change event %+v", ch)
	}
	b, _ := json.Marshal(ch)
	if want := `{"id":"acme/order/SO-1/1","tenant":"acme","entityType":"order","entityId":"SO-1","version":1,"change":{"version":1,"userId":"u1","op":{"kind":"set"}}}`; string(b) != want {
		t.Fatalf("change event JSON %s, want %s", b, want)
	}
	for _, c := range []struct{ id, json string }{
		{"acme/order/SO-1/lock/000000000001/acquired", `{"event":"acquired","userId":"u1","username":"Ann","connectionId":"c1","token":1,"acquiredAt":"2026-12-06T03:00:00Z","expiresAt":"2026-12-06T03:01:00Z","at":"2026-12-06T03:00:00Z"}`},
		{"acme/order/SO-1/lock/000000000001/released", `{"event":"released","userId":"u1","username":"Ann","connectionId":"c1","token":1,"acquiredAt":"2026-12-06T03:00:00Z","expiresAt":"2026-12-06T03:01:00Z","at":"2026-12-06T03:00:00Z"}`},
	} {
		ev, ok := byID[c.id]
		if !ok || ev.Kind != "lock" || ev.DetailType() != "rtcollab.Lock" || string(ev.Lock) != c.json || ev.Change != nil || ev.Version != 0 {
			t.Fatalf("lock event %s: %+v (lock %s)", c.id, ev, ev.Lock)
		}
	}
	for _, c := range []struct{ id, json string }{
		{"acme/order/SO-1/comment/0001796526000000-a/20261206T030000.000000000Z/added", `{"event":"added","commentId":"0001796526000000-a","userId":"u1","authorId":"u1","text":"ship?","createdAt":"2026-12-06T03:00:00Z","resolved":false,"at":"2026-12-06T03:00:00Z","version":1}`},
		{"acme/order/SO-1/comment/0001796526000000-a/20261206T030001.000000000Z/resolved", `{"event":"resolved","commentId":"0001796526000000-a","userId":"u2","authorId":"u1","text":"ship?","createdAt":"2026-12-06T03:00:00Z","resolved":true,"at":"2026-12-06T03:00:01Z","version":2}`},
	} {
		ev, ok := byID[c.id]
		if !ok || ev.Kind != "comment" || ev.DetailType() != "rtcollab.Comment" || string(ev.Comment) != c.json || ev.Change != nil {
			t.Fatalf("comment event %s: %+v (comment %s)", c.id, ev, ev.Comment)
		}
	}
	if len(byID) != 5 {
		t.Fatalf("%d distinct events, want 5: %v", len(byID), byID)
	}
}

// TestStreamHandlerLockAndComment: lock and comment outbox items inserted
// into the table's stream become their events.
func TestStreamHandlerLockAndComment(t *testing.T) {
	data := `{"event":"expired","userId":"u1","token":9}`
	rec := fmt.Sprintf(`{"Records":[{"eventID":"1","eventName":"INSERT","eventSource":"aws:dynamodb","dynamodb":{
		"Keys":{"pk":{"S":"OUTBOX#1"},"sk":{"S":"acme#order#SO-1#lock#000000000009#expired"}},
		"NewImage":{"pk":{"S":"OUTBOX#1"},"sk":{"S":"acme#order#SO-1#lock#000000000009#expired"},"data":{"B":%q},"expiresAt":{"N":"1797130800"}},
		"StreamViewType":"NEW_IMAGE"}}]}`, base64.StdEncoding.EncodeToString([]byte(data)))
	var ev events.DynamoDBEvent
	if err := json.Unmarshal([]byte(rec), &ev); err != nil {
		t.Fatal(err)
	}
	var log changefeed.Log
	if resp, err := changefeed.StreamHandler(&log, nil)(t.Context(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatal(resp, err)
	}
	got := log.Since(0)
	if len(got) != 1 || got[0].ID != "acme/order/SO-1/lock/000000000009/expired" || got[0].Kind != "lock" || string(got[0].Lock) != data {
		t.Fatalf("events %+v", got)
	}
}

// TestEventBridgeDetailTypes: the entries PutEvents receives carry each
// event's detail-type. The endpoint records the request (moto accepts
// any detail-type, so it cannot show which one was sent).
func TestEventBridgeDetailTypes(t *testing.T) {
	evs := lockAndCommentEvents(t)
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Entries []struct{ Source, DetailType, Detail string }
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body: %v", err)
		}
		for _, e := range req.Entries {
			var d changefeed.Event
			if e.Source != "rtcollab" || json.Unmarshal([]byte(e.Detail), &d) != nil {
				t.Errorf("entry %+v", e)
			}
			got = append(got, e.DetailType+" "+d.ID)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"FailedEntryCount":0,"Entries":[%s]}`, strings.Repeat(`{"EventId":"x"},`, len(req.Entries)-1)+`{"EventId":"x"}`)
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	if err := changefeed.NewEventBridge(awsrest.New(changefeed.EventsService, cfg, nil), srv.URL, "default").Send(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, ev := range evs {
		want[ev.DetailType()+" "+ev.ID] = true
	}
	kinds := map[string]int{}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("entry %q not among %v", g, want)
		}
		kinds[strings.Fields(g)[0]]++
	}
	if len(got) != len(evs) || kinds["rtcollab.Change"] != 1 || kinds["rtcollab.Lock"] != 2 || kinds["rtcollab.Comment"] != 2 {
		t.Fatalf("entries %v", got)
	}
}

// TestEventBridgeKeepsEachEntitysOrder: PutEvents processes the other
// entries of a call when one fails, so a call carries at most one event of
// an entity. The first call's entry for version 3 fails: Send reports it,
// and versions 4 on of that entity are not sent; with the batch sent again
// (as Lambda retries a stream batch), the bus has the entity's versions in
// order, duplicates aside. Events of other entities share calls, and a
// call stays under 256 KB.
func TestEventBridgeKeepsEachEntitysOrder(t *testing.T) {
	var delivered []string
	calls, failedOnce := 0, false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Entries []struct{ Source, DetailType, Detail string }
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body: %v", err)
		}
		entities, size := map[string]bool{}, 0
		var res []string
		failed := 0
		for _, e := range req.Entries {
			size += len(e.Source) + len(e.DetailType) + len(e.Detail)
			var ev changefeed.Event
			_ = json.Unmarshal([]byte(e.Detail), &ev)
			if entities[ev.EntityID] {
				t.Errorf("call %d carries two events of %s", calls, ev.EntityID)
			}
			entities[ev.EntityID] = true
			if ev.EntityID == "1" && ev.Version == 3 && !failedOnce {
				failedOnce = true
				failed++
				res = append(res, `{"ErrorCode":"InternalFailure","ErrorMessage":"x"}`)
				continue
			}
			delivered = append(delivered, fmt.Sprintf("%s/%d", ev.EntityID, ev.Version))
			res = append(res, `{"EventId":"x"}`)
		}
		if size >= 256<<10 {
			t.Errorf("call %d carries %d bytes, want under 256 KB", calls, size)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"FailedEntryCount":%d,"Entries":[%s]}`, failed, strings.Join(res, ","))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	eb := changefeed.NewEventBridge(awsrest.New(changefeed.EventsService, cfg, nil), srv.URL, "default")
	var evs []changefeed.Event
	for v := int64(1); v <= 10; v++ {
		for _, id := range []string{"1", "2"} {
			evs = append(evs, changefeed.Event{ID: fmt.Sprintf("t/o/%s/%d", id, v), Tenant: "t", EntityType: "o", EntityID: id,
				Version: v, Change: json.RawMessage(`{"pad":"` + strings.Repeat("p", 30000) + `"}`)})
		}
	}
	if err := eb.Send(t.Context(), evs); err == nil {
		t.Fatal("Send reported no failure")
	}
	if err := eb.Send(t.Context(), evs); err != nil {
		t.Fatalf("the batch sent again: %v", err)
	}
	last, seen := map[string]int64{}, map[string]bool{}
	for _, d := range delivered {
		if seen[d] {
			continue // a duplicate: at least once
		}
		seen[d] = true
		var id string
		var v int64
		fmt.Sscanf(strings.Replace(d, "/", " ", 1), "%s %d", &id, &v)
		if v < last[id] {
			t.Fatalf("the bus has %s version %d first after %d: %v", id, v, last[id], delivered)
		}
		last[id] = v
	}
	if last["1"] != 10 || last["2"] != 10 {
		t.Fatalf("delivered %v, want both entities to version 10", delivered)
	}
}
