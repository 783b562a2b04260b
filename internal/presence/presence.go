// Package presence holds the rules of presence, free of I/O: the effective
// status of one connection on the server's clock, the aggregation of a
// user's connections (a user with several tabs appears once, online if any
// tab is online), and the events that a change of a user's connections
// causes in rooms and on the user-presence channel.
//
// Entry points: Status, Aggregate, Users and Diff.
package presence

import (
	"slices"
	"time"

	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Event kinds in rooms.
const (
	Join   = "join"
	Leave  = "leave"
	Update = "update"
)

// Status returns the effective status of one entry at now: offline when
// its client hid it, away when its client chose away or when it saw no
// client activity for awayTimeout, online otherwise. Expiry (heartbeats
// stopped) is the store's concern: an expired entry is absent.
func Status(p store.Presence, now time.Time, awayTimeout time.Duration) string {
	switch {
	case p.Status == store.StatusOffline:
		return store.StatusOffline
	case p.Status == store.StatusAway:
		return store.StatusAway
	case !now.Before(p.LastActive.Add(awayTimeout)):
		return store.StatusAway
	}
	return store.StatusOnline
}

// Location is where a user is (the seed's currentLocation).
type Location struct {
	Page    string `json:"page"`
	Section string `json:"section,omitempty"`
}

// User is one user's presence as clients see it (the seed's
// PresenceData): the aggregate of the user's visible connections.
type User struct {
	UserID          string   `json:"userId"`
	Username        string   `json:"username"`
	Avatar          string   `json:"avatar,omitempty"`
	Status          string   `json:"status"`
	LastSeen        string   `json:"lastSeen"`
	CurrentLocation Location `json:"currentLocation"`
	Activity        string   `json:"activity,omitempty"`
}

// same reports whether two views differ only in lastSeen.
func same(a, b User) bool {
	a.LastSeen, b.LastSeen = "", ""
	return a == b
}

// rank orders statuses: online beats away beats offline.
func rank(status string) int {
	switch status {
	case store.StatusOnline:
		return 2
	case store.StatusAway:
		return 1
	}
	return 0
}

// Aggregate folds the entries of one user into the user's presence at now.
// The status is online if any entry is online, away if every visible entry
// is away; location, activity and avatar come from the best entry (highest
// status, then latest activity, then connection id); lastSeen is the
// latest of all. ok is false when no entry is visible: the user is offline.
func Aggregate(entries []store.Presence, now time.Time, awayTimeout time.Duration) (u User, ok bool) {
	var (
		best     store.Presence
		bestRank = -1
		lastSeen time.Time
	)
	for _, e := range entries {
		r := rank(Status(e, now, awayTimeout))
		if r == 0 {
			continue
		}
		if e.LastSeen.After(lastSeen) {
			lastSeen = e.LastSeen
		}
		switch {
		case r > bestRank,
			r == bestRank && e.LastActive.After(best.LastActive),
			r == bestRank && e.LastActive.Equal(best.LastActive) && e.ConnID < best.ConnID:
			best, bestRank = e, r
		}
	}
	if bestRank < 0 {
		return User{}, false
	}
	return User{
		UserID:          best.UserID,
		Username:        best.Username,
		Avatar:          best.Avatar,
		Status:          Status(best, now, awayTimeout),
		LastSeen:        protocol.Now(lastSeen),
		CurrentLocation: Location{Page: best.Page, Section: best.Section},
		Activity:        best.Activity,
	}, true
}

// Users groups entries, ordered by user as store listings are, into one
// view per visible user, in the same order.
func Users(entries []store.Presence, now time.Time, awayTimeout time.Duration) []User {
	var out []User
	for start := 0; start < len(entries); {
		end := start + 1
		for end < len(entries) && entries[end].UserID == entries[start].UserID {
			end++
		}
		if u, ok := Aggregate(entries[start:end], now, awayTimeout); ok {
			out = append(out, u)
		}
		start = end
	}
	return out
}

// RoomEvent is a change of one user in one room.
type RoomEvent struct {
	Room string
	Kind string // Join, Leave or Update
	User User   // after the change; on Leave, the last view with the user's status after it
}

// UserEvent is a change of a user's status on the user-presence channel.
type UserEvent struct {
	Status string // online, away or offline: the new status
	User   User
}

// Events are what one change of a user's sessions announces.
type Events struct {
	Rooms []RoomEvent // ordered by room
	User  *UserEvent  // nil when the user's status did not change
}

// Empty reports whether there is nothing to announce.
func (e Events) Empty() bool { return len(e.Rooms) == 0 && e.User == nil }

// Diff computes the events that replacing one user's sessions before
// (evaluated at beforeAt) with after (evaluated at afterAt) causes: join,
// leave and update events in every room either list names, and the user's
// status change, if any.
func Diff(before []store.Session, beforeAt time.Time, after []store.Session, afterAt time.Time, awayTimeout time.Duration) Events {
	var ev Events
	gb, okb := Aggregate(entries(before, ""), beforeAt, awayTimeout)
	ga, oka := Aggregate(entries(after, ""), afterAt, awayTimeout)
	switch {
	case oka && (!okb || gb.Status != ga.Status):
		ev.User = &UserEvent{Status: ga.Status, User: ga}
	case okb && !oka:
		gone := gb
		gone.Status = store.StatusOffline
		ev.User = &UserEvent{Status: store.StatusOffline, User: gone}
	}
	var rooms []string
	for _, list := range [][]store.Session{before, after} {
		for _, s := range list {
			rooms = append(rooms, s.Rooms...)
		}
	}
	slices.Sort(rooms)
	for _, room := range slices.Compact(rooms) {
		rb, inb := Aggregate(entries(before, room), beforeAt, awayTimeout)
		ra, ina := Aggregate(entries(after, room), afterAt, awayTimeout)
		switch {
		case ina && !inb:
			ev.Rooms = append(ev.Rooms, RoomEvent{Room: room, Kind: Join, User: ra})
		case inb && !ina:
			left := rb
			left.Status = store.StatusOffline
			if oka {
				left.Status = ga.Status
			}
			ev.Rooms = append(ev.Rooms, RoomEvent{Room: room, Kind: Leave, User: left})
		case ina && inb && !same(ra, rb):
			ev.Rooms = append(ev.Rooms, RoomEvent{Room: room, Kind: Update, User: ra})
		}
	}
	return ev
}

// entries returns the presence of the sessions that are in room, or of all
// sessions when room is empty.
func entries(sessions []store.Session, room string) []store.Presence {
	var out []store.Presence
	for _, s := range sessions {
		if room == "" || slices.Contains(s.Rooms, room) {
			out = append(out, s.Presence)
		}
	}
	return out
}
