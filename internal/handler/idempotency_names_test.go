package handler_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// TestIdempotencyHashNamesAsDecoded: two comment.add requests under one
// messageId whose payloads name the text twice, as "text" and "TEXT" (Go's
// JSON decoding matches names case-insensitively and keeps the last) or as
// "text" twice with null last (decoding a null leaves the text the first
// set), decode to different texts while their request hashes were equal:
// the second got the first's recorded reply, for a comment it did not
// add, instead of IDEMPOTENCY_MISMATCH. A payload that gives a field of
// the route's struct twice, by names that differ only in case, or names a
// member twice, is refused with BAD_REQUEST and nothing is written; the
// messageId is then free for a well-formed request, whose resend gets its
// reply and whose reuse for another text is IDEMPOTENCY_MISMATCH.
func TestIdempotencyHashNamesAsDecoded(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "ann")
		add := func(id, members string) string {
			t.Helper()
			return e.send("ann", `{"type":"comment.add","messageId":"`+id+`","payload":{"entityType":"note","entityId":"n1",`+members+`}}`)
		}
		for _, c := range []struct{ id, first, second string }{
			{"dup", `"text":"approve","TEXT":"reject"`, `"TEXT":"reject","text":"approve"`},
			{"dup-null", `"text":"approve","text":null`, `"text":"reject","text":null`},
		} {
			first := add(c.id, c.first)
			second := add(c.id, c.second)
			if strings.Contains(first, `"type":"ack"`) && second == first {
				t.Errorf("comment.add %s with {%s} got the reply of {%s}: %s", c.id, c.second, c.first, second)
			}
			for _, b := range []string{first, second} {
				if !strings.Contains(b, `"code":"BAD_REQUEST"`) {
					t.Errorf("comment.add %s: %s, want BAD_REQUEST", c.id, b)
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		var list struct {
			Payload struct {
				Comments []struct{ Text string } `json:"comments"`
			} `json:"payload"`
		}
		b := e.send("ann", `{"type":"comment.list","messageId":"l1","payload":{"entityType":"note","entityId":"n1"}}`)
		if err := json.Unmarshal([]byte(b), &list); err != nil || len(list.Payload.Comments) != 0 {
			t.Fatalf("comment.list after refused comments: %s", b)
		}

		first := add("dup", `"text":"approve"`)
		if !strings.Contains(first, `"type":"ack"`) || !strings.Contains(first, `"text":"approve"`) {
			t.Fatalf("comment.add dup: %s", first)
		}
		if again := add("dup", `"text":"approve"`); again != first {
			t.Fatalf("resend: %s, want %s", again, first)
		}
		if other := add("dup", `"text":"reject"`); !strings.Contains(other, `"code":"IDEMPOTENCY_MISMATCH"`) {
			t.Fatalf("another text under dup: %s, want IDEMPOTENCY_MISMATCH", other)
		}
	})
}

// Opaque values, which a route keeps as they are sent and never matches
// to a struct's fields (a publish's payload, a change's after and
// metadata, an activity entry's changes' values and metadata, a
// notification's data), may hold member names that differ only in case:
// {"id":1,"ID":2} is two members to the subscriber that reads it, and a
// document keyed by codes such as the SKUs "ab" and "AB" holds both. Such
// a request is accepted and delivered or stored as sent; only an exact
// repeat of a name is refused there. In the objects a route decodes into
// its structs, two names of one field that differ only in case are
// refused, at any depth.

// TestPublishKeepsNamesThatDifferInCase: a publish whose payload holds
// names that differ only in case is delivered as sent.
func TestPublishKeepsNamesThatDifferInCase(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "ann", "bob")
		e.ok("bob", `{"type":"subscribe","channel":"order:1","messageId":"s1"}`)
		payload := `{"id":1,"ID":2,"lines":[{"sku":"ab","SKU":"AB"}],"data":{"k":1,"K":2,"\u212a":3}}`
		if b := e.send("ann", `{"type":"publish","channel":"order:1","messageId":"p1","payload":`+payload+`}`); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("publish of %s: %s", payload, b)
		}
		if got := e.postedPayloads("bob", "update"); len(got) != 1 || got[0] != payload {
			t.Fatalf("bob got the publish as %q, want %s", got, payload)
		}
		if b := e.send("ann", `{"type":"publish","channel":"order:1","messageId":"p2","payload":{"data":{"id":1,"id":2}}}`); !strings.Contains(b, `"code":"BAD_REQUEST"`) {
			t.Fatalf("publish repeating id: %s, want BAD_REQUEST", b)
		}
		if got := e.postedPayloads("bob", "update"); len(got) != 1 {
			t.Fatalf("bob got %q", got)
		}
	})
}

// TestChangeKeepsNamesThatDifferInCase: a change whose after value holds
// names that differ only in case stores them all; the same members in
// another order are the same request; the activity feed names the entity
// by metadata's own entityName, not by a member that differs from it in
// case (metadata, like after, is the client's data).
func TestChangeKeepsNamesThatDifferInCase(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "ann")
		change := func(after, metadata string) string {
			return e.send("ann", `{"type":"change","messageId":"c1","payload":{"entityType":"note","entityId":"n1","baseVersion":0,`+
				`"operation":"insert","path":"skus","after":`+after+`,"metadata":`+metadata+`}}`)
		}
		first := change(`{"ab":1,"AB":2,"\u212aey":3,"key":4}`, `{"entityName":"N1","ENTITYNAME":"other"}`)
		if !strings.Contains(first, `"applied":true`) {
			t.Fatalf("change: %s", first)
		}
		var synced struct {
			Payload struct {
				Document map[string]json.RawMessage `json:"document"`
			} `json:"payload"`
		}
		b := e.send("ann", `{"type":"sync","messageId":"y1","payload":{"entityType":"note","entityId":"n1"}}`)
		if err := json.Unmarshal([]byte(b), &synced); err != nil {
			t.Fatal(err)
		}
		var skus map[string]int
		if err := json.Unmarshal(synced.Payload.Document["skus"], &skus); err != nil || len(skus) != 4 ||
			skus["ab"] != 1 || skus["AB"] != 2 || skus["\u212aey"] != 3 || skus["key"] != 4 {
			t.Fatalf("document after the change: %s", b)
		}
		if again := change(`{"key":4,"AB":2,"\u212aey":3,"ab":1}`, `{"ENTITYNAME":"other","entityName":"N1"}`); again != first {
			t.Fatalf("resend in another order: %s, want %s", again, first)
		}
		var feed struct {
			Payload struct {
				Entries []struct {
					Entity struct{ Name string } `json:"entity"`
				} `json:"entries"`
			} `json:"payload"`
		}
		b = e.send("ann", `{"type":"activity.list","messageId":"a1","payload":{}}`)
		if err := json.Unmarshal([]byte(b), &feed); err != nil || len(feed.Payload.Entries) != 1 || feed.Payload.Entries[0].Entity.Name != "N1" {
			t.Fatalf("activity after the change: %s", b)
		}
		if b := e.send("ann", `{"type":"change","messageId":"c2","payload":{"entityType":"note","entityId":"n1","baseVersion":1,`+
			`"operation":"update","path":"skus","after":{"ab":1,"ab":2}}}`); !strings.Contains(b, `"code":"BAD_REQUEST"`) {
			t.Fatalf("change repeating ab: %s, want BAD_REQUEST", b)
		}
	})
}

// TestActivityAndNotifyKeepsNamesThatDifferInCase: an activity entry's
// changes' values and metadata, and a notification's data, are opaque too.
func TestActivityAndNotifyKeepsNamesThatDifferInCase(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "root=")
		if b := e.send("root=", `{"type":"activity","messageId":"a1","payload":{"action":"updated","entityType":"note","entityId":"n1",`+
			`"changes":[{"field":"f","after":{"x":1,"X":2}}],"metadata":{"m":1,"M":2}}}`); !strings.Contains(b, `"type":"ack"`) ||
			!strings.Contains(b, `{"x":1,"X":2}`) || !strings.Contains(b, `"m":1,"M":2`) {
			t.Fatalf("activity: %s", b)
		}
		if b := e.send("root=", `{"type":"notify","messageId":"n1","payload":{"title":"t","data":{"id":1,"ID":2}}}`); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("notify: %s", b)
		}
	})
}

// TestStructNamesThatDifferInCaseRefused: two names of one field of a
// route's payload struct that differ only in case are refused with
// BAD_REQUEST naming the field, at any depth: in an embedded struct, a
// struct in a list, a struct behind a pointer.
func TestStructNamesThatDifferInCaseRefused(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "ann", "root=")
		for _, c := range []struct{ conn, frame, field string }{
			{"ann", `{"type":"change","messageId":"r1","payload":{"entityType":"note","entityId":"n1","ENTITYID":"n2","operation":"insert","path":"x","after":1}}`, "entityId"},
			{"ann", `{"type":"change","messageId":"r2","payload":{"entityType":"note","entityId":"n1","operation":"text","path":"t","text":[{"insert":"a","INSERT":"b"}]}}`, "text.insert"},
			{"ann", `{"type":"change","messageId":"r3","payload":{"entityType":"note","entityId":"n1","operation":"insert","path":"x","after":1,"hlc":{"wallMs":1,"WallMS":2}}}`, "hlc.wallMs"},
			{"root=", `{"type":"activity","messageId":"r4","payload":{"action":"updated","entity":{"type":"note","id":"n1","ID":"n2"}}}`, "entity.id"},
			{"root=", `{"type":"activity","messageId":"r5","payload":{"action":"updated","entityType":"note","entityId":"n1","changes":[{"field":"a"},{"field":"b","Field":"c"}]}}`, "changes.field"},
			{"ann", `{"type":"presence","messageId":"r6","payload":{"location":{"page":"a","PAGE":"b"}}}`, "location.page"},
			{"ann", `{"type":"comment.add","messageId":"r7","payload":{"entityType":"note","entityId":"n1","text":"a","Text":"b"}}`, "text"},
		} {
			b := e.send(c.conn, c.frame)
			if !strings.Contains(b, `"code":"BAD_REQUEST"`) || !strings.Contains(b, `\"`+c.field+`\"`) {
				t.Errorf("%s: %s, want BAD_REQUEST naming %s", c.frame, b, c.field)
			}
		}
		// Names that match no field are not the struct's: json.Unmarshal
		// ignores them, and they may differ only in case.
		if b := e.send("ann", `{"type":"comment.add","messageId":"r8","payload":{"entityType":"note","entityId":"n1","text":"a","extra":1,"EXTRA":2}}`); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("comment.add with unknown members extra and EXTRA: %s", b)
		}
	})
}

// postedPayloads returns, in order, the payloads of the frames of type
// typ posted to conn.
func (e *sweepEnv) postedPayloads(conn, typ string) []string {
	e.poster.mu.Lock()
	defer e.poster.mu.Unlock()
	var out []string
	for _, p := range e.poster.posts {
		var f struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if p.to == conn && json.Unmarshal(p.data, &f) == nil && f.Type == typ {
			out = append(out, string(f.Payload))
		}
	}
	return out
}
