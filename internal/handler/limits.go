package handler

import (
	"strings"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/protocol"
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
