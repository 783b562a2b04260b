// Package changefeed sends every stored change, lock event and comment
// event to the system of record: a Relay reads the outbox items that the
// store writes in the same transaction as each change, lock grant,
// release or expiry, and added, resolved or reopened comment (see
// store.Outbox), and hands them, as Events, to a Sink, then deletes them.
// The local server's Sink is a Log that tests and developers read; in AWS
// the table's stream feeds StreamHandler, whose sink is EventBridge.
//
// Delivery is at least once: a relay that stops between sending and
// deleting sends those events again. Event.ID names the stored event, so
// a consumer drops a repeat; Event.Version orders an entity's changes,
// a lock event's token its lock events, a comment event's time the
// events of its comment.
//
// Entry points: NewRelay, Relay.Drain, Log, StreamHandler, NewEventBridge.
package changefeed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/omnisales/rtcollab/internal/store"
)

// EventBridge detail-types of change, lock and comment events.
const (
	DetailType        = "rtcollab.Change"
	LockDetailType    = "rtcollab.Lock"
	CommentDetailType = "rtcollab.Comment"
)

// Event is one stored change, lock event or comment event as the system
// of record receives it. A change event has Version and Change (and no
// Kind, as change events always had); a lock event has Kind "lock" and
// Lock; a comment event has Kind "comment" and Comment.
type Event struct {
	// ID names the event: "<tenant>/<type>/<id>/<version>" for a change,
	// "<tenant>/<type>/<id>/lock/<token>/<event>" for a lock event and
	// "<tenant>/<type>/<id>/comment/<comment id>/<time>/<event>" for a
	// comment event.
	ID         string `json:"id"`
	Kind       string `json:"kind,omitempty"`
	Tenant     string `json:"tenant"`
	EntityType string `json:"entityType"`
	EntityID   string `json:"entityId"`
	Version    int64  `json:"version,omitempty"`
	// Change is the change as applied: operation, path, before and after,
	// the document operation, userId and timestamp (the change event
	// clients receive).
	Change json.RawMessage `json:"change,omitempty"`
	// Lock is a store.LockEvent: event (acquired, released, expired),
	// userId, username, connectionId, token, acquiredAt, expiresAt, at.
	Lock json.RawMessage `json:"lock,omitempty"`
	// Comment is a store.CommentEvent: event (added, resolved,
	// reopened), commentId, parentId, userId, authorId, text, createdAt,
	// resolved, at, version (which orders one comment's events).
	Comment json.RawMessage `json:"comment,omitempty"`
}

// DetailType is the EventBridge detail-type of ev.
func (ev Event) DetailType() string {
	switch ev.Kind {
	case store.OutboxLock:
		return LockDetailType
	case store.OutboxComment:
		return CommentDetailType
	}
	return DetailType
}

// EventOf converts an outbox item to its Event.
func EventOf(it store.OutboxItem) Event {
	if !it.IsChange() {
		ev := Event{
			ID:     fmt.Sprintf("%s/%s/%s/%s/%s", it.Entity.Tenant, it.Entity.Type, it.Entity.ID, it.Kind, strings.ReplaceAll(it.Seq, "#", "/")),
			Kind:   it.Kind,
			Tenant: it.Entity.Tenant, EntityType: it.Entity.Type, EntityID: it.Entity.ID,
		}
		if it.Kind == store.OutboxLock {
			ev.Lock = json.RawMessage(it.Data)
		} else {
			ev.Comment = json.RawMessage(it.Data)
		}
		return ev
	}
	var rec struct {
		Change json.RawMessage `json:"change"`
	}
	change := json.RawMessage(it.Data)
	if json.Unmarshal(it.Data, &rec) == nil && len(rec.Change) > 0 {
		change = rec.Change
	}
	return Event{
		ID:     fmt.Sprintf("%s/%s/%s/%d", it.Entity.Tenant, it.Entity.Type, it.Entity.ID, it.Version),
		Tenant: it.Entity.Tenant, EntityType: it.Entity.Type, EntityID: it.Entity.ID,
		Version: it.Version, Change: change,
	}
}

// Sink receives events, in order per entity.
type Sink interface {
	// Send delivers events; an error means some may not have been
	// delivered, and the relay sends them all again later. A *SendError
	// says that the first of them were.
	Send(ctx context.Context, events []Event) error
}

// SendError is a Send that failed after delivering its first Sent events:
// sending again from events[Sent] repeats none of those. Events after them
// may have been delivered too.
type SendError struct {
	Sent int
	Err  error
}

func (e *SendError) Error() string { return e.Err.Error() }

func (e *SendError) Unwrap() error { return e.Err }

// Relay moves outbox items to a Sink. It is safe for concurrent use;
// drains run one at a time.
type Relay struct {
	outbox store.Outbox
	sink   Sink
	log    *slog.Logger
	mu     sync.Mutex
}

// NewRelay returns a Relay from outbox to sink. A nil log means
// slog.Default().
func NewRelay(outbox store.Outbox, sink Sink, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.Default()
	}
	return &Relay{outbox: outbox, sink: sink, log: log}
}

// drainPage is how many items one read of a shard takes.
const drainPage = 100

// Drain sends every pending outbox item, shard by shard and in each
// shard in order (so each entity's changes in version order), deleting
// each page once the sink took it. It returns how many events it sent.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent := 0
	for shard := range store.OutboxShards {
		for {
			items, err := r.outbox.ListOutbox(ctx, shard, drainPage)
			if err != nil {
				return sent, fmt.Errorf("changefeed: read outbox shard %d: %w", shard, err)
			}
			if len(items) == 0 {
				break
			}
			events := make([]Event, len(items))
			for i, it := range items {
				events[i] = EventOf(it)
			}
			if err := r.sink.Send(ctx, events); err != nil {
				return sent, fmt.Errorf("changefeed: send %d events: %w", len(events), err)
			}
			sent += len(events)
			if err := r.outbox.DeleteOutbox(ctx, items); err != nil {
				return sent, fmt.Errorf("changefeed: delete %d outbox items: %w", len(items), err)
			}
		}
	}
	return sent, nil
}

// Log is the local server's Sink: the events in the order they were
// sent, kept in memory, at most MaxLogEvents of them (the oldest are
// dropped). Positions count every event the Log was sent, dropped ones
// included, and belong to this Log (this process): Epoch names it, so that
// a reader can tell a restarted server's positions from the ones it read.
// It is safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	epoch  string
	base   int // position of events[0]: how many were dropped
	events []Event
	// Max bounds the events kept. Default MaxLogEvents.
	Max int
}

// MaxLogEvents is the default bound of a Log.
const MaxLogEvents = 10_000

var _ Sink = (*Log)(nil)

// Epoch names this Log: a new one for each Log (each run of the local
// server).
func (l *Log) Epoch() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochLocked()
}

func (l *Log) epochLocked() string {
	if l.epoch == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		l.epoch = hex.EncodeToString(b[:])
	}
	return l.epoch
}

// Send appends events, dropping the oldest past Max.
func (l *Log) Send(ctx context.Context, events []Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, events...)
	limit := l.Max
	if limit <= 0 {
		limit = MaxLogEvents
	}
	if len(l.events) > limit+limit/4 { // trimmed in steps, not on every Send
		drop := len(l.events) - limit
		l.base += drop
		l.events = append([]Event(nil), l.events[drop:]...)
	}
	return nil
}

// Since returns the events after position n that the Log still holds
// (from the oldest kept when n is older).
func (l *Log) Since(n int) []Event {
	out, _ := l.page(n, -1)
	return out
}

// page returns at most limit events after position n (limit < 0: all),
// and the Log's bounds: the position of its oldest event and its end.
func (l *Log) page(n, limit int) ([]Event, [2]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	bounds := [2]int{l.base, l.base + len(l.events)}
	i := max(n, l.base) - l.base
	if n < 0 || i >= len(l.events) {
		return nil, bounds
	}
	tail := l.events[i:]
	if limit >= 0 && len(tail) > limit {
		tail = tail[:limit]
	}
	return append([]Event(nil), tail...), bounds
}

// logPage bounds the events one GET returns.
const logPage = 100

// ServeHTTP serves GET /changes?after=N[&epoch=E]: up to 100 events after
// position N, as {"events": [...], "next": M, "epoch": E}; read on with
// after=M&epoch=E. after=0 without an epoch starts at the oldest event
// kept. A position the Log no longer holds (older than its oldest event:
// FEED_TRIMMED) or never held (past its end, or of another epoch: a
// restarted server, FEED_RESTARTED) answers 410, so that a reader does
// not skip or miss events unawares; it reads again from after=0.
func (l *Log) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		b, _ := json.Marshal(map[string]any{"code": code, "message": msg, "retryable": false, "epoch": l.Epoch()})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
	q := r.URL.Query()
	after := 0
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(http.StatusBadRequest, "BAD_REQUEST", "after must be a whole number of events")
			return
		}
		after = n
	}
	events, bounds := l.page(after, logPage)
	epoch := l.Epoch()
	switch {
	case q.Has("epoch") && q.Get("epoch") != epoch, after > bounds[1]:
		fail(http.StatusGone, "FEED_RESTARTED", "the local server restarted since this position was read; its log starts again at after=0")
		return
	case after < bounds[0] && (after > 0 || q.Has("epoch")):
		fail(http.StatusGone, "FEED_TRIMMED", fmt.Sprintf("the log keeps its last %d events; the oldest is after=%d", bounds[1]-bounds[0], bounds[0]))
		return
	}
	if events == nil {
		events = []Event{}
	}
	next := max(after, bounds[0]) + len(events)
	b, err := json.Marshal(map[string]any{"events": events, "next": next, "epoch": epoch})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
