package e2e_test

import (
	"encoding/json"
	"net/url"
	"testing"
)

// TestNotifyTargeted: a notification for one user reaches every tab of
// that user and no one else; one without a user reaches the subscribers
// of the notifications channel; only admin and system identities send.
func TestNotifyTargeted(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			admin := presDial(t, srv, "adam", url.Values{"roles": {"admin"}})
			a1, a2 := presDial(t, srv, "alice", nil), presDial(t, srv, "alice", nil)
			bob := presDial(t, srv, "bob", nil)
			bob.ok("subscribe", "notifications", nil)
			other := presDial(t, srv, "alice", url.Values{"tenant": {"globex"}})

			isNote := func(f frame) bool { return f.Type == "notification" && f.Channel == "notifications" }
			f := admin.ok("notify", "", map[string]any{"userId": "alice", "title": "Stock low", "body": "SKU 42 is below 5", "level": "warning"})
			var res struct {
				ID                    string
				Recipients, Delivered int
			}
			if err := json.Unmarshal(f.Payload, &res); err != nil || res.Recipients != 2 || res.Delivered != 2 || res.ID == "" {
				t.Fatalf("notify reply = %s, want 2 recipients, 2 delivered", f.Payload)
			}
			for _, c := range []*client{a1, a2} {
				got := c.await(isNote, "the notification")
				var n struct {
					ID, Title, Body, Level, TargetUserID string
					From                                 struct{ UserID string }
				}
				if err := json.Unmarshal(got.Payload, &n); err != nil || n.ID != res.ID || n.Title != "Stock low" ||
					n.Body != "SKU 42 is below 5" || n.Level != "warning" || n.TargetUserID != "alice" || n.From.UserID != "adam" {
					t.Fatalf("%s got %s", c.name, got.Payload)
				}
			}
			for _, c := range []*client{bob, admin, other} {
				c.none(isNote, "a notification meant for alice")
			}

			bob.fails("notify", "", map[string]any{"userId": "alice", "title": "spam"}, "FORBIDDEN")
			admin.bad().fails("notify", "", map[string]any{"userId": "alice"}, "BAD_REQUEST")
			admin.bad().fails("notify", "", map[string]any{"title": "x", "level": "panic"}, "BAD_REQUEST")
			if f := admin.ok("notify", "", map[string]any{"userId": "nobody", "title": "hello"}); !json.Valid(f.Payload) {
				t.Fatalf("notify to a user without connections = %s", f.Payload)
			}

			// Without a user: the notifications channel.
			admin.ok("notify", "", map[string]any{"title": "Maintenance at 22:00"})
			if got := bob.await(isNote, "the broadcast notification"); !json.Valid(got.Payload) {
				t.Fatalf("broadcast = %s", got.Payload)
			}
			a1.none(isNote, "a broadcast notification without subscribing")
		})
	}
}
