package ot

import (
	"fmt"

	"github.com/omnisales/rtcollab/internal/doc"
)

// Transform transforms a (incoming) against b (already applied, concurrent
// with a) and returns the operation to apply after b. a wins ties: see
// TransformSide. When ok is false a has no effect left and a2 is the zero
// Op; notice then says why. notice may also be set when ok is true, to
// describe a change of meaning (an insert turned into an update).
func Transform(a, b doc.Op) (a2 doc.Op, ok bool, notice string) {
	return TransformSide(a, b, true)
}

// TransformSide is Transform with an explicit tie-break: when a and b
// insert at the same list index or text position, update the same path or
// move the same element, a's effect comes first (or wins) when aWins is
// true. TransformSide(a, b, s) and TransformSide(b, a, !s) satisfy TP1.
//
// An invalid a is dropped; an invalid b (which cannot have been applied)
// leaves a unchanged. Neither argument is modified.
func TransformSide(a, b doc.Op, aWins bool) (a2 doc.Op, ok bool, notice string) {
	pa, err := a.Validate()
	if err != nil {
		return doc.Op{}, false, fmt.Sprintf("%s dropped: %v", a, err)
	}
	pb, err := b.Validate()
	if err != nil {
		return a, true, ""
	}
	if e, ok := listEffectOf(b, pb); ok {
		return againstList(a, pa, b, e, aWins)
	}
	return againstValue(a, pa, b, pb, aWins)
}

// listEffect describes how b rearranges one list.
type listEffect struct {
	kind     doc.Kind // doc.Insert, doc.Delete or doc.Move
	list     doc.Path // the list
	index    int      // insert or delete index
	from, to int      // move indexes
}

func listEffectOf(op doc.Op, p doc.Path) (listEffect, bool) {
	switch op.Kind {
	case doc.Insert, doc.Delete:
		if last := p[len(p)-1]; last.IsIndex {
			return listEffect{kind: op.Kind, list: p[:len(p)-1], index: last.Index}, true
		}
	case doc.Move:
		return listEffect{kind: doc.Move, list: p, from: op.From, to: op.To}, true
	}
	return listEffect{}, false
}

func dropped(a, b doc.Op, why string) (doc.Op, bool, string) {
	return doc.Op{}, false, fmt.Sprintf("%s dropped: %s by concurrent %s", a, why, b)
}

// againstList transforms a against b, which inserts, deletes or moves an
// element of the list e.list.
func againstList(a doc.Op, pa doc.Path, b doc.Op, e listEffect, aWins bool) (doc.Op, bool, string) {
	k := len(e.list)
	if a.Kind == doc.Move && pa.Equal(e.list) {
		return moveAgainstList(a, b, e, aWins)
	}
	if len(pa) <= k || !pa.HasPrefix(e.list) || !pa[k].IsIndex {
		return a, true, "" // a does not go through an element of the list
	}
	j := pa[k].Index
	gap := a.Kind == doc.Insert && len(pa) == k+1 // a inserts into the same list
	nj := j
	switch e.kind {
	case doc.Insert:
		if j > e.index || (j == e.index && (!gap || !aWins)) {
			nj = j + 1
		}
	case doc.Delete:
		switch {
		case j > e.index:
			nj = j - 1
		case j == e.index && !gap:
			if a.Kind == doc.Delete && len(pa) == k+1 {
				return dropped(a, b, "element already deleted")
			}
			return dropped(a, b, "element deleted")
		}
	case doc.Move:
		if gap {
			nj, _ = insertVsMove(j, e.from, e.to)
		} else {
			nj = mapMove(j, e.from, e.to)
		}
	}
	if nj == j {
		return a, true, ""
	}
	np := pa.Clone()
	np[k].Index = nj
	a.Path = np.String()
	return a, true, ""
}

// mapMove returns the index, after moving element f to index t, of the
// element that was at index j. j may equal the list length (the end).
func mapMove(j, f, t int) int {
	if j == f {
		return t
	}
	if j > f {
		j--
	}
	if j >= t {
		j++
	}
	return j
}

// insertVsMove resolves an insert at gap g concurrent with a move of
// element f to index t. Both sides end with the same list: the unmoved
// elements in their order, the moved element at its target among them and
// the new element between its old unmoved neighbours. When both land in
// the same gap the new element goes first, unless it was inserted right
// after the moved element (g == f+1), in which case it follows it.
// It returns the insert index to use after the move and the move target to
// use after the insert.
func insertVsMove(g, f, t int) (insertAt, moveTo int) {
	ga := g // the new element's gap among the unmoved elements
	if f < g {
		ga--
	}
	if ga < t || (ga == t && g != f+1) {
		return ga, t + 1
	}
	return ga + 1, t
}

// moveAgainstList transforms the move a against b on the same list.
func moveAgainstList(a, b doc.Op, e listEffect, aWins bool) (doc.Op, bool, string) {
	f, t := a.From, a.To
	switch e.kind {
	case doc.Insert:
		_, nt := insertVsMove(e.index, f, t)
		nf := f
		if f >= e.index {
			nf++
		}
		a.From, a.To = nf, nt
	case doc.Delete:
		if e.index == f {
			return dropped(a, b, "moved element deleted")
		}
		nf, nt := f, t
		if f > e.index {
			nf--
		}
		if mapMove(e.index, f, t) < t {
			nt--
		}
		a.From, a.To = nf, nt
	case doc.Move:
		if f == e.from {
			if !aWins {
				return dropped(a, b, "element moved elsewhere")
			}
			a.From, a.To = e.to, t
			return a, true, ""
		}
		// Place both moved elements among the unmoved ones, each in the
		// gap its own move chose; a tie is broken by aWins.
		ga := t
		if mapMove(e.from, f, t) < t {
			ga--
		}
		gb := e.to
		if mapMove(f, e.from, e.to) < e.to {
			gb--
		}
		nt := ga
		if ga > gb || (ga == gb && !aWins) {
			nt++
		}
		a.From, a.To = mapMove(f, e.from, e.to), nt
	}
	return a, true, ""
}

// againstValue transforms a against b, which does not rearrange a list:
// an update, an object insert or delete, an increment or a text edit.
func againstValue(a doc.Op, pa doc.Path, b doc.Op, pb doc.Path, aWins bool) (doc.Op, bool, string) {
	switch {
	case pa.Equal(pb):
		return sameTarget(a, pa, b, aWins)
	case len(pb) < len(pa) && pa.HasPrefix(pb):
		switch b.Kind {
		case doc.Delete:
			return dropped(a, b, "ancestor deleted")
		case doc.Update, doc.Insert:
			return dropped(a, b, "ancestor replaced")
		}
	}
	return a, true, ""
}

// sameTarget transforms a against b when both name the same path.
func sameTarget(a doc.Op, pa doc.Path, b doc.Op, aWins bool) (doc.Op, bool, string) {
	if a.Kind == doc.Insert && pa[len(pa)-1].IsIndex {
		return a, true, "" // a new element before the one b changed
	}
	switch b.Kind {
	case doc.Delete:
		if a.Kind == doc.Delete {
			return dropped(a, b, "already deleted")
		}
		return dropped(a, b, "target deleted")
	case doc.Update, doc.Insert:
		switch a.Kind {
		case doc.Update, doc.Insert:
			if !aWins {
				return dropped(a, b, "value overwritten")
			}
			return asUpdate(a, b)
		case doc.Delete:
			return a, true, ""
		}
		return dropped(a, b, "value replaced")
	case doc.Increment:
		if a.Kind == doc.Insert {
			return asUpdate(a, b)
		}
	case doc.Text:
		if a.Kind == doc.Text {
			a.Text = transformText(a.Text, b.Text, aWins)
		}
	}
	return a, true, ""
}

// asUpdate turns an object insert into an update (the key now exists).
func asUpdate(a, b doc.Op) (doc.Op, bool, string) {
	if a.Kind != doc.Insert {
		return a, true, ""
	}
	a.Kind = doc.Update
	return a, true, fmt.Sprintf("insert %q became an update: key set by concurrent %s", a.Path, b)
}
