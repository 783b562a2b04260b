package ot

import (
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/doc"
)

// textReader hands out a text edit piece by piece, splitting retains and
// deletes as needed; inserts are never split.
type textReader struct {
	comps []doc.TextComponent
	i     int // current component
	used  int // code points of comps[i] already handed out
}

func (r *textReader) peekInsert() bool {
	return r.i < len(r.comps) && r.comps[r.i].Insert != ""
}

// next returns the next piece: a whole insert, or at most n code points of
// a retain or delete (n < 0: no limit). ok is false at the end.
func (r *textReader) next(n int) (doc.TextComponent, bool) {
	if r.i >= len(r.comps) {
		return doc.TextComponent{}, false
	}
	c := r.comps[r.i]
	if c.Insert != "" {
		r.i++
		return c, true
	}
	left := c.Retain + c.Delete - r.used
	if n < 0 || n >= left {
		n = left
		r.i++
		r.used = 0
	} else {
		r.used += n
	}
	if c.Retain > 0 {
		return doc.TextRetain(n), true
	}
	return doc.TextDelete(n), true
}

// transformText transforms the text edit a against b (both written for
// the same string) so that it applies after b. When both insert at the
// same position, a's text goes first if aWins.
func transformText(a, b []doc.TextComponent, aWins bool) []doc.TextComponent {
	out := make([]doc.TextComponent, 0, len(a)+2)
	r := textReader{comps: a}
	for _, c := range b {
		switch {
		case c.Insert != "":
			// b's new text: a keeps it, placing its own insert at this
			// position before it when a wins the tie.
			if aWins && r.peekInsert() {
				p, _ := r.next(-1)
				out = append(out, p)
			}
			out = append(out, doc.TextRetain(utf8.RuneCountInString(c.Insert)))
		case c.Retain > 0:
			for n := c.Retain; n > 0; {
				p, ok := r.next(n)
				if !ok {
					break
				}
				out = append(out, p)
				n -= p.Retain + p.Delete
			}
		default:
			// b removed these code points: a's retains and deletes over
			// them vanish, a's inserts among them survive.
			for n := c.Delete; n > 0; {
				p, ok := r.next(n)
				if !ok {
					break
				}
				if p.Insert != "" {
					out = append(out, p)
				}
				n -= p.Retain + p.Delete
			}
		}
	}
	for {
		p, ok := r.next(-1)
		if !ok {
			break
		}
		out = append(out, p)
	}
	return doc.NormalizeText(out)
}
