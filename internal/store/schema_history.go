package store

import "fmt"

// Channel history items of the single table (see schema.go):
//
//	item                 pk                          sk                          expiry
//	publication          HIST#<tenant>#<channel>     PUB#<offset, 20 digits>     expiresAt = end of retention, never before the previous publication's
//	resend record        HIST#<tenant>#<channel>     MSG#<userId>#<messageId>    expiresAt = that of its publication
//
// One partition per channel holds its whole stream, so reading history is
// one Query. There is no position item: the stream's position is its
// newest publication (see History for epochs and expiry).
const (
	PrefixHistory = "HIST#"
	PrefixPub     = "PUB#"
	PrefixPubMsg  = "MSG#"
)

// HistoryPK is the partition of a channel's stream.
func HistoryPK(tenant, channel string) string { return PrefixHistory + tenant + "#" + channel }

// PubSK is the sort key of the publication at offset; fixed width, so that
// sort keys order by offset.
func PubSK(offset int64) string { return fmt.Sprintf("%s%020d", PrefixPub, offset) }

// PubMsgSK is the sort key of the resend record of a user's messageId.
func PubMsgSK(userID, messageID string) string { return PrefixPubMsg + userID + "#" + messageID }
