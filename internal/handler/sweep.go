package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/omnisales/rtcollab/internal/backoff"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/presence"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// ErrNoManagementEndpoint is returned by the presence sweep when
// Config.ManagementEndpoint is empty: the sweeper receives no WebSocket
// event to derive the endpoint from, and without it could neither
// announce nor probe.
var ErrNoManagementEndpoint = errors.New("sweeper needs Config.ManagementEndpoint")

// connectionProber is the part of the Management API client that tells
// whether a connection still exists (mgmtapi.Client implements it).
type connectionProber interface {
	GetConnection(ctx context.Context, connectionID string) (*mgmtapi.Connection, error)
}

// sweep is the presence part of a sweeper pass. It finds, by Query of the
// expiry index and never by Scan:
//
//   - away alarms that are due: connections idle for the away timeout. Each
//     is claimed by a conditional write (ClearAway, which still reports
//     the claim as this pass's when its request was retried after a lost
//     answer, and then deletes the alarm), then the user's away status is
//     announced if it changed;
//   - sessions that expired: connections whose heartbeats stopped for the
//     offline timeout. Each is claimed by a delete conditioned on it being
//     unchanged and still expired, its leave and offline events are
//     announced, and its connection is probed with GetConnection: when
//     the connection is gone (410, or its record is past the 2 h limit),
//     the connection, its subscriptions and every feature's state (locks
//     included) are removed through the clean-ups.
//
// Every step is conditional or idempotent, so two overlapping passes
// announce each change once and leave the same state. A claim cannot be
// taken back, and no later pass finds what it claimed: the user's sessions
// are read before it (the item stays for the next pass when that fails)
// and again after it, and when the read after it keeps failing the event
// is announced from the one before, the pass reporting the error. A
// session or away alarm that DynamoDB's TTL deletes before a pass finds it
// is announced from the table's stream instead (see sweep_ttl.go).
func (p *presenceFeature) sweep(ctx context.Context, now time.Time) error {
	endpoint := p.h.cfg.ManagementEndpoint
	if endpoint == "" {
		return fmt.Errorf("sweep presence: %w", ErrNoManagementEndpoint)
	}
	bc := p.h.broadcaster(endpoint)
	away, errAway := p.sweepAway(ctx, bc, now)
	expired, removed, errExpired := p.sweepExpired(ctx, bc, endpoint, now)
	p.h.log.InfoContext(ctx, "presence swept", "route", "sweeper", "away", away, "offline", expired, "connectionsRemoved", removed)
	metrics.From(ctx).Add(metrics.SweepRemoved, float64(away+expired+removed), metrics.Count)
	return errors.Join(errAway, errExpired)
}

// sweepAway handles the due away alarms and returns how many it claimed.
func (p *presenceFeature) sweepAway(ctx context.Context, bc *broadcast.Broadcaster, now time.Time) (int, error) {
	alarms, err := p.h.deps.Store.ExpiredAway(ctx, now, p.cfg.SweepBatch)
	if err != nil {
		return 0, fmt.Errorf("sweep away alarms: %w", err)
	}
	var (
		errs    []error
		claimed int
	)
	for _, a := range alarms {
		if deadline.Near(ctx, deadline.SweepReserve) {
			break // the invocation is about to end: the rest next pass
		}
		ok, err := p.claimAway(ctx, bc, a, now)
		if ok {
			claimed++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return claimed, errors.Join(errs...)
}

// claimAway claims the due away alarm a and announces its user's status
// if it changed. It reports whether it claimed a; an error with true means
// the announcement was made from the read taken before the claim.
func (p *presenceFeature) claimAway(ctx context.Context, bc *broadcast.Broadcaster, a store.AwayAlarm, now time.Time) (bool, error) {
	st := p.h.deps.Store
	// Read before the claim, which cannot be taken back: when the read
	// after it fails, the announcement is made from this one rather than
	// lost. When this one fails, the alarm stays for the next pass.
	prior, err := p.readSessions(ctx, a.Tenant, a.UserID)
	if err != nil {
		return false, fmt.Errorf("sessions of %q: %w", a.UserID, err)
	}
	ok, err := st.ClearAway(ctx, a, now)
	if err != nil {
		return false, fmt.Errorf("clear away alarm of %q: %w", a.ConnID, err)
	}
	if !ok {
		return false, nil
	}
	cur, rerr := p.sessionsAroundClaim(ctx, a.Tenant, a.UserID)
	if rerr != nil {
		cur = prior
		rerr = fmt.Errorf("sessions of %q after claiming the away alarm of %q (announced from the read before): %w", a.UserID, a.ConnID, rerr)
	}
	p.announceAway(ctx, bc, a, cur, now)
	return true, rerr
}

// announceAway announces what the due away alarm a, claimed (or removed
// by DynamoDB's TTL, see awayRemovedByTTL), changes for its user, cur
// being the user's sessions: nothing when its connection is offline
// already (the expiry path announces that) or was active since. It
// reports whether it announced anything.
func (p *presenceFeature) announceAway(ctx context.Context, bc *broadcast.Broadcaster, a store.AwayAlarm, cur userSessions, now time.Time) bool {
	i := slices.IndexFunc(cur.live, func(s store.Session) bool { return s.ConnID == a.ConnID })
	if i < 0 {
		return false
	}
	// The state just before this connection's idle time reached the
	// timeout against the state at the alarm: only that crossing lies in
	// between. The alarm is in whole seconds, rounded up, so the crossing
	// is at or before it; one after it means the connection was active
	// since, and its next write arms a new alarm.
	crossed := cur.live[i].LastActive.Add(p.cfg.AwayTimeout)
	if crossed.After(a.At) {
		return false
	}
	sessions := append(slices.Clone(cur.live), unclaimed(cur.expired, a.ConnID)...)
	ev := presence.Diff(sessions, crossed.Add(-time.Nanosecond), sessions, a.At, p.cfg.AwayTimeout)
	return p.announce(ctx, bc, a.Tenant, a.UserID, "", ev, now)
}

// userSessions is one read of a user's sessions: the live ones and the
// expired ones not claimed yet (Presences.UserSessionsWithExpired).
type userSessions struct {
	live, expired []store.Session
}

// readSessions reads the sessions of a user.
func (p *presenceFeature) readSessions(ctx context.Context, tenant, userID string) (userSessions, error) {
	live, expired, err := p.h.deps.Store.UserSessionsWithExpired(ctx, tenant, userID)
	return userSessions{live: live, expired: expired}, err
}

// claimReadAttempts bounds the reads of a user's sessions around a claim
// (an away alarm cleared, an expired session deleted, the session of a
// removed connection deleted).
const claimReadAttempts = 4

// Backoff between those reads: a random wait below claimReadBackoff,
// doubling with each attempt up to claimReadBackoffMax (see
// backoff.Jitter). A throttled or failing table gets time to recover
// rather than three reads in a row.
const (
	claimReadBackoff    = 100 * time.Millisecond
	claimReadBackoffMax = time.Second
)

// sessionsAroundClaim reads the sessions of a user around a claim. The
// claim cannot be taken back and no one else will announce it, so a
// failed read is tried again after a backoff, up to claimReadAttempts
// reads and while the invocation keeps half the sweeper's reserve.
func (p *presenceFeature) sessionsAroundClaim(ctx context.Context, tenant, userID string) (userSessions, error) {
	for attempt := 1; ; attempt++ {
		u, err := p.readSessions(ctx, tenant, userID)
		if err == nil || attempt >= claimReadAttempts || ctx.Err() != nil {
			return u, err
		}
		wait := backoff.Jitter(attempt, claimReadBackoff, claimReadBackoffMax)
		if deadline.Near(ctx, deadline.SweepReserve/2+wait) || backoff.Wait(ctx, wait) != nil {
			return u, err
		}
	}
}

// sweepExpired handles expired sessions and returns how many it claimed
// and how many connections it removed.
func (p *presenceFeature) sweepExpired(ctx context.Context, bc *broadcast.Broadcaster, endpoint string, now time.Time) (int, int, error) {
	st := p.h.deps.Store
	sessions, err := st.ExpiredSessions(ctx, now, p.cfg.SweepBatch)
	if err != nil {
		return 0, 0, fmt.Errorf("sweep expired sessions: %w", err)
	}
	var (
		errs             []error
		claimed, removed int
	)
	for _, s := range sessions {
		if deadline.Near(ctx, deadline.SweepReserve) {
			break // the invocation is about to end: the rest next pass
		}
		// Read before the claim, for its announcement to fall back on
		// (see claimExpired); when this read fails, the session stays
		// for the next pass.
		prior, err := p.readSessions(ctx, s.Tenant, s.UserID)
		if err != nil {
			errs = append(errs, fmt.Errorf("sessions of %q: %w", s.UserID, err))
			continue
		}
		ok, _, err := p.claimExpired(ctx, bc, s, prior, now)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok {
			continue // refreshed, or handled by an overlapping pass
		}
		claimed++
		gone, err := p.removeIfGone(ctx, s, endpoint)
		if err != nil {
			errs = append(errs, err)
		}
		if gone {
			removed++
		}
	}
	return claimed, removed, errors.Join(errs...)
}

// removeIfGone removes the connection of s, a session just announced
// gone, when the connection no longer exists (see gone): its record, its
// subscriptions and, through the clean-ups, every feature's state (locks
// included). A connection that is open but silent keeps them: it is
// offline until it speaks again. It reports whether it removed it.
func (p *presenceFeature) removeIfGone(ctx context.Context, s store.Session, endpoint string) (bool, error) {
	gone, err := p.gone(ctx, s.ConnID, endpoint)
	if err != nil {
		return false, fmt.Errorf("probe %q: %w", s.ConnID, err)
	}
	if !gone {
		return false, nil
	}
	c, chans, err := p.h.deps.Store.DeleteConnection(ctx, s.ConnID)
	if err != nil {
		return false, fmt.Errorf("remove connection %q: %w", s.ConnID, err)
	}
	if c.ID == "" {
		// The record is past its lifetime: clean up by what the session
		// knows, so that other features still release the connection's
		// state.
		c = store.Connection{ID: s.ConnID, UserID: s.UserID, Username: s.Username, Avatar: s.Avatar,
			Tenant: s.Tenant, Endpoint: endpoint}
	}
	p.h.requests.Forget(c.ID)
	p.h.cursors.Forget(c.ID)
	p.h.cleanup(ctx, c, chans)
	return true, nil
}

// claimExpired removes the expired session s, if it is still stored as
// read and still expired, and announces its departure: its room leaves
// and, when it was the user's last session (counting the user's other
// expired sessions that are not claimed yet), the user offline. It reports
// whether it removed s (false: refreshed or claimed by someone else).
// The sweeper claims the sessions it finds; a connection that speaks
// again after its session expired claims its own before a new one is
// written over it. prior is the user's sessions read before the claim:
// when the read after it fails, the departure is announced from prior,
// and the error is returned with true. announced tells whether the
// departure was any event (a hidden session's is none).
func (p *presenceFeature) claimExpired(ctx context.Context, bc *broadcast.Broadcaster, s store.Session, prior userSessions, now time.Time) (claimed, announced bool, err error) {
	ok, derr := p.h.deps.Store.DeleteExpiredSession(ctx, s, now)
	var cerr error
	if derr != nil {
		// The removal may have landed with its answer lost (every
		// retry's): then no later pass finds the session, so a read
		// tells, as for a clean-up's removal (see removedDespite). Gone,
		// or unknown, it is announced (twice rather than never, should
		// someone else have claimed it meanwhile).
		cerr = fmt.Errorf("delete expired session of %q: %w", s.ConnID, derr)
		if p.stillStored(ctx, s.Tenant, s.UserID, s.ConnID) {
			return false, false, cerr // still there (or back): a later pass claims it
		}
		p.h.log.WarnContext(ctx, "claim of an expired session failed, and it is gone or cannot be read; announcing its departure",
			"connectionId", s.ConnID, "error", derr)
	} else if !ok {
		return false, false, nil
	}
	p.conns.forget(s.ConnID)
	for _, room := range s.Rooms {
		p.rooms.remove(roomKey(s.Tenant, protocol.RoomChannel(room)), s.ConnID)
	}
	announced, err = p.announceGone(ctx, bc, s, &prior, now)
	if err != nil {
		return true, announced, errors.Join(cerr, fmt.Errorf("sessions of %q after claiming the expired session of %q (announced from the read before): %w", s.UserID, s.ConnID, err))
	}
	return true, announced, cerr
}

// gone reports whether connection id no longer exists: its record is
// absent (past the API Gateway lifetime, or removed), or GetConnection
// answers 410. When the poster cannot probe, the connection is assumed to
// exist.
func (p *presenceFeature) gone(ctx context.Context, id, endpoint string) (bool, error) {
	if _, err := p.h.deps.Store.GetConnection(ctx, id); errors.Is(err, store.ErrNotFound) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	prober, ok := p.h.client(endpoint).(connectionProber)
	if !ok {
		return false, nil
	}
	_, err := prober.GetConnection(ctx, id)
	switch {
	case err == nil:
		return false, nil
	case p.h.deps.IsGone(err):
		return true, nil
	}
	return false, err
}
