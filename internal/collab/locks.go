package collab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// maxTTLMillis is the largest ttl, in milliseconds, that a time.Duration
// holds (about 292 years).
const maxTTLMillis = math.MaxInt64 / int64(time.Millisecond)

// lockTTL returns the lifetime a request asks for, defaulted and capped.
// A negative ttl, or one too large for a duration, is refused; the
// comparison with the cap is made in milliseconds, so nothing overflows.
func (s *Service) lockTTL(ms int64) (time.Duration, error) {
	switch {
	case ms < 0 || ms > maxTTLMillis:
		return 0, protocol.NewError(protocol.CodeBadRequest, "ttl must be 1..%d milliseconds (longer ones are capped)", maxTTLMillis)
	case ms == 0:
		return s.cfg.LockTTL, nil
	case ms >= s.cfg.MaxLockTTL.Milliseconds():
		return s.cfg.MaxLockTTL, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// expiry returns now+ttl rounded up to the second (expiry is stored to
// the second), so a lock lives at least ttl.
func expiry(now time.Time, ttl time.Duration) time.Time {
	t := now.Add(ttl)
	if r := t.Truncate(time.Second); r.Before(t) {
		return r.Add(time.Second)
	}
	return t
}

// announceLock broadcasts a lock event on edit-locks and the entity's
// channel.
func (s *Service) announceLock(ctx context.Context, n Notifier, l store.Lock, action, reason, userID string) {
	ev := protocol.LockEvent{Action: action, EntityType: l.Entity.Type, EntityID: l.Entity.ID, Lock: LockOf(l), Reason: reason}
	id := fmt.Sprintf("lock-%s-%d-%s-%d", Channel(l.Entity), l.Token, action, s.now().UnixNano())
	for _, ch := range []string{protocol.ChannelLocks, Channel(l.Entity)} {
		n.Broadcast(ctx, l.Entity.Tenant, ch, protocol.TypeEventLock, userID, id, ev)
	}
}

// Acquire grants the caller the lock on e for ttlMs milliseconds (0: the
// default; capped at MaxLockTTL), or renews it when the caller holds it
// already. Another holder answers LOCK_HELD naming them.
func (s *Service) Acquire(ctx context.Context, c Call, e store.EntityKey, ttlMs int64) (protocol.LockAcquireReply, error) {
	ttl, err := s.lockTTL(ttlMs)
	if err != nil {
		return protocol.LockAcquireReply{}, err
	}
	l, err := s.st.AcquireLock(ctx, store.Lock{
		Entity: e, Holder: c.Conn.UserID, HolderName: c.Conn.Username, ConnID: c.Conn.ID,
		AcquiredAt: c.Now, ExpiresAt: expiry(c.Now, ttl),
	})
	if errors.Is(err, store.ErrLockHeld) {
		metrics.From(ctx).Add(metrics.LockContention, 1, metrics.Count)
		name := l.HolderName
		if name == "" {
			name = l.Holder
		}
		return protocol.LockAcquireReply{}, protocol.NewError(protocol.CodeLockHeld, "%s is locked by %s", Channel(e), name).
			WithDetails(map[string]any{"lock": LockOf(l)})
	}
	if err != nil {
		return protocol.LockAcquireReply{}, err
	}
	action := protocol.LockAcquired
	if !l.AcquiredAt.Equal(c.Now) {
		action = protocol.LockRenewed
	}
	s.announceLock(ctx, c.Notify, l, action, "", c.Conn.UserID)
	return protocol.LockAcquireReply{Lock: LockOf(l), Renewed: action == protocol.LockRenewed}, nil
}

// Renew extends the caller's lock on e by ttlMs milliseconds from now
// (0: the default). Without it: NOT_LOCK_HOLDER.
func (s *Service) Renew(ctx context.Context, c Call, e store.EntityKey, ttlMs int64) (protocol.LockRenewReply, error) {
	ttl, err := s.lockTTL(ttlMs)
	if err != nil {
		return protocol.LockRenewReply{}, err
	}
	l, err := s.st.RenewLock(ctx, e, c.Conn.UserID, c.Conn.ID, expiry(c.Now, ttl))
	if errors.Is(err, store.ErrNotHolder) {
		return protocol.LockRenewReply{}, s.notHolder(ctx, e)
	}
	if err != nil {
		return protocol.LockRenewReply{}, err
	}
	s.announceLock(ctx, c.Notify, l, protocol.LockRenewed, "", c.Conn.UserID)
	return protocol.LockRenewReply{Lock: LockOf(l)}, nil
}

// Release deletes the caller's lock on e. A release is idempotent for
// the holder (see released): when the caller's lock is gone already, it
// answers as the release did. Otherwise, without the lock:
// NOT_LOCK_HOLDER.
func (s *Service) Release(ctx context.Context, c Call, e store.EntityKey) (protocol.LockReleaseReply, error) {
	l, err := s.st.ReleaseLock(ctx, e, c.Conn.UserID)
	if errors.Is(err, store.ErrNotHolder) {
		return s.released(ctx, c, e, l)
	}
	if err != nil {
		return protocol.LockReleaseReply{}, err
	}
	s.announceLock(ctx, c.Notify, l, protocol.LockReleased, protocol.LockReleased, c.Conn.UserID)
	return protocol.LockReleaseReply{Released: true, Lock: LockOf(l)}, nil
}

// released answers a release the store refused with ErrNotHolder; stored
// is the lock item the store found (zero when none). A client resends its
// unanswered requests after a drop, a release whose first attempt landed
// included, so when the caller's lock is gone and no one holds the entity since,
// the answer is the one of the release, announcing nothing: the first
// attempt announced it, or the sweeper announces the expiry. That is the
// case when the stored item is the caller's expired grant, or when no
// item is stored and the last grant (store.Locks.LastGrant) went to the
// caller; that grant's lock has as expiresAt the reply's time, the latest
// it can have ended. Another user's lock, live or expired, or a last
// grant to another user, answers NOT_LOCK_HOLDER.
func (s *Service) released(ctx context.Context, c Call, e store.EntityKey, stored store.Lock) (protocol.LockReleaseReply, error) {
	switch {
	case stored.Holder == c.Conn.UserID:
		return protocol.LockReleaseReply{Released: true, Lock: LockOf(stored)}, nil
	case stored.Holder != "":
		return protocol.LockReleaseReply{}, s.notHolder(ctx, e)
	}
	last, ok, err := s.st.LastGrant(ctx, e)
	switch {
	case err != nil:
		return protocol.LockReleaseReply{}, err
	case !ok:
		return protocol.LockReleaseReply{}, s.notHolder(ctx, e) // never locked, or locked since
	case last.Holder != c.Conn.UserID:
		return protocol.LockReleaseReply{}, errNotHolder(e) // no lock to name
	}
	last.ExpiresAt = c.Now
	return protocol.LockReleaseReply{Released: true, Lock: LockOf(last)}, nil
}

// notHolder is the NOT_LOCK_HOLDER error, naming the current holder when
// there is one.
func (s *Service) notHolder(ctx context.Context, e store.EntityKey) error {
	pe := errNotHolder(e)
	if l, err := s.st.GetLock(ctx, e); err == nil {
		pe = pe.WithDetails(map[string]any{"lock": LockOf(l)})
	}
	return pe
}

// errNotHolder is the NOT_LOCK_HOLDER error on e, naming no lock.
func errNotHolder(e store.EntityKey) *protocol.Error {
	return protocol.NewError(protocol.CodeNotLockHolder, "you do not hold the lock on %s", Channel(e))
}

// ReleaseLocksOf is the clean-up of a removed connection: its locks are
// released and announced through n, as released ("disconnected") or, when
// they had lapsed already, expired. Failures are logged.
func (s *Service) ReleaseLocksOf(ctx context.Context, conn store.Connection, n Notifier) {
	locks, err := s.st.ReleaseConnectionLocks(ctx, conn.ID)
	if err != nil {
		s.log.WarnContext(ctx, "release connection locks", "connectionId", conn.ID, "error", err)
	}
	now := s.now()
	for _, l := range locks {
		if l.ExpiresAt.After(now) {
			s.announceLock(ctx, n, l, protocol.LockReleased, "disconnected", l.Holder)
		} else {
			s.announceLock(ctx, n, l, protocol.LockExpired, "", "")
		}
	}
}

// SweepLocks is the lock part of a sweeper pass: locks found expired
// through the expiry index are deleted, each on the condition that it is
// still the same expired grant, and announced through n; with a nil n
// they are not announced (and a warning says so). A lock that DynamoDB's
// TTL deleted first is announced by LockRemovedByTTL instead.
func (s *Service) SweepLocks(ctx context.Context, now time.Time, n Notifier) error {
	locks, err := s.st.ExpiredLocks(ctx, now, s.cfg.SweepBatch)
	if err != nil {
		return fmt.Errorf("sweep locks: %w", err)
	}
	var (
		errs    []error
		expired int
	)
	for _, l := range locks {
		if deadline.Near(ctx, deadline.SweepReserve) {
			break // the invocation is about to end: the rest next pass
		}
		ok, err := s.st.DeleteExpiredLock(ctx, l)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep lock %q: %w", l.Entity, err))
			continue
		}
		if !ok {
			continue
		}
		expired++
		if n != nil {
			s.announceLock(ctx, n, l, protocol.LockExpired, "", "")
		}
	}
	if expired > 0 && n == nil {
		s.log.WarnContext(ctx, "expired locks not announced: the sweeper has no management endpoint", "route", "sweeper", "expired", expired)
	}
	s.log.InfoContext(ctx, "locks swept", "route", "sweeper", "expired", expired)
	metrics.From(ctx).Add(metrics.SweepRemoved, float64(expired), metrics.Count)
	return errors.Join(errs...)
}

// LockRemovedByTTL announces through n, as a sweeper pass announces an
// expired lock, that DynamoDB's TTL deleted the lock item of e at
// removedAt (the time of the stream's record): TTL deletes only what
// expired, and an expired lock is never renewed, so the grant had expired.
// A record of the removal carries only the item's key: the grant is the
// one e's fencing counter numbered last (LastGrant), with its holder,
// name and time as granted, and as expiresAt now, the latest it can have
// expired (the counter does not follow renewals). When e has a lock item
// again, nothing is announced: a later grant, whose acquired event
// replaced the lock for clients, and whose own expiry is announced in
// turn. When that later grant is gone too, its end is announced again
// (clients take an event about a grant they no longer show as nothing).
//
// The change feed gets the grant's expired as from the sweeper's claim
// (Locks.ExpiredByTTL, the outbox item DeleteExpiredLock writes), written
// before the announcement, when the grant can be the one TTL removed
// (removedByTTL). A grant that cannot is a later one, which ended
// otherwise (released, or claimed by the sweeper or a clean-up, each
// writing its own event): it gets none, and its announcement is a repeat
// that clients drop; the grant TTL removed then has no expired in the
// feed, since nothing tells its holder. A counter written before grants
// recorded their holder and time tells neither: its grant is announced
// (clients match it by token) but gets no event in the feed, which would
// name no holder. It reports whether the announcement is one clients may
// act on (every one but a later grant's); an error (a read or the write
// failed) means nothing was announced.
func (s *Service) LockRemovedByTTL(ctx context.Context, e store.EntityKey, removedAt, now time.Time, n Notifier) (bool, error) {
	l, ok, err := s.st.LastGrant(ctx, e)
	if err != nil {
		return false, fmt.Errorf("last grant of %q: %w", e, err)
	}
	if !ok {
		return false, nil
	}
	known := l.Holder != "" && !l.AcquiredAt.IsZero()
	removed := known && s.removedByTTL(l, removedAt)
	l.ExpiresAt = now
	if removed {
		if err := s.st.ExpiredByTTL(ctx, l); err != nil {
			return false, fmt.Errorf("expired event of %q token %d: %w", e, l.Token, err)
		}
	}
	s.announceLock(ctx, n, l, protocol.LockExpired, "", "")
	return removed || !known, nil
}

// removedByTTL reports whether grant l, as its fencing counter recorded
// it, can be the one whose lock item TTL removed at removedAt (a stream
// record's time, whole seconds rounded down). TTL removes an item only
// once its expiresAt, stored in whole seconds, has passed, so removedAt
// is no earlier than it, and every expiresAt the grant had (renewals
// included) is later than when the store wrote it (GrantedAt), unless a
// request took longer than the lifetime it asked for: the grant TTL
// removed was written before removedAt. A later grant committed after
// the removal, so its write found the lock item gone, and its GrantedAt,
// taken after that read, is no earlier than the removal nor than
// removedAt, whenever its request started. A counter last written by a
// version before grants recorded GrantedAt (none, or an earlier grant's,
// before this grant's AcquiredAt) keeps the former rule: a grant lives
// at least the shortest lifetime a request gets (minLockTTL) from its
// acquiredAt,
// so one acquired later than removedAt less that lifetime came after the
// removal (a later grant whose request started within that lifetime
// before the removal and committed after it passes too: acquiredAt is
// the request's start).
func (s *Service) removedByTTL(l store.Lock, removedAt time.Time) bool {
	// A grant's write comes after its request's start: a GrantedAt before
	// AcquiredAt is an earlier grant's, left by an earlier version that
	// wrote this grant without it (a rollback, or functions part-updated).
	if !l.GrantedAt.IsZero() && !l.GrantedAt.Before(l.AcquiredAt) {
		return l.GrantedAt.Before(removedAt)
	}
	return !l.AcquiredAt.Add(s.minLockTTL()).After(removedAt)
}

// minLockTTL is the shortest lifetime lockTTL grants: a millisecond, the
// least a request may name, or the configured default or cap when
// shorter.
func (s *Service) minLockTTL() time.Duration {
	return min(time.Millisecond, s.cfg.LockTTL, s.cfg.MaxLockTTL)
}
