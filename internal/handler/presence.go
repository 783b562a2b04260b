package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/presence"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// PresenceConfig tunes presence, cursors, the activity feed and the
// presence sweeper. The zero value gives the defaults noted on each field.
//
// Away and offline are decided on the server's clock (Deps.Clock), never
// on a client's: a connection is away after AwayTimeout without client
// activity, and offline when no frame at all (not even a heartbeat ping)
// arrived for OfflineTimeout, or when it closed.
type PresenceConfig struct {
	// AwayTimeout is how long a connection may show no client activity
	// before it counts as away. Activity is a presence frame that changes
	// something or says "active": true, and every request of a known type
	// other than ping, presence and cursor. Cursor frames count too, but
	// are stored with the connection's next write. Pings and presence
	// frames that change nothing are heartbeats: they keep the connection
	// online, not active.
	// Default 5 min, the seed's awayTimeout.
	AwayTimeout time.Duration
	// OfflineTimeout is how long a connection may send no frame at all
	// before its presence expires and the sweeper reports it offline.
	// Clients ping every 30 s (the seed's heartbeat), so the default,
	// 90 s, survives one lost heartbeat.
	OfflineTimeout time.Duration
	// RefreshInterval is how often, at most, pings and presence frames
	// that set nothing write a connection's unchanged presence to extend
	// it (changes, and presence frames that set a field or name a room,
	// are written at once).
	// Default 30 s; it is capped at OfflineTimeout/3.
	RefreshInterval time.Duration
	// MaxRooms bounds the rooms one connection is in at once. Default 20.
	MaxRooms int
	// SnapshotLimit is the number of users per presence.snapshot page when
	// the request names none. Default 100; requests may ask for up to
	// maxSnapshotLimit (200), which keeps a reply under the frame limit.
	SnapshotLimit int
	// CursorCacheTTL is how long a warm instance reuses a room's
	// subscriber list for cursor fan-out. Default 2 s: a joiner served by
	// another instance may miss up to 2 s of cursors.
	CursorCacheTTL time.Duration
	// ActivityRetention is how long activity entries are kept. Default 30
	// days.
	ActivityRetention time.Duration
	// SweepBatch bounds the expired sessions, and separately the due away
	// alarms, that one sweeper pass handles. Default 500; the rest waits
	// for the next pass.
	SweepBatch int
	// TrackedConnections bounds the per-connection entries the warm
	// instance keeps to throttle writes, and the rooms whose subscribers it
	// caches. Default 10000.
	TrackedConnections int
}

// Presence limits of the wire protocol.
const (
	maxSnapshotLimit = 200
	maxRoomLen       = 100
	maxLocationLen   = 128
	maxActivityLen   = 256
	maxAvatarLen     = protocol.MaxAvatarBytes
	// presenceAttempts bounds the read-change-write loop of one presence
	// change that loses to a concurrent writer.
	presenceAttempts = 5
)

func (c PresenceConfig) withDefaults() PresenceConfig {
	if c.AwayTimeout <= 0 {
		c.AwayTimeout = 5 * time.Minute
	}
	if c.OfflineTimeout <= 0 {
		c.OfflineTimeout = 90 * time.Second
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = 30 * time.Second
	}
	c.RefreshInterval = min(c.RefreshInterval, c.OfflineTimeout/3)
	if c.MaxRooms <= 0 {
		c.MaxRooms = 20
	}
	c.MaxRooms = min(c.MaxRooms, 90)
	if c.SnapshotLimit <= 0 {
		c.SnapshotLimit = 100
	}
	c.SnapshotLimit = min(c.SnapshotLimit, maxSnapshotLimit)
	if c.CursorCacheTTL <= 0 {
		c.CursorCacheTTL = 2 * time.Second
	}
	if c.ActivityRetention <= 0 {
		c.ActivityRetention = 30 * 24 * time.Hour
	}
	if c.SweepBatch <= 0 {
		c.SweepBatch = 500
	}
	if c.TrackedConnections <= 0 {
		c.TrackedConnections = 10000
	}
	return c
}

// presenceFeature holds the warm state of presence, cursors and the
// activity feed. Its routes, clean-up and sweep are registered on the
// Handler by registerPresence.
type presenceFeature struct {
	h     *Handler
	cfg   PresenceConfig
	conns *connTracker
	rooms *roomCache
}

// registerPresence adds presence, cursors, activity and notifications,
// and the dispatcher's activity step (see frameActivity): every frame of
// a known type refreshes its connection's presence, so that presence
// stays current without a write per frame.
func (h *Handler) registerPresence() {
	cfg := h.cfg.Presence.withDefaults()
	p := &presenceFeature{
		h:     h,
		cfg:   cfg,
		conns: newConnTracker(cfg.TrackedConnections),
		rooms: newRoomCache(cfg.CursorCacheTTL, cfg.TrackedConnections),
	}
	h.routes[protocol.TypePresence] = p.presence
	h.routes[protocol.TypeRoomJoin] = p.join
	h.routes[protocol.TypeRoomLeave] = p.leave
	h.routes[protocol.TypeRoomSnapshot] = p.snapshot
	h.routes[protocol.TypeCursor] = p.cursor
	h.routes[protocol.TypeActivity] = p.activity
	h.routes[protocol.TypeActivityList] = p.activityList
	h.routes[protocol.TypeNotify] = p.notify
	h.onFrame = append(h.onFrame, p.frameActivity)
	h.cleanups = append(h.cleanups, p.cleanup)
	h.sweeps = append(h.sweeps, p.sweep)
	h.removedByTTL = append(h.removedByTTL, p.removedByTTL)
}

// frameActivity is the dispatcher's activity step, run for every frame of
// a known type before its route: a ping is a heartbeat (it keeps the
// connection online, not active); presence, room.join and cursor frames
// note their own activity (a presence frame that changes nothing is a
// heartbeat unless it says active; a join writes its session itself; a
// cursor, or a join refused, is stored with the next write); any other
// frame is client activity, whatever its route answers. A session this
// step creates starts with the status startStatus returns, so a
// connection opened with status offline is never announced online.
func (p *presenceFeature) frameActivity(ctx context.Context, r *request) {
	switch r.env.Type {
	case protocol.TypePresence, protocol.TypeCursor:
	case protocol.TypeRoomJoin:
		// Its route writes the session with the status the frame states:
		// written here first, a new session would be announced online
		// before a join stating offline hid it.
		p.conns.markActive(r.conn.ID, r.now, p.cfg)
	case protocol.TypePing:
		p.touch(ctx, r, false)
	default:
		p.touch(ctx, r, true)
	}
}

// touch notes a frame of r's connection and writes its session when due.
// It returns the session written, and whether it wrote one. Failures are
// logged: presence bookkeeping never fails the request.
func (p *presenceFeature) touch(ctx context.Context, r *request, active bool) (store.Session, bool) {
	if r.conn.ID == "" {
		return store.Session{}, false // a Service: no connection, no presence
	}
	if !p.conns.observe(r.conn.ID, r.now, active, p.cfg) {
		return store.Session{}, false
	}
	s, err := p.apply(ctx, r.conn, r.bc, r.now, presenceChange{active: active})
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe) && pe.Code == protocol.CodeUnauthorized:
		// Its $disconnect ran meanwhile: nothing to refresh.
		p.h.log.InfoContext(ctx, "refresh presence of a closed connection", "connectionId", r.conn.ID)
	case err != nil:
		p.h.log.WarnContext(ctx, "refresh presence", "connectionId", r.conn.ID, "error", err)
	}
	return s, err == nil
}

// ceilSecond rounds t up to a whole second (zero stays zero). Away alarms
// are stored in whole seconds; rounded down, an alarm would fire before the
// connection's idle time reached the timeout, find it still online, and
// be gone with nothing announced.
func ceilSecond(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	if f := t.Truncate(time.Second); !f.Equal(t) {
		return f.Add(time.Second)
	}
	return t
}

// presenceChange is one change of a connection's session.
type presenceChange struct {
	join   string                // a room to enter, or ""
	leave  string                // a room to leave, or ""
	edit   func(*store.Presence) // data the client set; nil for none
	active bool                  // the frame is client activity
}

// apply reads the user's sessions, applies ch to the connection's session
// (creating it when there is none, in the rooms roomsKept returns, with
// the status startStatus returns), writes it with its room entries, and
// announces the changes it caused: join, leave and update events in the
// rooms and the user's status on user-presence. It retries when a
// concurrent write wins.
func (p *presenceFeature) apply(ctx context.Context, conn store.Connection, bc *broadcast.Broadcaster, now time.Time, ch presenceChange) (store.Session, error) {
	st := p.h.deps.Store
	var (
		kept     []string // rooms a new session re-enters (see roomsKept)
		keptRead bool
	)
	for range presenceAttempts {
		sessions, expired, err := st.UserSessionsWithExpired(ctx, conn.Tenant, conn.UserID)
		if err != nil {
			return store.Session{}, err
		}
		i := slices.IndexFunc(sessions, func(s store.Session) bool { return s.ConnID == conn.ID })
		if j := slices.IndexFunc(expired, func(s store.Session) bool { return s.ConnID == conn.ID }); i < 0 && j >= 0 {
			// The connection's session expired (its heartbeats stopped)
			// and the sweeper has not claimed it yet: claim it here, so
			// that its rooms still see it leave, before the new session
			// is written over it.
			ok, _, err := p.claimExpired(ctx, bc, expired[j], userSessions{live: sessions, expired: expired}, now)
			if !ok && err != nil {
				return store.Session{}, err
			}
			if err != nil {
				p.h.log.WarnContext(ctx, "announce presence", "connectionId", conn.ID, "error", err)
			}
		}
		var cur store.Session
		if i >= 0 {
			cur = sessions[i]
		} else {
			if !keptRead {
				if kept, err = p.roomsKept(ctx, conn, now, ch); err != nil {
					return store.Session{}, err
				}
				keptRead = true
			}
			cur = store.Session{Presence: store.Presence{
				Tenant: conn.Tenant, UserID: conn.UserID, ConnID: conn.ID, Avatar: conn.Avatar, Status: startStatus(conn),
			}, Rooms: kept}
		}
		next := cur
		next.Rooms = slices.Clone(cur.Rooms)
		next.Username = conn.Username
		if ch.edit != nil {
			ch.edit(&next.Presence)
		}
		changed := i < 0 || !samePresence(cur.Presence, next.Presence)
		var leave []string
		if ch.join != "" && !slices.Contains(next.Rooms, ch.join) {
			next.Rooms = append(next.Rooms, ch.join)
			slices.Sort(next.Rooms)
			changed = true
		}
		if ch.leave != "" && slices.Contains(next.Rooms, ch.leave) {
			next.Rooms = slices.DeleteFunc(next.Rooms, func(r string) bool { return r == ch.leave })
			leave = []string{ch.leave}
			changed = true
		}
		if len(next.Rooms) > p.cfg.MaxRooms {
			return store.Session{}, protocol.NewError(protocol.CodeTooManySubscriptions, "at most %d rooms per connection", p.cfg.MaxRooms)
		}
		activeAt := p.conns.activeAt(conn.ID)
		if ch.active || changed {
			activeAt = now
		}
		var awayAt time.Time
		if i < 0 {
			next.LastActive = now
			awayAt = now.Add(p.cfg.AwayTimeout)
		} else if activeAt.After(cur.LastActive) {
			next.LastActive = activeAt
			awayAt = activeAt.Add(p.cfg.AwayTimeout)
		}
		next.LastSeen = now
		next.ExpiresAt = now.Add(p.cfg.OfflineTimeout)
		var stored *store.Session
		if i >= 0 {
			stored = &cur
		}
		w := p.sessionWrite(conn, stored, next)
		if w.SetHiddenRooms {
			// The rooms of hidden sessions are written from the record's
			// own: read it again, after the sessions, so that a
			// concurrent frame's write of them is built on rather than
			// undone. A write that commits after this read also changes
			// the session, and this one's condition fails.
			rec, err := st.GetConnection(ctx, conn.ID)
			if errors.Is(err, store.ErrNotFound) {
				return store.Session{}, errNotRegistered()
			}
			if err != nil {
				return store.Session{}, err
			}
			w = p.sessionWrite(rec, stored, next)
		}
		w.Leave, w.AwayAt = leave, ceilSecond(awayAt)
		written, err := st.PutSession(ctx, w)
		if errors.Is(err, store.ErrConditionFailed) {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			// The connection's $disconnect ran since the frame read the
			// connection: no session is created for a gone connection.
			return store.Session{}, errNotRegistered()
		}
		if err != nil {
			return store.Session{}, err
		}
		if w.SetHidden || w.SetRooms || w.HiddenBefore || w.SetHiddenRooms {
			p.h.connSession(conn.ID, w)
		}
		p.conns.stored(conn.ID, written, now, p.cfg)
		if i < 0 {
			for _, room := range kept {
				p.rooms.invalidate(roomKey(conn.Tenant, protocol.RoomChannel(room)))
			}
		}
		after := slices.Clone(sessions)
		if i >= 0 {
			after[i] = written
		} else {
			after = append(after, written)
		}
		pending := unclaimed(expired, conn.ID)
		ev := presence.Diff(append(slices.Clone(sessions), pending...), now, append(after, pending...), now, p.cfg.AwayTimeout)
		p.announce(ctx, bc, conn.Tenant, conn.UserID, conn.ID, ev, now)
		return written, nil
	}
	return store.Session{}, fmt.Errorf("presence of %q: still contended after %d attempts: %w", conn.ID, presenceAttempts, store.ErrUnavailable)
}

// startStatus is the status a new session of conn starts with: offline
// (hidden) when the connection's record says its presence was hidden when
// last written, or, before its first session, that its client connected
// with status offline; else online. A connection that chose to appear
// offline and fell silent until its session expired (a laptop asleep)
// stays hidden when it speaks again: its client may not know that the
// session was written anew, and would not state its status again.
func startStatus(conn store.Connection) string {
	if conn.Hidden {
		return store.StatusOffline
	}
	return store.StatusOnline
}

// sessionWrite is the write of next, over stored (nil for a write that
// creates the session), with what it sets on the connection's record rec.
// The record keeps whether its session is hidden, for when DynamoDB's TTL
// deleted the session (bareSession). It is written with the session when
// that differs from the record's, as read for the frame, or from the
// stored session's (the record may be a cached copy): in the common case,
// a visible session, never. The record keeps the session's rooms too, for
// a session that expires (roomsKept), written the same way: when the
// rooms change, not on a refresh, and once on a record that does not keep
// them yet (written by an earlier version). A new session after a hidden
// one in rooms notes so on the record too, with the hidden session's
// rooms: its room entries there may be left behind (see entryRemovedByTTL
// and hiddenRooms).
func (p *presenceFeature) sessionWrite(rec store.Connection, stored *store.Session, next store.Session) store.SessionWrite {
	creates := stored == nil
	w := store.SessionWrite{Session: next,
		SetHidden: next.Hidden() != rec.Hidden || !creates && next.Hidden() != stored.Hidden(),
		SetRooms: !rec.RoomsKnown || !slices.Equal(next.Rooms, rec.Rooms) ||
			!creates && !slices.Equal(next.Rooms, stored.Rooms),
		HiddenBefore: followsHidden(rec, creates) && !rec.HiddenBefore,
	}
	w.HiddenRooms, w.HiddenRoomsKnown, w.SetHiddenRooms = p.hiddenRooms(rec, creates, next.Rooms)
	return w
}

// followsHidden reports whether a write that creates a session of conn
// (creates) follows a hidden session that may have left room entries
// behind: the record says the presence was hidden, and does not say that
// it was in no room. A hidden session in no room left nothing behind, and
// a connection opened with status offline is hidden, in no room, before
// its first session: a write after either changes nothing on the record
// and reads it no second time.
func followsHidden(conn store.Connection, creates bool) bool {
	return creates && conn.Hidden && !(conn.RoomsKnown && len(conn.Rooms) == 0)
}

// hiddenRooms returns the rooms that a session write of conn, in rooms,
// leaves on its record as those where an entry of a hidden session may be
// left behind (store.Connection.HiddenRooms), whether the record then
// keeps them, and whether that changes the record. A write that creates
// the session after a hidden one (see followsHidden) adds the hidden
// session's rooms, as the record keeps them. The write puts
// its own entry in each of rooms, which then no longer holds a hidden
// session's: a later session that shows itself in such a room is seen
// leaving it too. The list grows only on a write that creates the
// session, and shrinks only on one that enters a room of it; either
// updates the record (or checks it, at the same cost) anyway, and reads it
// again first (see apply): a connection never hidden, or whose list a
// write leaves as it is, pays nothing for it. A record whose HiddenBefore
// an earlier version set, without the list, or whose hidden session's
// rooms are not known, keeps none: every entry left behind is taken as
// hidden, as that version did. So is a list longer than MaxRooms (the
// bound of the rooms a session is in, and of the rooms the record keeps
// for it), which keeps the connection's item small.
func (p *presenceFeature) hiddenRooms(conn store.Connection, creates bool, rooms []string) (list []string, known, changed bool) {
	afterHidden := followsHidden(conn, creates)
	if !conn.HiddenBefore && !afterHidden {
		return nil, false, false // no hidden session was followed by another
	}
	known = (conn.HiddenRoomsKnown || !conn.HiddenBefore) && (conn.RoomsKnown || !afterHidden)
	if known {
		list = slices.Clone(conn.HiddenRooms)
		if afterHidden {
			list = append(list, conn.Rooms...)
		}
		list = slices.DeleteFunc(list, func(r string) bool { return slices.Contains(rooms, r) })
		slices.Sort(list)
		list = slices.Compact(list)
		if len(list) > p.cfg.MaxRooms {
			list, known = nil, false
		}
	}
	return list, known, known != conn.HiddenRoomsKnown || !slices.Equal(list, conn.HiddenRooms)
}

// roomsKept returns the rooms that a new session of conn enters besides
// ch's: the rooms its last session was in, as its record keeps them
// (store.Connection.Rooms), whose channels it is still subscribed to.
// A connection whose heartbeats stopped while its socket stayed open (a
// laptop asleep, API Gateway keeping the socket) loses its session and its
// rooms to the sweeper, but keeps its subscriptions and goes on receiving
// the rooms' events: when it speaks again it is back in them, and the
// others see it join. Its location and activity are not restored, nor an
// away status; a hidden one is (see startStatus).
// A plain subscription to a room's channel does not count: the connection
// watched the room without being in it, and does not enter it now. A
// record that does not keep the rooms (written by an earlier version,
// before they were recorded) falls back to the rule of that version: the
// rooms whose channels the connection is still subscribed to.
// Rooms the connection may no longer enter are left out, and so are ch's
// leave and, past MaxRooms (ch's join included), the last in name order.
// A connection younger than the offline timeout cannot have lost a session
// to expiry, and one whose record keeps no room was in none: for them
// nothing is read.
func (p *presenceFeature) roomsKept(ctx context.Context, conn store.Connection, now time.Time, ch presenceChange) ([]string, error) {
	if now.Before(conn.ConnectedAt.Add(p.cfg.OfflineTimeout)) || conn.RoomsKnown && len(conn.Rooms) == 0 {
		return nil, nil
	}
	chans, err := p.h.deps.Store.ChannelsOf(ctx, conn.ID)
	if err != nil {
		return nil, err
	}
	var rooms []string
	for _, c := range chans {
		if !strings.HasPrefix(c, "room:") {
			continue
		}
		room, channel, err := roomOf(c)
		if err != nil || room == ch.leave || room == ch.join || conn.RoomsKnown && !slices.Contains(conn.Rooms, room) || p.mayEnter(conn, channel) != nil {
			continue
		}
		rooms = append(rooms, room)
	}
	slices.Sort(rooms)
	limit := p.cfg.MaxRooms
	if ch.join != "" {
		limit--
	}
	return rooms[:min(len(rooms), limit)], nil
}

// samePresence reports whether two entries show the same data, times
// aside.
func samePresence(a, b store.Presence) bool {
	a.LastSeen, a.LastActive, a.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	b.LastSeen, b.LastActive, b.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// announce broadcasts ev: room events on each room's channel and the
// user's status change on user-presence. The connection that caused the
// change (origin) is not sent its own events. Failures are logged. It
// reports whether ev held an event to announce.
func (p *presenceFeature) announce(ctx context.Context, bc *broadcast.Broadcaster, tenant, userID, origin string, ev presence.Events, now time.Time) bool {
	skip := func(id string) bool { return id == origin }
	for _, re := range ev.Rooms {
		p.post(ctx, bc, tenant, protocol.RoomChannel(re.Room), userID, roomEvent{Event: re.Kind, Room: re.Room, User: re.User}, skip, now)
	}
	if ev.User != nil {
		p.post(ctx, bc, tenant, protocol.ChannelPresence, userID, userEvent{Event: ev.User.Status, User: ev.User.User}, skip, now)
	}
	return len(ev.Rooms) > 0 || ev.User != nil
}

// roomEvent is the payload of a presence event in a room.
type roomEvent struct {
	Event string        `json:"event"` // join, leave or update
	Room  string        `json:"room"`
	User  presence.User `json:"user"`
}

// userEvent is the payload of a presence event on user-presence.
type userEvent struct {
	Event string        `json:"event"` // online, away or offline
	User  presence.User `json:"user"`
}

// post fans one presence event out on channel.
func (p *presenceFeature) post(ctx context.Context, bc *broadcast.Broadcaster, tenant, channel, userID string, payload any, skip func(string) bool, now time.Time) {
	frame, err := protocol.Event(protocol.TypeEventPresence, channel, userID, "pres-"+newID(), payload, now)
	if err == nil {
		_, err = bc.Fanout(ctx, tenant, channel, frame, skip)
	}
	if err != nil {
		p.h.log.WarnContext(ctx, "announce presence", "channel", channel, "userId", userID, "error", err)
	}
}

// location is the location object of a presence request.
type location struct {
	Page    string `json:"page"`
	Section string `json:"section"`
}

// presencePayload is the payload of presence and room.join requests.
// Absent fields leave the stored value as it is.
type presencePayload struct {
	Room            string    `json:"room"`
	Status          string    `json:"status"`
	Location        *location `json:"location"`
	CurrentLocation *location `json:"currentLocation"`
	Activity        *string   `json:"activity"`
	Avatar          *string   `json:"avatar"`
	Active          bool      `json:"active"`
}

// sets reports whether the payload sets anything that other users see:
// status, location, activity or avatar. A payload that sets nothing (at
// most "active") is a heartbeat.
func (pl presencePayload) sets() bool {
	return pl.Status != "" || pl.Location != nil || pl.CurrentLocation != nil || pl.Activity != nil || pl.Avatar != nil
}

// edit validates the payload and returns the change it makes.
func (pl presencePayload) edit() (func(*store.Presence), error) {
	switch pl.Status {
	case "", store.StatusOnline, store.StatusAway, store.StatusOffline:
	default:
		return nil, protocol.NewError(protocol.CodeBadRequest, "status must be online, away or offline")
	}
	loc := pl.Location
	if loc == nil {
		loc = pl.CurrentLocation
	}
	if loc != nil && (len(loc.Page) > maxLocationLen || len(loc.Section) > maxLocationLen) {
		return nil, protocol.NewError(protocol.CodeBadRequest, "location page and section are at most %d bytes", maxLocationLen)
	}
	if pl.Activity != nil && len(*pl.Activity) > maxActivityLen {
		return nil, protocol.NewError(protocol.CodeBadRequest, "activity is at most %d bytes", maxActivityLen)
	}
	if pl.Avatar != nil && len(*pl.Avatar) > maxAvatarLen {
		return nil, protocol.NewError(protocol.CodeBadRequest, "avatar is at most %d bytes", maxAvatarLen)
	}
	// These texts reach every user in the connection's rooms and on
	// user-presence: they are held to the rule $connect cleans a token's
	// display name and avatar with (ident.Clean), and refused rather than
	// cleaned, so that others never see a text other than the one the
	// sender set.
	var page, section *string
	if loc != nil {
		page, section = &loc.Page, &loc.Section
	}
	for _, t := range []struct {
		field string
		value *string
	}{{"avatar", pl.Avatar}, {"activity", pl.Activity}, {"location page", page}, {"location section", section}} {
		if t.value != nil {
			if err := checkVisible(t.field, *t.value); err != nil {
				return nil, err
			}
		}
	}
	return func(e *store.Presence) {
		if pl.Status != "" {
			e.Status = pl.Status
		}
		if loc != nil {
			e.Page, e.Section = loc.Page, loc.Section
		}
		if pl.Activity != nil {
			e.Activity = *pl.Activity
		}
		if pl.Avatar != nil {
			e.Avatar = *pl.Avatar
		}
	}, nil
}

// checkVisible refuses, with BAD_REQUEST naming field but not quoting
// it, a text that ident.Clean would change: one holding a control, a
// format (bidirectional, zero-width) or other invisible character, a
// private-use code point or a noncharacter, beside the joiners, selectors
// and tags of ordinary writing that Clean keeps.
func checkVisible(field, s string) error {
	if ident.Clean(s, len(s), false) != s {
		return protocol.NewError(protocol.CodeBadRequest, "%s holds a control, format (bidirectional, zero-width) or other invisible character, a private-use code point or a noncharacter", field)
	}
	return nil
}

// roomOf validates a room name and returns it in canonical form (without
// a "room:" prefix) with its channel. Rooms have their own namespace: a
// room's channel is always "room:<name>", and a name holds no ':', so no
// room name can stand for an entity channel such as "order:1001".
func roomOf(name string) (room, channel string, err error) {
	room = strings.TrimPrefix(name, "room:")
	if room == "" || len(room) > maxRoomLen {
		return "", "", protocol.NewError(protocol.CodeBadRequest, "room must be 1..%d characters", maxRoomLen)
	}
	channel = protocol.RoomChannel(room)
	if strings.Contains(room, ":") || protocol.ValidateChannel(channel) != nil {
		return "", "", protocol.NewError(protocol.CodeBadRequest, "room %q: use [A-Za-z0-9._-], optionally after \"room:\"", room)
	}
	return room, channel, nil
}

// presenceReply is the reply to presence, room.join and room.leave: the
// connection's own presence and its rooms.
type presenceReply struct {
	Presence presence.User `json:"presence"`
	Rooms    []string      `json:"rooms"`
}

func (p *presenceFeature) replyOf(s store.Session, now time.Time) presenceReply {
	u, ok := presence.Aggregate([]store.Presence{s.Presence}, now, p.cfg.AwayTimeout)
	if !ok {
		u = presence.User{UserID: s.UserID, Username: s.Username, Avatar: s.Avatar, Status: store.StatusOffline,
			LastSeen: protocol.Now(s.LastSeen), CurrentLocation: presence.Location{Page: s.Page, Section: s.Section}, Activity: s.Activity}
	}
	rooms := s.Rooms
	if rooms == nil {
		rooms = []string{}
	}
	return presenceReply{Presence: u, Rooms: rooms}
}

// presence handles a presence frame: it sets status, location, activity
// and avatar, and with a room enters it. A frame that sets none of them
// and names no room is a heartbeat: it writes only when the refresh is
// due. Any other frame reads the stored session and writes it (see
// apply), which announces only what differs from the stored session.
func (p *presenceFeature) presence(ctx context.Context, r *request) (any, error) {
	var pl presencePayload
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	edit, err := pl.edit()
	if err != nil {
		return nil, err
	}
	var room, channel string
	if pl.Room != "" {
		if room, channel, err = roomOf(pl.Room); err != nil {
			return nil, err
		}
	}
	if pl.sets() {
		if err := p.h.authorize(r.conn, auth.Presence, protocol.ChannelPresence); err != nil {
			return nil, err
		}
	}
	if cur, ok := p.conns.cached(r.conn.ID); ok && !pl.sets() && room == "" {
		// A heartbeat: it sets nothing, and writes only when the refresh
		// is due. This instance's copy of the session, which another
		// instance may have overtaken, decides nothing, and is the reply
		// only when the read of the stored session fails (a heartbeat
		// that writes nothing never fails): when the heartbeat wrote
		// nothing, the reply comes from that read. A frame that sets a
		// field or names a room goes to the store even when the copy
		// already shows it: the connection's frames may have changed it
		// through another instance since.
		if s, ok := p.touch(ctx, r, pl.Active); ok {
			return p.replyOf(s, r.now), nil
		}
		s, found, err := p.storedSession(ctx, r.conn)
		if err != nil {
			p.h.log.WarnContext(ctx, "heartbeat: read of the stored presence failed; replying with this instance's copy",
				"connectionId", r.conn.ID, "error", err)
			if c, ok := p.conns.cached(r.conn.ID); ok {
				cur = c
			}
			return p.replyOf(cur, r.now), nil
		}
		if found {
			return p.replyOf(s, r.now), nil
		}
		// No stored session (removed since this instance's copy): the
		// frame writes one, or finds the connection gone, as below.
	}
	added := false
	if room != "" {
		if added, err = p.enterChannel(ctx, r, channel); err != nil {
			return nil, err
		}
	}
	s, err := p.apply(ctx, r.conn, r.bc, r.now, presenceChange{join: room, edit: edit, active: pl.Active})
	if err != nil {
		p.undoEnter(ctx, r, channel, added, err)
		return nil, err
	}
	if room != "" {
		p.rooms.invalidate(roomKey(r.conn.Tenant, channel))
	}
	return p.replyOf(s, r.now), nil
}

// storedSession reads the stored session of connection c, with the latest
// activity this instance saw of it (which it may not have written yet).
func (p *presenceFeature) storedSession(ctx context.Context, c store.Connection) (store.Session, bool, error) {
	sessions, err := p.h.deps.Store.UserSessions(ctx, c.Tenant, c.UserID)
	if err != nil {
		return store.Session{}, false, err
	}
	i := slices.IndexFunc(sessions, func(s store.Session) bool { return s.ConnID == c.ID })
	if i < 0 {
		return store.Session{}, false, nil
	}
	s := sessions[i]
	if at := p.conns.activeAt(c.ID); at.After(s.LastActive) {
		s.LastActive = at
	}
	return s, true, nil
}

// enterChannel subscribes the connection to a room channel, with the
// checks of subscribe, and reports whether the subscription is new.
// Entering a room makes the connection's presence and cursors reach the
// room, so it needs the presence permission too.
func (p *presenceFeature) enterChannel(ctx context.Context, r *request, channel string) (bool, error) {
	if err := p.mayEnter(r.conn, channel); err != nil {
		return false, err
	}
	added, err := p.h.deps.Store.Subscribe(ctx, r.conn.Tenant, channel, r.conn.ID, p.h.cfg.MaxSubscriptions)
	switch {
	case errors.Is(err, store.ErrConditionFailed):
		return false, protocol.NewError(protocol.CodeTooManySubscriptions, "at most %d subscriptions per connection", p.h.cfg.MaxSubscriptions)
	case errors.Is(err, store.ErrNotFound):
		return false, errNotRegistered()
	}
	return added, err
}

// mayEnter checks that connection c may enter the room of channel: it
// needs to subscribe to the channel and to show its presence there.
func (p *presenceFeature) mayEnter(c store.Connection, channel string) error {
	if err := p.h.authorize(c, auth.Subscribe, channel); err != nil {
		return err
	}
	return p.h.authorize(c, auth.Presence, channel)
}

// undoEnter takes back the subscription enterChannel added when entering
// the room was then refused for the room limit: the connection must not
// receive a room it is not in. A subscription the connection already had
// (a plain subscribe to the room's channel) stays.
func (p *presenceFeature) undoEnter(ctx context.Context, r *request, channel string, added bool, err error) {
	var pe *protocol.Error
	if !added || !errors.As(err, &pe) || pe.Code != protocol.CodeTooManySubscriptions {
		return
	}
	if _, uerr := p.h.deps.Store.Unsubscribe(ctx, r.conn.Tenant, channel, r.conn.ID); uerr != nil {
		p.h.log.WarnContext(ctx, "undo room subscription", "channel", channel, "err", uerr)
	}
}

// join handles room.join: it subscribes the connection to the room's
// channel, enters the room with the presence the payload sets, and
// replies with the room's snapshot.
func (p *presenceFeature) join(ctx context.Context, r *request) (any, error) {
	var pl presencePayload
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	if pl.Room == "" {
		return nil, protocol.NewError(protocol.CodeBadRequest, "missing field %q", "room")
	}
	room, channel, err := roomOf(pl.Room)
	if err != nil {
		return nil, err
	}
	edit, err := pl.edit()
	if err != nil {
		return nil, err
	}
	added, err := p.enterChannel(ctx, r, channel)
	if err != nil {
		return nil, err
	}
	if pl.sets() && p.h.authorize(r.conn, auth.Presence, protocol.ChannelPresence) != nil {
		// Present in the room, but without leave to set what the whole
		// tenant sees (status, location, activity, avatar on
		// user-presence): the join goes through without the client's
		// fields, as a presence frame setting them would be refused.
		edit = nil
	}
	p.rooms.invalidate(roomKey(r.conn.Tenant, channel))
	if _, err := p.apply(ctx, r.conn, r.bc, r.now, presenceChange{join: room, edit: edit, active: true}); err != nil {
		p.undoEnter(ctx, r, channel, added, err)
		return nil, err
	}
	return p.roomSnapshot(ctx, r.conn.Tenant, room, store.Page{Limit: p.cfg.SnapshotLimit}, r.now)
}

// leave handles room.leave: it leaves the room and unsubscribes from its
// channel.
func (p *presenceFeature) leave(ctx context.Context, r *request) (any, error) {
	var pl struct {
		Room string `json:"room"`
	}
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	room, channel, err := roomOf(pl.Room)
	if err != nil {
		return nil, err
	}
	s, err := p.apply(ctx, r.conn, r.bc, r.now, presenceChange{leave: room, active: true})
	if err != nil {
		return nil, err
	}
	existed, err := p.h.deps.Store.Unsubscribe(ctx, r.conn.Tenant, channel, r.conn.ID)
	if err != nil {
		return nil, err
	}
	p.rooms.invalidate(roomKey(r.conn.Tenant, channel))
	reply := p.replyOf(s, r.now)
	return map[string]any{"room": room, "wasSubscribed": existed, "presence": reply.Presence, "rooms": reply.Rooms}, nil
}

// snapshotReply is a room's presence in one reply (the seed's
// useRoomPresence: usersInRoom and userCount).
type snapshotReply struct {
	Room        string          `json:"room"` // "" for the whole tenant
	UsersInRoom []presence.User `json:"usersInRoom"`
	UserCount   int             `json:"userCount"`   // users in the whole room, all pages
	OnlineCount int             `json:"onlineCount"` // online users on this page
	AwayCount   int             `json:"awayCount"`   // away users on this page
	Next        string          `json:"next,omitempty"`
	NextCursor  string          `json:"nextCursor,omitempty"` // the same cursor as next
}

// snapshot handles presence.snapshot: one page of a room's users, or of
// the tenant's when the room is omitted.
func (p *presenceFeature) snapshot(ctx context.Context, r *request) (any, error) {
	var pl struct {
		Room   string `json:"room"`
		Cursor string `json:"cursor"`
		Limit  int    `json:"limit"`
	}
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	if pl.Limit < 0 || pl.Limit > maxSnapshotLimit {
		return nil, protocol.NewError(protocol.CodeBadRequest, "limit must be 0..%d", maxSnapshotLimit)
	}
	if pl.Limit == 0 {
		pl.Limit = p.cfg.SnapshotLimit
	}
	channel, room := protocol.ChannelPresence, ""
	if pl.Room != "" {
		var err error
		if room, channel, err = roomOf(pl.Room); err != nil {
			return nil, err
		}
	}
	if err := p.h.authorize(r.conn, auth.Subscribe, channel); err != nil {
		return nil, err
	}
	return p.roomSnapshot(ctx, r.conn.Tenant, room, store.Page{Cursor: pl.Cursor, Limit: pl.Limit}, r.now)
}

// roomSnapshot reads one page of a room and counts its users. Counting
// reads every entry of the room, so only a first page that has a next
// counts them (a single page counts its own); its cursor carries the
// count to the later pages (see snapshotCursor), which report it as it
// was then rather than read the whole room again each.
func (p *presenceFeature) roomSnapshot(ctx context.Context, tenant, room string, page store.Page, now time.Time) (snapshotReply, error) {
	count, carried := 0, page.Cursor != ""
	if carried {
		var err error
		if page.Cursor, count, err = parseSnapshotCursor(page.Cursor); err != nil {
			return snapshotReply{}, err
		}
	}
	entries, next, err := p.h.deps.Store.ListPresence(ctx, tenant, room, page)
	if errors.Is(err, store.ErrInvalidCursor) {
		return snapshotReply{}, protocol.NewError(protocol.CodeBadRequest, "invalid cursor")
	}
	if err != nil {
		return snapshotReply{}, err
	}
	users := presence.Users(entries, now, p.cfg.AwayTimeout)
	if users == nil {
		users = []presence.User{}
	}
	n, err := protocol.FitSome(users, len(`{"room":"","usersInRoom":,"userCount":,"onlineCount":,"awayCount":,"next":"","nextCursor":""}`)+
		len(room)+3*20+protocol.CursorSlack)
	if err != nil {
		return snapshotReply{}, err
	}
	if n < len(users) {
		// The rest does not fit in the reply: continue after the last
		// user sent, with that user's last entry.
		last := users[n-1].UserID
		i := slices.IndexFunc(entries, func(e store.Presence) bool { return e.UserID == last })
		for i+1 < len(entries) && entries[i+1].UserID == last {
			i++
		}
		users, next = users[:n], store.PresenceCursor(entries[i])
	}
	reply := snapshotReply{Room: room, UsersInRoom: users, UserCount: len(users)}
	switch {
	case carried:
		reply.UserCount = count
	case next != "":
		if reply.UserCount, err = p.h.deps.Store.CountPresence(ctx, tenant, room); err != nil {
			return snapshotReply{}, err
		}
	}
	if next != "" {
		reply.Next = snapshotCursor(next, reply.UserCount)
		reply.NextCursor = reply.Next
	}
	for _, u := range users {
		switch u.Status {
		case store.StatusOnline:
			reply.OnlineCount++
		case store.StatusAway:
			reply.AwayCount++
		}
	}
	return reply, nil
}

// maxSnapshotCount bounds the user count a snapshot cursor may carry.
const maxSnapshotCount = 1 << 30

// snapshotCursor is the cursor of the snapshot page after one that ended
// at the store's cursor next: next and the room's user count, counted
// for the first page, as "<next>.<count>" (a store cursor is base64url,
// which has no '.').
func snapshotCursor(next string, count int) string {
	return next + "." + strconv.Itoa(count)
}

// parseSnapshotCursor returns the store's cursor and the user count a
// snapshot cursor carries (see snapshotCursor). A cursor that carries no
// count, as the store's alone, or one longer than store.MaxCursorLen, was
// not issued by this server: it is refused, so that no cursor makes a
// page count the whole room.
func parseSnapshotCursor(cursor string) (string, int, error) {
	invalid := protocol.NewError(protocol.CodeBadRequest, "invalid cursor")
	i := strings.LastIndexByte(cursor, '.')
	if i <= 0 || len(cursor) > store.MaxCursorLen {
		return "", 0, invalid
	}
	n, err := strconv.ParseUint(cursor[i+1:], 10, 32)
	if err != nil || n > maxSnapshotCount {
		return "", 0, invalid
	}
	return cursor[:i], int(n), nil
}

// cleanup removes the presence of a connection that is gone ($disconnect,
// a 410 on a post, the sweeper) and announces what changed: a leave in
// each of its rooms, and offline when it was the user's last connection.
// The connection's record is already removed, so its session can no
// longer be created or refreshed.
//
// The removal cannot be taken back and no one else would announce it, so
// the user's sessions are read first (tried again after a backoff, see
// sessionsAroundClaim): when the read after the removal keeps failing,
// the departure is announced from this one. When this one keeps failing,
// nothing is removed: the session stays as stored, expires within the
// offline timeout, and the sweeper claims it and announces the
// departure, once, as for a connection whose heartbeats stopped (the
// user's other connections count it meanwhile, see unclaimed). When the
// removal fails, removedDespite decides.
func (p *presenceFeature) cleanup(ctx context.Context, c store.Connection, _ []string) {
	p.conns.forget(c.ID)
	prior, err := p.sessionsAroundClaim(ctx, c.Tenant, c.UserID)
	if err != nil {
		p.h.log.WarnContext(ctx, "read presence: the session is left for the sweeper to announce once it expires", "connectionId", c.ID, "error", err)
		return
	}
	own := func(o store.Session) bool { return o.ConnID == c.ID }
	if !slices.ContainsFunc(prior.live, own) && !slices.ContainsFunc(prior.expired, own) {
		return // no presence, or the sweeper removed and announced it
	}
	s, _, err := p.h.deps.Store.DeleteSession(ctx, c.Tenant, c.UserID, c.ID)
	if err != nil {
		// The removal may have landed with its answer lost (every
		// retry's): then no one else would announce it, so a read tells.
		var ok bool
		if s, ok = p.removedDespite(ctx, c, prior, own); !ok {
			p.h.log.WarnContext(ctx, "remove presence: the session is left for the sweeper to announce once it expires", "connectionId", c.ID, "error", err)
			return
		}
		p.h.log.WarnContext(ctx, "remove presence: failed, and the session is gone or cannot be read; announcing its departure", "connectionId", c.ID, "error", err)
	}
	if s.ConnID == "" {
		return // the sweeper, or another clean-up, removed and announced it meanwhile
	}
	for _, room := range s.Rooms {
		p.rooms.remove(roomKey(c.Tenant, protocol.RoomChannel(room)), c.ID)
	}
	// The read before holds the session as it was then; s, removed, may be
	// a later write of it (a frame in flight), and stands for it.
	prior.live = slices.DeleteFunc(prior.live, own)
	prior.expired = slices.DeleteFunc(prior.expired, own)
	// Announced even when it had expired: the sweeper announces only the
	// sessions it removes itself.
	if _, err := p.announceGone(ctx, p.h.broadcaster(p.h.endpointOf(c)), s, &prior, p.h.now()); err != nil {
		p.h.log.WarnContext(ctx, "announce presence (from the read before the removal)", "connectionId", c.ID, "error", err)
	}
}

// removedDespite decides, for the session of c that prior holds and whose
// removal just failed, whether to announce its departure now, and returns
// prior's copy of it. A read tells: still there, the removal did not land
// and the session is left for the sweeper; gone, it landed (its answer
// lost) and no one else will announce it. When the read fails too, the
// outcome is unknown and it is announced all the same. A departure may
// then be announced twice (which clients take as once) rather than
// never: when the removal did not land (the sweeper announces the session
// again once it expires), when the sweeper claimed an expired session
// meanwhile, or when another clean-up of c ran at the same time.
func (p *presenceFeature) removedDespite(ctx context.Context, c store.Connection, prior userSessions, own func(store.Session) bool) (store.Session, bool) {
	var ses store.Session
	if i := slices.IndexFunc(prior.live, own); i >= 0 {
		ses = prior.live[i]
	} else if i := slices.IndexFunc(prior.expired, own); i >= 0 {
		ses = prior.expired[i]
	} else {
		return store.Session{}, false
	}
	if p.stillStored(ctx, c.Tenant, c.UserID, c.ID) {
		return store.Session{}, false
	}
	return ses, true
}

// stillStored reports whether a read of the user's sessions finds the
// session of connID, live or expired, after its removal failed. A read
// that keeps failing reports false: the outcome is unknown, and the
// callers announce the departure rather than risk never doing so.
func (p *presenceFeature) stillStored(ctx context.Context, tenant, userID, connID string) bool {
	own := func(o store.Session) bool { return o.ConnID == connID }
	after, err := p.sessionsAroundClaim(ctx, tenant, userID)
	return err == nil && (slices.ContainsFunc(after.live, own) || slices.ContainsFunc(after.expired, own))
}

// announceGone announces that session s, just removed, is gone. The
// user's other sessions that expired but are not claimed yet stay in the
// picture on both sides (see unclaimed): a user whose tabs all expired
// goes offline, and leaves each room, once, when the last of them is
// claimed. When the read of the user's sessions fails (see
// sessionsAroundClaim), the departure is announced from prior, the read
// taken before the removal, if there is one, and the error is returned.
// It reports whether it announced anything (a hidden session's departure
// is no event).
func (p *presenceFeature) announceGone(ctx context.Context, bc *broadcast.Broadcaster, s store.Session, prior *userSessions, now time.Time) (bool, error) {
	cur, err := p.sessionsAroundClaim(ctx, s.Tenant, s.UserID)
	if err != nil {
		if prior == nil {
			return false, err
		}
		cur = *prior
	}
	// Only the session removed: the same connection may have written a
	// new one since (a frame after the sweeper claimed the expired one),
	// which is live and stays in the picture.
	others := slices.DeleteFunc(slices.Clone(cur.live), func(o store.Session) bool { return o.ConnID == s.ConnID && o.Version == s.Version })
	others = append(others, unclaimed(cur.expired, s.ConnID)...)
	before := append(slices.Clone(others), s)
	ev := presence.Diff(before, now, others, now, p.cfg.AwayTimeout)
	return p.announce(ctx, bc, s.Tenant, s.UserID, s.ConnID, ev, now), err
}

// unclaimed returns the expired sessions of connections other than
// connID. Nobody has announced them gone yet (the claim of each does, see
// claimExpired), so the user's observers still count them: every change
// of the user's other sessions is computed with them on both sides, and
// neither announces them gone early nor their user back a second time.
func unclaimed(expired []store.Session, connID string) []store.Session {
	return slices.DeleteFunc(slices.Clone(expired), func(s store.Session) bool { return s.ConnID == connID })
}

// endpointOf is the Management API endpoint that reaches connection c.
func (h *Handler) endpointOf(c store.Connection) string {
	if c.Endpoint != "" {
		return c.Endpoint
	}
	return h.cfg.ManagementEndpoint
}
