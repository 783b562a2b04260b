package devserver_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// TestViewerReachesNoChannel: a viewer can watch, but no frame of its own
// reaches other users. A room name that holds ':' cannot stand for an
// entity channel (BAD_REQUEST, for every role), and every route that makes
// a frame reach a channel's subscribers (room.join, presence, cursor,
// activity, publish, change, comment, lock, notify) refuses a viewer with
// FORBIDDEN. Nothing reaches the subscribers, and the room, the entity,
// its comments, its lock and the activity feed are unchanged.
func TestViewerReachesNoChannel(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			viewer := presDial(t, srv, "vic", url.Values{"roles": {"viewer"}})
			member := presDial(t, srv, "mia", nil)
			editor := presDial(t, srv, "eda", url.Values{"roles": {"editor"}})
			for _, ch := range []string{"order:1001", "room:lobby", "user-presence", "activity-feed", "notifications", "comments", "edit-locks"} {
				editor.ok("subscribe", ch, nil)
			}
			editor.ok("room.join", "", map[string]any{"room": "lobby"})
			member.ok("room.join", "", map[string]any{"room": "lobby"})
			editor.await(isPresence("room:lobby", "mia", "join", "online"), "mia's join")

			// Rooms and channels are separate namespaces, for every role.
			for _, c := range []*pclient{viewer, member} {
				c.fails("room.join", "", map[string]any{"room": "order:1001"}, "BAD_REQUEST")
				c.fails("room.join", "", map[string]any{"room": "room:order:1001"}, "BAD_REQUEST")
				c.fails("presence", "", map[string]any{"room": "order:1001", "activity": "x"}, "BAD_REQUEST")
				c.fails("cursor", "", map[string]any{"room": "order:1001", "x": 1, "y": 1}, "BAD_REQUEST")
			}
			// A subscriber of the entity channel is still not a room member.
			viewer.ok("subscribe", "order:1001", nil)
			viewer.fails("cursor", "", map[string]any{"room": "order:1001", "x": 1, "y": 1}, "BAD_REQUEST")

			// Watching is allowed; speaking is not.
			viewer.ok("subscribe", "room:lobby", nil)
			viewer.ok("presence", "", map[string]any{"active": true}) // a heartbeat sets nothing
			order := map[string]any{"entityType": "order", "entityId": "1001"}
			with := func(extra map[string]any) map[string]any {
				m := map[string]any{"entityType": "order", "entityId": "1001"}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}
			attacks := []struct {
				typ, channel string
				payload      any
			}{
				{"room.join", "", map[string]any{"room": "lobby"}},
				{"presence", "", map[string]any{"room": "lobby"}},
				{"cursor", "", map[string]any{"room": "lobby", "x": 10, "y": 20}},
				{"presence", "", map[string]any{"status": "away", "activity": "spam"}},
				{"presence", "", map[string]any{"location": map[string]any{"page": "orders", "section": "1001"}}},
				{"activity", "", map[string]any{"action": "viewed", "entityType": "order", "entityId": "1001"}},
				{"activity", "", map[string]any{"action": "updated", "entityType": "order", "entityId": "1001"}},
				{"publish", "order:1001", map[string]any{"status": "shipped"}},
				{"publish", "room:lobby", map[string]any{"x": 1}},
				{"change", "", change("order", "1001", 0, "update", "status", after("shipped"))},
				{"comment.add", "", with(map[string]any{"text": "spam"})},
				{"lock.acquire", "", order},
				{"notify", "", map[string]any{"title": "spam"}},
			}
			for _, a := range attacks {
				if a.typ == "cursor" {
					srv.clock.Advance(time.Second) // clear of the cursor rate limit
				}
				viewer.fails(a.typ, a.channel, a.payload, "FORBIDDEN")
			}
			// The member may do what the viewer may not: the refusals above
			// are the viewer's role, not a broken route.
			member.ok("cursor", "", map[string]any{"room": "lobby", "x": 10, "y": 20})
			editor.await(func(f frame) bool { return f.Type == "cursor" && f.UserID == "mia" }, "mia's cursor")

			// Nothing of the viewer reached the editor, apart from the
			// status the server derives from the viewer's connection.
			editor.none(func(f frame) bool {
				if f.ReplyTo != "" {
					return false
				}
				if f.Type == "presence" && f.Channel == "user-presence" {
					var e presEvent
					return json.Unmarshal(f.Payload, &e) == nil && e.User.UserID == "vic" && (e.Event != "online" || e.User.Activity != "")
				}
				return f.UserID == "vic"
			}, "a frame of the viewer")

			// The state the attacks targeted is unchanged.
			lobby := editor.snapshot("lobby")
			if lobby.statusOf("vic") != "" || lobby.UserCount != 2 {
				t.Fatalf("lobby after the attacks: %+v", lobby)
			}
			for _, u := range editor.snapshot("").UsersInRoom {
				if u.UserID == "vic" && (u.Status != "online" || u.Activity != "") {
					t.Fatalf("viewer's presence changed: %+v", u)
				}
			}
			var s wireSync
			if err := json.Unmarshal(editor.ok("sync", "", with(map[string]any{"sinceVersion": 0})).Payload, &s); err != nil {
				t.Fatal(err)
			}
			if s.Version != 0 || s.Lock != nil || len(s.Changes) != 0 {
				t.Fatalf("order:1001 after the attacks: %+v", s)
			}
			var cl struct {
				Comments []json.RawMessage `json:"comments"`
			}
			if err := json.Unmarshal(editor.ok("comment.list", "", order).Payload, &cl); err != nil || len(cl.Comments) != 0 {
				t.Fatalf("comments after the attacks: %+v %v", cl, err)
			}
			var feed struct {
				Entries []struct {
					User struct {
						UserID string `json:"userId"`
					} `json:"user"`
					UserID string `json:"userId"`
				} `json:"entries"`
			}
			if err := json.Unmarshal(editor.ok("activity.list", "", map[string]any{}).Payload, &feed); err != nil {
				t.Fatal(err)
			}
			for _, e := range feed.Entries {
				if e.UserID == "vic" || e.User.UserID == "vic" {
					t.Fatalf("activity of the viewer recorded: %+v", feed)
				}
			}
		})
	}
}
