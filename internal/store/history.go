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
// epoch is a random id chosen by the first publication of the stream; a
// stream whose history expired, was lost or reset gets a new one (see
// History), so a position of another epoch can never be continued from.
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

// History keeps the stream of each channel that has history: one item per
// publication, with a TTL, and one resend record per publication. There is
// no separate position item: a stream's position is its newest
// publication.
//
// Epochs and expiry. The next append continues the newest publication
// present (its offset + 1, its epoch) while that publication is live. A
// publication never expires before the one before it (AppendPublication
// raises ExpiresAt to it), so while the newest publication present is
// live, no later one can have been removed by the TTL, and its offset is
// the stream's. Once the newest present has expired, later ones may have
// been removed in any order: the next append starts a new epoch, at the
// offset after the newest present, so an offset is never given twice in
// one epoch.
type History interface {
	// AppendPublication gives p the stream's next offset and stores it,
	// atomically with its resend record: concurrent appends to one
	// channel get consecutive offsets with no gap and no duplicate, and a
	// publication is readable, and is the position, as soon as it is
	// stored. A new epoch is started as described above. A resend (a live
	// publication of the same Tenant, Channel, UserID and MessageID
	// exists) stores nothing and returns the stored publication with dup
	// true; the caller compares RequestHash. It returns the stored
	// publication with its Offset, Epoch and ExpiresAt (which may be later
	// than p's).
	AppendPublication(ctx context.Context, p Publication) (stored Publication, dup bool, err error)
	// StreamPosition returns the channel's current position: the offset
	// and epoch of its newest publication while that one is live.
	// Otherwise (none stored, or the newest expired) the stream has no
	// current epoch: Epoch is "" and Offset is that of the newest
	// publication present, or 0. It writes nothing.
	StreamPosition(ctx context.Context, tenant, channel string) (Position, error)
	// Publications returns the channel's live publications with an offset
	// above after, in offset order, at most limit of them (limit <= 0: 100),
	// and the current position as StreamPosition does. Expired
	// publications are absent, so the first one returned may be past
	// after+1: the caller sees the gap.
	Publications(ctx context.Context, tenant, channel string, after int64, limit int) ([]Publication, Position, error)
}

// Live reports whether p has not expired at now (epoch seconds); a zero
// ExpiresAt never expires.
func (p *Publication) Live(now int64) bool {
	return p.ExpiresAt.IsZero() || p.ExpiresAt.Unix() > now
}

// PositionOf is the stream's position given newest, its newest
// publication present (nil when none is), at now (epoch seconds); see
// History.
func PositionOf(newest *Publication, now int64) Position {
	switch {
	case newest == nil:
		return Position{}
	case !newest.Live(now):
		return Position{Offset: newest.Offset}
	default:
		return Position{Offset: newest.Offset, Epoch: newest.Epoch}
	}
}

// NextInStream returns the offset, epoch and expiry (whole seconds, UTC;
// zero for none) of the publication appended after newest, the newest
// publication present (nil when none is), at now (epoch seconds), for an
// append that would expire at expiresAt; see History. The stores share it.
func NextInStream(newest *Publication, expiresAt time.Time, now int64) (offset int64, epoch string, exp time.Time) {
	if !expiresAt.IsZero() {
		exp = time.Unix(expiresAt.Unix(), 0).UTC()
	}
	if newest == nil {
		return 1, NewEpoch(), exp
	}
	switch {
	case newest.ExpiresAt.IsZero():
		exp = time.Time{} // the one before never expires: neither does this one
	case !exp.IsZero() && newest.ExpiresAt.After(exp):
		exp = newest.ExpiresAt.UTC()
	}
	if newest.Live(now) {
		return newest.Offset + 1, newest.Epoch, exp
	}
	return newest.Offset + 1, NewEpoch(), exp
}

// NewEpoch returns a new random stream epoch: 16 hexadecimal digits.
func NewEpoch() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("store: read random epoch: %v", err)) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}
