package store

import "strconv"

// The single-table layout shared by the DynamoDB store, the SAM template and
// the template test. The memory store uses the same keys so that both
// backends order listings identically.
//
//	item                 pk                              sk
//	connection           CONN#<id>                       META
//	user index           USER#<tenant>#<userId>          CONN#<id>
//	connection count     USER#<tenant>#<userId>          CONNS
//	subscription         CHAN#<tenant>#<channel>         CONN#<id>
//	reverse subscription CONN#<id>                       SUB#<tenant>#<channel>
//
// Later features add their own items under the same rules: every partition
// key starts with a kind prefix, '#' separates parts, and names that reach a
// key are validated to contain no '#'.
//
// The table has TTL on AttrExpiresAt (epoch seconds) and one sparse global
// secondary index, IndexExpiry, keyed by AttrExpBucket (string, e.g.
// "PRESENCE#3") and AttrExpiresAt (number). Only items that a sweeper must
// find carry AttrExpBucket; the bucket suffix spreads each kind over
// ExpiryShards index partitions.
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrExpiresAt = "expiresAt"
	AttrExpBucket = "expBucket"
	IndexExpiry   = "expiry"
	// ExpiryShards is the number of expiry-index partitions per kind.
	// Presence refreshes rewrite every connection's session in the index
	// about twice a minute, and one partition key takes at most 1,000
	// write units per second; 32 keep 100,000 connections at about a third
	// of that (docs/BENCHMARKS.md, "Expiry index partitions"). It was 4:
	// the bucket names of 4 ("KIND#0" to "KIND#3") are among those of 32,
	// so the sweeper still finds items written then. Never lower it
	// without sweeping the higher buckets: their items would be missed.
	ExpiryShards = 32
)

// Key prefixes.
const (
	PrefixConn = "CONN#"
	PrefixUser = "USER#"
	PrefixChan = "CHAN#"
	PrefixSub  = "SUB#"
	SKMeta     = "META"
	// SKConnCount is the sort key of a user's connection count: the ids of
	// the connections OpenConnection counted, each with its expiry.
	SKConnCount = "CONNS"
)

// ConnPK is the partition key of a connection and its reverse items.
func ConnPK(id string) string { return PrefixConn + id }

// UserPK is the partition key of a user's connection index.
func UserPK(tenant, userID string) string { return PrefixUser + tenant + "#" + userID }

// ChanPK is the partition key of a channel's subscriptions.
func ChanPK(tenant, channel string) string { return PrefixChan + tenant + "#" + channel }

// SubSK is the sort key of a reverse subscription item.
func SubSK(tenant, channel string) string { return PrefixSub + tenant + "#" + channel }

// ExpBucket returns the expiry-index partition for an item of kind with the
// given key, spreading kinds over ExpiryShards partitions.
func ExpBucket(kind, key string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return kind + "#" + strconv.Itoa(int(h%ExpiryShards))
}
