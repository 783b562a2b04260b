package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// EditingConfig tunes edit locks, versioned changes, conflict strategies,
// history and comments; see collab.Config.
type EditingConfig = collab.Config

// editingRoutes are the routes of locks, changes, sync, history, undo,
// conflicts and comments. Each decodes its payload, authorizes the caller
// on the entity's channel, calls the editing service and returns its
// reply; the service does the rest.
type editingRoutes struct {
	h   *Handler
	svc *collab.Service
}

// registerEditing adds locks, versioned changes, history, undo and comments.
func (h *Handler) registerEditing() {
	f := &editingRoutes{h: h, svc: collab.New(h.cfg.Editing, h.deps.Store, h.deps.Clock, h.log)}
	h.routes[protocol.TypeLockAcquire] = f.lockAcquire
	h.routes[protocol.TypeLockRenew] = f.lockRenew
	h.routes[protocol.TypeLockRelease] = f.lockRelease
	h.routes[protocol.TypeChange] = f.change
	h.routes[protocol.TypeSync] = f.sync
	h.routes[protocol.TypeHistory] = f.history
	h.routes[protocol.TypeUndo] = f.undo
	h.routes[protocol.TypeConflictSolve] = f.resolveConflict
	h.routes[protocol.TypeCommentAdd] = f.commentAdd
	h.routes[protocol.TypeCommentResolve] = f.commentResolve
	h.routes[protocol.TypeCommentList] = f.commentList
	h.cleanups = append(h.cleanups, f.releaseConnectionLocks)
	h.sweeps = append(h.sweeps, f.sweepLocks)
	h.removedByTTL = append(h.removedByTTL, f.lockRemovedByTTL)
}

// decodePayload decodes r's payload into v, keeping numbers exact. Like
// protocol.DecodePayload, it refuses an object decoded into a struct that
// gives a field twice, by names that differ only in case.
func decodePayload(r *request, v any) error {
	if len(r.env.Payload) == 0 {
		return protocol.NewError(protocol.CodeBadRequest, "missing field %q", "payload")
	}
	if err := protocol.CheckFieldNames(r.env, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(r.env.Payload))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return protocol.NewError(protocol.CodeBadRequest, "payload fields have the wrong types")
	}
	return nil
}

// entity validates the entity named by ref and checks that the caller may
// write it (write: publish on its channel) or read it (subscribe).
func (f *editingRoutes) entity(r *request, ref protocol.EntityRef, write bool) (store.EntityKey, error) {
	e, err := collab.Entity(r.conn.Tenant, ref)
	if err != nil {
		return store.EntityKey{}, err
	}
	perm := auth.Subscribe
	if write {
		perm = auth.Publish
	}
	if err := f.h.authorize(r.conn, perm, collab.Channel(e)); err != nil {
		return store.EntityKey{}, err
	}
	return e, nil
}

// decode decodes r's payload into p and returns the entity that ref (a
// part of p) names, once the caller is authorized on it.
func (f *editingRoutes) decode(r *request, p any, ref *protocol.EntityRef, write bool) (store.EntityKey, error) {
	if err := decodePayload(r, p); err != nil {
		return store.EntityKey{}, err
	}
	return f.entity(r, *ref, write)
}

// call is the service call of request r.
func (f *editingRoutes) call(r *request) collab.Call {
	return collab.Call{Conn: r.conn, MessageID: r.env.MessageID, RequestHash: protocol.RequestHash(r.env), Now: r.now,
		Notify: &notifier{h: f.h, bc: r.bc}}
}

func (f *editingRoutes) lockAcquire(ctx context.Context, r *request) (any, error) {
	var p protocol.LockPayload
	e, err := f.decode(r, &p, &p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	if err := f.lockRoom(ctx, r, e, true); err != nil {
		return nil, err
	}
	reply, err := f.svc.Acquire(ctx, f.call(r), e, p.TTL)
	return reply, lockConnGone(err)
}

func (f *editingRoutes) lockRenew(ctx context.Context, r *request) (any, error) {
	var p protocol.LockPayload
	e, err := f.decode(r, &p, &p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	if err := f.lockRoom(ctx, r, e, false); err != nil {
		return nil, err
	}
	reply, err := f.svc.Renew(ctx, f.call(r), e, p.TTL)
	return reply, lockConnGone(err)
}

// lockRoom refuses with TOO_MANY_LOCKS a lock.acquire (grant true) or
// lock.renew on e that would give r's connection one live lock more while
// it holds Config.MaxLocksPerConnection of them: a new grant, or a
// renewal that moves the caller's lock from another of their connections
// to this one. A renewal of a lock this connection holds always passes,
// as does a request the service refuses anyway (another user's lock:
// LOCK_HELD or NOT_LOCK_HOLDER; lock.renew of no lock: NOT_LOCK_HOLDER).
//
// The count is a read of the connection's reverse lock items
// (store.Locks.CountConnectionLocks) before the write, not a condition
// of it: concurrent requests of one connection may pass the bound by the
// number in flight at once. Each instance's request limit (20 a second,
// bursts of 40) bounds those it handles, but API Gateway may hand one
// connection's frames to several instances at once, so the bound holds
// for a client that waits for its answers, not exactly for one that
// floods. The lock itself is read only at the bound.
func (f *editingRoutes) lockRoom(ctx context.Context, r *request, e store.EntityKey, grant bool) error {
	max := f.h.cfg.MaxLocksPerConnection
	n, err := f.h.deps.Store.CountConnectionLocks(ctx, r.conn.ID)
	if err != nil || n < max {
		return err
	}
	l, err := f.h.deps.Store.GetLock(ctx, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !grant {
			return nil
		}
	case err != nil:
		return err
	case l.Holder != r.conn.UserID || l.ConnID == r.conn.ID:
		return nil
	}
	return protocol.NewError(protocol.CodeTooManyLocks, "at most %d locks per connection", max)
}

// lockConnGone answers a lock grant or renewal refused because the
// frame's connection is gone (store.ErrNotFound: its $disconnect ran
// after the frame read it) as a frame of an unregistered connection.
func lockConnGone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errNotRegistered()
	}
	return err
}

func (f *editingRoutes) lockRelease(ctx context.Context, r *request) (any, error) {
	var p protocol.EntityRef
	e, err := f.decode(r, &p, &p, true)
	if err != nil {
		return nil, err
	}
	return f.svc.Release(ctx, f.call(r), e)
}

func (f *editingRoutes) change(ctx context.Context, r *request) (any, error) {
	var p protocol.ChangePayload
	e, err := f.decode(r, &p, &p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	return f.svc.Change(ctx, f.call(r), e, p)
}

func (f *editingRoutes) sync(ctx context.Context, r *request) (any, error) {
	var p protocol.SyncPayload
	e, err := f.decode(r, &p, &p.EntityRef, false)
	if err != nil {
		return nil, err
	}
	return f.svc.Sync(ctx, e, p)
}

func (f *editingRoutes) history(ctx context.Context, r *request) (any, error) {
	var p protocol.HistoryPayload
	e, err := f.decode(r, &p, &p.EntityRef, false)
	if err != nil {
		return nil, err
	}
	return f.svc.History(ctx, e, p)
}

func (f *editingRoutes) undo(ctx context.Context, r *request) (any, error) {
	var p protocol.UndoPayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	ref, v, err := collab.UndoTarget(p)
	if err != nil {
		return nil, err
	}
	e, err := f.entity(r, ref, true)
	if err != nil {
		return nil, err
	}
	return f.svc.Undo(ctx, f.call(r), e, v, p.FencingToken, p.Metadata)
}

func (f *editingRoutes) resolveConflict(ctx context.Context, r *request) (any, error) {
	var p protocol.ResolvePayload
	e, err := f.decode(r, &p, &p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	return f.svc.Resolve(ctx, f.call(r), e, p)
}

func (f *editingRoutes) commentAdd(ctx context.Context, r *request) (any, error) {
	var p protocol.CommentAddPayload
	e, err := f.decode(r, &p, &p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	return f.svc.AddComment(ctx, f.call(r), e, p)
}

// commentResolve needs publish on the entity channel, and the caller must
// be the comment's author or a moderator (see internal/auth/POLICY.md,
// "Ownership").
func (f *editingRoutes) commentResolve(ctx context.Context, r *request) (any, error) {
	var p protocol.CommentResolvePayload
	e, err := f.decode(r, &p, &p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	cur, err := f.svc.Comment(ctx, e, p.CommentID)
	if err != nil {
		return nil, err
	}
	// A comment's author never changes, so this check cannot race the
	// write.
	if err := f.h.authorizeOwner(r.conn, cur.UserID); err != nil {
		return nil, err
	}
	return f.svc.ResolveComment(ctx, f.call(r), e, p.CommentID, p.Resolved == nil || *p.Resolved)
}

func (f *editingRoutes) commentList(ctx context.Context, r *request) (any, error) {
	var p protocol.CommentListPayload
	e, err := f.decode(r, &p, &p.EntityRef, false)
	if err != nil {
		return nil, err
	}
	return f.svc.ListComments(ctx, e, p)
}

// releaseConnectionLocks is the clean-up of a removed connection: its
// locks are released and announced through its endpoint.
func (f *editingRoutes) releaseConnectionLocks(ctx context.Context, c store.Connection, _ []string) {
	f.svc.ReleaseLocksOf(ctx, c, &notifier{h: f.h, endpoint: f.h.endpointOf(c)})
}

// sweepLocks is the lock part of a sweeper pass; expired locks are
// announced through the configured management endpoint, if any.
func (f *editingRoutes) sweepLocks(ctx context.Context, now time.Time) error {
	var n collab.Notifier
	if ep := f.h.cfg.ManagementEndpoint; ep != "" {
		n = &notifier{h: f.h, endpoint: ep}
	}
	return f.svc.SweepLocks(ctx, now, n)
}

// lockRemovedByTTL announces the removal by DynamoDB's TTL, at
// removedAt, of the lock item whose key is (pk, sk) as the sweeper's pass
// announces an expired lock, through the configured management endpoint,
// and writes its expired to the change feed as the pass's claim does; it
// ignores the keys of other items. It reports whether it announced an
// expiry clients may act on (not a later grant's); an error means
// nothing was announced (see collab.Service.LockRemovedByTTL).
func (f *editingRoutes) lockRemovedByTTL(ctx context.Context, pk, sk string, removedAt, now time.Time) (bool, error) {
	e, ok := store.ParseLockKey(pk, sk)
	if !ok {
		return false, nil
	}
	ep, err := f.h.ttlEndpoint("lock")
	if err != nil {
		return false, err
	}
	return f.svc.LockRemovedByTTL(ctx, e, removedAt, now, &notifier{h: f.h, endpoint: ep})
}

// notifier delivers the editing service's events through a broadcaster:
// bc, or the one of endpoint, made when the first event is sent.
type notifier struct {
	h        *Handler
	bc       *broadcast.Broadcaster
	endpoint string
}

var _ collab.Notifier = (*notifier)(nil)

func (n *notifier) broadcaster() *broadcast.Broadcaster {
	if n.bc == nil {
		n.bc = n.h.broadcaster(n.endpoint)
	}
	return n.bc
}

// Broadcast fans an event out to the channel's subscribers; failures are
// logged. An event about one entity goes on a tenant-wide channel
// (comments, edit-locks) only when everyone who may subscribe to that
// channel may subscribe to the entity's (auth.Policy.Covers); it still
// goes on the entity's channel.
func (n *notifier) Broadcast(ctx context.Context, tenant, channel, typ, userID, messageID string, payload any) {
	if entity, ok := eventEntity(payload); ok && channel != entity && !n.h.cfg.Policy.Covers(entity, channel) {
		return
	}
	frame, err := protocol.Event(typ, channel, userID, messageID, payload, n.h.now())
	if err == nil {
		_, err = n.broadcaster().Fanout(ctx, tenant, channel, frame, nil)
	}
	if err != nil {
		n.h.log.WarnContext(ctx, "broadcast "+typ, "channel", channel, "error", err)
	}
}

// eventEntity is the channel of the entity an event is about, for the
// events the editing service posts on tenant-wide channels too.
func eventEntity(payload any) (string, bool) {
	switch ev := payload.(type) {
	case protocol.CommentEvent:
		return protocol.EntityChannel(ev.Comment.EntityType, ev.Comment.EntityID), true
	case protocol.LockEvent:
		return protocol.EntityChannel(ev.EntityType, ev.EntityID), true
	}
	return "", false
}

// NotifyUsers posts an event to every live connection of each user.
func (n *notifier) NotifyUsers(ctx context.Context, tenant string, users []string, typ, channel, userID, messageID string, payload any) {
	frame, err := protocol.Event(typ, channel, userID, messageID, payload, n.h.now())
	if err != nil {
		n.h.log.WarnContext(ctx, "encode "+typ, "error", err)
		return
	}
	seen := map[string]bool{}
	for _, u := range users {
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		conns, err := n.h.deps.Store.UserConnections(ctx, tenant, u)
		if err != nil {
			n.h.log.WarnContext(ctx, "connections of user", "userId", u, "error", err)
			continue
		}
		for _, c := range conns {
			_ = n.broadcaster().Post(ctx, c.ID, frame) // Post logs failures and removes gone connections
		}
	}
}

// ActivityEntry completes an entry as the feed stores it (see
// activityEntry).
func (n *notifier) ActivityEntry(conn store.Connection, a store.Activity) (store.Activity, error) {
	return n.h.activityEntry(conn, a)
}

// AnnounceActivity broadcasts a stored entry (see announceActivity).
func (n *notifier) AnnounceActivity(ctx context.Context, conn store.Connection, a store.Activity) {
	n.h.announceActivity(ctx, conn, a)
}
