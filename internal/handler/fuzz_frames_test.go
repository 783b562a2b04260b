package handler_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// fuzzFramesSetup adds the state FuzzFrames aims at: a crdt entity with a
// register and a counter, a list to move elements of, and an
// operational-transform entity whose latest change is a text edit, for a
// stale text edit to be transformed against.
var fuzzFramesSetup = []string{
	`{"type":"change","payload":{"entityType":"inventory","entityId":"1","baseVersion":0,"operation":"update","path":"location","after":"A1"}}`,
	`{"type":"change","payload":{"entityType":"inventory","entityId":"1","baseVersion":1,"operation":"increment","path":"stock","delta":3}}`,
	`{"type":"change","payload":{"entityType":"note","entityId":"1","baseVersion":1,"operation":"update","path":"tags","after":["a","b","c"]}}`,
	`{"type":"change","payload":{"entityType":"customer","entityId":"1","baseVersion":0,"operation":"update","path":"notes","after":"hello"}}`,
	`{"type":"change","payload":{"entityType":"customer","entityId":"1","baseVersion":1,"operation":"text","path":"notes","text":[{"retain":5},{"insert":" world"}]}}`,
}

// fuzzFrame builds a valid frame of one of the request types that carry
// numbers, filled with the fuzzer's values: kind picks the request, a, b,
// c and x fill its numeric fields (ttl, versions, limits, indexes,
// deltas, clock stamps, coordinates) and s its path or text.
// fuzzFrameKinds is the number of frame kinds fuzzFrame builds.
const fuzzFrameKinds = 17

func fuzzFrame(kind uint8, a, b int64, c uint32, x float64, s string) map[string]any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = 0 // not expressible in JSON
	}
	ent := func(typ string, kv ...any) map[string]any {
		p := map[string]any{"entityType": typ, "entityId": "1"}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i].(string)] = kv[i+1]
		}
		return p
	}
	hlc := map[string]any{"wallMs": a, "counter": c}
	var typ string
	var p map[string]any
	switch kind % fuzzFrameKinds {
	case 0:
		typ, p = protocol.TypeLockAcquire, ent("order", "ttl", a)
	case 1:
		typ, p = protocol.TypeLockRenew, ent("order", "ttl", a)
	case 2:
		typ, p = protocol.TypeChange, ent("inventory", "baseVersion", b, "operation", "update", "path", "location", "after", s, "hlc", hlc)
	case 3:
		typ, p = protocol.TypeChange, ent("inventory", "baseVersion", b, "operation", "increment", "path", "stock", "delta", a, "hlc", hlc)
	case 4:
		typ, p = protocol.TypeChange, ent("note", "baseVersion", b, "operation", "increment", "path", "count", "delta", x)
	case 5:
		typ, p = protocol.TypeChange, ent("note", "baseVersion", 2, "operation", "move", "path", "tags", "from", a, "to", b)
	case 6:
		typ, p = protocol.TypeChange, ent("note", "baseVersion", a, "operation", "update", "path", s, "after", x)
	case 7:
		typ, p = protocol.TypeSync, ent("note", "sinceVersion", a, "limit", b)
	case 8:
		typ, p = protocol.TypeHistory, ent("note", "before", a, "limit", b)
	case 9:
		typ, p = protocol.TypeUndo, ent("note", "version", a)
	case 10:
		typ, p = protocol.TypeCommentList, ent("order", "limit", a)
	case 11:
		typ, p = protocol.TypeActivityList, map[string]any{"limit": a}
	case 12:
		typ, p = protocol.TypeRoomSnapshot, map[string]any{"room": "dashboard", "limit": a}
	case 13:
		typ, p = protocol.TypeCursor, map[string]any{"room": "dashboard", "x": x, "y": float64(a)}
	case 14:
		typ, p = protocol.TypeChange, ent("order", "baseVersion", b, "operation", "update", "path", "total", "after", a, "fencingToken", a)
	case 15:
		// A stale text edit (the setup's base 1; the head is 2, a text
		// edit) with the fuzzer's counts: transformed, merged, applied.
		typ, p = protocol.TypeChange, ent("customer", "baseVersion", 1, "operation", "text", "path", "notes",
			"text", []map[string]any{{"retain": a}, {"insert": "x"}, {"retain": int64(c)}, {"delete": b}})
	default:
		typ, p = protocol.TypeChange, ent("inventory", "baseVersion", b, "operation", "update", "path", s, "after", x, "hlc", hlc)
	}
	return map[string]any{"type": typ, "messageId": "fz", "payload": p}
}

// FuzzFrames is the structure-aware target: it sends valid frames whose
// numeric fields take the fuzzer's values (the seeds are the ends of each
// type), from a connection holding a lock and state on every strategy.
// Besides FuzzMessage's rules (one valid reply, never INTERNAL), no value
// may overflow into state: an acknowledged lock expires after now and no
// later than the maximum ttl, and no crdt stamp or clock is negative or
// beyond the server's clock plus the allowed skew.
func FuzzFrames(f *testing.F) {
	ends := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, math.MaxInt64 / int64(time.Millisecond), math.MaxInt32 + 1}
	for k := range fuzzFrameKinds {
		for i, a := range ends {
			f.Add(uint8(k), a, ends[(i+3)%len(ends)], uint32(math.MaxUint32*uint64(i%2)), math.MaxFloat64*float64(1-2*(i%2)), "location")
		}
	}
	codes := protocol.Codes()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	limit := crdt.Limit(now, editing.DefaultMaxSkew)
	f.Fuzz(func(t *testing.T, kind uint8, a, b int64, c uint32, x float64, s string) {
		ctx := context.Background()
		h, _, st := fuzzHandler(t, now, fuzzFramesSetup, nil)
		data, err := json.Marshal(fuzzFrame(kind, a, b, c, x, s))
		if err != nil {
			t.Fatal(err)
		}
		conn := fuzzConns[0]
		want, decErr := protocol.Decode(data)
		resp, err := h.Message(ctx, fuzzEvent(conn.id, string(data), nil))
		if err != nil {
			t.Fatalf("Message returned error %v", err)
		}
		checkReply(t, resp, want, decErr, codes)
		if kind%fuzzFrameKinds == 15 {
			checkTextCounts(t, resp.Body, a, b, c)
			cs, err := st.LoadEntity(ctx, store.EntityKey{Tenant: "tenant-a", Type: "customer", ID: "1"}, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if d, err := doc.Decode(cs.Head.Doc); err != nil {
				t.Fatalf("customer document after %s: %v", data, err)
			} else if _, ok := d["notes"].(string); !ok {
				t.Fatalf("%s left notes = %#v, not a string", data, d["notes"])
			}
		}
		l, err := st.GetLock(ctx, store.EntityKey{Tenant: "tenant-a", Type: "order", ID: "1"})
		if err != nil {
			t.Fatalf("the setup lock is gone after %s: %v", data, err)
		}
		if !l.ExpiresAt.After(now) || l.ExpiresAt.After(now.Add(5*time.Minute+time.Second)) {
			t.Fatalf("%s left the lock expiring at %v (now %v)", data, l.ExpiresAt, now)
		}
		es, err := st.LoadEntity(ctx, store.EntityKey{Tenant: "tenant-a", Type: "inventory", ID: "1"}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var state editing.State
		if err := json.Unmarshal(es.Head.State, &state); err != nil {
			t.Fatalf("inventory state after %s: %v", data, err)
		}
		stamps := []crdt.HLC{state.Clock}
		for _, r := range state.CRDT.Registers {
			stamps = append(stamps, r.Stamp)
		}
		for _, h := range stamps {
			if h.WallMs < 0 || h.WallMs > limit {
				t.Fatalf("%s stored the stamp %v, outside 0..%d", data, h, limit)
			}
		}
	})
}

// checkTextCounts asserts that a text edit whose counts (retain a, retain
// c, delete b) are not all within 1..doc.MaxTextCount is refused as
// BAD_REQUEST, before any transform could add them up.
func checkTextCounts(t *testing.T, body string, a, b int64, c uint32) {
	t.Helper()
	in := func(n int64) bool { return n >= 1 && n <= doc.MaxTextCount }
	if in(a) && in(b) && in(int64(c)) {
		return
	}
	var got struct {
		Type    string `json:"type"`
		Payload struct {
			Code protocol.Code `json:"code"`
		} `json:"payload"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Type != protocol.TypeError || got.Payload.Code != protocol.CodeBadRequest {
		t.Fatalf("text edit with counts %d, %d, %d answered %s; want BAD_REQUEST", a, c, b, body)
	}
}
