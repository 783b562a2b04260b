package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Position is a place in a channel's stream of publications: the offset of
// the last publication (0 before the first) and the stream's epoch. The
// epoch is a random id chosen when the stream is created; a stream whose
// history was lost or reset gets a new one, so a position of another epoch
// can never be continued from.
type Position struct {
	Offset int64
	Epoch  string
}

// Publication is one publication kept in a channel's history.
type Publication struct {
	Tenant  string
	Channel string
	// Offset is the publication's place in the stream: 1 for the first,
	// one more for each next. Set by AppendPublication.
	Offset int64
	// Epoch is the stream's epoch when it was appended. Set by
	// AppendPublication.
	Epoch string
	// UserID and MessageID identify the publish request: a second append
	// with the same pair is a resend (see AppendPublication).
	UserID    string
	MessageID string
	// RequestHash identifies the request (protocol.RequestHash), so that a
	// resend can be told from another request reusing the messageId.
	RequestHash string
	// Data is the published payload (JSON), stored as given.
	Data []byte
	// PublishedAt is when the publication was accepted.
	PublishedAt time.Time
	// ExpiresAt is the end of the channel's retention for it; the
	// publication and its resend record are absent from then on.
	ExpiresAt time.Time
}

// History keeps the stream of each channel that has history: a position
// item per (tenant, channel), and one item per publication with a TTL.
type History interface {
	// AppendPublication gives p the stream's next offset and stores it,
	// atomically with the move of the position: concurrent appends to one
	// channel get consecutive offsets with no gap and no duplicate, and a
	// publication is readable as soon as its offset is the position. The
	// stream, when absent, is created with a new epoch. A resend (a live
	// publication of the same Tenant, Channel, UserID and MessageID
	// exists) stores nothing and returns the stored publication with
	// dup true; the caller compares RequestHash. It returns the stored
	// publication with its Offset and Epoch.
	AppendPublication(ctx context.Context, p Publication) (stored Publication, dup bool, err error)
	// StreamPosition returns the channel's current position, creating the
	// stream (offset 0, a new epoch) when it does not exist.
	StreamPosition(ctx context.Context, tenant, channel string) (Position, error)
	// Publications returns the channel's live publications with an offset
	// above after, in offset order, at most limit of them (limit <= 0: 100),
	// and the current position (Epoch "" when the stream does not exist).
	// Expired publications are absent, so the first one returned may be
	// past after+1: the caller sees the gap.
	Publications(ctx context.Context, tenant, channel string, after int64, limit int) ([]Publication, Position, error)
}

// NewEpoch returns a new random stream epoch: 16 hexadecimal digits.
func NewEpoch() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("store: read random epoch: %v", err)) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}
