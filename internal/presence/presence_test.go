package presence_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/presence"
	"github.com/omnisales/rtcollab/internal/store"
)

const away = 5 * time.Minute

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tab is a session of user on conn in rooms, active idle ago at t0.
func tab(user, conn string, idle time.Duration, rooms ...string) store.Session {
	return store.Session{
		Presence: store.Presence{
			Tenant: "acme", UserID: user, ConnID: conn, Username: "name of " + user, Status: store.StatusOnline,
			Page: "orders", Section: conn, Activity: "on " + conn,
			LastSeen: t0, LastActive: t0.Add(-idle), ExpiresAt: t0.Add(90 * time.Second),
		},
		Rooms: rooms,
	}
}

func with(s store.Session, f func(*store.Session)) store.Session {
	f(&s)
	return s
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name   string
		client string
		idle   time.Duration
		want   string
	}{
		{"active", store.StatusOnline, time.Minute, store.StatusOnline},
		{"just before the timeout", store.StatusOnline, away - time.Nanosecond, store.StatusOnline},
		{"at the timeout", store.StatusOnline, away, store.StatusAway},
		{"idle", store.StatusOnline, time.Hour, store.StatusAway},
		{"chose away", store.StatusAway, 0, store.StatusAway},
		{"hidden", store.StatusOffline, 0, store.StatusOffline},
		{"hidden and idle", store.StatusOffline, time.Hour, store.StatusOffline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := store.Presence{Status: tt.client, LastActive: t0.Add(-tt.idle)}
			if got := presence.Status(p, t0, away); got != tt.want {
				t.Errorf("Status = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	idle := tab("alice", "c1", time.Hour)
	busy := tab("alice", "c2", time.Minute)
	recent := tab("alice", "c3", time.Second)
	hidden := with(tab("alice", "c4", 0), func(s *store.Session) { s.Status = store.StatusOffline; s.LastSeen = t0.Add(time.Second) })
	tests := []struct {
		name       string
		tabs       []store.Session
		ok         bool
		status     string
		section    string
		lastSeenAt time.Time
	}{
		{"none", nil, false, "", "", time.Time{}},
		{"one idle tab", []store.Session{idle}, true, store.StatusAway, "c1", t0},
		{"online if any tab is online", []store.Session{idle, busy}, true, store.StatusOnline, "c2", t0},
		{"the most recently active online tab leads", []store.Session{busy, recent, idle}, true, store.StatusOnline, "c3", t0},
		{"hidden tabs do not count", []store.Session{hidden}, false, "", "", time.Time{}},
		{"hidden tab beside an idle one", []store.Session{hidden, idle}, true, store.StatusAway, "c1", t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entries []store.Presence
			for _, s := range tt.tabs {
				entries = append(entries, s.Presence)
			}
			u, ok := presence.Aggregate(entries, t0, away)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if u.Status != tt.status || u.CurrentLocation.Section != tt.section || u.UserID != "alice" || u.Username != "name of alice" {
				t.Errorf("Aggregate = %+v, want status %s from %s", u, tt.status, tt.section)
			}
			if u.LastSeen != "2026-03-01T12:00:00.000Z" {
				t.Errorf("lastSeen = %q", u.LastSeen)
			}
		})
	}
}

func TestUsers(t *testing.T) {
	var entries []store.Presence
	for _, s := range []store.Session{
		tab("alice", "a1", 0), tab("alice", "a2", time.Hour),
		tab("bob", "b1", time.Hour),
		with(tab("carol", "c1", 0), func(s *store.Session) { s.Status = store.StatusOffline }),
		tab("dave", "d1", 0),
	} {
		entries = append(entries, s.Presence)
	}
	users := presence.Users(entries, t0, away)
	var got []string
	for _, u := range users {
		got = append(got, u.UserID+":"+u.Status)
	}
	if want := "[alice:online bob:away dave:online]"; fmt.Sprint(got) != want {
		t.Errorf("Users = %v, want %s", got, want)
	}
}

// describe flattens events for comparison.
func describe(ev presence.Events) string {
	s := ""
	for _, r := range ev.Rooms {
		s += fmt.Sprintf("%s %s %s; ", r.Room, r.Kind, r.User.Status)
	}
	if ev.User != nil {
		s += "user " + ev.User.Status
	}
	return s
}

func TestDiff(t *testing.T) {
	a1 := tab("alice", "a1", 0, "order-123")
	// a2 is a second tab showing the same as a1; b2 shows something else.
	a2 := with(tab("alice", "a2", 0, "order-123"), func(s *store.Session) { s.Section, s.Activity = a1.Section, a1.Activity })
	b2 := tab("alice", "b2", 0, "order-123")
	later := tab("alice", "a2", -time.Hour, "order-123")
	tests := []struct {
		name          string
		before, after []store.Session
		afterAt       time.Time
		want          string
	}{
		{"first tab", nil, []store.Session{a1}, t0, "order-123 join online; user online"},
		{"second tab, same view", []store.Session{a1}, []store.Session{a1, a2}, t0, ""},
		{"one of two tabs closes", []store.Session{a1, a2}, []store.Session{a2}, t0, ""},
		{"last tab closes", []store.Session{a2}, nil, t0, "order-123 leave offline; user offline"},
		{"connected without a room", nil, []store.Session{tab("alice", "a1", 0)}, t0, "user online"},
		{"idle past the timeout", []store.Session{a1}, []store.Session{a1}, t0.Add(away), "order-123 update away; user away"},
		{"the leading tab closes", []store.Session{a1, b2}, []store.Session{b2}, t0, "order-123 update online; "},
		{"idle, but another tab in the room is active", []store.Session{a1, later}, []store.Session{a1, later}, t0.Add(away), ""},
		{"idle in the room, active elsewhere", []store.Session{a1, tab("alice", "a2", -time.Hour)}, []store.Session{a1, tab("alice", "a2", -time.Hour)},
			t0.Add(away), "order-123 update away; "},
		{"leaves the room, still online", []store.Session{a1}, []store.Session{tab("alice", "a1", 0)}, t0, "order-123 leave online; "},
		{"leaves while another tab stays in the room", []store.Session{a1, a2}, []store.Session{tab("alice", "a1", 0), a2}, t0, ""},
		{"moves to another room", []store.Session{a1}, []store.Session{tab("alice", "a1", 0, "order-124")}, t0,
			"order-123 leave online; order-124 join online; "},
		{"changes activity", []store.Session{a1}, []store.Session{with(a1, func(s *store.Session) { s.Activity = "Editing" })}, t0,
			"order-123 update online; "},
		{"hides", []store.Session{a1}, []store.Session{with(a1, func(s *store.Session) { s.Status = store.StatusOffline })}, t0,
			"order-123 leave offline; user offline"},
		{"chooses away", []store.Session{a1}, []store.Session{with(a1, func(s *store.Session) { s.Status = store.StatusAway })}, t0,
			"order-123 update away; user away"},
		{"heartbeat only", []store.Session{a1}, []store.Session{with(a1, func(s *store.Session) { s.LastSeen = t0.Add(30 * time.Second) })}, t0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(presence.Diff(tt.before, t0, tt.after, tt.afterAt, away)); got != tt.want {
				t.Errorf("Diff = %q, want %q", got, tt.want)
			}
		})
	}
}
