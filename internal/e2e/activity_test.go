package e2e_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// feedEntry is a decoded activity entry (the seed's ActivityLog).
type feedEntry struct {
	ID       string `json:"id"`
	UserID   string `json:"userId"`
	Username string `json:"username"`
	Action   string `json:"action"`
	Entity   struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"entity"`
	Changes []struct {
		Field  string          `json:"field"`
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	} `json:"changes"`
	Timestamp string `json:"timestamp"`
}

func (c *client) feed(payload map[string]any) ([]feedEntry, string) {
	c.t.Helper()
	f := c.ok("activity.list", "", payload)
	var res struct {
		Entries []feedEntry `json:"entries"`
		Next    string      `json:"next"`
	}
	if err := json.Unmarshal(f.Payload, &res); err != nil {
		c.t.Fatalf("activity.list reply %s: %v", f.Payload, err)
	}
	return res.Entries, res.Next
}

// TestActivityFeed: a new client gets the latest 50 entries newest first,
// then the live entries after them; the action and entity filters work.
func TestActivityFeed(t *testing.T) {
	actions := []string{"created", "updated", "deleted", "viewed"}
	types := []string{"order", "customer"}
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			admin := presDial(t, srv, "adam", url.Values{"roles": {"admin"}})
			var sent []string
			for i := range 60 {
				srv.clock.Advance(time.Second)
				entry := map[string]any{
					"action": actions[i%4],
					"entity": map[string]any{"type": types[i%2], "id": "E" + string(rune('A'+i%26)), "name": "Entity"},
				}
				if actions[i%4] != "viewed" { // a view has no changes
					entry["changes"] = []map[string]any{{"field": "status", "before": "new", "after": "shipped"}}
				}
				f := admin.ok("activity", "", entry)
				var res struct{ Entry feedEntry }
				if err := json.Unmarshal(f.Payload, &res); err != nil || res.Entry.ID == "" || res.Entry.UserID != "adam" {
					t.Fatalf("activity reply %s", f.Payload)
				}
				sent = append(sent, res.Entry.ID)
			}

			carol := presDial(t, srv, "carol", nil)
			carol.ok("subscribe", "activity-feed", nil)
			latest, next := carol.feed(nil)
			if len(latest) != 50 || next == "" {
				t.Fatalf("default listing: %d entries, next %q; want 50 and a cursor", len(latest), next)
			}
			for i, e := range latest {
				if want := sent[59-i]; e.ID != want {
					t.Fatalf("entry %d is %s, want %s (newest first)", i, e.ID, want)
				}
				if i > 0 && e.Timestamp > latest[i-1].Timestamp {
					t.Fatalf("entry %d at %s is newer than the one before it", i, e.Timestamp)
				}
			}
			if e := latest[0]; e.Action != "viewed" || e.Entity.Type != "customer" || e.Username != "Adam" || len(e.Changes) != 0 {
				t.Errorf("newest entry = %+v", e)
			}
			if e := latest[1]; e.Action != "deleted" || e.Entity.Type != "order" || len(e.Changes) != 1 || string(e.Changes[0].After) != `"shipped"` {
				t.Errorf("second newest entry = %+v", e)
			}
			rest, end := carol.feed(map[string]any{"cursor": next})
			if len(rest) != 10 || end != "" || rest[0].ID != sent[9] || rest[9].ID != sent[0] {
				t.Errorf("second page: %d entries, next %q", len(rest), end)
			}

			// The live entries after the listing.
			srv.clock.Advance(time.Second)
			f := carol.ok("activity", "", map[string]any{"entityType": "order", "entityId": "123", "entityName": "Order #123"})
			var mine struct{ Entry feedEntry }
			_ = json.Unmarshal(f.Payload, &mine)
			live := carol.await(func(f frame) bool { return f.Type == "activity" && f.Channel == "activity-feed" }, "the live entry")
			var e feedEntry
			if err := json.Unmarshal(live.Payload, &e); err != nil || e.ID != mine.Entry.ID || e.Action != "viewed" ||
				e.Entity.Name != "Order #123" || e.UserID != "carol" || e.Timestamp <= latest[0].Timestamp {
				t.Fatalf("live entry = %s, want carol's view after the listing", live.Payload)
			}

			tests := []struct {
				name    string
				payload map[string]any
				want    int
				check   func(feedEntry) bool
			}{
				{"created", map[string]any{"actions": []string{"created"}}, 15, func(e feedEntry) bool { return e.Action == "created" }},
				{"customers", map[string]any{"entityTypes": []string{"customer"}}, 30, func(e feedEntry) bool { return e.Entity.Type == "customer" }},
				{"viewed orders", map[string]any{"actions": []string{"viewed"}, "entityTypes": []string{"order"}}, 1,
					func(e feedEntry) bool { return e.Action == "viewed" && e.Entity.Type == "order" }},
				{"updated or deleted, 20 at most", map[string]any{"actions": []string{"updated", "deleted"}, "limit": 20}, 20,
					func(e feedEntry) bool { return e.Action == "updated" || e.Action == "deleted" }},
				{"everything, 100 at most", map[string]any{"limit": 100}, 61, func(feedEntry) bool { return true }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, _ := carol.feed(tt.payload)
					if len(got) != tt.want {
						t.Fatalf("%d entries, want %d", len(got), tt.want)
					}
					for i, e := range got {
						if !tt.check(e) || (i > 0 && e.Timestamp > got[i-1].Timestamp) {
							t.Fatalf("entry %d = %+v does not pass the filter or is out of order", i, e)
						}
					}
				})
			}
			carol.bad().fails("activity.list", "", map[string]any{"limit": 101}, "BAD_REQUEST")
			carol.bad().fails("activity.list", "", map[string]any{"actions": []string{"exploded"}}, "BAD_REQUEST")
			carol.fails("activity", "", map[string]any{"action": "deleted", "entity": map[string]any{"type": "order", "id": "1"}}, "FORBIDDEN")
			carol.bad().fails("activity", "", map[string]any{"action": "viewed"}, "BAD_REQUEST")
		})
	}
}

// TestChangeActivity: a change is recorded in the feed with its field, old
// and new value; a first change that updates a field of an entity is an
// edit ("updated"), only a first change that inserts creates it; the
// entityIds filter lists one entity's entries.
func TestChangeActivity(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			alice := presDial(t, srv, "alice", nil)
			alice.ok("change", "", change("note", "n1", 0, "update", "title", map[string]any{"before": "Draft", "after": "Final"}))
			srv.clock.Advance(time.Second)
			alice.ok("change", "", change("note", "n2", 0, "insert", "title", after("New")))
			srv.clock.Advance(time.Second)
			alice.ok("change", "", change("note", "n2", 1, "update", "title", after("Renamed")))

			got, _ := alice.feed(map[string]any{"entityTypes": []string{"note"}})
			type row struct{ id, action, field, before, after string }
			var rows []row
			for _, e := range got {
				r := row{id: e.Entity.ID, action: e.Action}
				if len(e.Changes) == 1 {
					r.field, r.before, r.after = e.Changes[0].Field, string(e.Changes[0].Before), string(e.Changes[0].After)
				}
				rows = append(rows, r)
			}
			want := []row{
				{"n2", "updated", "title", `"New"`, `"Renamed"`},
				{"n2", "created", "title", "null", `"New"`},
				{"n1", "updated", "title", "null", `"Final"`}, // the stored value, not the client's "Draft"
			}
			if len(rows) != len(want) {
				t.Fatalf("feed = %+v, want %+v", rows, want)
			}
			for i := range want {
				if rows[i] != want[i] {
					t.Errorf("entry %d = %+v, want %+v", i, rows[i], want[i])
				}
			}

			// One entity's feed.
			if one, _ := alice.feed(map[string]any{"entityTypes": []string{"note"}, "entityIds": []string{"n1"}}); len(one) != 1 || one[0].Entity.ID != "n1" {
				t.Errorf("feed of n1 = %+v, want its one entry", one)
			}
			alice.bad().fails("activity.list", "", map[string]any{"entityIds": []string{strings.Repeat("x", 129)}}, "BAD_REQUEST")
			alice.bad().fails("activity.list", "", map[string]any{"entityIds": []string{""}}, "BAD_REQUEST")
			alice.bad().fails("activity.list", "", map[string]any{"entityIds": make([]string, 11)}, "BAD_REQUEST")
		})
	}
}
