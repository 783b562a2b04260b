package doc

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTextComponents bounds the number of components of one text edit.
const MaxTextComponents = 4096

// MaxTextCount bounds a retain or delete count: far above the longest
// string a document can hold, and low enough that the sums a transform or
// a normalization forms of at most MaxTextComponents counts (and the
// lengths of inserts) cannot overflow.
const MaxTextCount = 1 << 20

// TextComponent is one step of a text edit. Exactly one field is set:
//
//	{"retain":n}   keep the next n code points
//	{"insert":"s"} insert s at the current position
//	{"delete":n}   remove the next n code points
//
// Counts are Unicode code points, not bytes and not UTF-16 units: a Thai
// "ก" or an emoji counts 1. (Browsers must count with Array.from(s), not
// s.length.) A text edit walks the string from position 0; the part of the
// string after the last component is kept, so a trailing retain is never
// needed. The zero value is invalid (no field set).
type TextComponent struct {
	Retain int    `json:"retain,omitempty"`
	Insert string `json:"insert,omitempty"`
	Delete int    `json:"delete,omitempty"`
}

// TextRetain returns the component that keeps n code points.
func TextRetain(n int) TextComponent { return TextComponent{Retain: n} }

// TextInsert returns the component that inserts s.
func TextInsert(s string) TextComponent { return TextComponent{Insert: s} }

// TextDelete returns the component that removes n code points.
func TextDelete(n int) TextComponent { return TextComponent{Delete: n} }

// check reports why c is malformed, or "".
func (c TextComponent) check() string {
	set := 0
	if c.Retain != 0 {
		set++
	}
	if c.Insert != "" {
		set++
	}
	if c.Delete != 0 {
		set++
	}
	switch {
	case set != 1:
		return "a text component sets exactly one of retain, insert, delete"
	case c.Retain < 0 || c.Delete < 0 || c.Retain > MaxTextCount || c.Delete > MaxTextCount:
		return fmt.Sprintf("retain and delete counts must be 1..%d", MaxTextCount)
	case c.Insert != "" && !utf8.ValidString(c.Insert):
		return "insert is not valid UTF-8"
	}
	return ""
}

// checkText validates a whole edit.
func checkText(comps []TextComponent) string {
	if len(comps) > MaxTextComponents {
		return fmt.Sprintf("more than %d text components", MaxTextComponents)
	}
	for _, c := range comps {
		if why := c.check(); why != "" {
			return why
		}
	}
	return ""
}

// TextInputLen returns the number of code points comps walks over (its
// retains and deletes): the shortest string comps applies to.
func TextInputLen(comps []TextComponent) int {
	n := 0
	for _, c := range comps {
		n += c.Retain + c.Delete
	}
	return n
}

// ApplyText applies the text edit comps to s. It fails with ErrBadOp for a
// malformed component and with ErrRange when comps walks past the end of s.
func ApplyText(s string, comps []TextComponent) (string, error) {
	if why := checkText(comps); why != "" {
		return "", fmt.Errorf("apply text: %s: %w", why, ErrBadOp)
	}
	var b strings.Builder
	b.Grow(len(s))
	rest := s
	for _, c := range comps {
		switch {
		case c.Insert != "":
			b.WriteString(c.Insert)
		default:
			n := c.Retain + c.Delete
			cut, ok := runeOffset(rest, n)
			if !ok {
				return "", fmt.Errorf("apply text to %q: edit covers %d code points, string has %d: %w",
					clip(s), TextInputLen(comps), utf8.RuneCountInString(s), ErrRange)
			}
			if c.Retain > 0 {
				b.WriteString(rest[:cut])
			}
			rest = rest[cut:]
		}
	}
	b.WriteString(rest)
	return b.String(), nil
}

// runeOffset returns the byte offset of the n-th code point of s.
func runeOffset(s string, n int) (int, bool) {
	off := 0
	for ; n > 0; n-- {
		if off >= len(s) {
			return 0, false
		}
		_, size := utf8.DecodeRuneInString(s[off:])
		off += size
	}
	return off, true
}

// InvertText returns the edit that turns ApplyText(s, comps) back into s:
// retains stay, inserts become deletes and deletes re-insert the removed
// text of s.
func InvertText(s string, comps []TextComponent) ([]TextComponent, error) {
	if _, err := ApplyText(s, comps); err != nil {
		return nil, fmt.Errorf("invert text: %w", err)
	}
	out := make([]TextComponent, 0, len(comps))
	rest := s
	for _, c := range comps {
		switch {
		case c.Insert != "":
			out = append(out, TextDelete(utf8.RuneCountInString(c.Insert)))
		case c.Retain > 0:
			cut, _ := runeOffset(rest, c.Retain)
			rest = rest[cut:]
			out = append(out, c)
		default:
			cut, _ := runeOffset(rest, c.Delete)
			out = append(out, TextInsert(rest[:cut]))
			rest = rest[cut:]
		}
	}
	return NormalizeText(out), nil
}

// NormalizeText returns comps in canonical form: adjacent components of the
// same kind merged, empty ones and any trailing retain dropped, and an
// insert placed before an adjacent delete. Two edits with the same effect on
// every string have the same canonical form. It never returns nil.
func NormalizeText(comps []TextComponent) []TextComponent {
	out := make([]TextComponent, 0, len(comps))
	for _, c := range comps {
		out = appendText(out, c)
	}
	for len(out) > 0 && out[len(out)-1].Retain > 0 {
		out = out[:len(out)-1]
	}
	return out
}

// appendText appends c to out, merging it with the last component when
// possible and keeping inserts ahead of deletes at the same position.
func appendText(out []TextComponent, c TextComponent) []TextComponent {
	if c.Retain <= 0 && c.Delete <= 0 && c.Insert == "" {
		return out
	}
	if len(out) == 0 {
		return append(out, c)
	}
	last := &out[len(out)-1]
	switch {
	case c.Retain > 0 && last.Retain > 0:
		last.Retain += c.Retain
	case c.Delete > 0 && last.Delete > 0:
		last.Delete += c.Delete
	case c.Insert != "" && last.Insert != "":
		last.Insert += c.Insert
	case c.Insert != "" && last.Delete > 0:
		// "delete n, insert s" equals "insert s, delete n"; keep the
		// insert first so that equal edits look alike.
		del := *last
		out = out[:len(out)-1]
		out = appendText(out, c)
		out = append(out, del)
	default:
		out = append(out, c)
	}
	return out
}
