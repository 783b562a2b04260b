package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// Publish key items of the single table (see schema.go):
//
//	item          pk                          sk
//	publish key   PUBKEY#<tenant>#<key>       PUBKEY
//
// One partition per key spreads the writes of a busy tenant. The key
// follows the tenant, which holds no '#', so it may hold '#' itself.
// expiresAt is the TTL attribute; an expired record is absent. leaseUntil
// (Unix seconds) is when the claim of a publish that has not completed
// lapses (see PublishKey.Lapsed); claimId is the random id of the claim
// that wrote the record (PublishKey.ClaimID).
const (
	PrefixPublishKey = "PUBKEY#"
	SKPublishKey     = "PUBKEY"
)

// PublishKeyPK is the partition key of a publish key record.
func PublishKeyPK(tenant, key string) string { return PrefixPublishKey + tenant + "#" + key }

// PublishKey records a publish from a backend service (the HTTP publish
// API or an EventBridge event) under the caller's idempotency key, so
// that a retried call reaches subscribers once: the retry gets Reply
// instead of a second broadcast.
type PublishKey struct {
	Tenant string
	// Key is the caller's idempotency key: printable ASCII of at most 128
	// bytes (ident.MessageID).
	Key string
	// RequestHash identifies the request the key was first used for; the
	// same key with another request is refused by the caller.
	RequestHash string
	// Reply is the reply of the completed publish (JSON); nil while the
	// publish is in progress, or when it never completed.
	Reply []byte
	// LeaseUntil is how long the claim of a publish that has not completed
	// holds: past it, a claim takes the record over (the attempt that
	// claimed it died without completing or releasing it); whole seconds.
	// A record without it (written before it existed) holds until
	// ExpiresAt.
	LeaseUntil time.Time
	ExpiresAt  time.Time // the record is forgotten after it; whole seconds
	// ClaimID identifies the claim that wrote the record: a random token
	// that ClaimPublishKey draws when it is empty. A claim whose write
	// was applied and then sent again (DynamoDB may answer a write it
	// applied with an error, and the SDK retries it) finds its own claim
	// id in the record, and so knows the record for its own.
	ClaimID string
}

// MaxClaimIDLen is the longest PublishKey.ClaimID a store accepts.
const MaxClaimIDLen = 128

// PrepareClaim checks k for ClaimPublishKey and returns it as stored:
// times to the second, and a random ClaimID when it has none. backend and
// op name the caller in the error.
func PrepareClaim(backend, op string, k PublishKey) (PublishKey, error) {
	if err := CheckPublishKey(backend, op, k.Tenant, k.Key); err != nil {
		return PublishKey{}, err
	}
	if len(k.ClaimID) > MaxClaimIDLen {
		return PublishKey{}, fmt.Errorf("%s: %s %q: claim id of %d bytes, at most %d", backend, op, k.Key, len(k.ClaimID), MaxClaimIDLen)
	}
	if k.ClaimID == "" {
		k.ClaimID = rand.Text()
	}
	if !k.ExpiresAt.IsZero() {
		k.ExpiresAt = time.Unix(k.ExpiresAt.Unix(), 0).UTC()
	}
	if !k.LeaseUntil.IsZero() {
		k.LeaseUntil = time.Unix(k.LeaseUntil.Unix(), 0).UTC()
	}
	return k, nil
}

// OwnClaim reports whether the live record k is the claim with id
// claimID whose publish has not completed: the record a retried write of
// that claim finds.
func (k PublishKey) OwnClaim(claimID string) bool {
	return k.Reply == nil && claimID != "" && k.ClaimID == claimID
}

// Lapsed reports whether k is a claim whose publish has not completed and
// whose lease (LeaseUntil, or ExpiresAt when it has none) has passed at
// now (Unix seconds), so that another claim may take it over.
func (k PublishKey) Lapsed(now int64) bool {
	lease := k.LeaseUntil
	if lease.IsZero() {
		lease = k.ExpiresAt
	}
	return k.Reply == nil && !lease.IsZero() && lease.Unix() <= now
}

// PublishKeys stores publish key records.
type PublishKeys interface {
	// ClaimPublishKey writes k when no live record of (k.Tenant, k.Key)
	// exists, or when the live record has lapsed (PublishKey.Lapsed: it
	// has no reply and its lease has passed), which k then replaces; it
	// returns k, with the ClaimID drawn when k had none. A live record
	// without a reply that carries k's ClaimID is k's own claim, written
	// by an attempt of this call whose answer was lost: it returns it as
	// the claim made. Otherwise it writes nothing and returns the live
	// record with an error wrapping ErrConditionFailed.
	ClaimPublishKey(ctx context.Context, k PublishKey) (PublishKey, error)
	// CompletePublishKey stores reply in the live record of (tenant, key)
	// whose RequestHash is hash, its lease passed or not; the record keeps
	// its ExpiresAt (a claim is written with the record's whole life, and
	// a short lease, so that one whose publish never completed can be
	// taken over; see publishapi). ErrNotFound when there is no such
	// record.
	CompletePublishKey(ctx context.Context, tenant, key, hash string, reply []byte) error
	// ReleasePublishKey deletes the record of (tenant, key) if its
	// RequestHash is hash and it has no reply, so that a publish that
	// failed may run again. Releasing an absent record is not an error.
	ReleasePublishKey(ctx context.Context, tenant, key, hash string) error
}

// CheckPublishKey rejects a publish key record's tenant and key that would
// corrupt its storage key: an empty key, or a tenant that CheckKeyParts
// refuses. backend and op name the caller in the error.
func CheckPublishKey(backend, op, tenant, key string) error {
	if err := CheckKeyParts(backend, op, key, tenant); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("%s: %s: empty key", backend, op)
	}
	return nil
}
