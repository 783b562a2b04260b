// Package dynamo implements the store contracts on the single DynamoDB
// table described in store/schema.go, with aws-sdk-go-v2.
//
// Every access is a key lookup or a Query; nothing scans the table. Items
// that must change together (a connection and its user index entry, a
// subscription and its reverse item) are written in one
// TransactWriteItems. Read-then-write operations condition their writes on
// what they read and, when a condition fails, read again and decide anew,
// so that they never rely on the values an emulator may or may not return
// with a cancelled transaction.
//
// Expiry: expiresAt is an epoch-seconds number (the table's TTL attribute).
// TTL deletes items late, so every read drops items whose expiresAt is at
// or before the clock's current time, and every condition on a connection
// requires expiresAt > now. A zero ExpiresAt writes no expiresAt: the item
// never expires, as with DynamoDB's TTL.
//
// Subscription items carry the expiresAt of their connection, so that
// they expire with it even when $disconnect never ran. The connection item
// keeps subCount, the number of its subscriptions, which Subscribe checks
// against the limit in the same transaction that adds one.
package dynamo

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

const (
	// defaultPageSize is the page size of a Page without a limit.
	defaultPageSize = 100
	// maxTxActions is the most actions one TransactWriteItems may hold.
	maxTxActions = 100
	// maxBatchGet is the most keys one BatchGetItem may hold.
	maxBatchGet = 100
	// attempts bounds the read-decide-write loops that lose a condition
	// to a concurrent writer, and the re-sends of unprocessed batch keys.
	attempts = 5
)

// Attribute names of the items, besides the key and expiry attributes of
// schema.go.
const (
	attrID          = "id"
	attrUserID      = "userId"
	attrUsername    = "username"
	attrAvatar      = "avatar"
	attrTenant      = "tenant"
	attrRoles       = "roles"
	attrConnectedAt = "connectedAt"
	attrLastSeenAt  = "lastSeenAt"
	attrEndpoint    = "endpoint"
	attrSourceIP    = "sourceIp"
	attrSubCount    = "subCount"
	attrConnID      = "connId"
	attrChannel     = "channel"
	attrConns       = "conns"
	attrHidden      = "sessionHidden" // a connection's: its session was hidden when last written
	attrConnRooms   = "sessionRooms"  // a connection's: the rooms its session was in when they last changed (absent: not known)
	attrHiddenPrior = "hiddenBefore"  // a connection's: a hidden session of it was followed by another
	attrHiddenRooms = "hiddenRooms"   // a connection's: where such a hidden session's entries may be left (absent with hiddenBefore: anywhere)
)

// condLive holds for a present item that has not expired at :now.
const condLive = "attribute_exists(pk) AND (attribute_not_exists(expiresAt) OR expiresAt > :now)"

// item is one DynamoDB item.
type item = map[string]types.AttributeValue

// Store is the DynamoDB implementation of store.Store.
type Store struct {
	client  *dynamodb.Client
	table   string
	clock   store.Clock
	streams streamCache // newest publications stored by this process (history.go)
}

var _ store.Store = (*Store)(nil)

// New returns a store on table, reading the current time from clock (nil
// means time.Now). The table must exist (see CreateTable). Build client
// with NewClient to get bounded retries.
func New(client *dynamodb.Client, table string, clock store.Clock) *Store {
	return &Store{client: client, table: table, clock: clock}
}

func (s *Store) now() int64 { return s.clock.Now().Unix() }
