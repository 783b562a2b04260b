package handler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// maxTTLMillis is the largest ttl, in milliseconds, that a time.Duration
// holds (about 292 years).
const maxTTLMillis = math.MaxInt64 / int64(time.Millisecond)

// lockTTL returns the lifetime a request asks for, defaulted and capped.
// A negative ttl, or one too large for a duration, is refused; the
// comparison with the cap is made in milliseconds, so nothing overflows.
func (f *editingFeature) lockTTL(ms int64) (time.Duration, error) {
	switch {
	case ms < 0 || ms > maxTTLMillis:
		return 0, protocol.NewError(protocol.CodeBadRequest, "ttl must be 1..%d milliseconds (longer ones are capped)", maxTTLMillis)
	case ms == 0:
		return f.cfg.LockTTL, nil
	case ms >= f.cfg.MaxLockTTL.Milliseconds():
		return f.cfg.MaxLockTTL, nil
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

func (f *editingFeature) lockRequest(r *request) (store.EntityKey, time.Duration, error) {
	var p protocol.LockPayload
	if err := decodePayload(r, &p); err != nil {
		return store.EntityKey{}, 0, err
	}
	e, err := f.entity(r, p.EntityRef, true)
	if err != nil {
		return store.EntityKey{}, 0, err
	}
	ttl, err := f.lockTTL(p.TTL)
	return e, ttl, err
}

// announceLock broadcasts a lock event on edit-locks and the entity's
// channel.
func (f *editingFeature) announceLock(ctx context.Context, bc *broadcast.Broadcaster, l store.Lock, action, reason, userID string) {
	ev := protocol.LockEvent{Action: action, EntityType: l.Entity.Type, EntityID: l.Entity.ID, Lock: lockOf(l), Reason: reason}
	id := fmt.Sprintf("lock-%s-%d-%s-%d", channelOf(l.Entity), l.Token, action, f.h.now().UnixNano())
	f.announce(ctx, bc, l.Entity.Tenant, protocol.TypeEventLock, userID, id, ev, protocol.ChannelLocks, channelOf(l.Entity))
}

// lockAcquire grants the lock, or renews it for its holder. Another
// holder answers LOCK_HELD naming them.
func (f *editingFeature) lockAcquire(ctx context.Context, r *request) (any, error) {
	e, ttl, err := f.lockRequest(r)
	if err != nil {
		return nil, err
	}
	now := r.now
	l, err := f.h.deps.Store.AcquireLock(ctx, store.Lock{
		Entity: e, Holder: r.conn.UserID, HolderName: r.conn.Username, ConnID: r.conn.ID,
		AcquiredAt: now, ExpiresAt: expiry(now, ttl),
	})
	if errors.Is(err, store.ErrLockHeld) {
		name := l.HolderName
		if name == "" {
			name = l.Holder
		}
		return nil, protocol.NewError(protocol.CodeLockHeld, "%s is locked by %s", channelOf(e), name).
			WithDetails(map[string]any{"lock": lockOf(l)})
	}
	if err != nil {
		return nil, err
	}
	action := protocol.LockAcquired
	if !l.AcquiredAt.Equal(now) {
		action = protocol.LockRenewed
	}
	f.announceLock(ctx, r.bc, l, action, "", r.conn.UserID)
	return map[string]any{"lock": lockOf(l), "renewed": action == protocol.LockRenewed}, nil
}

// lockRenew extends the caller's lock.
func (f *editingFeature) lockRenew(ctx context.Context, r *request) (any, error) {
	e, ttl, err := f.lockRequest(r)
	if err != nil {
		return nil, err
	}
	l, err := f.h.deps.Store.RenewLock(ctx, e, r.conn.UserID, r.conn.ID, expiry(r.now, ttl))
	if errors.Is(err, store.ErrNotHolder) {
		return nil, f.notHolder(ctx, e)
	}
	if err != nil {
		return nil, err
	}
	f.announceLock(ctx, r.bc, l, protocol.LockRenewed, "", r.conn.UserID)
	return map[string]any{"lock": lockOf(l)}, nil
}

// lockRelease deletes the caller's lock.
func (f *editingFeature) lockRelease(ctx context.Context, r *request) (any, error) {
	var p protocol.EntityRef
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p, true)
	if err != nil {
		return nil, err
	}
	l, err := f.h.deps.Store.ReleaseLock(ctx, e, r.conn.UserID)
	if errors.Is(err, store.ErrNotHolder) {
		return nil, f.notHolder(ctx, e)
	}
	if err != nil {
		return nil, err
	}
	f.announceLock(ctx, r.bc, l, protocol.LockReleased, protocol.LockReleased, r.conn.UserID)
	return map[string]any{"released": true, "lock": lockOf(l)}, nil
}

// notHolder is the NOT_LOCK_HOLDER error, naming the current holder when
// there is one.
func (f *editingFeature) notHolder(ctx context.Context, e store.EntityKey) error {
	pe := protocol.NewError(protocol.CodeNotLockHolder, "you do not hold the lock on %s", channelOf(e))
	if l, err := f.h.deps.Store.GetLock(ctx, e); err == nil {
		pe = pe.WithDetails(map[string]any{"lock": lockOf(l)})
	}
	return pe
}

// releaseConnectionLocks is the clean-up of a removed connection: its
// locks are released and announced.
func (f *editingFeature) releaseConnectionLocks(ctx context.Context, c store.Connection, _ []string) {
	locks, err := f.h.deps.Store.ReleaseConnectionLocks(ctx, c.ID)
	if err != nil {
		f.h.log.WarnContext(ctx, "release connection locks", "connectionId", c.ID, "error", err)
	}
	if len(locks) == 0 {
		return
	}
	ep := c.Endpoint
	if ep == "" {
		ep = f.h.cfg.ManagementEndpoint
	}
	bc := f.h.broadcaster(ep)
	now := f.h.now()
	for _, l := range locks {
		if l.ExpiresAt.After(now) {
			f.announceLock(ctx, bc, l, protocol.LockReleased, "disconnected", l.Holder)
		} else {
			f.announceLock(ctx, bc, l, protocol.LockExpired, "", "")
		}
	}
}

// sweepLocks is the lock part of a sweeper pass: locks found expired
// through the expiry index are deleted, each on the condition that it is
// still the same expired grant, and announced.
func (f *editingFeature) sweepLocks(ctx context.Context, now time.Time) error {
	st := f.h.deps.Store
	locks, err := st.ExpiredLocks(ctx, now, f.cfg.SweepBatch)
	if err != nil {
		return fmt.Errorf("sweep locks: %w", err)
	}
	var (
		errs    []error
		expired int
	)
	for _, l := range locks {
		ok, err := st.DeleteExpiredLock(ctx, l)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep lock %q: %w", l.Entity, err))
			continue
		}
		if !ok {
			continue
		}
		expired++
		if ep := f.h.cfg.ManagementEndpoint; ep != "" {
			f.announceLock(ctx, f.h.broadcaster(ep), l, protocol.LockExpired, "", "")
		}
	}
	if expired > 0 && f.h.cfg.ManagementEndpoint == "" {
		f.h.log.WarnContext(ctx, "expired locks not announced: the sweeper has no management endpoint", "route", "sweeper", "expired", expired)
	}
	f.h.log.InfoContext(ctx, "locks swept", "route", "sweeper", "expired", expired)
	return errors.Join(errs...)
}
