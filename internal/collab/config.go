package collab

import (
	"fmt"
	"time"

	"github.com/omnisales/rtcollab/internal/editing"
)

// Config tunes edit locks, versioned changes, conflict strategies,
// history and comments. The zero value gives the defaults noted on each
// field.
type Config struct {
	// Strategies maps entity types to their conflict strategy. Default
	// editing.DefaultStrategies(): order lock-based, inventory crdt,
	// customer operational-transform, pricing manual.
	Strategies map[string]editing.Strategy
	// Fallback is the strategy of entity types Strategies does not name.
	// Default last-write-wins.
	Fallback editing.Strategy
	// LockTTL is the lifetime of a lock when lock.acquire or lock.renew
	// names none. Default 30 s; at most MaxLockTTL (see Check).
	LockTTL time.Duration
	// MaxLockTTL caps the lifetime a request may ask for; longer requests
	// are shortened to it. Default 5 min.
	MaxLockTTL time.Duration
	// HistoryLimit is the number of changes kept per entity: older ones are
	// deleted as new ones arrive, and sync answers a client further behind
	// with the whole document. Default 100.
	HistoryLimit int
	// IdempotencyTTL is how long the reply to a change, undo, conflict
	// resolution or comment is kept for resends of the same messageId.
	// Default 24 h.
	IdempotencyTTL time.Duration
	// ConflictRetention is how long a resolved conflict is kept.
	// Unresolved conflicts are kept until resolved. Default 30 days.
	ConflictRetention time.Duration
	// MaxDocumentBytes bounds an entity's document as JSON, so that a
	// document, or a change with its before and after values, fits in one
	// frame. Default 24 KiB: a change's value is at most 10 KiB (so that
	// its request fits in a 32 KB client frame), a document is built by
	// several changes, and a change that replaces or deletes a part of
	// the whole document still echoes in under 60 KiB. See docs/limits.md.
	MaxDocumentBytes int
	// MaxClockSkew bounds how far ahead of the server's clock a client's
	// HLC stamp (crdt entities) may be. Default 1 min.
	MaxClockSkew time.Duration
	// CommitAttempts bounds the read-decide-write rounds of one request
	// when concurrent writes to the entity win; the last loss answers
	// UNAVAILABLE, which clients retry with the same messageId. Default 25.
	CommitAttempts int
	// MaxCommentLen bounds a comment's text, in characters. Default 4000.
	MaxCommentLen int
	// SweepBatch is the number of expired locks one sweeper pass handles.
	// Default 500.
	SweepBatch int
	// NoWriteQueue turns off the queue that makes the writes of one process
	// to one entity take turns. With the queue (the default), concurrent
	// requests in a warm instance or the local server do not spend
	// conditional writes losing to each other; across instances the
	// conditional write on the head version decides either way. Default
	// false.
	NoWriteQueue bool
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Strategies == nil {
		c.Strategies = editing.DefaultStrategies()
	}
	if c.Fallback == "" {
		c.Fallback = editing.DefaultStrategy
	}
	if c.LockTTL <= 0 {
		c.LockTTL = 30 * time.Second
	}
	if c.MaxLockTTL <= 0 {
		c.MaxLockTTL = 5 * time.Minute
	}
	if c.HistoryLimit <= 0 {
		c.HistoryLimit = 100
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.ConflictRetention <= 0 {
		c.ConflictRetention = 30 * 24 * time.Hour
	}
	if c.MaxDocumentBytes <= 0 {
		c.MaxDocumentBytes = 24 << 10
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = editing.DefaultMaxSkew
	}
	if c.CommitAttempts <= 0 {
		c.CommitAttempts = 25
	}
	if c.MaxCommentLen <= 0 {
		c.MaxCommentLen = 4000
	}
	if c.SweepBatch <= 0 {
		c.SweepBatch = 500
	}
	return c
}

// Check reports an error when c, with its defaults, cannot be served as
// it says: a LockTTL longer than MaxLockTTL (a *LockTTLError), which would
// give a lock asked for without ttl more than any request with one gets.
func (c Config) Check() error {
	if d := c.WithDefaults(); d.LockTTL > d.MaxLockTTL {
		return &LockTTLError{LockTTL: d.LockTTL, MaxLockTTL: d.MaxLockTTL}
	}
	return nil
}

// LockTTLError is Check's error for a default lock lifetime above the
// cap. Both values are after defaults (30 s and 5 min).
type LockTTLError struct {
	LockTTL, MaxLockTTL time.Duration
}

func (e *LockTTLError) Error() string {
	return fmt.Sprintf("LockTTL %s is longer than MaxLockTTL %s (defaults 30s and 5m): a lock asked for without ttl would outlive the longest a client may ask for",
		e.LockTTL, e.MaxLockTTL)
}
