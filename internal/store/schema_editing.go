package store

import (
	"fmt"
	"slices"
	"strings"
)

// Keys of the editing records:
//
//	item                 pk                              sk
//	lock                 LOCK#<tenant>#<type>#<id>       LOCK
//	fencing counter      LOCK#<tenant>#<type>#<id>       FENCE
//	reverse lock         CONN#<connId>                   LOCK#<tenant>#<type>#<id>
//	entity head          ENT#<tenant>#<type>#<id>        HEAD
//	change               ENT#<tenant>#<type>#<id>        CHG#<version, 12 digits>
//	conflict             ENT#<tenant>#<type>#<id>        CONFLICT#<id>
//	comment              ENT#<tenant>#<type>#<id>        COMMENT#<id>
//	idempotency          IDEM#<tenant>#<userId>          <messageId>
//
// The lock item carries AttrExpBucket (ExpBucket(KindLock, pk)) so that
// the sweeper finds expired locks through IndexExpiry. The fencing
// counter has no expiry and is never deleted; with the token of the last
// grant it keeps who that grant went to (holder, name, time) and when the
// store wrote it, so that a grant whose lock item DynamoDB's TTL deleted
// can still be announced (Locks.LastGrant). The reverse lock item lets a disconnect find the
// connection's locks with one Query; its sort key is the lock's
// partition key.
const (
	PrefixLock     = "LOCK#"
	PrefixEntity   = "ENT#"
	PrefixChange   = "CHG#"
	PrefixConflict = "CONFLICT#"
	PrefixComment  = "COMMENT#"
	PrefixIdem     = "IDEM#"
	SKLock         = "LOCK"
	SKFence        = "FENCE"
	SKHead         = "HEAD"
	// KindLock is the expiry-index kind of lock items.
	KindLock = "LOCK"
)

// LockPK is the partition key of an entity's lock and fencing counter,
// and the sort key of the reverse lock item.
func LockPK(e EntityKey) string { return PrefixLock + e.Tenant + "#" + e.Type + "#" + e.ID }

// ParseLockKey reads the key of a lock item, as a record of the table's
// stream carries it; ok is false for the key of any other item (the
// fencing counter and the reverse lock item included).
func ParseLockKey(pk, sk string) (e EntityKey, ok bool) {
	rest, ok := strings.CutPrefix(pk, PrefixLock)
	if !ok || sk != SKLock {
		return EntityKey{}, false
	}
	parts := strings.Split(rest, "#")
	if len(parts) != 3 || slices.Contains(parts, "") {
		return EntityKey{}, false
	}
	return EntityKey{Tenant: parts[0], Type: parts[1], ID: parts[2]}, true
}

// EntityPK is the partition key of an entity's head, changes, conflicts
// and comments.
func EntityPK(e EntityKey) string { return PrefixEntity + e.Tenant + "#" + e.Type + "#" + e.ID }

// ChangeSK is the sort key of version v; zero padding keeps versions in
// numeric order.
func ChangeSK(v int64) string { return fmt.Sprintf("%s%012d", PrefixChange, v) }

// ConflictSK is the sort key of a conflict.
func ConflictSK(id string) string { return PrefixConflict + id }

// CommentSK is the sort key of a comment.
func CommentSK(id string) string { return PrefixComment + id }

// IdemPK is the partition key of a user's idempotency records.
func IdemPK(tenant, userID string) string { return PrefixIdem + tenant + "#" + userID }
