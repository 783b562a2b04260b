package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// EditingConfig tunes edit locks, versioned changes, conflict strategies,
// history and comments. The zero value gives the defaults noted on each
// field.
type EditingConfig struct {
	// Strategies maps entity types to their conflict strategy. Default
	// editing.DefaultStrategies(): order lock-based, inventory crdt,
	// customer operational-transform, pricing manual.
	Strategies map[string]editing.Strategy
	// Fallback is the strategy of entity types Strategies does not name.
	// Default last-write-wins.
	Fallback editing.Strategy
	// LockTTL is the lifetime of a lock when lock.acquire or lock.renew
	// names none. Default 30 s.
	LockTTL time.Duration
	// MaxLockTTL caps the lifetime a request may ask for; longer requests
	// are shortened to it. Default 5 min.
	MaxLockTTL time.Duration
	// HistoryLimit is the number of changes kept per entity: older ones are
	// deleted as new ones arrive, and sync answers a client further behind
	// with the whole document. Default 100.
	HistoryLimit int
	// IdempotencyTTL is how long the reply to a change, undo, conflict
	// resolution or comment is kept for resends of the same messageId.
	// Default 24 h.
	IdempotencyTTL time.Duration
	// ConflictRetention is how long a resolved conflict is kept.
	// Unresolved conflicts are kept until resolved. Default 30 days.
	ConflictRetention time.Duration
	// MaxDocumentBytes bounds an entity's document as JSON, so that a
	// document, or a change with its before and after values, fits in one
	// frame. Default 24 KiB: a change's value is at most 10 KiB (so that
	// its request fits in a 32 KB client frame), a document is built by
	// several changes, and a change that replaces or deletes a part of
	// the whole document still echoes in under 60 KiB. See docs/limits.md.
	MaxDocumentBytes int
	// MaxClockSkew bounds how far ahead of the server's clock a client's
	// HLC stamp (crdt entities) may be. Default 1 min.
	MaxClockSkew time.Duration
	// CommitAttempts bounds the read-decide-write rounds of one request
	// when concurrent writes to the entity win; the last loss answers
	// UNAVAILABLE, which clients retry with the same messageId. Default 25.
	CommitAttempts int
	// MaxCommentLen bounds a comment's text, in characters. Default 4000.
	MaxCommentLen int
	// SweepBatch is the number of expired locks one sweeper pass handles.
	// Default 500.
	SweepBatch int
	// NoWriteQueue turns off the queue that makes the writes of one process
	// to one entity take turns. With the queue (the default), concurrent
	// requests in a warm instance or the local server do not spend
	// conditional writes losing to each other; across instances the
	// conditional write on the head version decides either way. Default
	// false.
	NoWriteQueue bool
}

func (c EditingConfig) withDefaults() EditingConfig {
	if c.Strategies == nil {
		c.Strategies = editing.DefaultStrategies()
	}
	if c.Fallback == "" {
		c.Fallback = editing.DefaultStrategy
	}
	if c.LockTTL <= 0 {
		c.LockTTL = 30 * time.Second
	}
	if c.MaxLockTTL <= 0 {
		c.MaxLockTTL = 5 * time.Minute
	}
	if c.HistoryLimit <= 0 {
		c.HistoryLimit = 100
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.ConflictRetention <= 0 {
		c.ConflictRetention = 30 * 24 * time.Hour
	}
	if c.MaxDocumentBytes <= 0 {
		c.MaxDocumentBytes = 24 << 10
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = editing.DefaultMaxSkew
	}
	if c.CommitAttempts <= 0 {
		c.CommitAttempts = 25
	}
	if c.MaxCommentLen <= 0 {
		c.MaxCommentLen = 4000
	}
	if c.SweepBatch <= 0 {
		c.SweepBatch = 500
	}
	return c
}

// writeQueues is the number of queues entity writes are spread over.
const writeQueues = 64

// editingFeature serves locks, changes, sync, history, undo, conflicts
// and comments.
type editingFeature struct {
	h     *Handler
	cfg   EditingConfig
	table editing.Table
	// queues serialize the writes of this process to one entity: an
	// entity always maps to the same queue, a buffered channel of one.
	queues [writeQueues]chan struct{}
	// lastCommentMilli is the millisecond in the newest comment id this
	// process made (see commentMilli).
	lastCommentMilli atomic.Int64
}

// enqueue waits for e's write queue and returns the function that leaves
// it; with NoWriteQueue it returns at once.
func (f *editingFeature) enqueue(ctx context.Context, e store.EntityKey) (func(), error) {
	if f.cfg.NoWriteQueue {
		return func() {}, nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(e.String()))
	q := f.queues[h.Sum32()%writeQueues]
	select {
	case q <- struct{}{}:
		return func() { <-q }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// registerEditing adds locks, versioned changes, history, undo and comments.
func (h *Handler) registerEditing() {
	cfg := h.cfg.Editing.withDefaults()
	f := &editingFeature{h: h, cfg: cfg, table: editing.Table{Types: cfg.Strategies, Fallback: cfg.Fallback}}
	for i := range f.queues {
		f.queues[i] = make(chan struct{}, 1)
	}
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
}

// decodePayload decodes r's payload into v, keeping numbers exact.
func decodePayload(r *request, v any) error {
	if len(r.env.Payload) == 0 {
		return protocol.NewError(protocol.CodeBadRequest, "missing field %q", "payload")
	}
	dec := json.NewDecoder(bytes.NewReader(r.env.Payload))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return protocol.NewError(protocol.CodeBadRequest, "payload fields have the wrong types")
	}
	return nil
}

// entity validates the entity named by ref and checks that the caller may
// write it (write) or read it.
func (f *editingFeature) entity(r *request, ref protocol.EntityRef, write bool) (store.EntityKey, error) {
	if editing.ValidateName("entityType", ref.EntityType) != nil {
		return store.EntityKey{}, badName("entityType")
	}
	if editing.ValidateName("entityId", ref.EntityID) != nil {
		return store.EntityKey{}, badName("entityId")
	}
	perm := auth.Subscribe
	if write {
		perm = auth.Publish
	}
	if err := f.h.authorize(r.conn, perm, protocol.EntityChannel(ref.EntityType, ref.EntityID)); err != nil {
		return store.EntityKey{}, err
	}
	return store.EntityKey{Tenant: r.conn.Tenant, Type: ref.EntityType, ID: ref.EntityID}, nil
}

// channelOf is the entity's channel.
func channelOf(e store.EntityKey) string { return protocol.EntityChannel(e.Type, e.ID) }

// announce broadcasts an event on each channel; failures are logged, never
// returned: the change they announce is already stored.
func (f *editingFeature) announce(ctx context.Context, bc *broadcast.Broadcaster, tenant, typ, userID, messageID string, payload any, channels ...string) {
	for _, ch := range channels {
		frame, err := protocol.Event(typ, ch, userID, messageID, payload, f.h.now())
		if err == nil {
			_, err = bc.Fanout(ctx, tenant, ch, frame, nil)
		}
		if err != nil {
			f.h.log.WarnContext(ctx, "broadcast "+typ, "channel", ch, "error", err)
		}
	}
}

// notifyUsers posts an event to every live connection of each user.
func (f *editingFeature) notifyUsers(ctx context.Context, bc *broadcast.Broadcaster, tenant string, users []string, typ, channel, userID, messageID string, payload any) {
	frame, err := protocol.Event(typ, channel, userID, messageID, payload, f.h.now())
	if err != nil {
		f.h.log.WarnContext(ctx, "encode "+typ, "error", err)
		return
	}
	seen := map[string]bool{}
	for _, u := range users {
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		conns, err := f.h.deps.Store.UserConnections(ctx, tenant, u)
		if err != nil {
			f.h.log.WarnContext(ctx, "connections of user", "userId", u, "error", err)
			continue
		}
		for _, c := range conns {
			_ = bc.Post(ctx, c.ID, frame) // Post logs failures and removes gone connections
		}
	}
}

// backoff waits before attempt (1, 2, ...) of a contended write: a random
// time up to 25 ms per attempt so far, at most 250 ms, so that writers
// that lost to the same winner do not all come back at once.
func backoff(ctx context.Context, attempt int) error {
	d := 2*time.Millisecond + rand.N(time.Duration(min(attempt, 10))*25*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// contended is the error of a request that lost every attempt to
// concurrent writers of the same entity.
func contended(e store.EntityKey, attempts int) error {
	return fmt.Errorf("entity %q still contended after %d attempts: %w", e, attempts, store.ErrUnavailable)
}
