package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// The one cursor codec of every listing of both backends: a cursor is the
// sort key of the last item returned, in unpadded base64url. Both backends
// issue and accept exactly these cursors, so a cursor made here continues
// a listing as the store's own next cursor would after the same item; the
// handlers use the helpers below when they return only part of a page (to
// keep a reply within its byte budget).

// ErrInvalidCursor is wrapped by every listing given a cursor that it did
// not issue: not base64url, or the sort key of another kind of item.
var ErrInvalidCursor = errors.New("invalid cursor")

// EncodeCursor turns the sort key of the last returned item into an opaque
// cursor.
func EncodeCursor(sk string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(sk))
}

// MaxCursorLen bounds the length of a cursor a listing accepts. The sort
// keys cursors stand for are a few hundred bytes at most (the longest, a
// presence entry's, holds a user id of up to 128 bytes and a connection
// id), so no cursor a store issues comes near it; a reply that echoes a
// client's cursor can count on it (protocol.CursorSlack).
const MaxCursorLen = 1024

// DecodeCursor returns the sort key a cursor stands for ("" for none); the
// key must start with prefix, the kind of item the listing returns. Any
// other cursor, or one longer than MaxCursorLen, fails with an error
// wrapping ErrInvalidCursor.
func DecodeCursor(cursor, prefix string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	if len(cursor) > MaxCursorLen {
		return "", fmt.Errorf("cursor of %d bytes, more than %d: %w", len(cursor), MaxCursorLen, ErrInvalidCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 || !strings.HasPrefix(string(b), prefix) {
		return "", fmt.Errorf("cursor %q: %w", cursor, ErrInvalidCursor)
	}
	return string(b), nil
}

// DecodeActivityCursor is DecodeCursor for the activity feed, whose sort
// keys (ActivitySK) have no common prefix but always hold a '#'.
func DecodeActivityCursor(cursor string) (string, error) {
	sk, err := DecodeCursor(cursor, "")
	if err == nil && sk != "" && !strings.Contains(sk, "#") {
		return "", fmt.Errorf("cursor %q: %w", cursor, ErrInvalidCursor)
	}
	return sk, err
}

// ActivityCursor continues ListActivity after entry a, one the listing
// returned.
func ActivityCursor(a Activity) string { return EncodeCursor(ActivitySK(a.At, a.ID)) }

// PresenceCursor continues ListPresence after the user of entry e, the
// last entry of that user the listing returned (its entries are ordered
// by user and connection id, and a user never straddles two pages).
func PresenceCursor(e Presence) string { return EncodeCursor(PresenceSK(e.UserID, e.ConnID)) }

// ConflictCursor continues ListConflicts after the conflict with id, or
// from the first conflict when id is empty.
func ConflictCursor(id string) string { return EncodeCursor(ConflictSK(id)) }

// CommentCursor continues ListComments after the comment with id.
func CommentCursor(id string) string { return EncodeCursor(CommentSK(id)) }
