package editing

import (
	"errors"
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
	Local doc.Op // the operation that was held back
	Base  int64  // its base version
	// Rebased is Local rebased over the changes up to version RebasedAt,
	// the version the conflict was recorded at (Outcome's Rebased); nil
	// when nothing of Local was left then. RebasedAt is 0 for a conflict
	// stored before these were recorded: Local is rebased from Base.
	Rebased   *doc.Op
	RebasedAt int64
	// Since holds the changes after RebasedAt (after Base when RebasedAt
	// is 0) up to Current, oldest first; fewer when trimmed.
	Since          []Applied
	Current        int64 // the current version (the rebase needs Since to reach it)
	Intended       any   // the value Local wanted at its path
	IntendedDelete bool  // Local wanted the path gone
	// IntendedNone: Local names no value to write instead (Outcome's
	// IntendedNone). Conflicts stored before the flag have a nil Intended
	// for such a move, increment or text edit, which counts as none too:
	// those kinds never want null.
	IntendedNone bool
}

// follow rebases the held-back operation of c to the current version: ok
// is false when nothing of it is left, and err (ErrStale) says that the
// changes it must be rebased over are no longer all kept.
func follow(c ConflictInput) (doc.Op, bool, error) {
	op, from := c.Local, c.Base
	if c.RebasedAt > 0 {
		if c.Rebased == nil {
			return doc.Op{}, false, nil
		}
		op, from = *c.Rebased, c.RebasedAt
	}
	// Against the current version, not from+len(Since): with history
	// trimmed, Since is short, and the operation, applied as it stands to
	// a document that moved on, would write what nobody wrote.
	op, ok, _, err := rebase(Input{Op: op, Base: from, Version: c.Current, Since: c.Since})
	if errors.Is(err, ErrInvalid) {
		// Shifted past a bound: an element no list reaches, as gone as
		// one a change deleted.
		return doc.Op{}, false, nil
	}
	return op, ok && err == nil, err
}

// listInsert splits the path of op, when op inserts into a list, into the
// list's path and the index; ok is false for any other operation.
func listInsert(op doc.Op) (doc.Path, int, bool) {
	p, err := doc.ParsePath(op.Path)
	if err != nil || op.Kind != doc.Insert || !p[len(p)-1].IsIndex {
		return nil, 0, false
	}
	return p[:len(p)-1], p[len(p)-1].Index, true
}

// ResolveOp returns the operation that settles a conflict with resolution
// r on the current document cur, where merged is the user's value for
// ResolveMerged. ok is false when nothing needs writing (remote, or local
// delete, of a path that no longer exists; remote of a list insert).
// Errors wrap ErrInvalid.
//
// The path written is the held-back operation's path as rebased over the
// changes since its base (from where it stood when the conflict was
// recorded), so that a list element shifted by later inserts or deletes
// is still the one written. When the rebase leaves nothing (the
// element was deleted, or its list or an ancestor replaced) or the changes
// are no longer kept, the path as sent is used only if it goes through
// object keys only: an index in it may now name another element. So a
// path through a list is then settled as remote only (which writes
// nothing); local and merged are refused with an error that wraps
// ErrElementGone too, except that a held-back delete of an element that
// is gone needs nothing written. A held-back list insert inserts (its
// value for local, merged for merged) where it would insert now, or, when
// it cannot be followed, at its index clamped to the list's length, if the
// list's path names object keys only; as remote it writes nothing.
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
	if !r.Valid() {
		return doc.Op{}, false, fmt.Errorf("resolve %q: unknown resolution %q: %w", c.Local.Path, r, ErrInvalid)
	}
	rebased, followed, lost := follow(c)
	path := c.Local.Path
	list, at, isInsert := listInsert(c.Local)
	if c.Rebased != nil {
		if _, i, ok := listInsert(*c.Rebased); ok {
			at = i // where it was when the conflict was recorded
		}
	}
	switch {
	case isInsert && r == ResolveRemote:
		// The element it would have inserted never was: nothing to
		// write, and no neighbour to write again.
		return doc.Op{}, false, nil
	case followed:
		path = rebased.Path
	case isInsert && KeysOnly(list.String()):
		// Nothing is left of it (its list was replaced), or the changes
		// since are no longer kept: it inserts into the list at path's
		// keys at the index it had, clamped to the list's length.
		n := 0
		if l, ok := doc.Get(cur, list.String()); ok {
			if l, ok := l.([]any); ok {
				n = len(l)
			}
		}
		path = append(list.Clone(), doc.IndexSegment(min(max(at, 0), n))).String()
	case !KeysOnly(c.Local.Path):
		if r == ResolveRemote || r == ResolveLocal && c.IntendedDelete && lost == nil {
			return doc.Op{}, false, nil
		}
		return doc.Op{}, false, fmt.Errorf("resolve %q: %w: %w", path, ErrInvalid, ErrElementGone)
	}
	exists := func() bool { _, ok := doc.Get(cur, path); return ok }
	write := func(v any) (doc.Op, bool, error) {
		op := doc.Op{Kind: doc.Update, Path: path, Value: v}
		if isInsert {
			op.Kind = doc.Insert
		}
		if _, err := doc.Apply(cur, op); err != nil {
			return doc.Op{}, false, fmt.Errorf("resolve %q: the path cannot be written any more: %w", path, ErrInvalid)
		}
		return op, true, nil
	}
	switch r {
	case ResolveRemote:
		v, ok := doc.Get(cur, path)
		if !ok {
			return doc.Op{}, false, nil
		}
		return doc.Op{Kind: doc.Update, Path: path, Value: doc.Clone(v)}, true, nil
	case ResolveMerged:
		return write(merged)
	}
	// Local. When it cannot be rebased, the value it wanted is written
	// instead.
	if followed {
		if _, err := doc.Apply(cur, rebased); err == nil {
			return rebased, true, nil
		}
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
	return write(doc.Clone(c.Intended))
}
