package store

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Outbox items of the single table (see schema.go):
//
//	item            pk               sk
//	change item     OUTBOX#<shard>   <tenant>#<type>#<id>#<version, 12 digits>
//	lock item       OUTBOX#<shard>   <tenant>#<type>#<id>#lock#<token, 12 digits>#<event>
//	comment item    OUTBOX#<shard>   <tenant>#<type>#<id>#comment#<comment id>#<time>#<event>
//
// Entities.Commit writes one in the same transaction as each change it
// stores: an accepted change has its outbox item, and a refused one has
// none. Likewise the lock writes (a grant, a release, the removal or
// replacement of an expired grant) and the comment writes (an added
// comment, a resolve or reopen) write a lock or comment item in the same
// transaction; a refused one writes none. A relay sends the items to the
// system of record and deletes them.
// The entity's items share a shard and sort by version, so a shard read
// in order yields each entity's changes in version order. OutboxShards
// fixed partitions spread the writes; a relay reads them without a scan.
//
// An outbox item expires OutboxTTL after it was written (the TTL
// attribute), so that the outbox stays bounded when no relay runs; a relay
// must drain it within that time.
const (
	PrefixOutbox = "OUTBOX#"
	OutboxShards = 4
	OutboxTTL    = 7 * 24 * time.Hour
	// AttrOutboxData is the attribute of an outbox item that holds the
	// change (binary), as a DynamoDB stream record shows it.
	AttrOutboxData = "data"
)

// Outbox item kinds.
const (
	OutboxChange  = "change"
	OutboxLock    = "lock"
	OutboxComment = "comment"
)

// Lock and comment events of the outbox (OutboxItem.Seq ends with one).
const (
	LockAcquired    = "acquired"
	LockReleased    = "released"
	LockExpired     = "expired"
	CommentAdded    = "added"
	CommentResolved = "resolved"
	CommentReopened = "reopened"
)

// OutboxItem is a stored change, lock event or comment event waiting to
// be relayed.
type OutboxItem struct {
	Entity EntityKey
	// Kind is OutboxChange (also when empty), OutboxLock or OutboxComment.
	Kind string
	// Version is a change's entity version; zero for the other kinds.
	Version int64
	// Seq orders a lock or comment item within its entity and kind: for a
	// lock, the fencing token (12 digits) and the event; for a comment,
	// the comment id, the event time and the event. Empty for a change.
	Seq string
	// Data is the change as stored (Change.Data), or the JSON of a
	// LockEvent or CommentEvent.
	Data []byte
}

// IsChange reports whether it is a change item.
func (it OutboxItem) IsChange() bool { return it.Kind == "" || it.Kind == OutboxChange }

// SK is the sort key of it.
func (it OutboxItem) SK() string {
	if it.IsChange() {
		return OutboxSK(it.Entity, it.Version)
	}
	return fmt.Sprintf("%s#%s#%s#%s#%s", it.Entity.Tenant, it.Entity.Type, it.Entity.ID, it.Kind, it.Seq)
}

// LockEvent is the data of a lock item: what happened to which grant.
type LockEvent struct {
	Event        string    `json:"event"` // LockAcquired, LockReleased or LockExpired
	UserID       string    `json:"userId"`
	Username     string    `json:"username,omitempty"`
	ConnectionID string    `json:"connectionId,omitempty"`
	Token        int64     `json:"token"` // the grant's fencing token: orders an entity's lock events
	AcquiredAt   time.Time `json:"acquiredAt"`
	ExpiresAt    time.Time `json:"expiresAt"`
	At           time.Time `json:"at"` // when the event was stored
}

// LockOutboxItem is the outbox item of event on the grant l at at.
func LockOutboxItem(l Lock, event string, at time.Time) OutboxItem {
	ev := LockEvent{Event: event, UserID: l.Holder, Username: l.HolderName, ConnectionID: l.ConnID, Token: l.Token,
		AcquiredAt: l.AcquiredAt.UTC(), ExpiresAt: l.ExpiresAt.UTC(), At: at.UTC()}
	data, _ := json.Marshal(ev) // plain fields: cannot fail
	return OutboxItem{Entity: l.Entity, Kind: OutboxLock, Seq: fmt.Sprintf("%012d#%s", l.Token, event), Data: data}
}

// CommentResolveEvent is the event of setting a comment's resolved flag
// to resolved.
func CommentResolveEvent(resolved bool) string {
	if resolved {
		return CommentResolved
	}
	return CommentReopened
}

// CommentEvent is the data of a comment item.
type CommentEvent struct {
	Event     string    `json:"event"` // CommentAdded, CommentResolved or CommentReopened
	CommentID string    `json:"commentId"`
	ParentID  string    `json:"parentId,omitempty"`
	UserID    string    `json:"userId"` // who added, resolved or reopened it
	AuthorID  string    `json:"authorId"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
	Resolved  bool      `json:"resolved"`
	At        time.Time `json:"at"` // when the event happened
	// Version is the comment's version after the event (Comment.Version):
	// it orders one comment's events. Absent from items written before
	// comments had versions.
	Version int64 `json:"version,omitempty"`
}

// CommentOutboxItem is the outbox item of event by userID at at on c (as
// stored after the event).
func CommentOutboxItem(c Comment, event, userID string, at time.Time) OutboxItem {
	at = at.UTC()
	ev := CommentEvent{Event: event, CommentID: c.ID, ParentID: c.ParentID, UserID: userID, AuthorID: c.UserID,
		Text: c.Text, CreatedAt: c.CreatedAt.UTC(), Resolved: c.Resolved, At: at, Version: c.Version}
	data, _ := json.Marshal(ev) // plain fields: cannot fail
	return OutboxItem{Entity: c.Entity, Kind: OutboxComment, Data: data,
		Seq: c.ID + "#" + at.Format("20060102T150405.000000000Z") + "#" + event}
}

// OutboxShard is the shard of e's outbox items.
func OutboxShard(e EntityKey) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(EntityPK(e)))
	return int(h.Sum32() % OutboxShards)
}

// OutboxPK is the partition key of a shard's outbox items.
func OutboxPK(shard int) string { return PrefixOutbox + strconv.Itoa(shard) }

// OutboxSK is the sort key of the outbox item of version v of e.
func OutboxSK(e EntityKey, v int64) string {
	return fmt.Sprintf("%s#%s#%s#%012d", e.Tenant, e.Type, e.ID, v)
}

// ParseOutboxSK returns the item (without Data) an outbox sort key names.
func ParseOutboxSK(sk string) (OutboxItem, error) {
	parts := strings.SplitN(sk, "#", 5)
	if len(parts) < 4 {
		return OutboxItem{}, fmt.Errorf("outbox key %q: want tenant#type#id#version or tenant#type#id#kind#seq", sk)
	}
	it := OutboxItem{Entity: EntityKey{Tenant: parts[0], Type: parts[1], ID: parts[2]}}
	if len(parts) == 4 {
		v, err := strconv.ParseInt(parts[3], 10, 64)
		if err != nil {
			return OutboxItem{}, fmt.Errorf("outbox key %q: %w", sk, err)
		}
		it.Kind, it.Version = OutboxChange, v
		return it, nil
	}
	if parts[3] != OutboxLock && parts[3] != OutboxComment {
		return OutboxItem{}, fmt.Errorf("outbox key %q: unknown kind %q", sk, parts[3])
	}
	it.Kind, it.Seq = parts[3], parts[4]
	return it, nil
}

// Outbox reads and removes outbox items.
type Outbox interface {
	// ListOutbox returns up to limit live items of shard (limit <= 0:
	// 100) in sort key order: by entity, then its changes by version,
	// its comment events by comment and time, its lock events by token.
	ListOutbox(ctx context.Context, shard, limit int) ([]OutboxItem, error)
	// DeleteOutbox removes relayed items; absent ones are not an error.
	DeleteOutbox(ctx context.Context, items []OutboxItem) error
}
