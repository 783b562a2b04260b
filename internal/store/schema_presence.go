package store

import (
	"strconv"
	"strings"
	"time"
)

// Presence and activity items of the single table (see schema.go):
//
//	item                 pk                        sk                       expiry index
//	session              PRES#<tenant>             USER#<userId>#<connId>   PRESENCE#<n>, expiresAt = lastSeen + offline timeout
//	room entry           ROOM#<tenant>#<room>      USER#<userId>#<connId>   none (same expiresAt as its session)
//	away alarm           CONN#<connId>             AWAY                     AWAY#<n>, expiresAt = lastActive + away timeout
//	activity entry       ACT#<tenant>              <time>#<id>              none (expiresAt = end of retention)
//
// A session lists the rooms of its connection, so it doubles as the
// reverse index that clean-up follows to the room entries. The away alarm
// is an item of its own because an item has one place in the expiry index
// and expiresAt is also the TTL attribute: the session must stay present
// while its connection is away. The sweeper's claim (ClearAway) does not
// delete the alarm at once: it sets claim (the claiming call's random
// token) and removes expBucket, so that a claim sent twice can tell its
// own mark from another sweep's; then, the claim known, it deletes the
// item on the condition that it still carries that mark. So an alarm
// that DynamoDB's TTL removes is one no pass claimed, whose away the
// sweeper announces from the table's stream; a claimed item whose
// deletion failed is listed nowhere and goes with the next alarm of the
// connection, its session's removal, or TTL (its away then announced
// again, which clients take as once).
const (
	PrefixPresence = "PRES#"
	PrefixRoom     = "ROOM#"
	PrefixActivity = "ACT#"
	SKAway         = "AWAY"

	// ExpKindPresence and ExpKindAway are the expiry-index kinds of
	// sessions and away alarms.
	ExpKindPresence = "PRESENCE"
	ExpKindAway     = "AWAY"
)

// activityTimeLayout is fixed-width, so activity sort keys order by time.
const activityTimeLayout = "2006-01-02T15:04:05.000000000Z"

// PresencePK is the partition of a tenant's sessions.
func PresencePK(tenant string) string { return PrefixPresence + tenant }

// RoomPK is the partition of a room's entries.
func RoomPK(tenant, room string) string { return PrefixRoom + tenant + "#" + room }

// PresenceSK is the sort key of a session or room entry.
func PresenceSK(userID, connID string) string { return PrefixUser + userID + "#" + connID }

// UserPresencePrefix is the sort-key prefix of one user's entries.
func UserPresencePrefix(userID string) string { return PrefixUser + userID + "#" }

// PresenceKey names a session (Room empty) or a room entry by the parts of
// its key.
type PresenceKey struct {
	Tenant, Room, UserID, ConnID string
}

// ParsePresenceKey reads the key of a session or of a room entry, as a
// record of the table's stream carries it; ok is false for the key of any
// other item.
func ParsePresenceKey(pk, sk string) (k PresenceKey, ok bool) {
	rest, ok := strings.CutPrefix(sk, PrefixUser)
	if !ok {
		return PresenceKey{}, false
	}
	k.UserID, k.ConnID, ok = strings.Cut(rest, "#")
	if !ok || k.UserID == "" || k.ConnID == "" || strings.Contains(k.ConnID, "#") {
		return PresenceKey{}, false
	}
	if tenant, ok := strings.CutPrefix(pk, PrefixPresence); ok {
		k.Tenant = tenant
	} else if rest, ok := strings.CutPrefix(pk, PrefixRoom); ok {
		if k.Tenant, k.Room, ok = strings.Cut(rest, "#"); !ok || k.Room == "" {
			return PresenceKey{}, false
		}
	} else {
		return PresenceKey{}, false
	}
	if k.Tenant == "" || strings.Contains(k.Tenant, "#") {
		return PresenceKey{}, false
	}
	return k, true
}

// ParseAwayKey reads the key of an away alarm, as a record of the table's
// stream carries it: the alarm's connection; ok is false for the key of
// any other item (the connection's record and reverse items included).
func ParseAwayKey(pk, sk string) (connID string, ok bool) {
	return parseConnItemKey(pk, sk, SKAway)
}

// parseConnItemKey reads the key (pk, sk) of the item of a connection's
// partition whose sort key is want: the connection; ok is false for the
// key of any other item.
func parseConnItemKey(pk, sk, want string) (connID string, ok bool) {
	connID, ok = strings.CutPrefix(pk, PrefixConn)
	if !ok || sk != want || connID == "" || strings.Contains(connID, "#") {
		return "", false
	}
	return connID, true
}

// ActivityPK is the partition of a tenant's activity feed.
func ActivityPK(tenant string) string { return PrefixActivity + tenant }

// ActivitySK is the sort key of an activity entry: its time, fixed-width
// in UTC, then its id.
func ActivitySK(at time.Time, id string) string {
	return at.UTC().Format(activityTimeLayout) + "#" + id
}

// SessionBucket is the expiry-index partition of a connection's session.
func SessionBucket(connID string) string { return ExpBucket(ExpKindPresence, connID) }

// AwayBucket is the expiry-index partition of a connection's away alarm.
func AwayBucket(connID string) string { return ExpBucket(ExpKindAway, connID) }

// ExpBuckets lists every expiry-index partition of kind.
func ExpBuckets(kind string) []string {
	out := make([]string, ExpiryShards)
	for i := range out {
		out[i] = kind + "#" + strconv.Itoa(i)
	}
	return out
}
