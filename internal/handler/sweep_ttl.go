package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/presence"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Removals by DynamoDB's TTL.
//
// The table's TTL attribute is expiresAt, which is also when a session
// and its room entries expire (and when an away alarm is due), and TTL
// may delete an expired item at any time after that (typically within a
// few days, with no lower bound): sometimes before the sweeper's next
// pass, which then never finds the session. Nothing announced such a
// departure, and the others kept seeing the user online and in the rooms
// until they reloaded. So the sweeper function also reads the table's
// stream, filtered to TTL's removals of sessions, room
// entries and away alarms (template.yaml), and announces each as its
// claim of the session or alarm would have been announced.
//
// A stream record of a removal holds only the item's key (the stream's
// view is NEW_IMAGE): the tenant, user and connection, and the room of a
// room entry. What the session held is read from what TTL left: the
// user's other sessions, and the connection's entries in the rooms whose
// channels it is still subscribed to (they expired with the session, and
// TTL deletes each in its own time). A session or room entry the sweeper
// claims is removed by the function's role, not by TTL, and never reaches
// this path.
//
// Likewise, an away alarm that TTL deleted before a pass claimed it
// never turned its user away. The filter passes TTL's removals
// of alarms too, and each is announced as its claim would have been
// (awayRemovedByTTL). The sweeper's claim deletes the alarm it claimed, so
// that TTL never removes it later for its away to be announced again.
//
// Edit locks are the same story (an expired lock that TTL deleted was
// never announced expired, and other users' SDKs, which drop another
// user's lock only on an event, kept showing the entity locked): the
// filter also passes TTL's removals of lock items, and the editing
// feature announces each as the pass does (editingRoutes.lockRemovedByTTL,
// collab.Service.LockRemovedByTTL), and writes its expired to the change
// feed as the pass's claim of it does.
//
// A token alarm's expiresAt is the token's exp, and one that TTL deleted
// before a pass read it left its connection open, refused every frame but
// still receiving its channels, until API Gateway's 2 h limit. The filter
// passes TTL's removals of token alarms too, and the connection, if it is
// still there, is closed as the pass would have closed it
// (tokenAlarmRemovedByTTL).

// The userIdentity of a stream record of a removal by DynamoDB's TTL.
const (
	ttlIdentityType = "Service"
	ttlPrincipal    = "dynamodb.amazonaws.com"
)

// SweeperEvent is the sweeper function's entry point. It has two sources:
// its schedule, whose event runs a pass (Sweep), and the table's stream,
// whose batch of records goes to SweepStream; the answer to a batch names
// the record to send it again from.
func (h *Handler) SweeperEvent(ctx context.Context, raw json.RawMessage) (*events.DynamoDBEventResponse, error) {
	var batch struct {
		Records []json.RawMessage `json:"Records"`
	}
	if json.Unmarshal(raw, &batch) != nil || batch.Records == nil {
		return nil, h.Sweep(ctx)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("sweeper: stream batch: %w", err)
	}
	resp := h.SweepStream(ctx, ev)
	return &resp, nil
}

// SweepStream handles a batch of the table's stream records: each item
// that DynamoDB's TTL removed goes to every feature's handler of such
// removals (presence and away alarms: announced as the sweeper's claim
// would have been; locks: announced expired as by a pass; token alarms:
// the connection closed as by a pass); other records
// are skipped (the event source mapping filters them out).
// When a record fails before anything was announced for it (or after a
// claim that handling it again finds done, see entryRemovedByTTL), or the
// invocation is about to end, the answer names that record, and Lambda
// sends the batch again from it (ReportBatchItemFailures); the records
// after it wait for that. Handling a record twice (Lambda may deliver one
// again) announces its departure or expiry twice, which clients take as
// once. SweepRemoved counts the records that announced something: a
// removal that changed nothing for anyone (a lock granted again, or
// granted and ended since, a hidden session, a connection that spoke
// again, a connection closed already) is not counted; a connection closed
// is.
func (h *Handler) SweepStream(ctx context.Context, ev events.DynamoDBEvent) events.DynamoDBEventResponse {
	ctx, flush := h.sweeperMetrics(ctx)
	defer flush()
	var resp events.DynamoDBEventResponse
	handled, announced := 0, 0
	for _, r := range ev.Records {
		pk, sk, ok := ttlRemovalKey(r)
		if !ok {
			continue
		}
		var errs []error
		said := false
		if deadline.Near(ctx, deadline.SweepReserve) {
			errs = append(errs, errors.New("the invocation is about to end"))
		} else {
			now := h.now()
			for _, f := range h.removedByTTL {
				ok, err := f(ctx, pk, sk, r.Change.ApproximateCreationDateTime.Time, now)
				if err != nil {
					errs = append(errs, err)
				}
				said = said || ok
			}
		}
		if said {
			announced++
		}
		if err := errors.Join(errs...); err != nil {
			h.log.ErrorContext(ctx, "item removed by TTL: sent again", "route", "sweeper", "pk", pk, "sk", sk, "error", err)
			resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: r.Change.SequenceNumber}}
			break
		}
		handled++
	}
	h.log.InfoContext(ctx, "items removed by TTL handled", "route", "sweeper", "records", len(ev.Records), "handled", handled,
		"announced", announced, "failed", len(resp.BatchItemFailures))
	metrics.From(ctx).Add(metrics.SweepRemoved, float64(announced), metrics.Count)
	return resp
}

// ttlRemovalKey returns the key of the item a stream record removed, if
// DynamoDB's TTL removed it.
func ttlRemovalKey(r events.DynamoDBEventRecord) (pk, sk string, ok bool) {
	if r.EventName != string(events.DynamoDBOperationTypeRemove) || r.UserIdentity == nil ||
		r.UserIdentity.Type != ttlIdentityType || r.UserIdentity.PrincipalID != ttlPrincipal {
		return "", "", false
	}
	k, s := r.Change.Keys[store.AttrPK], r.Change.Keys[store.AttrSK]
	if k.DataType() != events.DataTypeString || s.DataType() != events.DataTypeString {
		return "", "", false
	}
	return k.String(), s.String(), true
}

// ttlEndpoint is the management endpoint that the announcements of what
// TTL removed go through: the configured one (the stream's records name
// none); without it, the error of what (a feature) is returned.
func (h *Handler) ttlEndpoint(what string) (string, error) {
	if ep := h.cfg.ManagementEndpoint; ep != "" {
		return ep, nil
	}
	return "", fmt.Errorf("%s removed by TTL: %w", what, ErrNoManagementEndpoint)
}

// removedByTTL announces the removal by DynamoDB's TTL of the session,
// room entry or away alarm whose key is (pk, sk) as the sweeper's claim of
// the session or alarm would have announced it; it ignores the keys of
// other items. It reports whether it announced anything. It returns an
// error only when the record is worth handling again (a read failed) and
// handling it again repeats nothing: nothing was announced, or only an
// expired session's claim, which a second handling finds done (see
// entryRemovedByTTL); other failures after an announcement are logged,
// since handling the record again would repeat it.
func (p *presenceFeature) removedByTTL(ctx context.Context, pk, sk string, _, now time.Time) (bool, error) {
	if connID, ok := store.ParseAwayKey(pk, sk); ok {
		return p.awayRemovedByTTL(ctx, connID, now)
	}
	k, ok := store.ParsePresenceKey(pk, sk)
	if !ok {
		return false, nil
	}
	endpoint, err := p.h.ttlEndpoint("presence")
	if err != nil {
		return false, err
	}
	bc := p.h.broadcaster(endpoint)
	prior, err := p.readSessions(ctx, k.Tenant, k.UserID)
	if err != nil {
		return false, fmt.Errorf("sessions of %q: %w", k.UserID, err)
	}
	if k.Room == "" {
		return p.sessionRemovedByTTL(ctx, bc, endpoint, k, prior, now)
	}
	return p.entryRemovedByTTL(ctx, bc, endpoint, k, prior, now)
}

// awayRemovedByTTL announces that TTL removed the away alarm of connection
// connID as a pass's claim of it would have (announceAway): a due alarm,
// since TTL removes only what expired, and one no pass claimed, since a
// claim deletes its alarm (ClearAway). The alarm's key names only the
// connection: its tenant and user are read from the connection's record
// (without it the connection is gone, and the expiry path announces its
// departure), and its due time is rebuilt from the connection's session
// as the alarm was armed, the last activity plus the away timeout, rounded
// up to the second. A session active since has a later one, not due yet,
// and nothing is announced: its activity armed a new alarm. It reports
// whether it announced anything.
func (p *presenceFeature) awayRemovedByTTL(ctx context.Context, connID string, now time.Time) (bool, error) {
	endpoint, err := p.h.ttlEndpoint("away alarm")
	if err != nil {
		return false, err
	}
	c, err := p.h.deps.Store.GetConnection(ctx, connID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("connection %q: %w", connID, err)
	}
	cur, err := p.readSessions(ctx, c.Tenant, c.UserID)
	if err != nil {
		return false, fmt.Errorf("sessions of %q: %w", c.UserID, err)
	}
	i := slices.IndexFunc(cur.live, func(s store.Session) bool { return s.ConnID == connID })
	if i < 0 {
		return false, nil // offline already: the expiry path announces it
	}
	a := store.AwayAlarm{Tenant: c.Tenant, UserID: c.UserID, ConnID: connID,
		At: ceilSecond(cur.live[i].LastActive.Add(p.cfg.AwayTimeout))}
	if a.At.After(now) {
		return false, nil
	}
	return p.announceAway(ctx, p.h.broadcaster(endpoint), a, cur, now), nil
}

// sessionRemovedByTTL announces that TTL removed the session of k, as
// claimExpired would have: rebuilt from what TTL left (see leftByTTL),
// and counting the user's other sessions, expired ones not claimed yet
// included. Its connection is then removed if it is gone, as after the
// sweeper's claim. prior is the user's sessions read just now. It reports
// whether it announced anything.
func (p *presenceFeature) sessionRemovedByTTL(ctx context.Context, bc *broadcast.Broadcaster, endpoint string, k store.PresenceKey, prior userSessions, now time.Time) (bool, error) {
	own := func(s store.Session) bool { return s.ConnID == k.ConnID }
	if i := slices.IndexFunc(prior.expired, own); i >= 0 {
		// The connection spoke again after TTL took its session, and
		// its new session has expired too: claim that one, which
		// announces what is left.
		return p.claimForTTL(ctx, bc, endpoint, prior.expired[i], prior, now)
	}
	if slices.ContainsFunc(prior.live, own) {
		return false, nil // it spoke again: it is back, as its own write announced
	}
	s, err := p.leftByTTL(ctx, k, now)
	if err != nil {
		return false, fmt.Errorf("what TTL left of the session of %q: %w", k.ConnID, err)
	}
	p.conns.forget(s.ConnID)
	for _, room := range s.Rooms {
		p.rooms.remove(roomKey(s.Tenant, protocol.RoomChannel(room)), s.ConnID)
	}
	announced, err := p.announceGone(ctx, bc, s, &prior, now)
	if err != nil {
		p.h.log.WarnContext(ctx, "announce a session removed by TTL (from the read before)", "connectionId", s.ConnID, "error", err)
	}
	if _, err := p.removeIfGone(ctx, s, endpoint); err != nil {
		p.h.log.WarnContext(ctx, "remove the connection of a session removed by TTL", "connectionId", s.ConnID, "error", err)
	}
	return announced, nil
}

// leftByTTL rebuilds the session of k that TTL removed: its presence and
// rooms from its entries in the rooms whose channels its connection is
// still subscribed to (entries that expired with it: a live one belongs
// to a session written since); without such entries, it is bareSession.
func (p *presenceFeature) leftByTTL(ctx context.Context, k store.PresenceKey, now time.Time) (store.Session, error) {
	st := p.h.deps.Store
	chans, err := st.ChannelsOf(ctx, k.ConnID)
	if err != nil {
		return store.Session{}, err
	}
	var rooms []string
	for _, c := range chans {
		if room, _, err := roomOf(c); strings.HasPrefix(c, "room:") && err == nil {
			rooms = append(rooms, room)
		}
	}
	entries, err := st.RoomEntriesOf(ctx, k.Tenant, k.UserID, k.ConnID, rooms)
	if err != nil {
		return store.Session{}, err
	}
	var s store.Session
	for _, e := range entries {
		if e.ExpiresAt.After(now) {
			continue
		}
		if len(s.Rooms) == 0 {
			s.Presence = e
			s.Room = ""
		}
		s.Rooms = append(s.Rooms, e.Room)
	}
	if len(s.Rooms) > 0 {
		return s, nil
	}
	return p.bareSession(ctx, k, now, false)
}

// bareSession is what is known of the session of k when none of its data
// is left: a session in no room, with the names its connection's record
// holds, hidden as the record says (the session's last write kept it
// there), last seen and active at the latest moment it can have been (TTL
// removes only what expired, and a session expires OfflineTimeout after
// its connection was last seen). Without the record (or with another
// user's), nothing tells whether the user had hidden themselves, and the
// session is hidden: a departure not announced is better than one
// revealing a hidden user's. An error (reading the record failed) comes
// with the session, hidden and without names. For an entry left behind
// (see entryRemovedByTTL) the session is hidden also when the record
// says a hidden session of the connection was followed by another
// (HiddenBefore) and that the entry's room may hold that session's
// entry (HiddenRooms; a record of an earlier version, which names no
// rooms, says so of every room): the entry may be that session's.
func (p *presenceFeature) bareSession(ctx context.Context, k store.PresenceKey, now time.Time, leftBehind bool) (store.Session, error) {
	last := now.Add(-p.cfg.OfflineTimeout)
	s := store.Session{Presence: store.Presence{Tenant: k.Tenant, UserID: k.UserID, ConnID: k.ConnID, LastSeen: last, LastActive: last,
		Status: store.StatusOffline}}
	c, err := p.h.deps.Store.GetConnection(ctx, k.ConnID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s, nil
	case err != nil:
		return s, err
	case c.Tenant == k.Tenant && c.UserID == k.UserID:
		s.Username, s.Avatar = c.Username, c.Avatar
		if !c.Hidden && !(leftBehind && hiddenEntryMayBeLeft(c, k.Room)) {
			s.Status = ""
		}
	}
	return s, nil
}

// hiddenEntryMayBeLeft reports whether connection record c says that an
// entry of it in room may be left behind by a hidden session that a new
// one followed: the room is in HiddenRooms, or the record, written by an
// earlier version, has HiddenBefore without the list.
func hiddenEntryMayBeLeft(c store.Connection, room string) bool {
	return c.HiddenBefore && (!c.HiddenRoomsKnown || slices.Contains(c.HiddenRooms, room))
}

// entryRemovedByTTL announces that TTL removed the entry of k in its room.
// When the connection's session is still stored, expired, it is claimed
// as the sweeper would, which announces its rooms. Otherwise (TTL took the
// session too, or the entry outlived it) the user leaves the room unless
// one of their sessions still lists it (an expired one not claimed yet
// included: its claim announces the leave), or the connection was hidden
// in it as far as its record tells (bareSession: without the record,
// nothing is announced). The entry may be older than the connection's
// last session (left behind by one TTL removed whose rooms its removal
// could not name, when the connection has since left the room's channel
// or may no longer enter the room), so a record that says a hidden
// session was followed by another, in a room where that session's entry
// may be left, counts as hidden too: the record tells how the last
// session was, not the one that wrote the entry. prior is
// the user's sessions read just now. It
// reports whether it announced anything. An error after the claim (the
// read again for the room, or of the connection's record, failed) comes
// with the claim announced: the record is handled again, and finds the
// session claimed (its delete is the claim), so the second handling
// announces only the room's leave, which the first had not.
func (p *presenceFeature) entryRemovedByTTL(ctx context.Context, bc *broadcast.Broadcaster, endpoint string, k store.PresenceKey, prior userSessions, now time.Time) (bool, error) {
	own := func(s store.Session) bool { return s.ConnID == k.ConnID }
	announced := false
	if i := slices.IndexFunc(prior.expired, own); i >= 0 {
		s := prior.expired[i]
		var err error
		if announced, err = p.claimForTTL(ctx, bc, endpoint, s, prior, now); err != nil || slices.Contains(s.Rooms, k.Room) {
			return announced, err
		}
		// An entry its session did not list (left behind by a session
		// that TTL removed): read again for the room.
		if prior, err = p.readSessions(ctx, k.Tenant, k.UserID); err != nil {
			return announced, fmt.Errorf("sessions of %q: %w", k.UserID, err)
		}
	}
	all := append(slices.Clone(prior.live), prior.expired...)
	if slices.ContainsFunc(all, func(s store.Session) bool { return slices.Contains(s.Rooms, k.Room) }) {
		return announced, nil
	}
	gone, err := p.bareSession(ctx, k, now, true)
	if err != nil {
		return announced, fmt.Errorf("connection %q: %w", k.ConnID, err)
	}
	p.rooms.remove(roomKey(k.Tenant, protocol.RoomChannel(k.Room)), k.ConnID)
	if gone.Hidden() {
		return announced, nil // nobody saw it in the room, or nothing tells
	}
	var shown []store.Presence
	for _, s := range all {
		shown = append(shown, s.Presence)
	}
	u, ok := presence.Aggregate(shown, now, p.cfg.AwayTimeout)
	if !ok {
		u = departedView(gone, now, p.cfg.AwayTimeout)
	}
	p.announce(ctx, bc, k.Tenant, k.UserID, "", presence.Events{Rooms: []presence.RoomEvent{{Room: k.Room, Kind: presence.Leave, User: u}}}, now)
	return true, nil
}

// departedView is how a leave shows a user who has no session left, when
// the removed entry's data is gone with it: gone, the visible bareSession,
// offline.
func departedView(gone store.Session, now time.Time, awayTimeout time.Duration) presence.User {
	u, _ := presence.Aggregate([]store.Presence{gone.Presence}, now, awayTimeout)
	u.Status = store.StatusOffline
	return u
}

// claimForTTL claims the expired session s as the sweeper does
// (claimExpired, from prior, the user's sessions read before), then
// removes its connection if it is gone. It reports whether it announced
// anything. It returns an error only when the claim failed and the
// session is still stored: nothing was announced.
func (p *presenceFeature) claimForTTL(ctx context.Context, bc *broadcast.Broadcaster, endpoint string, s store.Session, prior userSessions, now time.Time) (bool, error) {
	ok, announced, err := p.claimExpired(ctx, bc, s, prior, now)
	if !ok {
		return false, err // nil: refreshed, or claimed by someone else, who announces it
	}
	if err != nil {
		p.h.log.WarnContext(ctx, "announce a claimed session (from the read before)", "connectionId", s.ConnID, "error", err)
	}
	if _, err := p.removeIfGone(ctx, s, endpoint); err != nil {
		p.h.log.WarnContext(ctx, "remove the connection of a claimed session", "connectionId", s.ConnID, "error", err)
	}
	return announced, nil
}
