package store

// The single-table layout shared by the DynamoDB store, the SAM template and
// the template test. The memory store uses the same keys so that both
// backends order listings identically.
//
//	item                 pk                              sk
//	connection           CONN#<id>                       META
//	user index           USER#<tenant>#<userId>          CONN#<id>
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
// find carry AttrExpBucket; the bucket suffix spreads them over
// ExpiryShards partitions.
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrExpiresAt = "expiresAt"
	AttrExpBucket = "expBucket"
	IndexExpiry   = "expiry"
	ExpiryShards  = 4
)

// Key prefixes.
const (
	PrefixConn = "CONN#"
	PrefixUser = "USER#"
	PrefixChan = "CHAN#"
	PrefixSub  = "SUB#"
	SKMeta     = "META"
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
	return kind + "#" + string(rune('0'+h%ExpiryShards))
}
