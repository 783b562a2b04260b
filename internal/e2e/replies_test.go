package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// This file holds the tests of reply and broadcast sizes: every list reply
// pages by bytes as well as by count, and continuing with its cursor
// returns every stored item exactly once, with stored data at the largest
// the limits allow (and escaped at the worst rate: '<' is 6 bytes in JSON).

// worst returns a string of n characters that JSON escapes at 6 bytes
// each, the worst case for a reply's size.
func worst(n int) string { return strings.Repeat("<", n) }

// pageAll follows a listing's cursor from the first page to the last,
// requiring every reply to fit in a frame (checked by the client) and at
// least two pages; it returns the ids in listing order.
func pageAll(t *testing.T, c *client, typ string, base map[string]any, cursorIn string,
	ids func(t *testing.T, payload json.RawMessage) ([]string, string)) []string {
	t.Helper()
	var all []string
	cursor, pages := "", 0
	for {
		p := map[string]any{}
		for k, v := range base {
			p[k] = v
		}
		switch {
		case cursor == "":
		case cursorIn == "before": // history's cursor is a version
			p[cursorIn] = json.Number(cursor)
		default:
			p[cursorIn] = cursor
		}
		f := c.ok(typ, "", p)
		got, next := ids(t, f.Payload)
		pages++
		t.Logf("%s page %d: %d items, %d bytes", typ, pages, len(got), f.size)
		all = append(all, got...)
		if next == "" {
			break
		}
		if next == cursor && len(got) == 0 {
			t.Fatalf("%s: page %d made no progress", typ, pages)
		}
		if pages > 100 {
			t.Fatalf("%s: more than 100 pages", typ)
		}
		cursor = next
	}
	if pages < 2 {
		t.Fatalf("%s: %d page(s); the data should need several at 128 KB each", typ, pages)
	}
	return all
}

// exactlyOnce requires got to hold each of want once, in any order.
func exactlyOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("%s %s listed %d times, want once", what, id, seen[id])
		}
		delete(seen, id)
	}
	for id := range seen {
		t.Errorf("%s %s listed but never stored", what, id)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d listed, want %d", what, len(got), len(want))
	}
}

// TestRoomOfLongestFields: 200 users in a room, each with the longest
// name, avatar, location and activity allowed, made of characters JSON
// escapes: presence.snapshot and room.join reply within 128 KB, and paging
// with nextCursor lists every user once.
func TestRoomOfLongestFields(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			ctx := context.Background()
			now := srv.clock.Now()
			var want []string
			for i := range 200 {
				user := fmt.Sprintf("u%03d-%s", i, worst(120))
				ses := store.Session{Presence: store.Presence{
					Tenant: "default", UserID: user, ConnID: fmt.Sprintf("conn%03d", i),
					Username: worst(protocol.MaxUsernameBytes), Avatar: worst(protocol.MaxAvatarBytes), Status: store.StatusOnline,
					Page: worst(128), Section: worst(128), Activity: worst(256),
					LastSeen: now, LastActive: now, ExpiresAt: now.Add(time.Hour),
				}, Rooms: []string{"big"}}
				// A session is created only for a live connection.
				if err := srv.Built.Store.PutConnection(ctx, store.Connection{ID: ses.ConnID, Tenant: ses.Tenant, UserID: user,
					ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatalf("store connection %d: %v", i, err)
				}
				if _, err := srv.Built.Store.PutSession(ctx, store.SessionWrite{Session: ses}); err != nil {
					t.Fatalf("store session %d: %v", i, err)
				}
				want = append(want, user)
			}
			c := sizedDial(t, srv, "viewer", nil)
			users := func(t *testing.T, payload json.RawMessage) ([]string, string) {
				var s struct {
					UsersInRoom []struct {
						UserID string `json:"userId"`
					} `json:"usersInRoom"`
					UserCount  int    `json:"userCount"`
					Next       string `json:"next"`
					NextCursor string `json:"nextCursor"`
				}
				if err := json.Unmarshal(payload, &s); err != nil {
					t.Fatal(err)
				}
				if s.Next != s.NextCursor {
					t.Fatalf("next %q and nextCursor %q differ", s.Next, s.NextCursor)
				}
				var ids []string
				for _, u := range s.UsersInRoom {
					if u.UserID != "viewer" {
						ids = append(ids, u.UserID)
					}
				}
				return ids, s.NextCursor
			}
			got := pageAll(t, c, "presence.snapshot", map[string]any{"room": "big", "limit": 200}, "cursor", users)
			exactlyOnce(t, "user", got, want)

			// room.join answers with the first page of the same room.
			join := c.ok("room.join", "", map[string]any{"room": "big", "activity": worst(256),
				"location": map[string]any{"page": worst(128), "section": worst(128)}})
			if first, next := users(t, join.Payload); len(first) == 0 || next == "" {
				t.Fatalf("room.join: %d users, next %q; want a first page and a cursor", len(first), next)
			}
		})
	}
}

// TestActivityOfLargeEntries: entries with the most changes and the
// largest values allowed page by bytes; the cursor returns each once.
func TestActivityOfLargeEntries(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			admin := sizedDial(t, srv, "adam", url.Values{"roles": {"admin"}, "username": {worst(200)}, "avatar": {worst(1000)}})
			var want []string
			for i := range 24 {
				srv.clock.Advance(time.Second)
				// The most changes, escaped to about 15 KiB in all: just
				// under the 16 KiB entry bound.
				var changes []map[string]any
				for j := range 50 {
					changes = append(changes, map[string]any{"field": fmt.Sprintf("f%d", j), "after": worst(40)})
				}
				f := admin.ok("activity", "", map[string]any{"action": "updated",
					"entity": map[string]any{"type": "order", "id": fmt.Sprint(i), "name": worst(256)}, "changes": changes})
				var res struct {
					Entry struct {
						ID string `json:"id"`
					} `json:"entry"`
				}
				if err := json.Unmarshal(f.Payload, &res); err != nil || res.Entry.ID == "" {
					t.Fatalf("activity reply %.300s", f.Payload)
				}
				want = append(want, res.Entry.ID)
			}
			// A value over the per-change bound is refused.
			admin.fails("activity", "", map[string]any{"action": "updated", "entity": map[string]any{"type": "order", "id": "x"},
				"changes": []map[string]any{{"field": "f", "after": strings.Repeat("x", 2000)}}}, "BAD_REQUEST")

			reader := sizedDial(t, srv, "carol", nil)
			got := pageAll(t, reader, "activity.list", map[string]any{"limit": 100}, "cursor",
				func(t *testing.T, payload json.RawMessage) ([]string, string) {
					var res struct {
						Entries []struct {
							ID string `json:"id"`
						} `json:"entries"`
						Next       string `json:"next"`
						NextCursor string `json:"nextCursor"`
					}
					if err := json.Unmarshal(payload, &res); err != nil || res.Next != res.NextCursor {
						t.Fatalf("activity.list reply: %v (next %q, nextCursor %q)", err, res.Next, res.NextCursor)
					}
					var ids []string
					for _, e := range res.Entries {
						ids = append(ids, e.ID)
					}
					return ids, res.NextCursor
				})
			exactlyOnce(t, "entry", got, want)
		})
	}
}

// TestCommentThreadOfLongestComments: 24 comments of the longest text
// allowed, in characters JSON escapes, page by bytes.
func TestCommentThreadOfLongestComments(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			c := sizedDial(t, srv, "alice", url.Values{"username": {worst(128)}, "avatar": {worst(1024)}})
			var want []string
			for i := range 24 {
				p := map[string]any{"entityType": "order", "entityId": "thread", "text": worst(4000)}
				if i > 0 {
					p["parentId"] = want[0]
				}
				var res struct {
					Comment struct {
						ID string `json:"id"`
					} `json:"comment"`
				}
				if err := json.Unmarshal(c.ok("comment.add", "", p).Payload, &res); err != nil {
					t.Fatal(err)
				}
				want = append(want, res.Comment.ID)
			}
			c.fails("comment.add", "", map[string]any{"entityType": "order", "entityId": "thread", "text": worst(4001)}, "BAD_REQUEST")
			got := pageAll(t, c, "comment.list", map[string]any{"entityType": "order", "entityId": "thread"}, "cursor",
				func(t *testing.T, payload json.RawMessage) ([]string, string) {
					var res struct {
						Comments []struct {
							ID string `json:"id"`
						} `json:"comments"`
						NextCursor string `json:"nextCursor"`
					}
					if err := json.Unmarshal(payload, &res); err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, e := range res.Comments {
						ids = append(ids, e.ID)
					}
					return ids, res.NextCursor
				})
			exactlyOnce(t, "comment", got, want)
		})
	}
}

// TestHistoryAndSyncOfLargestChanges: 40 changes that each replace the
// largest value allowed with another, and 12 manual conflicts as large as
// can be recorded: history, sync and sync's conflicts page by bytes and
// return every version and conflict once.
func TestHistoryAndSyncOfLargestChanges(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			alice := sizedDial(t, srv, "alice", url.Values{"username": {worst(128)}})
			bob := sizedDial(t, srv, "bob", url.Values{"username": {worst(128)}})
			// The largest value: 10 KiB of JSON once escaped.
			big := func(i int) string { return fmt.Sprintf("%04d", i) + worst((10<<10-2-4)/6) }
			ent := map[string]any{"entityType": "customer", "entityId": "big"}
			var want []string
			for v := int64(0); v < 40; v++ {
				alice.ok("change", "", change("customer", "big", v, "update", "notes",
					map[string]any{"after": big(int(v)), "metadata": map[string]any{"note": worst(600)}}))
				want = append(want, fmt.Sprint(v+1))
			}
			tooBig := big(0) + "<" // 6 bytes over the largest
			alice.fails("change", "", change("customer", "big", 40, "update", "notes", after(tooBig)), "BAD_REQUEST")

			versions := func(t *testing.T, payload json.RawMessage) []string {
				var res struct {
					Changes []struct {
						Version int64 `json:"version"`
					} `json:"changes"`
				}
				if err := json.Unmarshal(payload, &res); err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, c := range res.Changes {
					out = append(out, fmt.Sprint(c.Version))
				}
				return out
			}
			got := pageAll(t, bob, "history", ent, "before", func(t *testing.T, payload json.RawMessage) ([]string, string) {
				var res struct {
					NextBefore int64 `json:"nextBefore"`
				}
				_ = json.Unmarshal(payload, &res)
				next := ""
				if res.NextBefore > 0 {
					next = fmt.Sprint(res.NextBefore)
				}
				return versions(t, payload), next
			})
			exactlyOnce(t, "history version", got, want)

			got = nil
			since, pages := int64(1), 0
			for {
				f := bob.ok("sync", "", map[string]any{"entityType": "customer", "entityId": "big", "sinceVersion": since})
				var res struct {
					Snapshot         bool  `json:"snapshot"`
					HasMore          bool  `json:"hasMore"`
					NextSinceVersion int64 `json:"nextSinceVersion"`
				}
				if err := json.Unmarshal(f.Payload, &res); err != nil || res.Snapshot {
					t.Fatalf("sync since %d: %v, snapshot %v", since, err, res.Snapshot)
				}
				got = append(got, versions(t, f.Payload)...)
				pages++
				if !res.HasMore {
					break
				}
				since = res.NextSinceVersion
			}
			if pages < 2 {
				t.Errorf("sync: %d page(s) for 39 large changes", pages)
			}
			exactlyOnce(t, "sync version", got, want[1:])

			// Manual conflicts: alice writes the price, bob writes it from
			// the version before; each conflict holds both sides.
			price := map[string]any{"entityType": "pricing", "entityId": "p1"}
			val := func(who string, i int) string { return who + fmt.Sprintf("%02d", i) + strings.Repeat("x", 5000) }
			var conflicts []string
			for i := range 12 {
				v := int64(i)
				alice.ok("change", "", change("pricing", "p1", v, "update", "price", after(val("a", i))))
				f := bob.ok("change", "", change("pricing", "p1", v, "update", "price", after(val("b", i))))
				var res struct {
					Conflict struct {
						ID string `json:"id"`
					} `json:"conflict"`
				}
				if err := json.Unmarshal(f.Payload, &res); err != nil || res.Conflict.ID == "" {
					t.Fatalf("bob's change %d: %v %.300s, want a conflict", i, err, f.Payload)
				}
				conflicts = append(conflicts, res.Conflict.ID)
			}
			var version int64
			conflictIDs := func(t *testing.T, payload json.RawMessage) ([]string, string) {
				var res struct {
					Version   int64 `json:"version"`
					Conflicts []struct {
						ID string `json:"id"`
					} `json:"conflicts"`
					ConflictsNextCursor string `json:"conflictsNextCursor"`
				}
				if err := json.Unmarshal(payload, &res); err != nil {
					t.Fatal(err)
				}
				version = res.Version
				var ids []string
				for _, c := range res.Conflicts {
					ids = append(ids, c.ID)
				}
				return ids, res.ConflictsNextCursor
			}
			got = pageAll(t, bob, "sync", price, "conflictsCursor", conflictIDs)
			if version != 12 {
				t.Errorf("pricing at version %d, want 12", version)
			}
			exactlyOnce(t, "conflict", got, conflicts)

			// Each conflict can be resolved with a merged value: the reply
			// with the change and the resolved conflict fits.
			f := bob.ok("conflict.resolve", "", map[string]any{"entityType": "pricing", "entityId": "p1",
				"conflictId": conflicts[0], "resolution": "merged", "mergedValue": big(99)})
			if f.size > protocol.MaxFrameBytes {
				t.Fatalf("resolve reply of %d bytes", f.size)
			}
			// Two sides of the largest values make a conflict too large to
			// resolve within one reply: it is not stored, and the writer is
			// told to sync and try again.
			alice.ok("change", "", change("pricing", "p1", 13, "update", "price", after(big(1))))
			bob.fails("change", "", change("pricing", "p1", 13, "update", "price", after(big(2))), "VERSION_CONFLICT")
			left := pageAll(t, bob, "sync", price, "conflictsCursor", conflictIDs)
			exactlyOnce(t, "conflict left", left, conflicts[1:])
		})
	}
}

// TestPublishTooLargeForBroadcast: a publish that fits in a client frame
// but whose broadcast frame would exceed 128 KB (its payload escapes to
// six times its size) is refused with FRAME_TOO_LARGE, and no subscriber
// receives anything.
func TestPublishTooLargeForBroadcast(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			alice := sizedDial(t, srv, "alice", nil)
			bob := sizedDial(t, srv, "bob", nil)
			bob.ok("subscribe", "order-updates", nil)
			alice.ok("subscribe", "order-updates", nil)
			raw := `{"type":"publish","channel":"order-updates","messageId":"big-1","payload":{"a":"` + worst(12500) + `","b":"` + worst(12500) + `"}}`
			if len(raw) > protocol.MaxClientFrameBytes {
				t.Fatalf("request of %d bytes", len(raw))
			}
			alice.sendValid(raw)
			f := alice.await(func(f frame) bool { return f.ReplyTo == "big-1" }, "the publish reply")
			if f.Type != "error" || f.code() != "FRAME_TOO_LARGE" {
				t.Fatalf("publish: %s %s %.300s, want FRAME_TOO_LARGE", f.Type, f.code(), f.Payload)
			}
			// A publish that fits still goes out, and is the first update
			// either subscriber sees.
			alice.ok("publish", "order-updates", map[string]any{"note": "small"})
			for _, c := range []*client{alice, bob} {
				u := c.await(func(f frame) bool { return f.Type == "update" }, "an update")
				var p struct {
					Note string `json:"note"`
				}
				if err := json.Unmarshal(u.Payload, &p); err != nil || p.Note != "small" {
					t.Fatalf("%s: first update %.200s, want the small one", c.name, u.Payload)
				}
			}
		})
	}
}

// TestIdentityAndUserStringBounds: a display name over the bound is cut at
// a character boundary and an avatar URL over the bound is dropped at
// $connect, before other users can see them; every other string a user
// sends for others to receive is refused over its bound with BAD_REQUEST.
func TestIdentityAndUserStringBounds(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			long := sizedDial(t, srv, "longname", url.Values{"username": {strings.Repeat("é", 100)}, "avatar": {"https://x/" + strings.Repeat("a", 2000)}})
			long.ok("room.join", "", map[string]any{"room": "r1"})
			viewer := sizedDial(t, srv, "viewer", url.Values{"roles": {"admin"}})
			var s struct {
				UsersInRoom []struct {
					UserID   string `json:"userId"`
					Username string `json:"username"`
					Avatar   string `json:"avatar"`
				} `json:"usersInRoom"`
			}
			if err := json.Unmarshal(viewer.ok("presence.snapshot", "", map[string]any{"room": "r1"}).Payload, &s); err != nil || len(s.UsersInRoom) != 1 {
				t.Fatalf("snapshot: %v %+v", err, s)
			}
			u := s.UsersInRoom[0]
			if len(u.Username) > protocol.MaxUsernameBytes || !strings.HasPrefix(strings.Repeat("é", 100), u.Username) || u.Username == "" {
				t.Errorf("username %q (%d bytes), want a prefix of whole characters of at most %d bytes", u.Username, len(u.Username), protocol.MaxUsernameBytes)
			}
			if u.Avatar != "" {
				t.Errorf("avatar of %d bytes kept, want it dropped", len(u.Avatar))
			}

			refused := []struct {
				typ     string
				payload map[string]any
			}{
				{"presence", map[string]any{"activity": strings.Repeat("a", 257)}},
				{"presence", map[string]any{"location": map[string]any{"page": strings.Repeat("p", 129)}}},
				{"presence", map[string]any{"location": map[string]any{"page": "p", "section": strings.Repeat("s", 129)}}},
				{"presence", map[string]any{"avatar": strings.Repeat("a", protocol.MaxAvatarBytes+1)}},
				{"room.join", map[string]any{"room": "r2", "activity": strings.Repeat("a", 257)}},
				{"comment.add", map[string]any{"entityType": "order", "entityId": "1", "text": strings.Repeat("c", 4001)}},
				{"notify", map[string]any{"title": strings.Repeat("t", 201)}},
				{"notify", map[string]any{"title": "t", "body": strings.Repeat("b", 2001)}},
				{"activity", map[string]any{"entity": map[string]any{"type": "order", "id": "1", "name": strings.Repeat("n", 257)}}},
				{"activity", map[string]any{"action": "updated", "entity": map[string]any{"type": "order", "id": "1"}, "changes": manyChanges(25, 1000)}},
				{"change", change("customer", "c1", 0, "update", "notes", map[string]any{"after": strings.Repeat("v", 10<<10)})},
				{"change", change("customer", "c1", 0, "update", "notes", map[string]any{"after": "v", "metadata": map[string]any{"m": worst(700)}})},
				{"change", change("customer", "c1", 0, "update", "n."+strings.Repeat("k", 1100), after("v"))},
			}
			for _, r := range refused {
				viewer.bad().fails(r.typ, "", r.payload, "BAD_REQUEST")
			}
			// At the bounds they pass.
			viewer.ok("presence", "", map[string]any{"activity": strings.Repeat("a", 256), "avatar": strings.Repeat("a", protocol.MaxAvatarBytes),
				"location": map[string]any{"page": strings.Repeat("p", 128), "section": strings.Repeat("s", 128)}})
			viewer.ok("notify", "", map[string]any{"title": strings.Repeat("t", 200), "body": strings.Repeat("b", 2000)})
			viewer.ok("comment.add", "", map[string]any{"entityType": "order", "entityId": "1", "text": strings.Repeat("c", 4000)})
			viewer.ok("change", "", change("customer", "c1", 0, "update", "notes", map[string]any{"after": strings.Repeat("v", 10<<10-2)}))
		})
	}
}

// manyChanges returns n activity changes whose after is a string of size
// bytes.
func manyChanges(n, size int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"field": fmt.Sprintf("f%d", i), "after": strings.Repeat("x", size)}
	}
	return out
}
