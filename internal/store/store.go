// Package store defines the persistent state of the backend: the records
// (connections, subscriptions, presence, locks, entities, changes, comments,
// activity) and the role interfaces that the handlers use to read and write
// them. Two implementations satisfy every interface and pass one
// conformance suite (package storetest):
//
//   - store/memory: an embedded, mutex-guarded store for the local server
//     and tests;
//   - store/dynamo: the single DynamoDB table described in schema.go.
//
// Every implementation treats a record whose ExpiresAt is at or before the
// current time as absent, even when it is still physically present
// (DynamoDB's TTL deletes items late). No operation scans a whole table.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with the operation and key;
// callers test with errors.Is.
var (
	// ErrNotFound: the record does not exist or has expired.
	ErrNotFound = errors.New("not found")
	// ErrConditionFailed: a conditional write lost (a version moved, a lock
	// is held by someone else, a record is no longer expired).
	ErrConditionFailed = errors.New("condition failed")
	// ErrUnavailable: the backend throttled or failed after retries. The
	// request may be retried later; nothing was half-written.
	ErrUnavailable = errors.New("store unavailable")
	// ErrTooManyConnections: a user already has as many live connections
	// as OpenConnection's limit allows.
	ErrTooManyConnections = errors.New("too many connections")
)

// Clock returns the current time. A nil Clock means time.Now.
type Clock func() time.Time

// Now calls c, or time.Now when c is nil.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// Connection is the record written on $connect. Identity fields come from
// the verified token (or the dev identity) and are the only source of
// identity for later frames.
type Connection struct {
	ID          string    // API Gateway connection id
	UserID      string    // verified user id (token "sub")
	Username    string    // display name
	Avatar      string    // avatar URL, may be empty
	Tenant      string    // tenant namespace; every key below is scoped by it
	Roles       []string  // roles from the token; decide channel access
	ConnectedAt time.Time // when $connect ran
	LastSeenAt  time.Time // last client activity (throttled updates)
	ExpiresAt   time.Time // when the record is garbage: past the 2 h API Gateway limit
	Endpoint    string    // Management API endpoint that reaches this connection
	SourceIP    string    // client address as API Gateway saw it

	// TokenExpiresAt is the exp of the token the connection authenticated
	// with, in whole seconds; zero for a development identity (no token).
	// From then on the connection's frames are refused.
	TokenExpiresAt time.Time

	// Hidden says the connection's session was hidden (its client chose
	// status offline) when it was last written, or, before its first
	// session, that the client connected with status offline. PutSession
	// keeps it (see SessionWrite.SetHidden), and it outlives the session:
	// once DynamoDB's TTL deleted a session and its room entries, it is
	// what tells whether the departure may be announced, and a new session
	// starts hidden when it is set.
	Hidden bool

	// Rooms lists the rooms the connection's session was in when its
	// rooms last changed (see SessionWrite.SetRooms), sorted. It outlives
	// the session: when a connection that fell silent speaks again, its
	// new session re-enters these rooms, and only these, as far as it is
	// still subscribed to their channels. It holds only when RoomsKnown.
	Rooms []string

	// RoomsKnown says the record keeps its session's rooms: Rooms, empty
	// for a session in no room (or a connection that had none yet, as
	// $connect writes it). A record written by an earlier version, which
	// did not keep them, has it false: its rooms are not known, which is
	// not the same as none. A session write with SetRooms sets it.
	RoomsKnown bool

	// HiddenBefore says a session of the connection that was hidden when
	// last written was followed by a new session (SessionWrite.HiddenBefore):
	// room entries that session left behind, which DynamoDB's TTL deletes
	// in its own time, may be hidden whatever Hidden says now. Once set, it
	// stays for the record's life.
	HiddenBefore bool

	// HiddenRooms lists, with HiddenBefore, the rooms where such a hidden
	// session's entry may be left behind: the rooms of each hidden session
	// that a new session followed, less those a later session has written
	// its own entry in since, sorted (see SessionWrite.SetHiddenRooms). It
	// holds only when HiddenRoomsKnown. A record whose HiddenBefore an
	// earlier version set, which kept no list, has HiddenRoomsKnown false:
	// any entry left behind may be the hidden session's.
	HiddenRooms []string

	// HiddenRoomsKnown says the record keeps HiddenRooms (empty for none).
	HiddenRoomsKnown bool
}

// Connections stores connection records and the user-to-connections index.
type Connections interface {
	// PutConnection creates or replaces the connection record and its
	// user index entry, atomically.
	PutConnection(ctx context.Context, c Connection) error
	// OpenConnection is PutConnection for a connection that counts against
	// its user's limit. It writes c, its user index entry and c.ID in the
	// user's connection count in one atomic write, unless the user
	// (c.Tenant, c.UserID) already has max counted connections other than
	// c.ID: then it writes nothing and returns ErrTooManyConnections.
	// Opening c.ID again (a retried $connect) does not count it twice. The
	// count heals itself when $disconnect is missed: a counted connection
	// past its ExpiresAt, or whose record is gone or now belongs to another
	// user, does not count. max <= 0 means no limit: c is written as by
	// PutConnection and not counted.
	OpenConnection(ctx context.Context, c Connection, max int) error
	// GetConnection returns the live connection with id, or ErrNotFound.
	GetConnection(ctx context.Context, id string) (Connection, error)
	// TouchConnection sets LastSeenAt. It is a no-op (nil) for an absent
	// connection.
	TouchConnection(ctx context.Context, id string, at time.Time) error
	// DeleteConnection removes the connection, its user index entry, its
	// place in its user's connection count and every subscription (both
	// directions). It returns the channels the
	// connection was subscribed to. Deleting an absent connection is not an
	// error: it returns no channels. It is idempotent and safe to run twice
	// concurrently.
	DeleteConnection(ctx context.Context, id string) (Connection, []string, error)
	// UserConnections lists the live connections of one user of a tenant,
	// by key lookup (never a scan).
	UserConnections(ctx context.Context, tenant, userID string) ([]Connection, error)
}

// Page asks for one page of a listing. A zero Page means the first page
// with the implementation's default size.
type Page struct {
	Cursor string // opaque; empty for the first page
	Limit  int    // 0 means the default (100)
}

// Subscriptions stores which connection listens to which channel.
type Subscriptions interface {
	// Subscribe adds connID to the channel of tenant, writing the forward
	// item and the reverse item atomically, and reports whether it added
	// the subscription: subscribing twice is a no-op that reports false.
	// It fails with ErrNotFound when the connection record is absent, and
	// with ErrConditionFailed when the connection already has max
	// subscriptions (max <= 0 means no limit).
	Subscribe(ctx context.Context, tenant, channel, connID string, max int) (added bool, err error)
	// Unsubscribe removes both items atomically. It reports whether the
	// subscription existed.
	Unsubscribe(ctx context.Context, tenant, channel, connID string) (bool, error)
	// Subscribers returns one page of connection ids subscribed to the
	// channel, in a stable order, and the cursor of the next page ("" at
	// the end).
	Subscribers(ctx context.Context, tenant, channel string, p Page) (ids []string, next string, err error)
	// ChannelsOf lists the channels connID is subscribed to.
	ChannelsOf(ctx context.Context, connID string) ([]string, error)
}

// Store is everything the handlers need. Both implementations satisfy it.
type Store interface {
	Connections
	Subscriptions
	Presences
	Editing
	TokenAlarms
	History
	PublishKeys
	Outbox
}
