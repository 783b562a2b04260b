// Package ident defines which characters each kind of identifier may hold:
// tenants, user ids, messageIds, channels and rooms, entity types and ids,
// and the ids of comments and conflicts. Identifiers end up in storage
// keys, log lines and other users' screens, so every check of one goes
// through Check, and display values (user names, avatars) through Clean.
//
// Two character sets are used:
//
//   - text (tenants, user ids, which come from tokens): valid UTF-8 without
//     '#' (the storage key separator) and without any code point that is
//     invisible or changes how text around it is shown: control
//     characters (C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F), format
//     characters (Unicode category Cf: the bidirectional controls
//     U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, the zero-width
//     U+200B–U+200D, U+2060–U+2064 and U+FEFF, the soft hyphen, ...),
//     the other default-ignorable code points, which are drawn as nothing
//     (the combining grapheme joiner U+034F, the variation selectors
//     U+FE00–U+FE0F, U+E0100–U+E01EF and U+180B–U+180F, the Hangul
//     fillers U+115F, U+1160, U+3164 and U+FFA0, U+17B4, U+17B5 and the
//     unassigned ones), the braille pattern blank U+2800, the line and
//     paragraph separators U+2028 and U+2029, private-use code points and
//     noncharacters (U+FDD0–U+FDEF and the last two code points of every
//     plane). Spaces, U+00A0 and U+3000 among them, are allowed;
//   - ASCII sets for everything the server names itself or puts into
//     channel names: printable ASCII for messageIds, [A-Za-z0-9._-] for
//     names, and names joined by at most one ':' for channels.
//
// Entry points: Check, Clean and the Kind values.
package ident

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("invalid identifier")

// charset names a character set of an identifier kind.
type charset int

const (
	text      charset = iota // see the package comment
	printable                // printable ASCII, U+0021–U+007E
	name                     // [A-Za-z0-9._-]
	channel                  // names joined by at most one ':', not at either end
)

// Kind is a kind of identifier: its name in error messages, its length
// bound in bytes and its character set. The zero Kind is not valid.
type Kind struct {
	what string
	max  int
	set  charset
}

// Length bounds, in bytes.
const (
	MaxIDLen   = 128 // tenants, user ids, messageIds and channels
	MaxNameLen = 64  // names
)

// The identifier kinds.
var (
	Tenant    = Kind{"tenant", MaxIDLen, text}
	UserID    = Kind{"user id", MaxIDLen, text}
	MessageID = Kind{"messageId", MaxIDLen, printable}
	Channel   = Kind{"channel", MaxIDLen, channel}
	Name      = Kind{"name", MaxNameLen, name} // entity types and ids, comment, parent and conflict ids
)

// Named returns k with what as its name in error messages (for example
// "entityId" for a Name).
func (k Kind) Named(what string) Kind { k.what = what; return k }

// Check reports whether s is a valid identifier of kind k. The error
// wraps ErrInvalid and describes the rule; it never quotes s, so that a
// refused value reaches no log line or reply.
func Check(k Kind, s string) error {
	if s == "" || len(s) > k.max {
		return fmt.Errorf("%s must be 1..%d bytes: %w", k.what, k.max, ErrInvalid)
	}
	switch k.set {
	case text:
		if !utf8.ValidString(s) {
			return fmt.Errorf("%s is not valid UTF-8: %w", k.what, ErrInvalid)
		}
		for _, r := range s {
			if r == '#' || !Visible(r) {
				return fmt.Errorf("%s holds '#', a control, format, separator or other invisible character, a private-use code point or a noncharacter: %w", k.what, ErrInvalid)
			}
		}
	case printable:
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] > 0x7e {
				return fmt.Errorf("%s must be printable ASCII: %w", k.what, ErrInvalid)
			}
		}
	case name, channel:
		colons := 0
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case isNameByte(c):
			case c == ':' && k.set == channel:
				colons++
				if colons > 1 || i == 0 || i == len(s)-1 {
					return fmt.Errorf("%s: ':' separates a kind from an id: %w", k.what, ErrInvalid)
				}
			case k.set == channel:
				return fmt.Errorf("%s has a character outside [A-Za-z0-9._:-]: %w", k.what, ErrInvalid)
			default:
				return fmt.Errorf("%s has a character outside [A-Za-z0-9._-]: %w", k.what, ErrInvalid)
			}
		}
	default:
		return fmt.Errorf("%s: unknown identifier kind: %w", k.what, ErrInvalid)
	}
	return nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// brailleBlank is U+2800 BRAILLE PATTERN BLANK: a symbol, not
// default-ignorable, but drawn as nothing.
const brailleBlank = '\u2800'

// Visible reports whether r may appear in text shown to users: it is not a
// control, format, line or paragraph separator, private-use, surrogate or
// noncharacter code point, nor utf8.RuneError (what an invalid byte
// decodes to), nor one drawn as nothing: a code point of Unicode's
// Default_Ignorable_Code_Point set, or U+2800.
func Visible(r rune) bool {
	switch {
	case r == utf8.RuneError, r < 0, r > unicode.MaxRune:
		return false
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp):
		return false
	// Default_Ignorable_Code_Point lies within Cf (above), the variation
	// selectors and Other_Default_Ignorable_Code_Point (U+034F, the Hangul
	// fillers, U+17B4, U+17B5 and unassigned code points set aside for
	// such use), none of which holds a space.
	case unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point), r == brailleBlank:
		return false
	case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
		return false
	}
	return true
}

// Bounds of display values, in bytes, for Clean.
const (
	MaxDisplayNameLen = 256  // user names
	MaxURLLen         = 2048 // avatar URLs
)

// Clean returns s without the code points Visible refuses (invalid bytes
// included) and without '#' when noHash is set, cut to at most max bytes
// without splitting a character. It is for display values, which are
// cleaned rather than refused, and for development identities (noHash).
//
// A display value (noHash unset) keeps the few invisible code points that
// human writing needs, where they join visible characters, and drops them
// elsewhere, as identifiers do:
//
//   - a variation selector that directly follows a base it can vary (see
//     variationBase): "❤️" keeps its emoji style, a keycap its selector, a
//     Han ideograph its variant, a Mongolian letter its form; one after a
//     Latin letter, repeated or leading is drawn as nothing;
//   - the zero-width joiner U+200D and non-joiner U+200C between two
//     characters kept that it can join (see joins; a selector kept counts
//     as part of its base): emoji ZWJ sequences ("👩‍💻"), and the joiners
//     of Arabic, Persian and Indic writing; one between Latin, Greek or
//     Cyrillic letters, where it changes nothing drawn ("Al‍ice" would
//     pass for "Alice"), a leading, trailing or repeated one, or one next
//     to a dropped code point, is dropped;
//   - the tag characters U+E0020–U+E007E right after U+1F3F4 (waving black
//     flag) and ended by U+E007F (cancel tag): the subdivision flags
//     ("🏴󠁧󠁢󠁳󠁣󠁴󠁿"). A tag sequence is kept whole or dropped whole;
//     tags elsewhere are dropped.
//
// A cut never ends a display value with a joiner or inside a tag sequence.
func Clean(s string, max int, noHash bool) string {
	var b strings.Builder
	var prev rune = -1 // the last code point kept, -1 once a selector followed it
	var base rune = -1 // the last code point kept that is no joiner or selector
	joinable := false  // the code point before was kept and is no joiner
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		keep := Visible(r) && !(noHash && r == '#')
		unit := n // the bytes kept as one piece from i
		if !noHash {
			switch {
			case keep && r == blackFlag:
				unit += tagSequenceLen(s[i+n:])
			case keep:
			case unicode.Is(unicode.Variation_Selector, r):
				keep = variationBase(prev, r)
			case r == zwj || r == zwnj:
				next, _ := utf8.DecodeRuneInString(s[i+n:])
				keep = joinable && i+n < len(s) && Visible(next) && joins(base, next)
			}
		}
		i += unit
		if !keep {
			joinable = false
			continue
		}
		if b.Len()+unit > max {
			break
		}
		b.WriteString(s[i-unit : i])
		prev, joinable = r, r != zwj && r != zwnj
		if joinable && !unicode.Is(unicode.Variation_Selector, r) {
			base = r
		}
		if unicode.Is(unicode.Variation_Selector, r) || unit > n {
			prev = -1
		}
	}
	// A joiner the cut separated from what it joined.
	return strings.TrimRight(b.String(), "\u200c\u200d")
}

// joins reports whether a zero-width joiner or non-joiner between before
// and after can change what is drawn, so that a display value keeps it:
// between two pictographs (an emoji ZWJ sequence; a skin tone modifier
// counts), or between two letters or marks of a script other than Latin,
// Greek and Cyrillic (the joining and conjunct forms of Arabic, Persian
// and Indic writing).
func joins(before, after rune) bool {
	if pictograph(before) && pictograph(after) {
		return true
	}
	return shapedLetter(before) && shapedLetter(after)
}

func pictograph(r rune) bool {
	return unicode.Is(unicode.So, r) || (r >= 0x1F3FB && r <= 0x1F3FF)
}

func shapedLetter(r rune) bool {
	return (unicode.IsLetter(r) || unicode.IsMark(r)) &&
		!unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Common)
}

// The code points Clean keeps in display values where they join others.
const (
	zwnj      = '\u200C'     // zero-width non-joiner
	zwj       = '\u200D'     // zero-width joiner
	blackFlag = '\U0001F3F4' // waving black flag, the base of a tag sequence
	tagFirst  = '\U000E0020' // the first tag character a sequence may hold
	tagLast   = '\U000E007E' // the last one
	cancelTag = '\U000E007F' // the end of a tag sequence
)

// tagSequenceLen returns the length in bytes of the tag sequence that s
// starts with (one or more of U+E0020–U+E007E, then U+E007F), or 0 when s
// does not start with a complete one.
func tagSequenceLen(s string) int {
	tags := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r >= tagFirst && r <= tagLast:
			tags++
		case r == cancelTag && tags > 0:
			return i
		default:
			return 0
		}
	}
	return 0
}

// variationBase reports whether the variation selector vs may follow base
// in a display value: the standard selectors (U+FE00-FE0F) after a
// symbol, a digit, '#' or '*' (emoji and keycap sequences) or a Han
// ideograph (standardized variants); the ideographic ones (U+E0100-E01EF)
// after a Han ideograph; the Mongolian free selectors after a Mongolian
// letter.
func variationBase(base, vs rune) bool {
	if base < 0 {
		return false
	}
	switch {
	case vs >= 0xFE00 && vs <= 0xFE0F:
		return unicode.In(base, unicode.So, unicode.Sm, unicode.Nd, unicode.Han) || base == '#' || base == '*'
	case vs >= 0xE0100 && vs <= 0xE01EF:
		return unicode.Is(unicode.Han, base)
	default: // U+180B-180D, U+180F
		return unicode.Is(unicode.Mongolian, base) && unicode.IsLetter(base)
	}
}
