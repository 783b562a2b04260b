package e2e_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/store"
)

// The tests in this file each replay one attack of an outside test suite
// against a real server on every core backend: the attack is refused with
// a stable code and the state it targeted is unchanged.

// TestClientClockStampCannotFreezeField sends crdt changes whose hlc
// stamps lie at the ends of int64, or far enough ahead that the old skew
// check's Duration product wrapped. Each is refused with BAD_REQUEST and
// the document is unchanged; afterwards another user's plain write to the
// same field still applies instead of being superseded.
func TestClientClockStampCannotFreezeField(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			mallory, bob := edT{t, edDial(t, srv, "mallory")}, edT{t, edDial(t, srv, "bob")}
			const id = "frozen"
			bob.ack("change", change("inventory", id, 0, "update", "location", after("A1")))
			now := time.Now().UnixMilli()
			for _, stamp := range []map[string]any{
				{"wallMs": int64(math.MaxInt64), "counter": uint32(math.MaxUint32)},
				{"wallMs": int64(math.MaxInt64), "counter": 0},
				{"wallMs": now + math.MaxInt64/int64(time.Millisecond) + 1, "counter": 0},
				{"wallMs": int64(math.MinInt64), "counter": 0},
				{"wallMs": now + time.Hour.Milliseconds(), "counter": 0},
			} {
				mallory.refused("change", change("inventory", id, 1, "update", "location",
					map[string]any{"after": "X", "hlc": stamp}), "BAD_REQUEST")
				d, v := serverDoc(t, srv.Built.Store, "inventory", id)
				if v != 1 {
					t.Fatalf("stamp %v moved the head to version %d", stamp, v)
				}
				wantJSON(t, "the server", d, `{"location":"A1"}`)
			}
			a := ackOf(t, bob.ack("change", change("inventory", id, 1, "update", "location", after("B2"))))
			if !a.Applied || a.Version != 2 {
				t.Fatalf("a later write after the refused stamps: %+v, want applied as version 2", a)
			}
			d, _ := serverDoc(t, srv.Built.Store, "inventory", id)
			wantJSON(t, "the server", d, `{"location":"B2"}`)
		})
	}
}

// TestHugeLockTTLRefused asks for locks whose ttl, in milliseconds, does
// not fit a duration: it used to be acknowledged (and broadcast) with an
// expiry in the past. It is refused with BAD_REQUEST and no lock is
// taken; a representable ttl above the maximum is still capped.
func TestHugeLockTTLRefused(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice := edT{t, edDial(t, srv, "alice")}
			ref := map[string]any{"entityType": "order", "entityId": "ttl"}
			for _, ttl := range []int64{math.MaxInt64, math.MaxInt64/int64(time.Millisecond) + 1, math.MinInt64, -1} {
				req := map[string]any{"entityType": "order", "entityId": "ttl", "ttl": ttl}
				alice.bad().refused("lock.acquire", req, "BAD_REQUEST")
				alice.bad().refused("lock.renew", req, "BAD_REQUEST")
				_, err := srv.Built.Store.GetLock(context.Background(), store.EntityKey{Tenant: "default", Type: "order", ID: "ttl"})
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("ttl %d: lock after the refusal: %v, want none", ttl, err)
				}
			}
			var got struct {
				Lock wireLock `json:"lock"`
			}
			decodeInto(t, alice.ack("lock.acquire", map[string]any{"entityType": "order", "entityId": "ttl",
				"ttl": math.MaxInt64 / int64(time.Millisecond)}), &got)
			exp, _ := time.Parse(time.RFC3339, got.Lock.ExpiresAt)
			if exp.Before(time.Now().Add(4*time.Minute)) || exp.After(time.Now().Add(5*time.Minute+2*time.Second)) {
				t.Fatalf("the largest representable ttl gave expiry %s, want the 5 min cap", got.Lock.ExpiresAt)
			}
			alice.ack("lock.release", ref)
		})
	}
}

// TestExtremeNumbersRefused sends the largest and smallest values of
// every client number that becomes a duration, a count, an index, a
// version or a counter amount. Each is refused with BAD_REQUEST, and the
// entities it aimed at are unchanged: counters keep their exact sums.
func TestExtremeNumbersRefused(t *testing.T) {
	big, small := int64(math.MaxInt64), int64(math.MinInt64)
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			a := edT{t, edDial(t, srv, "alice")}
			a.ack("change", change("note", "n", 0, "update", "list", after([]any{1, 2, 3})))
			// A decimal in a JSON string, as the SDK sends it.
			a.ack("change", change("note", "n", 1, "increment", "total", map[string]any{"delta": "9e307"}))
			a.ack("change", change("inventory", "i", 0, "increment", "stock", map[string]any{"delta": big - 1}))
			note := func(extra map[string]any, op, path string) map[string]any {
				return change("note", "n", 2, op, path, extra)
			}
			inv := func(delta any) map[string]any {
				return change("inventory", "i", 1, "increment", "stock", map[string]any{"delta": delta})
			}
			ref := func(extra map[string]any) map[string]any {
				p := map[string]any{"entityType": "note", "entityId": "n"}
				for k, v := range extra {
					p[k] = v
				}
				return p
			}
			for _, c := range []struct {
				name, typ string
				p         map[string]any
			}{
				{"move from", "change", note(map[string]any{"from": big, "to": 0}, "move", "list")},
				{"move to", "change", note(map[string]any{"from": 0, "to": small}, "move", "list")},
				{"base version", "change", change("note", "n", small, "update", "x", after(1))},
				{"decimal sum past float64", "change", note(map[string]any{"delta": "9e307"}, "increment", "total")},
				{"decimal delta past float64", "change", note(map[string]any{"delta": "1e999999999"}, "increment", "fresh")},
				{"decimal delta below float64", "change", note(map[string]any{"delta": "1e-400"}, "increment", "fresh")},
				{"crdt counter past int64", "change", inv(2)},
				{"crdt delta int64 min", "change", inv(small)},
				{"crdt delta not whole", "change", inv("1e300")},
				{"sync limit", "sync", ref(map[string]any{"sinceVersion": 1, "limit": big})},
				{"sync negative limit", "sync", ref(map[string]any{"sinceVersion": 1, "limit": small})},
				{"sync since", "sync", ref(map[string]any{"sinceVersion": small})},
				{"history limit", "history", ref(map[string]any{"limit": big})},
				{"history before", "history", ref(map[string]any{"before": small})},
				{"comment.list limit", "comment.list", ref(map[string]any{"limit": big})},
				{"activity.list limit", "activity.list", map[string]any{"limit": small}},
				{"presence.snapshot limit", "presence.snapshot", map[string]any{"room": "r", "limit": big}},
				{"lock ttl", "lock.acquire", ref(map[string]any{"entityType": "order", "ttl": big})},
				{"lock ttl not an integer", "lock.acquire", ref(map[string]any{"entityType": "order", "ttl": 1e300})},
			} {
				t.Run(c.name, func(t *testing.T) {
					a.bad().refused(c.typ, c.p, "BAD_REQUEST")
				})
			}
			d, v := serverDoc(t, srv.Built.Store, "note", "n")
			if v != 2 {
				t.Fatalf("note at version %d after refused requests, want 2", v)
			}
			wantJSON(t, "the note", d, `{"list":[1,2,3],"total":9e307}`)
			d, v = serverDoc(t, srv.Built.Store, "inventory", "i")
			if v != 1 {
				t.Fatalf("inventory at version %d after refused requests, want 1", v)
			}
			wantJSON(t, "the inventory", d, `{"stock":9223372036854775806}`)
			_, err := srv.Built.Store.GetLock(context.Background(), store.EntityKey{Tenant: "default", Type: "order", ID: "n"})
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("lock after refused acquires: %v", err)
			}
		})
	}
}

// TestUndoFirstIncrementAfterOthers undoes the increment that created a
// counter after other users incremented it, on an entity of each strategy
// that takes increments. Its inverse used to be a delete, which does not
// commute with the later increments (UNDO_CONFLICT); it is now the
// opposite increment, and the counter keeps the exact sum of the
// increments that stand.
func TestUndoFirstIncrementAfterOthers(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			users := []edT{{t, edDial(t, srv, "alice")}, {t, edDial(t, srv, "bob")}, {t, edDial(t, srv, "carol")}}
			for _, typ := range []string{"note", "customer", "inventory"} {
				t.Run(typ, func(t *testing.T) {
					id := "undo-inc"
					deltas := []int64{5, 3, 2}
					changes := make([]string, len(deltas))
					for i, d := range deltas {
						a := ackOf(t, users[i].ack("change", change(typ, id, int64(i), "increment", "count", map[string]any{"delta": d})))
						if !a.Applied {
							t.Fatalf("increment %d not applied: %+v", d, a)
						}
						changes[i] = a.Change.ID
					}
					ref := map[string]any{"entityType": typ, "entityId": id}
					want := []string{`{"count":5}`, `{"count":2}`, `{"count":0}`}
					for i := range deltas {
						p := map[string]any{"changeId": changes[i]}
						for k, v := range ref {
							p[k] = v
						}
						a := ackOf(t, users[i].ack("undo", p))
						if !a.Applied {
							t.Fatalf("undo of %s: %+v", changes[i], a)
						}
						d, _ := serverDoc(t, srv.Built.Store, typ, id)
						wantJSON(t, "after undo of "+changes[i], d, want[i])
					}
					d, v := serverDoc(t, srv.Built.Store, typ, id)
					if v != 6 {
						t.Fatalf("%s at version %d, want 6", typ, v)
					}
					wantJSON(t, "the server", d, `{"count":0}`)
				})
			}
		})
	}
}

// TestReusedMessageIDOtherRequest reuses the messageId of an applied
// change for other requests: another value, another entity, another
// request type, and a comment's messageId for another text. Each gets
// IDEMPOTENCY_MISMATCH, never the first request's reply, and nothing is
// written; the same request resent, also with a refreshed baseVersion as
// the SDK sends it, still gets the original reply.
func TestReusedMessageIDOtherRequest(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			ctx := context.Background()
			alice := edDial(t, srv, "alice")
			call := func(typ, msg string, payload any) frame {
				t.Helper()
				f, err := alice.roundTrip(ctx, typ, "", msg, payload)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			msg := alice.nextID()
			payload := change("note", "reuse", 0, "update", "title", after("hello"))
			first := call("change", msg, payload)
			if first.Type != "ack" {
				t.Fatalf("change: %s %s", first.Type, first.Payload)
			}
			if again := call("change", msg, change("note", "reuse", 0, "update", "title", after("hello"))); string(again.Payload) != string(first.Payload) {
				t.Fatalf("the same request resent got %s, want %s", again.Payload, first.Payload)
			}
			// The SDK resends a change under its messageId with the entity's
			// current baseVersion (and lock token): still the same request.
			if again := call("change", msg, change("note", "reuse", 1, "update", "title", after("hello"))); string(again.Payload) != string(first.Payload) {
				t.Fatalf("the same change resent on a newer base got %s, want %s", again.Payload, first.Payload)
			}
			for name, c := range map[string]struct {
				typ     string
				payload any
			}{
				"another value":  {"change", change("note", "reuse", 0, "update", "title", after("evil"))},
				"another entity": {"change", change("note", "other", 0, "update", "title", after("hello"))},
				"another type":   {"undo", map[string]any{"entityType": "note", "entityId": "reuse", "changeId": "note:reuse:1"}},
			} {
				if f := call(c.typ, msg, c.payload); f.Type != "error" || f.code() != "IDEMPOTENCY_MISMATCH" {
					t.Fatalf("%s under a used messageId: %s %s, want IDEMPOTENCY_MISMATCH", name, f.Type, f.Payload)
				}
			}
			d, v := serverDoc(t, srv.Built.Store, "note", "reuse")
			if v != 1 {
				t.Fatalf("note at version %d, want 1", v)
			}
			wantJSON(t, "the note", d, `{"title":"hello"}`)
			if _, v := serverDoc(t, srv.Built.Store, "note", "other"); v != 0 {
				t.Fatalf("the other note was written (version %d)", v)
			}
			cmsg := alice.nextID()
			add := func(text string) frame {
				return call("comment.add", cmsg, map[string]any{"entityType": "note", "entityId": "reuse", "text": text})
			}
			c1 := add("first")
			if c1.Type != "ack" || string(add("first").Payload) != string(c1.Payload) {
				t.Fatalf("comment.add and its resend: %s", c1.Payload)
			}
			if f := add("second"); f.code() != "IDEMPOTENCY_MISMATCH" {
				t.Fatalf("another comment under the same messageId: %s %s", f.Type, f.Payload)
			}
			if f := call("comment.add", msg, map[string]any{"entityType": "note", "entityId": "reuse", "text": "x"}); f.code() != "IDEMPOTENCY_MISMATCH" {
				t.Fatalf("a comment under the change's messageId: %s %s", f.Type, f.Payload)
			}
			var list struct {
				Comments []struct{ Text string } `json:"comments"`
			}
			decodeInto(t, call("comment.list", alice.nextID(), map[string]any{"entityType": "note", "entityId": "reuse"}), &list)
			if len(list.Comments) != 1 || list.Comments[0].Text != "first" {
				t.Fatalf("comments = %+v, want only the first", list.Comments)
			}
		})
	}
}

// identifierAttacks holds a character of every class the identifier rules
// refuse (see internal/ident).
var identifierAttacks = map[string]string{
	"C0": "\x01", "DEL": "\x7f", "C1": "\u0085", "line separator": "\u2028", "paragraph separator": "\u2029",
	"bidi override": "\u202e", "bidi embedding": "\u202a", "bidi isolate": "\u2067", "zero-width space": "\u200b",
	"zero-width joiner": "\u200d", "byte order mark": "\ufeff", "invalid UTF-8": "\xff", "noncharacter": "\ufdd0",
	"plane noncharacter": "\U0001fffe", "combining grapheme joiner": "\u034f", "variation selector": "\ufe0f",
	"Hangul filler": "\u3164", "braille blank": "\u2800",
}

// TestIdentityCharacterClasses presents tokens whose user id or tenant
// holds a character of each refused class: the handshake is refused with
// 401 and no connection is recorded. A display name with such characters
// is accepted without them.
func TestIdentityCharacterClasses(t *testing.T) {
	srv := startTokenServer(t, auth.TokenSettings{Issuer: testIssuer, Audience: testAudience, Secret: string(testSecret)}, nil)
	for class, c := range identifierAttacks {
		for _, cl := range []map[string]any{claims("al"+c+"ice", "acme", nil), claims("alice", "ac"+c+"me", nil)} {
			if _, status := dialQuery(t, srv, "mallory", tokenQuery(signJWT(t, hs256, cl, testSecret))); status != http.StatusUnauthorized {
				t.Fatalf("%s: sub %q, tenant %q: handshake status %d, want 401", class, cl["sub"], cl["tenant"], status)
			}
		}
		for _, k := range [][2]string{{"acme", "al" + c + "ice"}, {"ac" + c + "me", "alice"}} {
			if conns, _ := srv.Built.Store.UserConnections(context.Background(), k[0], k[1]); len(conns) != 0 {
				t.Fatalf("%s: connections recorded for %q of %q after refused handshakes", class, k[1], k[0])
			}
		}
		cl := claims("alice", "acme", map[string]any{"name": "Al" + c + "ice"})
		w := mustDialQuery(t, srv, "alice", tokenQuery(signJWT(t, hs256, cl, testSecret))).hello()
		if w.Username != "Alice" {
			t.Fatalf("%s: display name %q, want %q", class, w.Username, "Alice")
		}
	}
}

// TestIdentifierCharacterClasses sends channels, rooms, entity types and
// ids, comment ids and messageIds holding a character of each refused
// class. Each is refused (INVALID_CHANNEL, BAD_REQUEST or, where the
// frame itself is not valid JSON or UTF-8, BAD_FRAME) and nothing is
// stored. A development identity is cleaned of such characters.
func TestIdentifierCharacterClasses(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			q := url.Values{"userId": {"bo\u202eb\u0085"}, "tenant": {"default\u2028"}, "username": {"B\u200bob"}}
			if w := mustDialQuery(t, srv, "bob", q).hello(); w.UserID != "bob" || w.Tenant != "default" || w.Username != "Bob" {
				t.Fatalf("development identity = %+v, want bob of default, named Bob", w)
			}
			refused := func(class, what string, f frame, codes ...string) {
				t.Helper()
				for _, c := range codes {
					if f.Type == "error" && f.code() == c {
						return
					}
				}
				t.Fatalf("%s in %s: got %s %s, want one of %v", class, what, f.Type, f.Payload, codes)
			}
			var alice *client
			for class, c := range identifierAttacks {
				alice = dial(t, srv, "alice") // a connection per class keeps within the request rate limit
				refused(class, "a channel", alice.bad().request("subscribe", "order:1"+c, nil), "INVALID_CHANNEL")
				refused(class, "a room", alice.bad().request("room.join", "", map[string]any{"room": "r" + c}), "INVALID_CHANNEL", "BAD_REQUEST")
				refused(class, "an entity id", alice.bad().request("change", "", change("note", "n"+c, 0, "update", "x", after(1))), "BAD_REQUEST")
				refused(class, "an entity type", alice.bad().request("change", "", change("no"+c+"te", "n", 0, "update", "x", after(1))), "BAD_REQUEST")
				refused(class, "a parent id", alice.bad().request("comment.add", "", map[string]any{"entityType": "note", "entityId": "n", "text": "t", "parentId": "p" + c}), "BAD_REQUEST")
				refused(class, "a conflict id", alice.bad().request("conflict.resolve", "", map[string]any{"entityType": "note", "entityId": "n", "conflictId": "c" + c, "resolution": "remote"}), "BAD_REQUEST")
				alice.sendRaw(`{"type":"ping","messageId":"m` + c + `"}`)
				f := alice.next()
				refused(class, "a messageId", f, "BAD_REQUEST", "BAD_FRAME")
				if f.ReplyTo != "" {
					t.Fatalf("%s: the error echoes the refused messageId %q", class, f.ReplyTo)
				}
			}
			if _, v := serverDoc(t, srv.Built.Store, "note", "n"); v != 0 {
				t.Fatalf("note n written (version %d)", v)
			}
			var list struct {
				Comments []any `json:"comments"`
			}
			decodeInto(t, alice.mustAck("comment.list", "", map[string]any{"entityType": "note", "entityId": "n"}), &list)
			if len(list.Comments) != 0 {
				t.Fatalf("comments stored: %v", list.Comments)
			}
		})
	}
}
