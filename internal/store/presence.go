package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Presence statuses. A client sets one of them; the server reports the
// effective status, which also turns online into away after the away
// timeout without client activity (see package presence).
const (
	StatusOnline  = "online"
	StatusAway    = "away"
	StatusOffline = "offline"
)

// Activity actions (the seed's ActivityLog.action).
const (
	ActionCreated = "created"
	ActionUpdated = "updated"
	ActionDeleted = "deleted"
	ActionViewed  = "viewed"
)

// Presence is what one connection shows of its user: an entry in a room,
// or, with Room empty, the connection's session (see Session). Times come
// from the server's clock, never from a client.
type Presence struct {
	Tenant   string
	Room     string // the room of a room entry; empty for a session
	UserID   string
	ConnID   string
	Username string
	Avatar   string
	// Status is the status the client chose: online, away, or offline
	// (hidden: the entry is kept but listed nowhere).
	Status   string
	Page     string // current location: page
	Section  string // current location: section, may be empty
	Activity string // free text such as "Editing order #123"
	// LastSeen is when the server last wrote the entry because a frame
	// arrived (a heartbeat or anything else).
	LastSeen time.Time
	// LastActive is when the server last saw client activity (a frame
	// other than a heartbeat).
	LastActive time.Time
	// ExpiresAt is LastSeen plus the offline timeout. From then on the
	// entry is absent: the connection's heartbeats stopped.
	ExpiresAt time.Time
}

// Session is the presence of one connection across the rooms it is in.
// Sessions of a tenant share one partition, so a user's sessions (for
// "online if any tab is online") and the tenant's are one Query each. A
// session carries the expiry-index entry through which the sweeper finds
// connections whose heartbeats stopped; its room entries carry the same
// data and expiry but no index entry.
type Session struct {
	Presence
	// Rooms lists the rooms the connection is in, sorted, without
	// duplicates.
	Rooms []string
	// Version changes with every write; PutSession and
	// DeleteExpiredSession are conditioned on it. Zero means "no live
	// session" in a SessionWrite.
	Version int64
}

// SessionWrite is one PutSession.
type SessionWrite struct {
	// Session is the new state. Its Version is the one read before the
	// change, or 0 when no live session existed; the write fails with
	// ErrConditionFailed when the stored session moved on meanwhile (or,
	// for 0, when a live one appeared), and, for 0, with ErrNotFound when
	// the connection is not live (see PutSession).
	Session Session
	// Leave lists rooms the connection leaves: their entries are deleted.
	// It must not share a room with Session.Rooms, and it must list every
	// room of the stored session that Session.Rooms no longer holds: the
	// DynamoDB store writes without reading the stored session, so a room
	// dropped from Rooms but not listed here would keep its entry (the
	// memory store deletes it either way).
	Leave []string
	// AwayAt, when not zero, arms the connection's away alarm: an
	// expiry-index entry due at AwayAt (replacing any earlier one), which
	// the sweeper finds once the connection has been idle that long. Zero
	// leaves the alarm as it is.
	AwayAt time.Time
	// SetHidden also sets the connection record's Hidden to whether
	// Session is hidden (Status offline), in the same atomic step; the
	// write then fails with ErrNotFound when the connection is not live.
	// The caller sets it when that changes: from the stored session's,
	// or, for a write that creates the session, from the record's.
	SetHidden bool
	// SetRooms also sets the connection record's Rooms to Session.Rooms,
	// and RoomsKnown, in the same atomic step; the write then fails with ErrNotFound when
	// the connection is not live. The caller sets it when the rooms
	// change: from the stored session's, or from the record's.
	SetRooms bool
	// HiddenBefore also sets the connection record's HiddenBefore, in the
	// same atomic step and with the same check as SetHidden and SetRooms.
	// The caller sets it on a write that creates the session when the
	// record says the connection's last session was hidden and
	// HiddenBefore is not set yet.
	HiddenBefore bool
	// SetHiddenRooms also sets the connection record's HiddenRooms and
	// HiddenRoomsKnown to HiddenRooms and HiddenRoomsKnown (false removes
	// the list), in the same atomic step and with the same check as
	// SetHidden and SetRooms. The caller sets it when the list changes.
	SetHiddenRooms   bool
	HiddenRooms      []string
	HiddenRoomsKnown bool
}

// Hidden reports whether the client chose to appear offline: the entry is
// kept but listed nowhere, and its departure is announced to no one.
func (p Presence) Hidden() bool { return p.Status == StatusOffline }

// AwayAlarm is the away alarm of one connection.
type AwayAlarm struct {
	Tenant string
	UserID string
	ConnID string
	At     time.Time // due time, whole seconds
}

// Activity is one entry of a tenant's activity feed (the seed's
// ActivityLog).
type Activity struct {
	ID         string
	Tenant     string
	UserID     string
	Username   string
	Avatar     string
	Action     string // created, updated, deleted or viewed
	EntityType string
	EntityID   string
	EntityName string
	Changes    []ActivityChange
	Metadata   json.RawMessage // a JSON object, or nil
	At         time.Time
	ExpiresAt  time.Time // end of retention: the entry is absent from then on
}

// ActivityChange is one changed field of an activity entry.
type ActivityChange struct {
	Field  string          `json:"field"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// ActivityFilter selects activity entries. An empty list matches all.
type ActivityFilter struct {
	Actions     []string
	EntityTypes []string
	// EntityIDs keeps the entries about these entity ids (of any listed
	// type), e.g. the one order on screen.
	EntityIDs []string
}

// Match reports whether a passes the filter.
func (f ActivityFilter) Match(a Activity) bool {
	return matchAny(f.Actions, a.Action) && matchAny(f.EntityTypes, a.EntityType) && matchAny(f.EntityIDs, a.EntityID)
}

func matchAny(list []string, v string) bool {
	return len(list) == 0 || slices.Contains(list, v)
}

// MaxActivityRead bounds the stored entries one ListActivity call reads,
// so that a filter matching few entries costs a bounded number of reads.
const MaxActivityRead = 1000

// Presences stores presence, activity-feed entries and the lookups that
// notifications need.
type Presences interface {
	// PutSession writes a connection's session and an entry in each of its
	// rooms with the same data and expiry, deletes the entries of the rooms
	// it leaves, and arms its away alarm, atomically. It returns the
	// session as stored, with its new Version. The caller sets LastSeen,
	// LastActive and ExpiresAt; ExpiresAt is kept in whole seconds.
	//
	// A write that creates the session (Version 0) also requires, in the
	// same atomic step, the connection's record to be live and to belong
	// to the session's tenant and user; otherwise it fails with
	// ErrNotFound and writes nothing. $disconnect removes the connection
	// before its session (DeleteConnection, then DeleteSession), so a
	// frame that read its connection just before $disconnect ran cannot
	// bring the session back: creating fails the connection check, and a
	// write over the session it read either lands before DeleteSession
	// (which removes it) or fails its version condition.
	PutSession(ctx context.Context, w SessionWrite) (Session, error)
	// UserSessions lists the live sessions of one user of a tenant,
	// hidden ones included, ordered by connection id: one Query.
	UserSessions(ctx context.Context, tenant, userID string) ([]Session, error)
	// UserSessionsWithExpired is UserSessions with, apart, the user's
	// sessions that have expired and are still stored (neither claimed by
	// the sweeper nor deleted by DynamoDB's TTL yet), in the same one
	// Query: a connection that speaks again after its session expired
	// claims the expired one as the sweeper would, so that its departure
	// is still announced.
	UserSessionsWithExpired(ctx context.Context, tenant, userID string) (live, expired []Session, err error)
	// DeleteSession removes a connection's session, its room entries and
	// its away alarm, live or expired. It returns the session that was
	// stored and whether it was live. Removing an absent session returns
	// false and no error; it is idempotent and safe to run concurrently.
	// A zero session means another call removed it (the sweeper, another
	// clean-up): when the store applied this call's removal but its answer
	// was lost and the request was sent again, DeleteSession still returns
	// the session (the DynamoDB store's transaction carries an idempotency
	// token that the SDK keeps across its attempts, so the second send
	// succeeds without being applied again). A caller that gets the
	// session must announce its departure: no one else will. An error
	// does not say the removal was not applied (every attempt's answer
	// may have been lost): a caller reads again.
	DeleteSession(ctx context.Context, tenant, userID, connID string) (Session, bool, error)
	// ExpiredSessions lists up to limit sessions whose ExpiresAt is at or
	// before now, oldest first, through the expiry index: a Query per
	// index shard, never a Scan. The index may lag: a session refreshed a
	// moment ago may still be listed, and DeleteExpiredSession refuses it.
	ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]Session, error)
	// DeleteExpiredSession removes s, its room entries and its alarm only
	// if the stored session still has s.Version and is still expired at
	// now. It reports whether it removed it: false when the session was
	// refreshed or removed meanwhile.
	DeleteExpiredSession(ctx context.Context, s Session, now time.Time) (bool, error)
	// RoomEntriesOf returns the entries of connection connID (of userID
	// in tenant) that are stored in rooms, live or expired, each with its
	// Room and ExpiresAt, ordered by room; a room where it has none is
	// skipped. A session's entries copy its presence, one per room:
	// once DynamoDB's TTL has deleted an expired session, they are what
	// is left of it (they expire with it, and TTL deletes each in its own
	// time).
	RoomEntriesOf(ctx context.Context, tenant, userID, connID string, rooms []string) ([]Presence, error)
	// ListPresence returns one page of the live, visible entries of a room
	// (room empty: the tenant's sessions), ordered by user and connection
	// id, and the cursor of the next page ("" at the end). Limit counts
	// users, not entries: a user's connections never straddle two pages.
	// The default is 100 users. Hidden entries (Status offline) are left
	// out.
	ListPresence(ctx context.Context, tenant, room string, p Page) ([]Presence, string, error)
	// CountPresence counts the distinct users with a live, visible entry in
	// a room (room empty: the tenant). It reads the whole room.
	CountPresence(ctx context.Context, tenant, room string) (int, error)
	// ExpiredAway lists up to limit away alarms due at or before now,
	// earliest first, through the expiry index (Query, never Scan).
	ExpiredAway(ctx context.Context, now time.Time, limit int) ([]AwayAlarm, error)
	// ClearAway claims an alarm only if it is still the one listed (same
	// At), still due at now and not claimed yet, and removes it; a claimed
	// alarm is listed nowhere and claimed by no one again (PutSession with
	// AwayAt arms a new one). The DynamoDB store deletes the claimed item
	// in a second request, whose failure it ignores: TTL removes the item
	// later, and the sweeper announces that removal as it does an
	// unclaimed one's (a repeated away). It reports whether this call
	// claimed it, so that of two overlapping sweeps exactly one acts on
	// the alarm. That holds when the store applied the claim but its
	// answer was lost and the request was sent again: the retry finds the
	// alarm claimed by this very call, and ClearAway still reports true
	// (the DynamoDB store marks the claim with a token of the call and
	// reads it back after a failed condition). A caller that got true
	// must announce: no one else will.
	ClearAway(ctx context.Context, a AwayAlarm, now time.Time) (bool, error)
	// PutActivity records an activity entry. Writing the same entry twice
	// leaves one.
	PutActivity(ctx context.Context, a Activity) error
	// ListActivity returns up to p.Limit (default 50) live entries of a
	// tenant's feed that pass f, newest first, and the cursor of the next
	// page ("" at the end). It reads at most MaxActivityRead stored entries
	// per call, so a filter that matches few may return a short page with
	// a cursor to read on.
	ListActivity(ctx context.Context, tenant string, f ActivityFilter, p Page) ([]Activity, string, error)
}

// NormalizeSession returns a copy of ses as the stores keep it (and as a
// round trip through DynamoDB yields it): UTC times, whole-second expiry,
// sorted rooms without duplicates (nil for none) and no room on the
// session itself.
func NormalizeSession(ses Session) Session {
	ses.Rooms = slices.Clone(ses.Rooms)
	ses.Room = ""
	ses.LastSeen = ses.LastSeen.UTC()
	ses.LastActive = ses.LastActive.UTC()
	if !ses.ExpiresAt.IsZero() {
		ses.ExpiresAt = time.Unix(ses.ExpiresAt.Unix(), 0).UTC()
	}
	slices.Sort(ses.Rooms)
	ses.Rooms = slices.Compact(ses.Rooms)
	if len(ses.Rooms) == 0 {
		ses.Rooms = nil
	}
	return ses
}

// HiddenRoomsOf returns w's HiddenRooms as a connection record keeps
// them: sorted, without repeats, nil for none or when not known.
func HiddenRoomsOf(w SessionWrite) []string {
	if !w.HiddenRoomsKnown || len(w.HiddenRooms) == 0 {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(w.HiddenRooms)))
}

// RoomEntriesArgs checks the arguments of Presences.RoomEntriesOf (every
// key part and room name, CheckKeyParts) and returns the key that names
// the connection in errors and the rooms sorted, without repeats. backend
// and op name the caller in the error.
func RoomEntriesArgs(backend, op, tenant, userID, connID string, rooms []string) (string, []string, error) {
	key := tenant + "/" + userID + "/" + connID
	if err := CheckKeyParts(backend, op, key, append([]string{tenant, userID, connID}, rooms...)...); err != nil {
		return key, nil, err
	}
	return key, slices.Compact(slices.Sorted(slices.Values(rooms))), nil
}

// CheckSessionWrite validates a session write: an ExpiresAt whose whole
// second is after 1970-01-01T00:00:00Z, every key part and room name
// (CheckKeyParts), no room left twice, and no room both kept and left.
// backend and op name the caller in the error. A session always expires:
// with a zero ExpiresAt it would be stored without one, which DynamoDB's
// conditions on the expiry never let be updated again, and the memory
// store takes an expiry of 0 s for "never".
func CheckSessionWrite(backend, op, key string, ses Session, leave []string) error {
	if ses.ExpiresAt.Unix() <= 0 {
		return fmt.Errorf("%s: %s %q: a session needs an expiry after 1970-01-01T00:00:00Z", backend, op, key)
	}
	if err := CheckKeyParts(backend, op, key, ses.Tenant, ses.UserID, ses.ConnID); err != nil {
		return err
	}
	if err := CheckKeyParts(backend, op, key, append(slices.Clone(ses.Rooms), leave...)...); err != nil {
		return err
	}
	left := slices.Clone(leave)
	slices.Sort(left)
	if len(slices.Compact(left)) != len(leave) {
		return fmt.Errorf("%s: %s %q: a room is left twice", backend, op, key)
	}
	for _, room := range leave {
		if slices.Contains(ses.Rooms, room) {
			return fmt.Errorf("%s: %s %q: room %q both kept and left", backend, op, key, room)
		}
	}
	return nil
}
