package store

import (
	"context"
	"time"
)

// Token alarm items of the single table (see schema.go):
//
//	item          pk              sk      expiry index
//	token alarm   CONN#<connId>   TOKEN   TOKEN#<n>, expiresAt = the token's exp
//
// The alarm is an item of its own, like the away alarm, because an item
// has one place in the expiry index and the connection item's expiresAt
// is its 2 h lifetime. expiresAt is also the TTL attribute: DynamoDB may
// delete an alarm that the sweeper has not handled yet (TTL deletes lag,
// usually by far more than the sweeper's minute, but have no lower
// bound); the table's stream then hands the removal to the sweeper, which
// closes the connection as its pass would have.
const (
	SKToken      = "TOKEN"
	ExpKindToken = "TOKEN"
)

// ParseTokenAlarmKey reads the key of a token alarm, as a record of the
// table's stream carries it: the alarm's connection; ok is false for the
// key of any other item (the connection's record and away alarm included).
func ParseTokenAlarmKey(pk, sk string) (connID string, ok bool) {
	return parseConnItemKey(pk, sk, SKToken)
}

// TokenBucket is the expiry-index partition of a connection's token alarm.
func TokenBucket(connID string) string { return ExpBucket(ExpKindToken, connID) }

// TokenAlarm says when the token a connection authenticated with expires.
// From At on, the connection's frames are refused and the sweeper closes
// it.
type TokenAlarm struct {
	ConnID string
	Tenant string
	UserID string
	At     time.Time // the token's exp, in whole seconds
}

// TokenAlarms stores token alarms.
type TokenAlarms interface {
	// PutTokenAlarm creates or replaces the alarm of a.ConnID.
	PutTokenAlarm(ctx context.Context, a TokenAlarm) error
	// ExpiredTokens lists up to limit alarms whose At is at or before now,
	// earliest first, through the expiry index (never a scan). Alarms that
	// TTL has not removed yet are listed however old they are.
	ExpiredTokens(ctx context.Context, now time.Time, limit int) ([]TokenAlarm, error)
	// DeleteTokenAlarm removes the alarm of connID. Removing an absent
	// alarm is not an error.
	DeleteTokenAlarm(ctx context.Context, connID string) error
}
