package ot

import "github.com/omnisales/rtcollab/internal/doc"

// TransformAgainst rebases a, written against base version N, over
// history: the operations applied since N, oldest first. It returns the
// operation to apply to the current version, whether any effect is left,
// and the notices collected on the way (drops and changes of meaning). The
// incoming a wins ties at every step (see Transform).
func TransformAgainst(a doc.Op, history []doc.Op) (doc.Op, bool, []string) {
	var notices []string
	for _, h := range history {
		next, ok, notice := Transform(a, h)
		if notice != "" {
			notices = append(notices, notice)
		}
		if !ok {
			return doc.Op{}, false, notices
		}
		a = next
	}
	return a, true, notices
}

// TransformSeq transforms two concurrent sequences written against the
// same document: as2 applies after bs and bs2 applies after as, and both
// orders give the same document. Operations left without effect are
// omitted. When asWin is true the operations of as win ties. notices
// describes what happened to the operations of as. The inputs are not
// modified.
//
// To rebase a multi-operation change over the history since its base
// version, call TransformSeq(change, history, true) and apply as2.
func TransformSeq(as, bs []doc.Op, asWin bool) (as2, bs2 []doc.Op, notices []string) {
	cur := append([]doc.Op(nil), bs...)
	for _, a := range as {
		alive := true
		next := make([]doc.Op, 0, len(cur))
		for _, b := range cur {
			if !alive {
				next = append(next, b)
				continue
			}
			b2, bok, _ := TransformSide(b, a, !asWin)
			a2, aok, notice := TransformSide(a, b, asWin)
			if notice != "" {
				notices = append(notices, notice)
			}
			if bok {
				next = append(next, b2)
			}
			if !aok {
				alive = false
				continue
			}
			a = a2
		}
		if alive {
			as2 = append(as2, a)
		}
		cur = next
	}
	return as2, cur, notices
}
