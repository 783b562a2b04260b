package protocol

import (
	"encoding/json"

	"github.com/omnisales/rtcollab/internal/doc"
)

// The payloads of the editing requests (lock.acquire, lock.renew,
// lock.release, change, sync, history, undo, conflict.resolve,
// comment.add, comment.resolve, comment.list), their replies and the
// events they broadcast (lock, change, conflict, comment).

// EntityRef names an entity in a request payload.
type EntityRef struct {
	EntityType string `json:"entityType"`
	EntityID   string `json:"entityId"`
}

// Lock event actions (LockEvent.Action).
const (
	LockAcquired = "acquired"
	LockRenewed  = "renewed"
	LockReleased = "released"
	LockExpired  = "expired"
)

// Lock is a lock on the wire (the seed's Lock, with its fencing token).
type Lock struct {
	EntityType   string `json:"entityType"`
	EntityID     string `json:"entityId"`
	LockedBy     string `json:"lockedBy"`
	LockedByName string `json:"lockedByName,omitempty"`
	LockedAt     string `json:"lockedAt"`
	ExpiresAt    string `json:"expiresAt"`
	FencingToken int64  `json:"fencingToken"`
	Renewable    bool   `json:"renewable"`
}

// LockEvent is the payload of a lock event on edit-locks and the entity
// channel.
type LockEvent struct {
	Action     string `json:"action"` // acquired, renewed, released or expired
	EntityType string `json:"entityType"`
	EntityID   string `json:"entityId"`
	Lock       *Lock  `json:"lock"`             // the lock, as it is (acquired, renewed) or was (released, expired)
	Reason     string `json:"reason,omitempty"` // released: "released" or "disconnected"
}

// LockPayload is the payload of lock.acquire, lock.renew and
// lock.release.
type LockPayload struct {
	EntityRef
	// TTL is the lock's lifetime in milliseconds; 0 means the default.
	TTL int64 `json:"ttl"`
}

// LockAcquireReply is the reply to lock.acquire.
type LockAcquireReply struct {
	Lock    *Lock `json:"lock"`
	Renewed bool  `json:"renewed"` // the caller held the lock already
}

// LockRenewReply is the reply to lock.renew.
type LockRenewReply struct {
	Lock *Lock `json:"lock"`
}

// LockReleaseReply is the reply to lock.release.
type LockReleaseReply struct {
	Released bool  `json:"released"`
	Lock     *Lock `json:"lock"` // the lock as it was
}

// Change is a change on the wire (the seed's Change, with the operation
// as applied and the server's bookkeeping).
type Change struct {
	ID          string          `json:"id"`
	EntityType  string          `json:"entityType"`
	EntityID    string          `json:"entityId"`
	UserID      string          `json:"userId"`
	Username    string          `json:"username,omitempty"`
	Operation   doc.Kind        `json:"operation"`
	Path        string          `json:"path"`
	Before      any             `json:"before"`
	After       any             `json:"after"`
	Op          doc.Op          `json:"op"`
	Timestamp   string          `json:"timestamp"`
	Resolved    bool            `json:"resolved"`
	Version     int64           `json:"version"`
	BaseVersion int64           `json:"baseVersion"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	MessageID   string          `json:"messageId,omitempty"`
	Strategy    string          `json:"strategy"`
	Outcome     string          `json:"outcome,omitempty"`
	Notices     []string        `json:"notices,omitempty"`
	Supersedes  []int64         `json:"supersedes,omitempty"`
	UndoOf      string          `json:"undoOf,omitempty"`
	ConflictID  string          `json:"conflictId,omitempty"`
}

// Conflict is a conflict on the wire (the seed's Conflict).
type Conflict struct {
	ID                 string          `json:"id"`
	EntityType         string          `json:"entityType"`
	EntityID           string          `json:"entityId"`
	Path               string          `json:"path"`
	LocalChange        Change          `json:"localChange"`
	RemoteChange       Change          `json:"remoteChange"`
	ResolutionStrategy string          `json:"resolutionStrategy"`
	Resolved           bool            `json:"resolved"`
	Resolution         string          `json:"resolution,omitempty"`
	MergedValue        json.RawMessage `json:"mergedValue,omitempty"`
	CreatedAt          string          `json:"createdAt,omitempty"`
	ResolvedBy         string          `json:"resolvedBy,omitempty"`
	ResolvedAt         string          `json:"resolvedAt,omitempty"`
	ResolvedVersion    int64           `json:"resolvedVersion,omitempty"`
}

// ChangePayload is the payload of a change request. The operation's own
// fields follow internal/doc: after is the value of insert and update,
// from and to the indexes of move, delta the amount of increment, text
// the edit of text.
type ChangePayload struct {
	EntityRef
	BaseVersion  *int64              `json:"baseVersion"`
	Operation    doc.Kind            `json:"operation"`
	Path         string              `json:"path"`
	Before       json.RawMessage     `json:"before"` // informative; the server records the value it replaced
	After        json.RawMessage     `json:"after"`
	From         *int                `json:"from"`
	To           *int                `json:"to"`
	Delta        json.Number         `json:"delta"`
	Text         []doc.TextComponent `json:"text"`
	Metadata     json.RawMessage     `json:"metadata"`
	FencingToken int64               `json:"fencingToken"` // lock-based entities
	HLC          *HLC                `json:"hlc"`          // crdt entities: the client's clock; optional
}

// HLC is a client's hybrid logical clock stamp; the node is always the
// sender's user id.
type HLC struct {
	WallMs  int64  `json:"wallMs"`
	Counter uint32 `json:"counter"`
}

// ChangeAck is the reply to change, undo and conflict.resolve.
type ChangeAck struct {
	EntityType string        `json:"entityType"`
	EntityID   string        `json:"entityId"`
	Outcome    string        `json:"outcome"`
	Applied    bool          `json:"applied"`
	Version    int64         `json:"version"`
	Change     *Change       `json:"change,omitempty"`
	Notices    []string      `json:"notices,omitempty"`
	Overwrote  []Overwritten `json:"overwrote,omitempty"`
	Conflict   *Conflict     `json:"conflict,omitempty"`
}

// Overwritten names a concurrent change a last-write-wins write replaced.
type Overwritten struct {
	Version int64  `json:"version"`
	UserID  string `json:"userId"`
	Path    string `json:"path"`
}

// SyncPayload is the payload of a sync request.
type SyncPayload struct {
	EntityRef
	SinceVersion int64 `json:"sinceVersion"`
	Limit        int   `json:"limit"`
	// ConflictsCursor continues the unresolved conflicts after an earlier
	// reply's conflictsNextCursor; "" starts with the first.
	ConflictsCursor string `json:"conflictsCursor"`
}

// SyncReply is the reply to sync.
type SyncReply struct {
	EntityType       string         `json:"entityType"`
	EntityID         string         `json:"entityId"`
	Strategy         string         `json:"strategy"`
	Version          int64          `json:"version"`
	Snapshot         bool           `json:"snapshot"`
	Document         map[string]any `json:"document,omitzero"` // set (maybe empty) on a snapshot only
	Changes          []Change       `json:"changes"`
	HasMore          bool           `json:"hasMore"`
	NextSinceVersion int64          `json:"nextSinceVersion"`
	Conflicts        []Conflict     `json:"conflicts"`
	// ConflictsNextCursor, when set, continues the unresolved conflicts:
	// send sync again with it as conflictsCursor (and the version the
	// client has as sinceVersion). The conflicts of one reply are limited
	// by count and by the bytes the document and changes left.
	ConflictsNextCursor string `json:"conflictsNextCursor,omitempty"`
	Lock                *Lock  `json:"lock"`
	HistoryLimit        int    `json:"historyLimit"`
}

// HistoryPayload is the payload of a history request.
type HistoryPayload struct {
	EntityRef
	Before int64 `json:"before"` // list versions below this one; 0 for the newest
	Limit  int   `json:"limit"`
}

// HistoryReply is the reply to history: changes newest first.
type HistoryReply struct {
	EntityType   string   `json:"entityType"`
	EntityID     string   `json:"entityId"`
	Version      int64    `json:"version"`
	Changes      []Change `json:"changes"`
	HasMore      bool     `json:"hasMore"`
	HistoryLimit int      `json:"historyLimit"`
	// NextBefore, with hasMore, continues the listing: send history again
	// with it as before.
	NextBefore int64 `json:"nextBefore,omitempty"`
}

// UndoPayload is the payload of an undo request: the change to undo, by
// id, or by entity and version.
type UndoPayload struct {
	EntityRef
	ChangeID     string          `json:"changeId"`
	Version      int64           `json:"version"`
	FencingToken int64           `json:"fencingToken"`
	Metadata     json.RawMessage `json:"metadata"`
}

// ResolvePayload is the payload of conflict.resolve.
type ResolvePayload struct {
	EntityRef
	ConflictID   string          `json:"conflictId"`
	Resolution   string          `json:"resolution"`
	MergedValue  json.RawMessage `json:"mergedValue"`
	FencingToken int64           `json:"fencingToken"`
}

// Comment event actions (CommentEvent.Action).
const (
	CommentAdded    = "added"
	CommentResolved = "resolved"
	CommentReopened = "reopened"
)

// Comment is a comment on the wire.
type Comment struct {
	ID         string `json:"id"`
	EntityType string `json:"entityType"`
	EntityID   string `json:"entityId"`
	ParentID   string `json:"parentId,omitempty"`
	UserID     string `json:"userId"`
	Username   string `json:"username,omitempty"`
	Avatar     string `json:"avatar,omitempty"`
	Text       string `json:"text"`
	CreatedAt  string `json:"createdAt"`
	Resolved   bool   `json:"resolved"`
	ResolvedBy string `json:"resolvedBy,omitempty"`
	ResolvedAt string `json:"resolvedAt,omitempty"`
	// Version is the server's number of this state of the comment: 1 when
	// added, one more with every resolve or reopen. A client keeps the
	// copy with the highest. Omitted (zero) only in a reply recorded
	// before comments had versions, which a resend of comment.add gets.
	Version int64 `json:"version,omitempty"`
}

// CommentEvent is the payload of a comment event on comments and the
// entity channel.
type CommentEvent struct {
	Action  string  `json:"action"`
	Comment Comment `json:"comment"`
}

// CommentAddPayload is the payload of comment.add.
type CommentAddPayload struct {
	EntityRef
	Text     string `json:"text"`
	ParentID string `json:"parentId"`
}

// CommentResolvePayload is the payload of comment.resolve.
type CommentResolvePayload struct {
	EntityRef
	CommentID string `json:"commentId"`
	Resolved  *bool  `json:"resolved"` // default true; false reopens
}

// CommentReply is the reply to comment.add and comment.resolve.
type CommentReply struct {
	Comment Comment `json:"comment"`
}

// CommentListPayload is the payload of comment.list.
type CommentListPayload struct {
	EntityRef
	Cursor string `json:"cursor"`
	Limit  int    `json:"limit"`
}

// CommentListReply is the reply to comment.list: comments newest first.
type CommentListReply struct {
	EntityType string    `json:"entityType"`
	EntityID   string    `json:"entityId"`
	Comments   []Comment `json:"comments"`
	// NextCursor continues the listing; "" when it is complete.
	NextCursor string `json:"nextCursor"`
}
