package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// Reply budgets. Every reply and every broadcast is one frame of at most
// MaxFrameBytes (128 KB); the envelope around a payload (type, channel,
// messageId, replyTo, userId, timestamp) takes at most EnvelopeAllowance
// of it, so a payload of at most ReplyBudget always fits.
const (
	EnvelopeAllowance = 4 << 10
	ReplyBudget       = MaxFrameBytes - EnvelopeAllowance
)

// CursorSlack is what a page reserves for its cursor members (next,
// nextCursor and the like): store cursors are base64 of a sort key of a
// few hundred bytes at most, and the listings refuse a client's cursor
// longer than store.MaxCursorLen (1 KB), so a page that hands a client's
// cursor back stays within it too.
const CursorSlack = 2 << 10

// JSONSize is the length of v as json.Marshal writes it, with '<', '>'
// and '&' escaped to 6 bytes each: at least the length of the frame
// Marshal writes of it, so that a bound measured with it holds for the
// frames and for what the stores keep (which json.Marshal encodes).
func JSONSize(v any) (int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("measure reply: %w", err)
	}
	return len(b), nil
}

// FitPage returns how many of items, in order, fit in a JSON array that
// is part of a reply whose other members take used bytes, within
// ReplyBudget. It stops at the first item that does not fit, so a page is
// always a prefix and the caller's cursor continues after its last item.
// Every item a list reply carries is bounded well below ReplyBudget, so a
// page whose other members are small holds at least one item.
func FitPage[T any](items []T, used int) (int, error) {
	used += 2 // the array's brackets
	for i, it := range items {
		n, err := JSONSize(it)
		if err != nil {
			return 0, err
		}
		if i > 0 {
			n++ // the comma
		}
		if used+n > ReplyBudget {
			return i, nil
		}
		used += n
	}
	return len(items), nil
}

// ErrItemTooLarge is returned when one item of a list reply does not fit
// in a reply on its own: a stored field escaped its bound.
var ErrItemTooLarge = errors.New("list item exceeds the reply budget")

// FitSome is FitPage for lists whose other members are small: a page of
// no item while items remain is ErrItemTooLarge.
func FitSome[T any](items []T, used int) (int, error) {
	n, err := FitPage(items, used)
	if err == nil && n == 0 && len(items) > 0 {
		err = ErrItemTooLarge
	}
	return n, err
}

// detailed attaches client details to an internal error; see WithDetails.
type detailed struct {
	err     error
	details map[string]any
}

func (d *detailed) Error() string { return d.err.Error() }
func (d *detailed) Unwrap() error { return d.err }

// WithDetails returns err with details for the client's error, for when
// err is a domain error that the handler maps to a code of its own
// (VERSION_CONFLICT, LOCK_REQUIRED, ...); the handler keeps only the
// detail keys it allows. A nil err stays nil.
func WithDetails(err error, details map[string]any) error {
	if err == nil {
		return nil
	}
	return &detailed{err: err, details: details}
}

// DetailsOf returns the details WithDetails attached to err or to an
// error it wraps, nil when there are none. The map is the caller's.
func DetailsOf(err error) map[string]any {
	var d *detailed
	if !errors.As(err, &d) {
		return nil
	}
	return maps.Clone(d.details)
}
