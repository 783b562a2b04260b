package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// presenceCases are the conformance cases of presence, activity and
// notification records.
func presenceCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"PresenceSessionRoundTrip", testSessionRoundTrip},
		{"PresenceMultiTab", testPresenceMultiTab},
		{"PresenceVersionCondition", testSessionVersion},
		{"PresenceNeedsLiveConnection", testSessionNeedsConnection},
		{"PresenceHiddenOnConnection", testSessionHiddenOnConnection},
		{"PresenceRoomsOnConnection", testSessionRoomsOnConnection},
		{"PresenceHiddenBeforeOnConnection", testSessionHiddenBeforeOnConnection},
		{"PresenceHiddenRoomsOnConnection", testSessionHiddenRoomsOnConnection},
		{"PresenceJoinLeaveRooms", testJoinLeaveRooms},
		{"PresencePagination", testPresencePagination},
		{"PresenceExpiryHides", testPresenceExpiry},
		{"PresenceDeleteIfExpired", testDeleteExpiredSession},
		{"PresenceDeleteSession", testDeleteSession},
		{"PresenceRoomEntriesOf", testRoomEntriesOf},
		{"PresenceAwayAlarm", testAwayAlarm},
		{"PresenceAwayClaimedThenRearmed", testAwayClaimedThenRearmed},
		{"PresenceTenantIsolation", testPresenceTenants},
		{"PresenceInvalidNames", testPresenceInvalidNames},
		{"ActivityNewestFirst", testActivityNewestFirst},
		{"ActivityFilters", testActivityFilters},
		{"ActivityRetention", testActivityRetention},
	}
}

// session returns a session of conn in rooms that was seen and active now
// and expires in 90 s.
func (f *fixture) session(tenant, user, conn string, rooms ...string) store.Session {
	now := f.clock.Now()
	return store.Session{
		Presence: store.Presence{
			Tenant: tenant, UserID: user, ConnID: conn,
			Username: "name of " + user, Avatar: "https://example.test/" + user + ".png",
			Status: store.StatusOnline, Page: "orders", Section: "order-123", Activity: "Editing order #123",
			LastSeen: now.Add(123 * time.Millisecond), LastActive: now, ExpiresAt: now.Add(90 * time.Second),
		},
		Rooms: rooms,
	}
}

// putSession writes w and checks the version moved. A write that
// creates a session (Version 0) first registers its connection, without
// expiry, when no live one is stored: PutSession needs it.
func (f *fixture) putSession(t *testing.T, w store.SessionWrite) store.Session {
	t.Helper()
	if ses := w.Session; ses.Version == 0 {
		if _, err := f.s.GetConnection(f.ctx, ses.ConnID); errors.Is(err, store.ErrNotFound) {
			c := f.conn(ses.ConnID, ses.Tenant, ses.UserID, 0)
			c.ExpiresAt = time.Time{}
			f.put(t, c)
		}
	}
	got, err := f.s.PutSession(f.ctx, w)
	if err != nil {
		t.Fatalf("PutSession(%s/%s/%s v%d): %v", w.Session.Tenant, w.Session.UserID, w.Session.ConnID, w.Session.Version, err)
	}
	if got.Version == 0 || got.Version == w.Session.Version {
		t.Fatalf("PutSession returned version %d after %d", got.Version, w.Session.Version)
	}
	return got
}

func (f *fixture) userSessions(t *testing.T, tenant, user string) []store.Session {
	t.Helper()
	got, err := f.s.UserSessions(f.ctx, tenant, user)
	if err != nil {
		t.Fatalf("UserSessions(%q, %q): %v", tenant, user, err)
	}
	return got
}

// roomList lists every entry of a room through pages of limit users,
// failing when a page exceeds the limit or splits a user.
func (f *fixture) roomList(t *testing.T, tenant, room string, limit int) []store.Presence {
	t.Helper()
	var (
		all    []store.Presence
		cursor string
	)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("ListPresence(%q, %q): no end", tenant, room)
		}
		got, next, err := f.s.ListPresence(f.ctx, tenant, room, store.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("ListPresence(%q, %q, %q): %v", tenant, room, cursor, err)
		}
		users := usersOf(got)
		if limit > 0 && len(users) > limit {
			t.Fatalf("ListPresence(%q, %q): page of %d users, limit %d", tenant, room, len(users), limit)
		}
		if len(all) > 0 && len(got) > 0 && all[len(all)-1].UserID == got[0].UserID {
			t.Fatalf("ListPresence(%q, %q): user %q split across pages", tenant, room, got[0].UserID)
		}
		all = append(all, got...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

// usersOf returns the distinct user ids of entries, in order.
func usersOf(entries []store.Presence) []string {
	var out []string
	for _, e := range entries {
		if len(out) == 0 || out[len(out)-1] != e.UserID {
			out = append(out, e.UserID)
		}
	}
	return out
}

func keysOf(entries []store.Presence) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.UserID + "/" + e.ConnID
	}
	return out
}

func (f *fixture) count(t *testing.T, tenant, room string) int {
	t.Helper()
	n, err := f.s.CountPresence(f.ctx, tenant, room)
	if err != nil {
		t.Fatalf("CountPresence(%q, %q): %v", tenant, room, err)
	}
	return n
}

// equalPresence compares two entries with times as instants.
func equalPresence(t *testing.T, got, want store.Presence) {
	t.Helper()
	g, w := got, want
	g.LastSeen, g.LastActive, g.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	w.LastSeen, w.LastActive, w.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	if g != w || !got.LastSeen.Equal(want.LastSeen) || !got.LastActive.Equal(want.LastActive) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("presence mismatch:\n got %+v\nwant %+v", got, want)
	}
}

func testSessionRoundTrip(t *testing.T, f *fixture) {
	want := f.session("acme", "alice", "tab1", "order-123", "dashboard")
	got := f.putSession(t, store.SessionWrite{Session: want})
	if !slices.Equal(got.Rooms, []string{"dashboard", "order-123"}) {
		t.Errorf("returned rooms %v, want sorted [dashboard order-123]", got.Rooms)
	}
	list := f.userSessions(t, "acme", "alice")
	if len(list) != 1 {
		t.Fatalf("UserSessions = %d sessions, want 1", len(list))
	}
	equalPresence(t, list[0].Presence, want.Presence)
	if list[0].Version != got.Version || !slices.Equal(list[0].Rooms, got.Rooms) {
		t.Errorf("stored session %+v, want version %d rooms %v", list[0], got.Version, got.Rooms)
	}
	for _, room := range []string{"order-123", "dashboard"} {
		entries := f.roomList(t, "acme", room, 0)
		if len(entries) != 1 {
			t.Fatalf("room %q has %d entries, want 1", room, len(entries))
		}
		e := want.Presence
		e.Room = room
		equalPresence(t, entries[0], e)
	}
	// A bare session: optional fields empty.
	bare := store.Session{Presence: store.Presence{Tenant: "acme", UserID: "bob", ConnID: "b1", Status: store.StatusAway,
		LastSeen: f.clock.Now(), LastActive: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Minute)}}
	f.putSession(t, store.SessionWrite{Session: bare})
	list = f.userSessions(t, "acme", "bob")
	if len(list) != 1 || len(list[0].Rooms) != 0 {
		t.Fatalf("UserSessions(bob) = %+v", list)
	}
	equalPresence(t, list[0].Presence, bare.Presence)
}

func testPresenceMultiTab(t *testing.T, f *fixture) {
	for _, s := range []store.Session{
		f.session("acme", "alice", "a1", "order-123"),
		f.session("acme", "alice", "a2", "order-123"),
		f.session("acme", "bob", "b1", "order-123"),
		f.session("acme", "bob", "b2", "order-123"),
		f.session("acme", "carol", "c1", "dashboard"),
	} {
		f.putSession(t, store.SessionWrite{Session: s})
	}
	entries := f.roomList(t, "acme", "order-123", 0)
	if got := keysOf(entries); !slices.Equal(got, []string{"alice/a1", "alice/a2", "bob/b1", "bob/b2"}) {
		t.Fatalf("room entries = %v", got)
	}
	if n := f.count(t, "acme", "order-123"); n != 2 {
		t.Errorf("CountPresence(order-123) = %d, want 2 users", n)
	}
	if n := f.count(t, "acme", ""); n != 3 {
		t.Errorf("CountPresence(tenant) = %d, want 3 users", n)
	}
	if got := keysOf(f.roomList(t, "acme", "", 1)); !slices.Equal(got, []string{"alice/a1", "alice/a2", "bob/b1", "bob/b2", "carol/c1"}) {
		t.Errorf("tenant sessions = %v", got)
	}
	if got := f.userSessions(t, "acme", "alice"); len(got) != 2 || got[0].ConnID != "a1" || got[1].ConnID != "a2" {
		t.Errorf("UserSessions(alice) = %+v", got)
	}
	// A hidden tab is listed by UserSessions but in no room.
	hidden := f.userSessions(t, "acme", "bob")[1]
	hidden.Status = store.StatusOffline
	f.putSession(t, store.SessionWrite{Session: hidden})
	if got := keysOf(f.roomList(t, "acme", "order-123", 0)); !slices.Equal(got, []string{"alice/a1", "alice/a2", "bob/b1"}) {
		t.Errorf("room entries with b2 hidden = %v", got)
	}
	if n := len(f.userSessions(t, "acme", "bob")); n != 2 {
		t.Errorf("UserSessions(bob) = %d sessions, want 2 (hidden included)", n)
	}
}

func testSessionVersion(t *testing.T, f *fixture) {
	s := f.session("acme", "alice", "a1", "order-123")
	v1 := f.putSession(t, store.SessionWrite{Session: s})
	tests := []struct {
		name    string
		version int64
	}{
		{"create over a live session", 0},
		{"stale version", v1.Version - 1},
		{"unknown version", v1.Version + 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := v1
			w.Version = tt.version
			w.Activity = "lost update"
			if _, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: w}); !errors.Is(err, store.ErrConditionFailed) {
				t.Fatalf("PutSession = %v, want ErrConditionFailed", err)
			}
		})
	}
	next := v1
	next.Activity = "Viewing"
	v2 := f.putSession(t, store.SessionWrite{Session: next})
	if v2.Version <= v1.Version {
		t.Errorf("version went from %d to %d", v1.Version, v2.Version)
	}
	got := f.userSessions(t, "acme", "alice")
	if len(got) != 1 || got[0].Activity != "Viewing" || got[0].Version != v2.Version {
		t.Fatalf("stored = %+v", got)
	}
	if e := f.roomList(t, "acme", "order-123", 0); len(e) != 1 || e[0].Activity != "Viewing" {
		t.Errorf("room entry = %+v, want the new activity", e)
	}
	// A session of another connection of the same user is independent.
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a2")})
}

// testSessionHiddenOnConnection: a session write with SetHidden also
// sets the connection record's Hidden to the session's (Status offline),
// and leaves the rest of the record as it was; a write without it leaves
// the flag alone. The flag outlives the session. Setting it needs the
// live connection: without it the write fails with ErrNotFound and
// stores nothing.
func testSessionHiddenOnConnection(t *testing.T, f *fixture) {
	c := f.conn("a1", "acme", "alice", time.Hour)
	f.put(t, c)
	hidden := func(t *testing.T, want bool) {
		t.Helper()
		got, err := f.s.GetConnection(f.ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		c := c
		c.Hidden = want
		equalConn(t, got, c)
	}
	ses := f.session("acme", "alice", "a1", "r1")
	ses = f.putSession(t, store.SessionWrite{Session: ses})
	hidden(t, false)
	ses.Status = store.StatusOffline
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetHidden: true})
	hidden(t, true)
	ses.Activity = "Viewing"
	ses = f.putSession(t, store.SessionWrite{Session: ses})
	hidden(t, true)
	if _, _, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil {
		t.Fatal(err)
	}
	hidden(t, true)
	ses = f.session("acme", "alice", "a1")
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetHidden: true})
	hidden(t, false)

	if _, _, err := f.s.DeleteConnection(f.ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	w := ses
	w.Status = store.StatusOffline
	if got, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: w, SetHidden: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutSession(SetHidden) without the connection = %+v, %v; want ErrNotFound", got, err)
	}
	if got := f.userSessions(t, "acme", "alice"); len(got) != 1 || got[0].Version != ses.Version || got[0].Hidden() {
		t.Errorf("after a refused write, sessions = %+v; want the one before", got)
	}
}

// testSessionRoomsOnConnection: a record put without RoomsKnown reads
// without it (an earlier version's record: its rooms are not known), one
// put with it and no room reads so. A session write with SetRooms also
// sets the connection record's Rooms to the session's, and RoomsKnown,
// together with Hidden when both are set, and leaves the rest of the
// record as it was; a write without it leaves them alone. The rooms
// outlive the session, and a session in no room leaves the record knowing
// so, not back to unknown. Setting them needs the live connection:
// without it the write fails with ErrNotFound and stores nothing.
func testSessionRoomsOnConnection(t *testing.T, f *fixture) {
	fresh := f.conn("a2", "acme", "alice", time.Hour)
	fresh.RoomsKnown = true
	f.put(t, fresh)
	if got, err := f.s.GetConnection(f.ctx, "a2"); err != nil {
		t.Fatal(err)
	} else {
		equalConn(t, got, fresh)
	}
	c := f.conn("a1", "acme", "alice", time.Hour)
	f.put(t, c)
	if got, err := f.s.GetConnection(f.ctx, "a1"); err != nil {
		t.Fatal(err)
	} else {
		equalConn(t, got, c)
	}
	record := func(t *testing.T, hidden bool, rooms ...string) {
		t.Helper()
		got, err := f.s.GetConnection(f.ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		c := c
		c.Hidden, c.Rooms, c.RoomsKnown = hidden, rooms, true
		equalConn(t, got, c)
	}
	ses := f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a1", "r1", "r2"), SetRooms: true})
	record(t, false, "r1", "r2")
	ses.Rooms = []string{"r2"}
	ses.Status = store.StatusOffline
	ses = f.putSession(t, store.SessionWrite{Session: ses, Leave: []string{"r1"}, SetRooms: true, SetHidden: true})
	record(t, true, "r2")
	ses.Rooms = []string{"r2", "r3"}
	ses = f.putSession(t, store.SessionWrite{Session: ses})
	record(t, true, "r2")
	if _, _, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil {
		t.Fatal(err)
	}
	record(t, true, "r2")
	ses = f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a1"), SetRooms: true})
	record(t, true)
	ses = f.putSession(t, store.SessionWrite{Session: ses})
	record(t, true)

	if _, _, err := f.s.DeleteConnection(f.ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	w := ses
	w.Rooms = []string{"r1"}
	if got, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: w, SetRooms: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutSession(SetRooms) without the connection = %+v, %v; want ErrNotFound", got, err)
	}
	if got := f.userSessions(t, "acme", "alice"); len(got) != 1 || got[0].Version != ses.Version || len(got[0].Rooms) != 0 {
		t.Errorf("after a refused write, sessions = %+v; want the one before", got)
	}
}

// testSessionHiddenBeforeOnConnection: a session write with HiddenBefore
// sets the connection record's HiddenBefore, alone or together with
// Hidden and Rooms (cleared and set in the same write), and leaves the
// rest of the record as it was. No later write clears it, a hidden one
// included, and it outlives the session. A record written with it reads
// back with it. Setting it needs the live connection: without it the
// write fails with ErrNotFound and stores nothing.
func testSessionHiddenBeforeOnConnection(t *testing.T, f *fixture) {
	c := f.conn("a1", "acme", "alice", time.Hour)
	f.put(t, c)
	record := func(t *testing.T, hidden, before bool, rooms ...string) {
		t.Helper()
		got, err := f.s.GetConnection(f.ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		c := c
		c.Hidden, c.HiddenBefore, c.Rooms, c.RoomsKnown = hidden, before, rooms, true
		equalConn(t, got, c)
	}
	ses := f.session("acme", "alice", "a1", "r1")
	ses.Status = store.StatusOffline
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetHidden: true, SetRooms: true})
	record(t, true, false, "r1")
	if _, _, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil {
		t.Fatal(err)
	}
	ses = f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a1", "r2"), SetHidden: true, SetRooms: true, HiddenBefore: true})
	record(t, false, true, "r2")
	ses.Activity = "Viewing"
	ses = f.putSession(t, store.SessionWrite{Session: ses})
	record(t, false, true, "r2")
	ses.Status = store.StatusOffline
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetHidden: true})
	record(t, true, true, "r2")
	if _, _, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil {
		t.Fatal(err)
	}
	record(t, true, true, "r2")
	ses = f.session("acme", "alice", "a1", "r2")
	ses.Status = store.StatusOffline
	ses = f.putSession(t, store.SessionWrite{Session: ses, HiddenBefore: true})
	record(t, true, true, "r2")

	c2 := f.conn("a2", "acme", "alice", time.Hour)
	c2.Hidden, c2.HiddenBefore, c2.Rooms, c2.RoomsKnown = true, true, []string{"r1"}, true
	f.roundTrip(t, c2)

	w := ses
	w.Activity = "Reviewing"
	f.refusedWithoutConnection(t, ses, "HiddenBefore", store.SessionWrite{Session: w, HiddenBefore: true})
}

// roundTrip puts c and checks that it reads back as put.
func (f *fixture) roundTrip(t *testing.T, c store.Connection) {
	t.Helper()
	f.put(t, c)
	f.wantConn(t, c)
}

// wantConn checks that the connection record of want.ID reads as want.
func (f *fixture) wantConn(t *testing.T, want store.Connection) {
	t.Helper()
	got, err := f.s.GetConnection(f.ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalConn(t, got, want)
}

// refusedWithoutConnection removes the connection of ses, the stored
// session, and checks that w, a write over ses that sets what on the
// record, fails with ErrNotFound and stores nothing.
func (f *fixture) refusedWithoutConnection(t *testing.T, ses store.Session, what string, w store.SessionWrite) {
	t.Helper()
	if _, _, err := f.s.DeleteConnection(f.ctx, ses.ConnID); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.PutSession(f.ctx, w); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutSession(%s) without the connection = %+v, %v; want ErrNotFound", what, got, err)
	}
	if got := f.userSessions(t, ses.Tenant, ses.UserID); len(got) != 1 || got[0].Version != ses.Version {
		t.Errorf("after a refused write, sessions = %+v; want the one before", got)
	}
}

// testSessionHiddenRoomsOnConnection: a session write with SetHiddenRooms
// sets the connection record's HiddenRooms, sorted and without repeats,
// and HiddenRoomsKnown, together with HiddenBefore and Rooms or alone;
// an empty list is kept as known, apart from a record without one, and
// SetHiddenRooms without HiddenRoomsKnown removes the list. Writes without
// it leave the list as it was, and it outlives the session. A record
// written with it reads back with it. Setting it needs the live
// connection: without it the write fails with ErrNotFound and stores
// nothing.
func testSessionHiddenRoomsOnConnection(t *testing.T, f *fixture) {
	c := f.conn("a1", "acme", "alice", time.Hour)
	f.put(t, c)
	record := func(t *testing.T, known bool, hidden []string, rooms ...string) {
		t.Helper()
		c := c
		c.HiddenBefore, c.Rooms, c.RoomsKnown = true, rooms, true
		c.HiddenRooms, c.HiddenRoomsKnown = hidden, known
		f.wantConn(t, c)
	}
	ses := f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a1", "r3"), SetRooms: true, HiddenBefore: true,
		SetHiddenRooms: true, HiddenRooms: []string{"r2", "r1", "r2"}, HiddenRoomsKnown: true})
	record(t, true, []string{"r1", "r2"}, "r3")
	ses.Activity = "Viewing"
	ses = f.putSession(t, store.SessionWrite{Session: ses})
	record(t, true, []string{"r1", "r2"}, "r3")
	ses.Rooms = []string{"r1", "r3"}
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetRooms: true, SetHiddenRooms: true, HiddenRooms: []string{"r2"}, HiddenRoomsKnown: true})
	record(t, true, []string{"r2"}, "r1", "r3")
	ses.Rooms = []string{"r1", "r2", "r3"}
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetRooms: true, SetHiddenRooms: true, HiddenRooms: []string{}, HiddenRoomsKnown: true})
	record(t, true, nil, "r1", "r2", "r3")
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetHiddenRooms: true, HiddenRooms: []string{"r4"}, HiddenRoomsKnown: true})
	record(t, true, []string{"r4"}, "r1", "r2", "r3")
	if _, _, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil {
		t.Fatal(err)
	}
	record(t, true, []string{"r4"}, "r1", "r2", "r3")
	ses = f.session("acme", "alice", "a1")
	ses = f.putSession(t, store.SessionWrite{Session: ses, SetRooms: true, SetHiddenRooms: true})
	record(t, false, nil)

	c2 := f.conn("a2", "acme", "alice", time.Hour)
	c2.HiddenBefore, c2.RoomsKnown, c2.HiddenRooms, c2.HiddenRoomsKnown = true, true, []string{"r1", "r2"}, true
	f.roundTrip(t, c2)
	c2.HiddenRooms = nil
	f.roundTrip(t, c2)

	w := ses
	w.Activity = "Reviewing"
	f.refusedWithoutConnection(t, ses, "SetHiddenRooms",
		store.SessionWrite{Session: w, SetHiddenRooms: true, HiddenRooms: []string{"r1"}, HiddenRoomsKnown: true})
}

// testSessionNeedsConnection: a write that creates a session (Version 0)
// requires its connection's record to be live and to belong to the
// session's tenant and user; otherwise it fails with ErrNotFound and
// stores nothing. This is what keeps a frame that read its connection
// just before the connection's $disconnect ran (which removes the
// connection, then its session) from bringing the session back.
func testSessionNeedsConnection(t *testing.T, f *fixture) {
	ses := f.session("acme", "alice", "a1", "r1")
	away := f.clock.Now().Add(time.Minute)
	refused := func(t *testing.T, w store.SessionWrite) {
		t.Helper()
		if got, err := f.s.PutSession(f.ctx, w); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PutSession = %+v, %v; want ErrNotFound", got, err)
		}
		if got := f.userSessions(t, "acme", "alice"); len(got) != 0 {
			t.Errorf("a refused write left sessions %+v", got)
		}
		if got := f.roomList(t, "acme", "r1", 0); len(got) != 0 {
			t.Errorf("a refused write left room entries %+v", got)
		}
		if got, err := f.s.ExpiredAway(f.ctx, away.Add(time.Hour), 10); err != nil || len(got) != 0 {
			t.Errorf("a refused write left alarms %+v, %v", got, err)
		}
	}
	t.Run("never registered", func(t *testing.T) {
		refused(t, store.SessionWrite{Session: ses, AwayAt: away})
	})
	for _, tt := range []struct{ name, tenant, user string }{
		{"connection of another user", "acme", "bob"},
		{"connection of another tenant", "globex", "alice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.put(t, f.conn("a1", tt.tenant, tt.user, time.Hour))
			refused(t, store.SessionWrite{Session: ses, AwayAt: away})
		})
	}
	t.Run("expired connection", func(t *testing.T) {
		f.put(t, f.conn("a1", "acme", "alice", time.Second))
		f.clock.Advance(time.Second)
		ses = f.session("acme", "alice", "a1", "r1")
		refused(t, store.SessionWrite{Session: ses, AwayAt: away})
	})
	f.put(t, f.conn("a1", "acme", "alice", time.Hour))
	v1 := f.putSession(t, store.SessionWrite{Session: ses, AwayAt: away})
	// Over a live session, creating fails on the session as before.
	if _, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: ses}); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("PutSession(version 0) over a live session = %v, want ErrConditionFailed", err)
	}
	// $disconnect: the connection goes first, then its session. A write
	// in between that read the session refreshes it (its version holds)
	// and the session's removal takes it along; once the session is
	// gone, the frame reads no session and its write creates none.
	if _, _, err := f.s.DeleteConnection(f.ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	next := v1
	next.Activity = "still typing"
	f.putSession(t, store.SessionWrite{Session: next})
	if _, live, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil || !live {
		t.Fatalf("DeleteSession = %v, %v", live, err)
	}
	refused(t, store.SessionWrite{Session: ses, AwayAt: away})
	// Expired and then claimed, a session is created again only while
	// its connection is live.
	f.put(t, f.conn("a1", "acme", "alice", time.Hour))
	f.putSession(t, store.SessionWrite{Session: ses})
	if got := f.userSessions(t, "acme", "alice"); len(got) != 1 {
		t.Errorf("UserSessions after the connection came back = %+v, want one", got)
	}
}

func testJoinLeaveRooms(t *testing.T, f *fixture) {
	s := f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a1", "a", "b", "c")})
	s.Rooms = []string{"b", "d"}
	s = f.putSession(t, store.SessionWrite{Session: s, Leave: []string{"a", "c"}})
	tests := []struct {
		room string
		want int
	}{{"a", 0}, {"b", 1}, {"c", 0}, {"d", 1}}
	for _, tt := range tests {
		t.Run(tt.room, func(t *testing.T) {
			if got := len(f.roomList(t, "acme", tt.room, 0)); got != tt.want {
				t.Errorf("room %q has %d entries, want %d", tt.room, got, tt.want)
			}
		})
	}
	if got := f.userSessions(t, "acme", "alice"); len(got) != 1 || !slices.Equal(got[0].Rooms, []string{"b", "d"}) {
		t.Errorf("session rooms = %+v, want [b d]", got)
	}
	bad := s
	bad.Rooms = []string{"b"}
	if _, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: bad, Leave: []string{"b"}}); err == nil {
		t.Error("PutSession keeping and leaving the same room succeeded")
	}
	if _, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: s, Leave: []string{"x", "x"}}); err == nil {
		t.Error("PutSession leaving the same room twice succeeded")
	}
}

func testPresencePagination(t *testing.T, f *fixture) {
	const users = 23
	var want []string
	for i := range users {
		u := fmt.Sprintf("user-%02d", i)
		tabs := 1 + i%3
		for j := range tabs {
			c := fmt.Sprintf("conn-%02d-%d", i, j)
			s := f.session("acme", u, c, "big")
			if i%5 == 4 && j == 0 {
				s.Status = store.StatusOffline // a hidden tab is skipped
			} else {
				want = append(want, u+"/"+c)
			}
			f.putSession(t, store.SessionWrite{Session: s})
		}
	}
	for _, limit := range []int{0, 1, 5, 7, 23, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			if got := keysOf(f.roomList(t, "acme", "big", limit)); !slices.Equal(got, want) {
				t.Errorf("pages list\n%v\nwant\n%v", got, want)
			}
		})
	}
	page, next, err := f.s.ListPresence(f.ctx, "acme", "big", store.Page{Limit: 4})
	if err != nil || len(usersOf(page)) != 4 || next == "" {
		t.Fatalf("first page = %d users, next %q, %v", len(usersOf(page)), next, err)
	}
	visible := map[string]bool{}
	for _, k := range want {
		visible[k[:len("user-00")]] = true
	}
	if n := f.count(t, "acme", "big"); n != len(visible) {
		t.Errorf("CountPresence = %d, want %d", n, len(visible))
	}
	if _, _, err := f.s.ListPresence(f.ctx, "acme", "big", store.Page{Cursor: "%%bad%%"}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Errorf("ListPresence with a garbage cursor = %v, want ErrInvalidCursor", err)
	}
	if got, next, err := f.s.ListPresence(f.ctx, "acme", "empty", store.Page{}); err != nil || len(got) != 0 || next != "" {
		t.Errorf("empty room = %v, %q, %v", got, next, err)
	}
}

func testPresenceExpiry(t *testing.T, f *fixture) {
	s := f.session("acme", "alice", "a1", "order-123")
	s.ExpiresAt = f.clock.Now().Add(10 * time.Second)
	f.putSession(t, store.SessionWrite{Session: s})
	f.clock.Advance(9 * time.Second)
	if n := len(f.userSessions(t, "acme", "alice")); n != 1 {
		t.Fatalf("one second before expiry: %d sessions", n)
	}
	f.clock.Advance(time.Second) // ExpiresAt == now: expired
	if got := f.userSessions(t, "acme", "alice"); len(got) != 0 {
		t.Errorf("UserSessions lists expired %+v", got)
	}
	if got := f.roomList(t, "acme", "order-123", 0); len(got) != 0 {
		t.Errorf("room lists expired %+v", got)
	}
	if n := f.count(t, "acme", "order-123"); n != 0 {
		t.Errorf("CountPresence counts expired: %d", n)
	}
	// Listed apart, as it was stored, until it is claimed or replaced.
	live, expired, err := f.s.UserSessionsWithExpired(f.ctx, "acme", "alice")
	if err != nil || len(live) != 0 || len(expired) != 1 || expired[0].ConnID != "a1" || !slices.Equal(expired[0].Rooms, []string{"order-123"}) {
		t.Errorf("UserSessionsWithExpired after expiry = %+v, %+v, %v; want none live and a1 expired in order-123", live, expired, err)
	}
	// Refreshing an expired session fails; creating it anew works.
	stale := s
	stale.Version = 1
	if _, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: stale}); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("refresh of an expired session = %v, want ErrConditionFailed", err)
	}
	again := f.session("acme", "alice", "a1", "dashboard")
	f.putSession(t, store.SessionWrite{Session: again})
	if got := f.userSessions(t, "acme", "alice"); len(got) != 1 || !slices.Equal(got[0].Rooms, []string{"dashboard"}) {
		t.Errorf("recreated session = %+v", got)
	}
	if got := f.roomList(t, "acme", "order-123", 0); len(got) != 0 {
		t.Errorf("old room lists %+v after the session was recreated elsewhere", got)
	}
	if live, expired, err := f.s.UserSessionsWithExpired(f.ctx, "acme", "alice"); err != nil || len(live) != 1 || len(expired) != 0 {
		t.Errorf("UserSessionsWithExpired after the session was recreated = %+v, %+v, %v; want it live alone", live, expired, err)
	}
}

func testDeleteExpiredSession(t *testing.T, f *fixture) {
	short := f.session("acme", "alice", "a1", "order-123")
	short.ExpiresAt = f.clock.Now().Add(30 * time.Second)
	f.putSession(t, store.SessionWrite{Session: short, AwayAt: f.clock.Now().Add(time.Hour)})
	other := f.session("acme", "alice", "a2", "order-123")
	other.ExpiresAt = f.clock.Now().Add(40 * time.Second)
	f.putSession(t, store.SessionWrite{Session: other})
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "bob", "b1", "order-123")}) // 90 s

	if got, err := f.s.ExpiredSessions(f.ctx, f.clock.Now(), 10); err != nil || len(got) != 0 {
		t.Fatalf("ExpiredSessions before expiry = %+v, %v", got, err)
	}
	f.clock.Advance(45 * time.Second)
	expired, err := f.s.ExpiredSessions(f.ctx, f.clock.Now(), 10)
	if err != nil {
		t.Fatalf("ExpiredSessions: %v", err)
	}
	var ids []string
	for _, s := range expired {
		ids = append(ids, s.ConnID)
	}
	if !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Fatalf("ExpiredSessions = %v, want [a1 a2] oldest first", ids)
	}
	if !slices.Equal(expired[0].Rooms, []string{"order-123"}) || expired[0].Version == 0 {
		t.Errorf("listed session lacks rooms or version: %+v", expired[0])
	}
	if got, _ := f.s.ExpiredSessions(f.ctx, f.clock.Now(), 1); len(got) != 1 || got[0].ConnID != "a1" {
		t.Errorf("ExpiredSessions with limit 1 = %+v", got)
	}

	// a2 is created anew meanwhile: the listed copy must not delete it.
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a2", "order-123")})
	if ok, err := f.s.DeleteExpiredSession(f.ctx, expired[1], f.clock.Now()); err != nil || ok {
		t.Fatalf("DeleteExpiredSession(refreshed) = %v, %v; want false", ok, err)
	}
	if ok, err := f.s.DeleteExpiredSession(f.ctx, expired[0], f.clock.Now()); err != nil || !ok {
		t.Fatalf("DeleteExpiredSession(a1) = %v, %v; want true", ok, err)
	}
	if ok, err := f.s.DeleteExpiredSession(f.ctx, expired[0], f.clock.Now()); err != nil || ok {
		t.Errorf("second DeleteExpiredSession(a1) = %v, %v; want false", ok, err)
	}
	live := f.userSessions(t, "acme", "bob")[0]
	if ok, err := f.s.DeleteExpiredSession(f.ctx, live, f.clock.Now()); err != nil || ok {
		t.Errorf("DeleteExpiredSession(live) = %v, %v; want false", ok, err)
	}
	if got := keysOf(f.roomList(t, "acme", "order-123", 0)); !slices.Equal(got, []string{"alice/a2", "bob/b1"}) {
		t.Errorf("room after the sweep = %v", got)
	}
	f.clock.Advance(2 * time.Hour)
	alarms, err := f.s.ExpiredAway(f.ctx, f.clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alarms {
		if a.ConnID == "a1" {
			t.Errorf("alarm of the deleted session remains: %+v", a)
		}
	}
	if got, err := f.s.ExpiredSessions(f.ctx, f.clock.Now(), 10); err != nil || len(got) != 2 {
		t.Errorf("ExpiredSessions later = %d sessions, %v; want a2 and b1", len(got), err)
	}
}

// testRoomEntriesOf: a connection's entries are found by room, live and
// once expired, ordered by room; rooms without one, and other users' or
// connections' entries, are not; a removed session leaves none.
func testRoomEntriesOf(t *testing.T, f *fixture) {
	want := f.session("acme", "alice", "a1", "r2", "r1")
	f.putSession(t, store.SessionWrite{Session: want})
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a2", "r1", "r3")})
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "bob", "b1", "r1")})
	check := func(when string) {
		t.Helper()
		got, err := f.s.RoomEntriesOf(f.ctx, "acme", "alice", "a1", []string{"r3", "r2", "none", "r1", "r2"})
		if err != nil {
			t.Fatalf("%s: RoomEntriesOf: %v", when, err)
		}
		if len(got) != 2 {
			t.Fatalf("%s: RoomEntriesOf = %+v, want a1's entries in r1 and r2", when, got)
		}
		for i, room := range []string{"r1", "r2"} {
			e := want.Presence
			e.Room = room
			e.ExpiresAt = time.Unix(e.ExpiresAt.Unix(), 0)
			equalPresence(t, got[i], e)
		}
	}
	check("live")
	f.clock.Advance(2 * time.Minute)
	check("expired")
	if got, err := f.s.RoomEntriesOf(f.ctx, "acme", "alice", "a1", nil); err != nil || len(got) != 0 {
		t.Errorf("RoomEntriesOf(no rooms) = %+v, %v", got, err)
	}
	if got, err := f.s.RoomEntriesOf(f.ctx, "other", "alice", "a1", []string{"r1"}); err != nil || len(got) != 0 {
		t.Errorf("RoomEntriesOf(another tenant) = %+v, %v", got, err)
	}
	if got, err := f.s.RoomEntriesOf(f.ctx, "acme", "bob", "a1", []string{"r1"}); err != nil || len(got) != 0 {
		t.Errorf("RoomEntriesOf(another user) = %+v, %v", got, err)
	}
	if _, err := f.s.RoomEntriesOf(f.ctx, "acme", "alice", "a1", []string{"bad#room"}); err == nil {
		t.Error("RoomEntriesOf(a room with '#') succeeded")
	}
	if _, _, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.RoomEntriesOf(f.ctx, "acme", "alice", "a1", []string{"r1", "r2"}); err != nil || len(got) != 0 {
		t.Errorf("RoomEntriesOf after DeleteSession = %+v, %v; want none", got, err)
	}
}

func testDeleteSession(t *testing.T, f *fixture) {
	s := f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a1", "r1", "r2"), AwayAt: f.clock.Now().Add(time.Minute)})
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a2", "r1")})
	got, live, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1")
	if err != nil || !live || got.Version != s.Version || !slices.Equal(got.Rooms, []string{"r1", "r2"}) {
		t.Fatalf("DeleteSession = %+v, %v, %v", got, live, err)
	}
	if got := keysOf(f.roomList(t, "acme", "r1", 0)); !slices.Equal(got, []string{"alice/a2"}) {
		t.Errorf("r1 = %v, want [alice/a2]", got)
	}
	if got := f.roomList(t, "acme", "r2", 0); len(got) != 0 {
		t.Errorf("r2 = %+v, want empty", got)
	}
	f.clock.Advance(time.Hour)
	if alarms, _ := f.s.ExpiredAway(f.ctx, f.clock.Now(), 10); len(alarms) != 0 {
		t.Errorf("alarm left behind: %+v", alarms)
	}
	tests := []struct{ name, conn string }{{"again", "a1"}, {"never", "zz"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, live, err := f.s.DeleteSession(f.ctx, "acme", "alice", tt.conn); err != nil || live || got.ConnID != "" {
				t.Errorf("DeleteSession(%q) = %+v, %v, %v; want zero, false, nil", tt.conn, got, live, err)
			}
		})
	}
	// An expired session is removed and reported as not live.
	got, live, err = f.s.DeleteSession(f.ctx, "acme", "alice", "a2")
	if err != nil || live || got.ConnID != "a2" {
		t.Errorf("DeleteSession(expired) = %+v, %v, %v; want it, false, nil", got, live, err)
	}
	if got, _ := f.s.ExpiredSessions(f.ctx, f.clock.Now(), 10); len(got) != 0 {
		t.Errorf("expired listing after delete = %+v", got)
	}
}

func testAwayAlarm(t *testing.T, f *fixture) {
	start := f.clock.Now()
	alice, bob := f.session("acme", "alice", "a1", "r1"), f.session("acme", "bob", "b1", "r1")
	alice.ExpiresAt, bob.ExpiresAt = start.Add(time.Hour), start.Add(time.Hour)
	s := f.putSession(t, store.SessionWrite{Session: alice, AwayAt: start.Add(5 * time.Minute)})
	f.putSession(t, store.SessionWrite{Session: bob, AwayAt: start.Add(3 * time.Minute)})
	if got, err := f.s.ExpiredAway(f.ctx, start.Add(2*time.Minute), 10); err != nil || len(got) != 0 {
		t.Fatalf("ExpiredAway early = %+v, %v", got, err)
	}
	f.clock.Advance(5 * time.Minute)
	got, err := f.s.ExpiredAway(f.ctx, f.clock.Now(), 10)
	if err != nil || len(got) != 2 || got[0].ConnID != "b1" || got[1].ConnID != "a1" {
		t.Fatalf("ExpiredAway = %+v, %v; want b1 then a1", got, err)
	}
	want := store.AwayAlarm{Tenant: "acme", UserID: "alice", ConnID: "a1", At: start.Add(5 * time.Minute)}
	if a := got[1]; a.Tenant != want.Tenant || a.UserID != want.UserID || !a.At.Equal(want.At) {
		t.Errorf("alarm = %+v, want %+v", a, want)
	}
	// Alice is active again: the alarm moves, and the listed one is stale.
	s.LastActive = f.clock.Now()
	s = f.putSession(t, store.SessionWrite{Session: s, AwayAt: f.clock.Now().Add(5 * time.Minute)})
	if ok, err := f.s.ClearAway(f.ctx, got[1], f.clock.Now()); err != nil || ok {
		t.Errorf("ClearAway(stale) = %v, %v; want false", ok, err)
	}
	if ok, err := f.s.ClearAway(f.ctx, got[0], f.clock.Now()); err != nil || !ok {
		t.Errorf("ClearAway(b1) = %v, %v; want true", ok, err)
	}
	if ok, err := f.s.ClearAway(f.ctx, got[0], f.clock.Now()); err != nil || ok {
		t.Errorf("second ClearAway(b1) = %v, %v; want false", ok, err)
	}
	if got, _ := f.s.ExpiredAway(f.ctx, f.clock.Now(), 10); len(got) != 0 {
		t.Errorf("ExpiredAway after clearing = %+v", got)
	}
	// A refresh without AwayAt keeps the alarm.
	f.clock.Advance(time.Minute)
	s.LastSeen, s.ExpiresAt = f.clock.Now(), f.clock.Now().Add(time.Hour)
	f.putSession(t, store.SessionWrite{Session: s})
	f.clock.Advance(4 * time.Minute)
	got, err = f.s.ExpiredAway(f.ctx, f.clock.Now(), 10)
	if err != nil || len(got) != 1 || got[0].ConnID != "a1" {
		t.Fatalf("ExpiredAway after refresh = %+v, %v", got, err)
	}
	if ok, err := f.s.ClearAway(f.ctx, got[0], got[0].At.Add(-time.Second)); err != nil || ok {
		t.Errorf("ClearAway before due = %v, %v; want false", ok, err)
	}
}

// testAwayClaimedThenRearmed: what is left of a claimed alarm (the
// DynamoDB store keeps it, marked and out of the index, so that a
// retried claim can prove itself) is invisible: it is listed nowhere, is
// not claimed again, and does not keep the connection from arming a new
// alarm, even one due at the same second.
func testAwayClaimedThenRearmed(t *testing.T, f *fixture) {
	start := f.clock.Now()
	ses := f.session("acme", "alice", "a1", "r1")
	ses.ExpiresAt = start.Add(time.Hour)
	due := start.Add(time.Minute)
	ses = f.putSession(t, store.SessionWrite{Session: ses, AwayAt: due})
	f.clock.Advance(2 * time.Minute)
	claim := func(step string) {
		t.Helper()
		got, err := f.s.ExpiredAway(f.ctx, f.clock.Now(), 10)
		if err != nil || len(got) != 1 || got[0].ConnID != "a1" || !got[0].At.Equal(due) {
			t.Fatalf("%s: ExpiredAway = %+v, %v; want the alarm of a1 due at %s", step, got, err, due)
		}
		if ok, err := f.s.ClearAway(f.ctx, got[0], f.clock.Now()); err != nil || !ok {
			t.Fatalf("%s: ClearAway = %v, %v; want true", step, ok, err)
		}
		if ok, err := f.s.ClearAway(f.ctx, got[0], f.clock.Now()); err != nil || ok {
			t.Errorf("%s: second ClearAway = %v, %v; want false", step, ok, err)
		}
		if got, err := f.s.ExpiredAway(f.ctx, f.clock.Now(), 10); err != nil || len(got) != 0 {
			t.Errorf("%s: ExpiredAway after the claim = %+v, %v; want none", step, got, err)
		}
	}
	claim("first alarm")
	// Re-armed at the same second: a new alarm, claimed anew.
	ses.LastSeen = f.clock.Now()
	ses = f.putSession(t, store.SessionWrite{Session: ses, AwayAt: due})
	claim("alarm re-armed at the same time")
	// A refresh without AwayAt does not bring a claimed alarm back.
	ses.LastSeen = f.clock.Now()
	ses = f.putSession(t, store.SessionWrite{Session: ses})
	if got, err := f.s.ExpiredAway(f.ctx, f.clock.Now(), 10); err != nil || len(got) != 0 {
		t.Errorf("ExpiredAway after a refresh = %+v, %v; want none", got, err)
	}
	// Removing the session and starting a new one arms a fresh alarm.
	if _, live, err := f.s.DeleteSession(f.ctx, "acme", "alice", "a1"); err != nil || !live {
		t.Fatalf("DeleteSession = %v, %v", live, err)
	}
	next := f.session("acme", "alice", "a1", "r1")
	next.ExpiresAt = f.clock.Now().Add(time.Hour)
	due = f.clock.Now().Add(time.Minute)
	f.putSession(t, store.SessionWrite{Session: next, AwayAt: due})
	f.clock.Advance(time.Minute)
	claim("alarm of a new session")
}

func testPresenceTenants(t *testing.T, f *fixture) {
	f.putSession(t, store.SessionWrite{Session: f.session("acme", "alice", "a1", "r1")})
	f.putSession(t, store.SessionWrite{Session: f.session("globex", "alice", "g1", "r1")})
	tests := []struct {
		tenant string
		want   []string
	}{
		{"acme", []string{"alice/a1"}},
		{"globex", []string{"alice/g1"}},
		{"initech", nil},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			if got := keysOf(f.roomList(t, tt.tenant, "r1", 0)); !slices.Equal(got, tt.want) {
				t.Errorf("room r1 of %q = %v, want %v", tt.tenant, got, tt.want)
			}
			if got := len(f.userSessions(t, tt.tenant, "alice")); got != len(tt.want) {
				t.Errorf("UserSessions(%q, alice) = %d, want %d", tt.tenant, got, len(tt.want))
			}
		})
	}
	if _, live, err := f.s.DeleteSession(f.ctx, "globex", "alice", "a1"); err != nil || live {
		t.Errorf("cross-tenant DeleteSession = %v, %v", live, err)
	}
	if n := len(f.userSessions(t, "acme", "alice")); n != 1 {
		t.Errorf("acme session removed by another tenant's delete")
	}
}

func testPresenceInvalidNames(t *testing.T, f *fixture) {
	good := f.session("acme", "alice", "a1", "r1")
	tests := []struct {
		name string
		call func() error
	}{
		{"room with separator", func() error {
			s := good
			s.Rooms = []string{"r#1"}
			_, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: s})
			return err
		}},
		{"empty user", func() error {
			s := good
			s.UserID = ""
			_, err := f.s.PutSession(f.ctx, store.SessionWrite{Session: s})
			return err
		}},
		{"tenant with separator", func() error {
			_, _, err := f.s.ListPresence(f.ctx, "ac#me", "r1", store.Page{})
			return err
		}},
		{"room listing with separator", func() error {
			_, err := f.s.CountPresence(f.ctx, "acme", "r#1")
			return err
		}},
		{"activity without id", func() error {
			return f.s.PutActivity(f.ctx, store.Activity{Tenant: "acme", At: f.clock.Now()})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Error("accepted an invalid name")
			}
		})
	}
	if n := len(f.userSessions(t, "acme", "alice")); n != 0 {
		t.Errorf("an invalid write left %d sessions", n)
	}
}

// activity returns an entry at the fixture's time plus offset.
func (f *fixture) activity(tenant string, i int, action, entityType string, offset time.Duration) store.Activity {
	at := f.clock.Now().Add(offset)
	return store.Activity{
		ID: fmt.Sprintf("act-%03d", i), Tenant: tenant, UserID: "alice", Username: "Alice", Avatar: "https://example.test/a.png",
		Action: action, EntityType: entityType, EntityID: fmt.Sprint(100 + i), EntityName: fmt.Sprintf("Order #%d", 100+i),
		Changes:  []store.ActivityChange{{Field: "status", Before: json.RawMessage(`"new"`), After: json.RawMessage(`{"s":"shipped"}`)}},
		Metadata: json.RawMessage(`{"source":"test"}`),
		At:       at, ExpiresAt: at.Add(30 * 24 * time.Hour),
	}
}

func (f *fixture) putActivity(t *testing.T, a store.Activity) {
	t.Helper()
	if err := f.s.PutActivity(f.ctx, a); err != nil {
		t.Fatalf("PutActivity(%q): %v", a.ID, err)
	}
}

// feed pages through a tenant's feed with the filter and returns the ids.
func (f *fixture) feed(t *testing.T, tenant string, flt store.ActivityFilter, limit int) []string {
	t.Helper()
	var (
		ids    []string
		cursor string
	)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("ListActivity: no end")
		}
		got, next, err := f.s.ListActivity(f.ctx, tenant, flt, store.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("ListActivity: %v", err)
		}
		if limit > 0 && len(got) > limit {
			t.Fatalf("ListActivity: %d entries, limit %d", len(got), limit)
		}
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if next == "" {
			return ids
		}
		cursor = next
	}
}

func testActivityNewestFirst(t *testing.T, f *fixture) {
	const n = 60
	var want []string
	for i := range n {
		// Written out of order; equal times are ordered by id.
		j := (i * 7) % n
		f.putActivity(t, f.activity("acme", j, store.ActionViewed, "order", time.Duration(j/2)*time.Second))
	}
	for i := n - 1; i >= 0; i-- {
		want = append(want, fmt.Sprintf("act-%03d", i))
	}
	got, next, err := f.s.ListActivity(f.ctx, "acme", store.ActivityFilter{}, store.Page{})
	if err != nil {
		t.Fatalf("ListActivity: %v", err)
	}
	if len(got) != 50 || next == "" {
		t.Fatalf("default page = %d entries, next %q; want 50 and a cursor", len(got), next)
	}
	ids := make([]string, len(got))
	for i, a := range got {
		ids[i] = a.ID
	}
	if !slices.Equal(ids, want[:50]) {
		t.Errorf("first page\n%v\nwant\n%v", ids, want[:50])
	}
	e := f.activity("acme", n-1, store.ActionViewed, "order", time.Duration((n-1)/2)*time.Second)
	a := got[0]
	if a.Tenant != e.Tenant || a.UserID != e.UserID || a.Username != e.Username || a.Avatar != e.Avatar || a.Action != e.Action ||
		a.EntityType != e.EntityType || a.EntityID != e.EntityID || a.EntityName != e.EntityName || !a.At.Equal(e.At) ||
		!a.ExpiresAt.Equal(e.ExpiresAt) || len(a.Changes) != 1 || a.Changes[0].Field != "status" ||
		string(a.Changes[0].After) != `{"s":"shipped"}` || string(a.Metadata) != `{"source":"test"}` {
		t.Errorf("entry round trip:\n got %+v\nwant %+v", a, e)
	}
	for _, limit := range []int{0, 7, 60, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			if ids := f.feed(t, "acme", store.ActivityFilter{}, limit); !slices.Equal(ids, want) {
				t.Errorf("feed = %v", ids)
			}
		})
	}
	if got := f.feed(t, "globex", store.ActivityFilter{}, 0); len(got) != 0 {
		t.Errorf("other tenant sees %v", got)
	}
	if _, _, err := f.s.ListActivity(f.ctx, "acme", store.ActivityFilter{}, store.Page{Cursor: "%%bad%%"}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Errorf("ListActivity with a garbage cursor = %v, want ErrInvalidCursor", err)
	}
	// Writing the same entry again keeps one.
	f.putActivity(t, f.activity("acme", 0, store.ActionViewed, "order", 0))
	if ids := f.feed(t, "acme", store.ActivityFilter{}, 0); len(ids) != n {
		t.Errorf("after a repeated write the feed has %d entries, want %d", len(ids), n)
	}
}

func testActivityFilters(t *testing.T, f *fixture) {
	actions := []string{store.ActionCreated, store.ActionUpdated, store.ActionDeleted, store.ActionViewed}
	types := []string{"order", "customer", "item"}
	type entry struct{ id, action, typ, entityID string }
	var all []entry
	for i := range 36 {
		a := f.activity("acme", i, actions[i%4], types[i%3], time.Duration(i)*time.Second)
		f.putActivity(t, a)
		all = append([]entry{{a.ID, a.Action, a.EntityType, a.EntityID}}, all...)
	}
	tests := []struct {
		name string
		flt  store.ActivityFilter
	}{
		{"none", store.ActivityFilter{}},
		{"viewed", store.ActivityFilter{Actions: []string{store.ActionViewed}}},
		{"created or deleted", store.ActivityFilter{Actions: []string{store.ActionCreated, store.ActionDeleted}}},
		{"customers", store.ActivityFilter{EntityTypes: []string{"customer"}}},
		{"updated orders", store.ActivityFilter{Actions: []string{store.ActionUpdated}, EntityTypes: []string{"order"}}},
		{"nothing matches", store.ActivityFilter{EntityTypes: []string{"invoice"}}},
		{"one order", store.ActivityFilter{EntityTypes: []string{"order"}, EntityIDs: []string{"103"}}},
		{"two entities, any type", store.ActivityFilter{EntityIDs: []string{"104", "135"}}},
		{"an id of another type", store.ActivityFilter{EntityTypes: []string{"customer"}, EntityIDs: []string{"103"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, e := range all {
				if tt.flt.Match(store.Activity{Action: e.action, EntityType: e.typ, EntityID: e.entityID}) {
					want = append(want, e.id)
				}
			}
			for _, limit := range []int{0, 2} {
				if got := f.feed(t, "acme", tt.flt, limit); !slices.Equal(got, want) {
					t.Errorf("limit %d: %v, want %v", limit, got, want)
				}
			}
		})
	}
}

func testActivityRetention(t *testing.T, f *fixture) {
	for i := range 10 {
		a := f.activity("acme", i, store.ActionViewed, "order", time.Duration(i)*time.Second)
		if i%2 == 0 {
			a.ExpiresAt = f.clock.Now().Add(time.Hour)
		}
		f.putActivity(t, a)
	}
	if got := f.feed(t, "acme", store.ActivityFilter{}, 0); len(got) != 10 {
		t.Fatalf("feed before retention ends = %d entries", len(got))
	}
	f.clock.Advance(time.Hour)
	got := f.feed(t, "acme", store.ActivityFilter{}, 3)
	if want := []string{"act-009", "act-007", "act-005", "act-003", "act-001"}; !slices.Equal(got, want) {
		t.Errorf("feed after retention = %v, want %v", got, want)
	}
}
