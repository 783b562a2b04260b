package editing

import (
	"fmt"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/ot"
)

// UndoOp returns the operation that undoes an earlier change, to apply to
// the current document: inverse is the change's inverse (valid right after
// it) and later lists the changes applied since, oldest first.
//
// The inverse is rebased over each later change. A later change to the
// same path, an ancestor or a descendant makes the undo a conflict
// (ErrUndoConflict), except where the two commute: increments of the same
// number, text edits of the same string, and list inserts, deletes and
// moves, which only shift indexes (unless they removed what the undo
// restores). The result is then applied through Decide like any change, so
// the strategy's other rules (a lock, crdt registers) still hold.
func UndoOp(inverse doc.Op, later []Applied) (doc.Op, []string, error) {
	op := inverse
	var notices []string
	for _, a := range later {
		if overlap(op.Path, a.Op.Path) && !commutes(op, a.Op) {
			return doc.Op{}, notices, fmt.Errorf("undo %s: version %d (%s by %q) changed it since: %w",
				op, a.Version, a.Op, a.UserID, ErrUndoConflict)
		}
		next, ok, notice := ot.Transform(op, a.Op)
		if notice != "" {
			notices = append(notices, notice)
		}
		if !ok {
			return doc.Op{}, notices, fmt.Errorf("undo %s: version %d (%s by %q) removed it: %w",
				op, a.Version, a.Op, a.UserID, ErrUndoConflict)
		}
		op = next
	}
	return op, notices, nil
}

// commutes reports whether undo operation u may be rebased over a later
// operation l on an overlapping path.
func commutes(u, l doc.Op) bool {
	pu, _ := doc.ParsePath(u.Path)
	pl, _ := doc.ParsePath(l.Path)
	switch {
	case u.Kind == doc.Increment && l.Kind == doc.Increment && pu.Equal(pl):
		return true
	case u.Kind == doc.Text && l.Kind == doc.Text && pu.Equal(pl):
		return true
	}
	return rearranges(l, pl, pu) || rearranges(u, pu, pl)
}

// rearranges reports whether op (at path p) only rearranges a list that
// other goes strictly through: an insert or delete of an element other
// than the one other names, or a move of the list.
func rearranges(op doc.Op, p, other doc.Path) bool {
	switch op.Kind {
	case doc.Move:
		return len(other) > len(p) && other.HasPrefix(p)
	case doc.Insert, doc.Delete:
		last := p[len(p)-1]
		if !last.IsIndex {
			return false
		}
		list := p[:len(p)-1]
		return len(other) > len(list) && other.HasPrefix(list) && (op.Kind == doc.Insert || !other.HasPrefix(p))
	}
	return false
}

// Resolution names how a manual conflict is settled.
type Resolution string

// The resolutions of a conflict.
const (
	ResolveLocal  Resolution = "local"  // the change that was held back wins
	ResolveRemote Resolution = "remote" // the change already applied stays
	ResolveMerged Resolution = "merged" // a value chosen by the user
)

// Valid reports whether r is one of the resolutions.
func (r Resolution) Valid() bool {
	return r == ResolveLocal || r == ResolveRemote || r == ResolveMerged
}

// ConflictInput describes a stored conflict for ResolveOp.
type ConflictInput struct {
	Local          doc.Op    // the operation that was held back
	Base           int64     // its base version
	Since          []Applied // the changes Base+1..current, oldest first; fewer when trimmed
	Current        int64     // the current version (the rebase needs Since to reach it)
	Intended       any       // the value Local wanted at its path
	IntendedDelete bool      // Local wanted the path gone
	// IntendedNone: Local names no value to write instead (Outcome's
	// IntendedNone). Conflicts stored before the flag have a nil Intended
	// for such a move, increment or text edit, which counts as none too:
	// those kinds never want null.
	IntendedNone bool
}

// ResolveOp returns the operation that settles a conflict with resolution
// r on the current document cur, where merged is the user's value for
// ResolveMerged. ok is false when nothing needs writing (remote, or local
// delete, of a path that no longer exists). Errors wrap ErrInvalid.
//
// The path written is the held-back operation's path as rebased over the
// changes since its base, so that a list element shifted by later inserts
// or deletes is still the one written; the path as sent when the rebase
// leaves nothing or the changes are no longer kept.
//
//   - local: the held-back operation rebased over the changes since its
//     base (it wins ties); when nothing of it survives, or it no longer
//     applies, the value it wanted is written at its path, or the path
//     deleted. A move, increment or text edit names no such value: then
//     the error wraps ErrNoLongerApplies too.
//   - remote: the current value is written again, recording the decision
//     as a version.
//   - merged: merged is written at the path.
func ResolveOp(cur map[string]any, c ConflictInput, r Resolution, merged any) (doc.Op, bool, error) {
	// Against the current version, not Base+len(Since): with history
	// trimmed, Since is short, and the held-back operation, applied as it
	// stands to a document that moved on, would write what nobody wrote.
	rebased, rebasedOK, _, rerr := rebase(Input{Op: c.Local, Base: c.Base, Version: c.Current, Since: c.Since})
	rebasedOK = rerr == nil && rebasedOK
	path := c.Local.Path
	if rebasedOK {
		path = rebased.Path
	}
	exists := func() bool { _, ok := doc.Get(cur, path); return ok }
	try := func(op doc.Op) bool { _, err := doc.Apply(cur, op); return err == nil }
	switch r {
	case ResolveRemote:
		v, ok := doc.Get(cur, path)
		if !ok {
			return doc.Op{}, false, nil
		}
		return doc.Op{Kind: doc.Update, Path: path, Value: doc.Clone(v)}, true, nil
	case ResolveMerged:
		op := doc.Op{Kind: doc.Update, Path: path, Value: merged}
		if !try(op) {
			return doc.Op{}, false, fmt.Errorf("resolve %q: the path cannot be written any more: %w", path, ErrInvalid)
		}
		return op, true, nil
	case ResolveLocal:
		// When it cannot be rebased, the value it wanted is written
		// instead.
		if rebasedOK && try(rebased) {
			return rebased, true, nil
		}
		if c.IntendedDelete {
			if !exists() {
				return doc.Op{}, false, nil
			}
			return doc.Op{Kind: doc.Delete, Path: path}, true, nil
		}
		if c.IntendedNone || c.Intended == nil && c.Local.Kind != doc.Insert && c.Local.Kind != doc.Update {
			// Writing null would wipe what the change meant to edit.
			return doc.Op{}, false, fmt.Errorf("resolve %q: %w: %w", path, ErrInvalid, ErrNoLongerApplies)
		}
		op := doc.Op{Kind: doc.Update, Path: path, Value: doc.Clone(c.Intended)}
		if !try(op) {
			return doc.Op{}, false, fmt.Errorf("resolve %q: the path cannot be written any more: %w", path, ErrInvalid)
		}
		return op, true, nil
	}
	return doc.Op{}, false, fmt.Errorf("resolve %q: unknown resolution %q: %w", path, r, ErrInvalid)
}
