package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/protocol"
)

// Reply budgets. Every reply and every broadcast is one frame of at most
// protocol.MaxFrameBytes (128 KB); the envelope around a payload (type,
// channel, messageId, replyTo, userId, timestamp) takes at most
// envelopeAllowance of it, so a payload of at most replyBudget always fits.
const (
	envelopeAllowance = 4 << 10
	replyBudget       = protocol.MaxFrameBytes - envelopeAllowance
)

// boundIdentity applies the identity bounds of package protocol to the
// identity a $connect established: a display name longer than
// protocol.MaxUsernameBytes is cut at a character boundary (and made valid
// UTF-8), an avatar longer than protocol.MaxAvatarBytes is dropped.
func boundIdentity(id auth.Identity) auth.Identity {
	id.Username = cutUTF8(id.Username, protocol.MaxUsernameBytes)
	if len(id.Avatar) > protocol.MaxAvatarBytes {
		id.Avatar = ""
	}
	return id
}

// cutUTF8 returns s, valid UTF-8, cut to at most n bytes without splitting
// a character.
func cutUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// jsonSize is the length of v as the reply encoder writes it (with HTML
// escaping, so '<' counts 6 bytes).
func jsonSize(v any) (int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("measure reply: %w", err)
	}
	return len(b), nil
}

// fitPage returns how many of items, in order, fit in a JSON array that
// is part of a reply whose other members take used bytes, within
// replyBudget. It stops at the first item that does not fit, so a page is
// always a prefix and the caller's cursor continues after its last item.
// Every item a list reply carries is bounded well below replyBudget, so a
// page whose other members are small holds at least one item.
func fitPage[T any](items []T, used int) (int, error) {
	used += 2 // the array's brackets
	for i, it := range items {
		n, err := jsonSize(it)
		if err != nil {
			return 0, err
		}
		if i > 0 {
			n++ // the comma
		}
		if used+n > replyBudget {
			return i, nil
		}
		used += n
	}
	return len(items), nil
}

// errItemTooLarge is returned when one item of a list reply does not fit
// in a reply on its own: a stored field escaped its bound.
var errItemTooLarge = errors.New("list item exceeds the reply budget")

// fitSome is fitPage for lists whose other members are small: a page of
// no item while items remain is errItemTooLarge.
func fitSome[T any](items []T, used int) (int, error) {
	n, err := fitPage(items, used)
	if err == nil && n == 0 && len(items) > 0 {
		err = errItemTooLarge
	}
	return n, err
}

// cursorSlack is what a page reserves for its cursor members (next,
// nextCursor and the like): store cursors are base64 of a sort key of a
// few hundred bytes at most.
const cursorSlack = 2 << 10
