package collab

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync/atomic"
	"time"

	backoffpkg "github.com/omnisales/rtcollab/internal/backoff"

	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Notifier is what the service tells others: the events it broadcasts and
// the activity entries it records. Each method that announces is called
// after the state it announces is stored, so its failures are the
// notifier's to log; none is returned to the caller. Implementations are
// safe for concurrent use.
type Notifier interface {
	// Broadcast sends an event of type typ to every subscriber of channel
	// in tenant; userID is its sender and messageID its id.
	Broadcast(ctx context.Context, tenant, channel, typ, userID, messageID string, payload any)
	// NotifyUsers sends an event to every live connection of each of
	// users (each user once; "" is skipped), subscribed or not.
	NotifyUsers(ctx context.Context, tenant string, users []string, typ, channel, userID, messageID string, payload any)
	// ActivityEntry returns a, an entry by conn's user, as the tenant's
	// activity feed stores it (with conn's tenant and identity, an ID and
	// At when a has none, and its retention), or an error for an entry
	// the feed refuses. The service writes it with the change it records
	// (store.Commit.Activity). An entry that has an ID and At keeps them,
	// and replaces one stored before with the same ID and At.
	ActivityEntry(conn store.Connection, a store.Activity) (store.Activity, error)
	// AnnounceActivity announces a stored entry on the activity feed.
	AnnounceActivity(ctx context.Context, conn store.Connection, a store.Activity)
}

// Call is one request to the service: who sends it, when, and where its
// events go.
type Call struct {
	// Conn is the caller's connection: its tenant, user and connection
	// id are the request's.
	Conn store.Connection
	// MessageID is the request's messageId, the key of its idempotency
	// record (Change, Undo, Resolve, AddComment).
	MessageID string
	// RequestHash is protocol.RequestHash of the request: a resend under
	// MessageID gets the recorded reply only when its hash is the same.
	RequestHash string
	// Now is the server's time of the request.
	Now time.Time
	// Notify receives the request's events. Required.
	Notify Notifier
}

// writeQueues is the number of queues entity writes are spread over.
const writeQueues = 64

// Service serves locks, changes, sync, history, undo, conflicts and
// comments. It is safe for concurrent use; one Service lives as long as
// its process.
type Service struct {
	cfg   Config
	st    store.Editing
	clock store.Clock
	log   *slog.Logger
	table editing.Table
	// queues serialize the writes of this process to one entity: an
	// entity always maps to the same queue, a buffered channel of one.
	queues [writeQueues]chan struct{}
	// lastCommentMilli is the millisecond in the newest comment id this
	// process made (see commentMilli).
	lastCommentMilli atomic.Int64
}

// New returns a Service over st. A nil clock is time.Now; a nil log is
// slog.Default().
func New(cfg Config, st store.Editing, clock store.Clock, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.WithDefaults()
	s := &Service{cfg: cfg, st: st, clock: clock, log: log, table: editing.Table{Types: cfg.Strategies, Fallback: cfg.Fallback}}
	for i := range s.queues {
		s.queues[i] = make(chan struct{}, 1)
	}
	return s
}

func (s *Service) now() time.Time { return s.clock.Now() }

// Entity validates the entity that ref names and returns its key in
// tenant. Names are 1..editing.MaxNameLen characters of [A-Za-z0-9._-].
func Entity(tenant string, ref protocol.EntityRef) (store.EntityKey, error) {
	if editing.ValidateName("entityType", ref.EntityType) != nil {
		return store.EntityKey{}, badName("entityType")
	}
	if editing.ValidateName("entityId", ref.EntityID) != nil {
		return store.EntityKey{}, badName("entityId")
	}
	// Each name within its bound, the two may still form a channel past
	// a channel's bound: an entity no request could use (its channel is
	// refused as FORBIDDEN by the policy), so it is malformed input.
	if protocol.ValidateChannel(protocol.EntityChannel(ref.EntityType, ref.EntityID)) != nil {
		return store.EntityKey{}, protocol.NewError(protocol.CodeBadRequest, "entityType and entityId together are at most %d characters (the entity's channel, type:id, at most %d)", protocol.MaxChannelLen-1, protocol.MaxChannelLen)
	}
	return store.EntityKey{Tenant: tenant, Type: ref.EntityType, ID: ref.EntityID}, nil
}

// Channel is the entity's channel, on which its changes, locks and
// comments are broadcast.
func Channel(e store.EntityKey) string { return protocol.EntityChannel(e.Type, e.ID) }

// badName is the error of a malformed name field (entityType, entityId,
// commentId, ...); field is the field's wire name.
func badName(field string) *protocol.Error {
	return protocol.NewError(protocol.CodeBadRequest, "%s must be 1..%d characters of [A-Za-z0-9._-]", field, editing.MaxNameLen)
}

// enqueue waits for e's write queue and returns the function that leaves
// it; with NoWriteQueue it returns at once.
func (s *Service) enqueue(ctx context.Context, e store.EntityKey) (func(), error) {
	if s.cfg.NoWriteQueue {
		return func() {}, nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(e.String()))
	q := s.queues[h.Sum32()%writeQueues]
	select {
	case q <- struct{}{}:
		return func() { <-q }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// backoff waits before attempt (1, 2, ...) of a contended write: 2 ms and
// a random time in a window that doubles from 25 ms up to 250 ms, so that
// writers that lost to the same winner do not all come back at once.
func backoff(ctx context.Context, attempt int) error {
	return backoffpkg.Wait(ctx, 2*time.Millisecond+backoffpkg.Jitter(attempt, 25*time.Millisecond, 250*time.Millisecond))
}

// contended is the error of a request that lost every attempt to
// concurrent writers of the same entity.
func contended(e store.EntityKey, attempts int) error {
	return fmt.Errorf("entity %q still contended after %d attempts: %w", e, attempts, store.ErrUnavailable)
}
