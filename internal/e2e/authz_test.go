package e2e_test

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
			for _, c := range []*client{viewer, member} {
				c.bad().fails("room.join", "", map[string]any{"room": "order:1001"}, "BAD_REQUEST")
				c.bad().fails("room.join", "", map[string]any{"room": "room:order:1001"}, "BAD_REQUEST")
				c.bad().fails("presence", "", map[string]any{"room": "order:1001", "activity": "x"}, "BAD_REQUEST")
				c.bad().fails("cursor", "", map[string]any{"room": "order:1001", "x": 1, "y": 1}, "BAD_REQUEST")
			}
			// A subscriber of the entity channel is still not a room member.
			viewer.ok("subscribe", "order:1001", nil)
			viewer.bad().fails("cursor", "", map[string]any{"room": "order:1001", "x": 1, "y": 1}, "BAD_REQUEST")

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

// TestOwnershipRules: a member resolves or reopens only its own comments;
// an editor (a moderator) resolves anyone's; a refused resolve leaves the
// comment as it was and announces nothing. Any writer of an entity may
// undo another user's change, and the undo is recorded as the undoer's
// change naming the change it undid; a viewer may do neither.
func TestOwnershipRules(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			alice := presDial(t, srv, "alice", url.Values{"roles": {"member"}})
			bob := presDial(t, srv, "bob", url.Values{"roles": {"member"}})
			eda := presDial(t, srv, "eda", url.Values{"roles": {"editor"}})
			vic := presDial(t, srv, "vic", url.Values{"roles": {"viewer"}})
			watcher := presDial(t, srv, "wes", url.Values{"roles": {"viewer"}})
			watcher.ok("subscribe", "order:7", nil)
			type wireComment struct {
				ID, UserID, ResolvedBy string
				Resolved               bool
			}
			order := func(extra map[string]any) map[string]any {
				m := map[string]any{"entityType": "order", "entityId": "7"}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}
			add := func(c *client, text string) wireComment {
				t.Helper()
				var r struct{ Comment wireComment }
				if err := json.Unmarshal(c.ok("comment.add", "", order(map[string]any{"text": text})).Payload, &r); err != nil {
					t.Fatal(err)
				}
				return r.Comment
			}
			stored := func(id string) wireComment {
				t.Helper()
				var page struct{ Comments []wireComment }
				if err := json.Unmarshal(eda.ok("comment.list", "", order(nil)).Payload, &page); err != nil {
					t.Fatal(err)
				}
				for _, c := range page.Comments {
					if c.ID == id {
						return c
					}
				}
				t.Fatalf("comment %s not listed: %+v", id, page)
				return wireComment{}
			}
			isComment := func(id, action string) func(frame) bool {
				return func(f frame) bool {
					var e struct {
						Action  string
						Comment wireComment
					}
					return f.Type == "comment" && json.Unmarshal(f.Payload, &e) == nil && e.Comment.ID == id && e.Action == action
				}
			}
			mine := add(alice, "Check the address")
			theirs := add(bob, "Call the customer")
			watcher.await(isComment(mine.ID, "added"), "alice's comment")
			watcher.await(isComment(theirs.ID, "added"), "bob's comment")

			// Another member's comment: refused, unchanged, not announced.
			bob.fails("comment.resolve", "", order(map[string]any{"commentId": mine.ID}), "FORBIDDEN")
			vic.fails("comment.resolve", "", order(map[string]any{"commentId": mine.ID}), "FORBIDDEN")
			if c := stored(mine.ID); c.Resolved || c.ResolvedBy != "" {
				t.Fatalf("alice's comment after refused resolves: %+v", c)
			}
			watcher.none(isComment(mine.ID, "resolved"), "a refused resolve announced")
			// The author resolves and reopens its own; a moderator anyone's.
			bob.ok("comment.resolve", "", order(map[string]any{"commentId": theirs.ID}))
			alice.ok("comment.resolve", "", order(map[string]any{"commentId": mine.ID}))
			bob.fails("comment.resolve", "", order(map[string]any{"commentId": mine.ID, "resolved": false}), "FORBIDDEN")
			if c := stored(mine.ID); !c.Resolved || c.ResolvedBy != "alice" {
				t.Fatalf("alice's comment after a refused reopen: %+v", c)
			}
			alice.ok("comment.resolve", "", order(map[string]any{"commentId": mine.ID, "resolved": false}))
			eda.ok("comment.resolve", "", order(map[string]any{"commentId": mine.ID}))
			if c := stored(mine.ID); !c.Resolved || c.ResolvedBy != "eda" {
				t.Fatalf("alice's comment resolved by the editor: %+v", c)
			}

			// Undo: any writer of the entity, recorded as the undoer's.
			note := func(extra map[string]any) map[string]any {
				m := map[string]any{"entityType": "note", "entityId": "n1"}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}
			alice.ok("change", "", change("note", "n1", 0, "update", "title", after("draft")))
			vic.fails("undo", "", map[string]any{"changeId": "note:n1:1"}, "FORBIDDEN")
			var h struct{ Changes []wireChange }
			if err := json.Unmarshal(eda.ok("history", "", note(nil)).Payload, &h); err != nil || len(h.Changes) != 1 {
				t.Fatalf("history after the viewer's undo: %+v %v", h, err)
			}
			var undone wireAck
			if err := json.Unmarshal(bob.ok("undo", "", map[string]any{"changeId": "note:n1:1"}).Payload, &undone); err != nil {
				t.Fatal(err)
			}
			if undone.Change == nil || undone.Change.UserID != "bob" || undone.Change.UndoOf != "note:n1:1" || undone.Version != 2 {
				t.Fatalf("bob's undo of alice's change: %+v", undone)
			}
			if err := json.Unmarshal(eda.ok("history", "", note(nil)).Payload, &h); err != nil || len(h.Changes) != 2 {
				t.Fatalf("history: %+v %v", h, err)
			}
			for _, c := range h.Changes {
				if c.Version == 1 && c.UserID != "alice" || c.Version == 2 && (c.UserID != "bob" || c.UndoOf != "note:n1:1") {
					t.Fatalf("history records %+v", h.Changes)
				}
			}
		})
	}
}
