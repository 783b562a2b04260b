package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the editing records, besides those of store.go.
var (
	// ErrLockHeld: another user holds the lock. AcquireLock returns the
	// holder's lock with it.
	ErrLockHeld = errors.New("lock held by another user")
	// ErrNotHolder: renew or release of a lock that is absent, expired or
	// held by another user.
	ErrNotHolder = errors.New("not the lock holder")
)

// EntityKey names one entity of a tenant: a business record such as
// order 123. No part may be empty or contain '#'.
type EntityKey struct {
	Tenant string // tenant namespace
	Type   string // entity type, e.g. "order"
	ID     string // entity id, e.g. "123"
}

// String formats k as "tenant/type/id" for errors and logs.
func (k EntityKey) String() string { return k.Tenant + "/" + k.Type + "/" + k.ID }

// Lock is an edit lock on one entity. Holder is a user: a second
// acquisition by the same user (from any of their connections) renews the
// lock and moves it to that connection.
type Lock struct {
	Entity     EntityKey
	Holder     string    // user id of the holder
	HolderName string    // display name of the holder
	ConnID     string    // the holder's connection that acquired or last renewed it
	AcquiredAt time.Time // when this grant started (kept by renewals)
	ExpiresAt  time.Time // when the lock lapses; stored to the second, like every expiry
	Token      int64     // fencing token of the grant: see Locks
	// GrantedAt is the store's time when it wrote the grant, once it had
	// read the lock free: set by LastGrant only (zero for a counter
	// written before grants recorded it).
	GrantedAt time.Time
}

// Locks stores edit locks and their fencing tokens.
//
// Every grant of a lock on an entity takes a fencing token from a counter
// kept per entity in an item that is never deleted, in the same atomic
// write as the grant, so tokens strictly increase across all grants of the
// entity, across releases, expiries and restarts. A renewal keeps the
// token of its grant.
//
// A lock whose ExpiresAt is at or before the current time is absent for
// every method, even while it is still stored.
//
// A lock goes only to a live connection: a grant or renewal whose
// connection (Lock.ConnID, RenewLock's connID) is absent or expired fails
// with an error wrapping ErrNotFound and writes nothing, decided in the
// same atomic write as the grant. With DeleteConnection run before
// ReleaseConnectionLocks (as $disconnect does), a grant racing its
// connection's removal either comes first and is released with the
// connection's locks, or is refused; it never outlives the connection
// until its expiry. ErrLockHeld and ErrNotHolder are decided before the
// connection is looked at.
type Locks interface {
	// AcquireLock grants l to l.Holder when the lock is absent or expired
	// (a new grant with the next fencing token), or renews it when
	// l.Holder already holds it (same token and AcquiredAt, new ExpiresAt,
	// HolderName and ConnID). l.Token is ignored. It returns the lock as
	// stored. When another user holds the lock it returns that lock and an
	// error wrapping ErrLockHeld; when l.ConnID is not a live connection,
	// an error wrapping ErrNotFound.
	AcquireLock(ctx context.Context, l Lock) (Lock, error)
	// RenewLock moves the expiry of the lock held by holder to expiresAt
	// and records connID as its connection. It fails with ErrNotHolder
	// when holder does not hold a live lock on e, and with ErrNotFound
	// when connID is not a live connection.
	RenewLock(ctx context.Context, e EntityKey, holder, connID string, expiresAt time.Time) (Lock, error)
	// ReleaseLock deletes the lock held by holder and returns it. It fails
	// with ErrNotHolder when holder does not hold a live lock on e; it
	// then returns the lock stored on e, live or expired (whoever holds
	// it), or the zero Lock when none is stored. An expired lock of holder
	// is left for the sweeper, which announces its expiry.
	ReleaseLock(ctx context.Context, e EntityKey, holder string) (Lock, error)
	// GetLock returns the live lock on e, or ErrNotFound.
	GetLock(ctx context.Context, e EntityKey) (Lock, error)
	// ReleaseConnectionLocks deletes every lock whose connection is
	// connID, found through the connection's reverse items (no scan), and
	// returns the locks it deleted, expired ones included. It is
	// idempotent.
	ReleaseConnectionLocks(ctx context.Context, connID string) ([]Lock, error)
	// CountConnectionLocks returns the number of live locks whose
	// connection is connID, counted through the connection's reverse
	// items (no scan); expired locks still stored do not count. It is a
	// plain read: a grant committed after it is not counted, so a bound
	// checked with it can be passed by the grants in flight at once.
	CountConnectionLocks(ctx context.Context, connID string) (int, error)
	// ExpiredLocks returns up to limit locks (every tenant) whose
	// ExpiresAt is at or before now, through the expiry index, oldest
	// first. limit <= 0 means 100. The index may lag writes: callers
	// delete with DeleteExpiredLock, which checks again.
	ExpiredLocks(ctx context.Context, now time.Time, limit int) ([]Lock, error)
	// DeleteExpiredLock deletes l's lock only while it is still the same
	// grant (same token) and expired at the store's current time. It
	// reports whether it deleted it.
	DeleteExpiredLock(ctx context.Context, l Lock) (bool, error)
	// LastGrant returns the grant that e's fencing counter numbered last,
	// when e has no lock item: that grant's lock is gone (released, or
	// removed after it expired, by the sweeper, a clean-up or DynamoDB's
	// TTL). It has the Entity, Token, Holder, HolderName, AcquiredAt and
	// GrantedAt of the grant as it was made (a counter written before it
	// kept them has the Token only, or lacks GrantedAt); GrantedAt is
	// later than the read that found the lock free, so a grant written
	// after another's lock item was removed has a GrantedAt after that
	// removal. ExpiresAt and ConnID are zero, since a renewal
	// moves them and the counter does not follow. ok is false when a lock
	// item is stored, live or expired (a later grant, or one still to be
	// removed), or e was never locked. The reads are consistent, and a
	// grant whose writes are under way is never reported gone.
	LastGrant(ctx context.Context, e EntityKey) (l Lock, ok bool, err error)
	// ExpiredByTTL writes the change feed's expired event of the grant l,
	// whose lock item DynamoDB's TTL removed: the outbox item
	// DeleteExpiredLock writes with its delete when the sweeper claims an
	// expired grant itself (LockOutboxItem). Writing it again rewrites the
	// same item.
	ExpiredByTTL(ctx context.Context, l Lock) error
}

// Head is the current state of an entity: its version and document. An
// entity that was never changed has no head; it stands for version 0 and
// the empty document.
type Head struct {
	Entity    EntityKey
	Version   int64     // number of changes applied; 1 for the first
	Doc       []byte    // the document, a JSON object
	State     []byte    // strategy state kept with the document (CRDT registers); may be nil
	UpdatedAt time.Time // time of the last change
	UpdatedBy string    // user id of the last change
	// Revision counts the writes of the head at its version: 0 when the
	// version was written, one more with every write of the strategy
	// state alone, which keeps the version. Version and Revision together
	// change with every write of the head and never come back. Commit sets
	// it (Commit.HeadRevision), whatever Head.Revision says. 0 for an
	// entity without a head and for a head stored before heads had
	// revisions.
	Revision int64
}

// Change is one accepted change: version Version of its entity. Data is
// the change as the handlers encode it (JSON); the store does not read it.
type Change struct {
	Entity  EntityKey
	Version int64
	Data    []byte
}

// Conflict is a stored conflict between two changes of an entity, for
// the manual strategy. Data is the conflict as the handlers encode it.
type Conflict struct {
	Entity    EntityKey
	ID        string    // unique within the entity; no '#'
	Resolved  bool      // resolved conflicts are kept for a while, then expire
	CreatedAt time.Time // when the conflict was detected
	ExpiresAt time.Time // zero: never (unresolved conflicts)
	Data      []byte
}

// Idempotency records the reply to a request that must be applied at most
// once: the same MessageID from the same user of a tenant gets Reply
// again instead of a second application, provided it is the same request
// (RequestHash); the same MessageID with another request is refused.
type Idempotency struct {
	Tenant    string
	UserID    string
	MessageID string // the client's messageId; any printable ASCII
	// RequestHash identifies the request the reply answers (the handler
	// stores a hash of the canonical request). Stores keep it as given;
	// "" on records written before it existed.
	RequestHash string
	Reply       []byte    // the reply payload (JSON)
	ExpiresAt   time.Time // the record is forgotten after it
}

// Fence makes a Commit conditional on a live lock held by Holder under
// fencing token Token.
type Fence struct {
	Holder string
	Token  int64
}

// Commit is one atomic write of an entity's records, conditional on the
// head being at BaseVersion and BaseRevision (0 and 0 also when there is
// no head yet). A head at version 0 is one whose strategy state alone was
// written on an entity never changed. Everything in it is written, or
// nothing is.
type Commit struct {
	Entity EntityKey
	// BaseVersion is the head version the write was decided on.
	BaseVersion int64
	// BaseRevision is the head revision the write was decided on: a head
	// written since at the same version (the state alone) fails the
	// commit too, so that no write replaces a head it did not read.
	BaseRevision int64
	// Head, when set, replaces the head; its Version must be BaseVersion+1
	// when Change is set and BaseVersion otherwise. When nil, the head is
	// only checked.
	Head *Head
	// Change, when set, is appended; its Version must not exist yet.
	Change *Change
	// Idempotency, when set, is recorded; a live record with the same key
	// fails the commit.
	Idempotency *Idempotency
	// Conflict, when set, is written: an unresolved one only when absent,
	// a resolved one only over the same, still unresolved, conflict.
	Conflict *Conflict
	// Fence, when set, requires the entity's lock to be live and held by
	// Fence.Holder with Fence.Token.
	Fence *Fence
	// Activity, when set, is the activity entry of the change, written
	// with it (as PutActivity writes one: it replaces an entry with the
	// same ID and At), so that no accepted change lacks its entry. Its
	// Tenant must be the entity's.
	Activity *Activity
	// Trim, when positive, names the change version that has fallen out of
	// the retained history. It is deleted after the commit succeeded, on a
	// best-effort basis: readers bound their queries by version, so a
	// change left behind is never read.
	Trim int64
}

// HeadRevision is the revision of the head c writes: BaseRevision+1 for a
// head at its base version (the state alone), 0 for a head at a new
// version.
func (c Commit) HeadRevision() int64 {
	if c.Head != nil && c.Head.Version == c.BaseVersion {
		return c.BaseRevision + 1
	}
	return 0
}

// EntityState is what LoadEntity reads in one round trip.
type EntityState struct {
	Head        Head         // zero Version (and nil Doc) when the entity has no head
	Lock        *Lock        // the live lock; nil when there is none
	Idempotency *Idempotency // the live record asked for; nil when absent or not asked
}

// ChangeQuery selects changes of an entity by version.
type ChangeQuery struct {
	After  int64 // only versions greater than After
	Before int64 // only versions less than Before; 0 means no bound
	Desc   bool  // newest first
	Limit  int   // at most this many; <= 0 means 100
}

// Entities stores entity heads, their changes, conflicts and idempotency
// records.
type Entities interface {
	// LoadEntity reads e's head and lock and, when messageID is not empty,
	// the idempotency record of (e.Tenant, userID, messageID), with one
	// consistent read.
	LoadEntity(ctx context.Context, e EntityKey, userID, messageID string) (EntityState, error)
	// GetHead returns e's head, or ErrNotFound when it has none.
	GetHead(ctx context.Context, e EntityKey) (Head, error)
	// Commit performs c atomically. It fails with ErrConditionFailed when
	// the head is not at c.BaseVersion and c.BaseRevision, the change
	// version exists, the
	// idempotency record exists, the conflict is not in the expected
	// state or the fence does not hold; the caller reads again and decides
	// anew.
	Commit(ctx context.Context, c Commit) error
	// AddActivity writes a, the activity entry of a committed change,
	// unless an entry with its key (its tenant, At and ID) is stored, live
	// or expired, which it leaves as it is. A resend answered with the
	// change's recorded reply calls it: a change committed by an earlier
	// version lacks its entry when that version, which put the entry after
	// the commit, stopped in between.
	AddActivity(ctx context.Context, a Activity) error
	// ListChanges returns e's changes selected by q, in version order (or
	// reverse order with q.Desc).
	ListChanges(ctx context.Context, e EntityKey, q ChangeQuery) ([]Change, error)
	// GetChange returns version v of e, or ErrNotFound.
	GetChange(ctx context.Context, e EntityKey, v int64) (Change, error)
	// GetIdempotency returns the live idempotency record, or ErrNotFound.
	GetIdempotency(ctx context.Context, tenant, userID, messageID string) (Idempotency, error)
	// GetConflict returns a live conflict of e, or ErrNotFound.
	GetConflict(ctx context.Context, e EntityKey, id string) (Conflict, error)
	// ListConflicts returns one page of e's live conflicts, in id order,
	// only the unresolved ones when unresolved is true, and the cursor of
	// the next page ("" at the end); see ConflictCursor. It passes over at
	// most MaxConflictSkip stored conflicts that it does not return
	// (resolved ones, when unresolved is true, and expired ones) per call:
	// past that it returns a short page, or an empty one, with a cursor to
	// read on.
	ListConflicts(ctx context.Context, e EntityKey, unresolved bool, p Page) ([]Conflict, string, error)
}

// MaxConflictSkip bounds the stored conflicts one ListConflicts call
// passes over without returning them. Resolved conflicts are kept 30 days
// and their ids are ordered by time, so the unresolved ones may come after
// many of them.
const MaxConflictSkip = 200

// Comment is a comment on an entity, optionally a reply to another.
type Comment struct {
	Entity     EntityKey
	ID         string // unique within the entity, sortable by creation time; no '#'
	ParentID   string // the comment this one replies to; "" for none
	UserID     string
	Username   string
	Avatar     string
	Text       string
	CreatedAt  time.Time
	Resolved   bool
	ResolvedBy string    // user id; "" while unresolved
	ResolvedAt time.Time // zero while unresolved
	// Version numbers the comment's states: 1 when added, and one more
	// with every resolve or reopen, stored in the same write. A resolve of
	// a resolved comment (which records the new resolver and time) and a
	// reopen of an open one count too, so no two states, and no two
	// events, share a version. A comment stored before comments had
	// versions reads as version 1.
	Version int64
}

// FirstCommentVersion is the version of a comment when it is added, and
// of a comment stored before comments had versions.
const FirstCommentVersion = 1

// CommentVersion is the version of a stored comment whose version
// attribute holds v: FirstCommentVersion for none (zero) or a value below it.
func CommentVersion(v int64) int64 { return max(v, FirstCommentVersion) }

// Comments stores comments. Comments do not expire.
type Comments interface {
	// AddComment creates c at version 1 (c.Version is ignored), and
	// records idem when it is not nil, in one atomic write. It fails with
	// ErrConditionFailed when a comment with c.ID exists or the
	// idempotency record does.
	AddComment(ctx context.Context, c Comment, idem *Idempotency) error
	// GetComment returns a comment of e, or ErrNotFound.
	GetComment(ctx context.Context, e EntityKey, id string) (Comment, error)
	// ResolveComment marks a comment resolved by userID at at, or
	// unresolved when resolved is false, at the next version (also when
	// the flag was already so), and returns it. Concurrent calls never
	// store the same version. It fails with ErrNotFound when the comment
	// does not exist.
	ResolveComment(ctx context.Context, e EntityKey, id string, resolved bool, userID string, at time.Time) (Comment, error)
	// ListComments returns one page of e's comments, newest first (by
	// ID), and the cursor of the next page ("" at the end). The cursor
	// after comment id is CommentCursor(id); a cursor that is not one fails
	// with ErrInvalidCursor.
	ListComments(ctx context.Context, e EntityKey, p Page) ([]Comment, string, error)
}

// Editing stores locks, entity heads, changes, conflicts and comments.
type Editing interface {
	Locks
	Entities
	Comments
}

// CheckLockExpiry refuses a lock write without an expiry after
// 1970-01-01 (zero, the epoch's first second, or before it): a lock must
// lapse (the sweeper finds lapsed locks by it), and the stores would
// disagree on such a one (an expiry of 0 seconds means "never" to the
// memory store and "already expired" to DynamoDB), as for sessions
// (CheckSessionWrite). backend and op name the caller in the error.
func CheckLockExpiry(backend, op string, e EntityKey, expiresAt time.Time) error {
	if expiresAt.Unix() <= 0 {
		return fmt.Errorf("%s: %s %q: a lock needs an expiry after 1970-01-01T00:00:00Z", backend, op, e)
	}
	return nil
}
