package editing

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/ot"
)

// Sentinel errors of Decide, UndoOp and ResolveOp; test with errors.Is.
var (
	// ErrInvalid: the operation is malformed, does not apply to the
	// current document although its base is current, or is not one the
	// strategy supports.
	ErrInvalid = errors.New("invalid change")
	// ErrStale: the base version is too old (its history was trimmed, or
	// the base is ahead of the entity) or the operation no longer applies
	// after the concurrent changes; the client syncs and tries again.
	ErrStale = errors.New("stale base version")
	// ErrLockRequired: a lock-based entity written without holding its
	// lock.
	ErrLockRequired = errors.New("lock required")
	// ErrStaleToken: a lock-based entity written with a fencing token that
	// is not the lock's current one.
	ErrStaleToken = errors.New("stale fencing token")
	// ErrUndoConflict: a later change touched what the undo would restore,
	// in a way the strategy cannot transform past.
	ErrUndoConflict = errors.New("undo conflicts with a later change")
	// ErrNoLongerApplies: a conflict resolved as local whose held-back
	// change no longer applies and names no value to write instead (a
	// move, increment or text edit whose target was deleted or replaced).
	// ResolveOp wraps it together with ErrInvalid; its text is written
	// for the client.
	ErrNoLongerApplies = errors.New("the held-back change no longer applies; resolve the conflict as remote or merged")
	// ErrElementGone: a conflict resolved as local or merged whose
	// held-back change goes through a list element that was deleted since
	// (or whose list was replaced), or that can no longer be followed
	// because the changes since are no longer kept: the index it had now
	// names another element, or none. ResolveOp wraps it together with
	// ErrInvalid; its text is written for the client.
	ErrElementGone = errors.New("the list element the conflict is about was deleted, or the changes since are no longer kept to follow it; resolve the conflict as remote")
)

// DefaultMaxSkew bounds how far ahead of the server's clock a client's
// HLC stamp may be.
const DefaultMaxSkew = time.Minute

// Applied is a change already applied to an entity.
type Applied struct {
	Version int64
	UserID  string
	Op      doc.Op // the operation as applied to version Version-1
}

// Lock is the entity's live lock, as the lock-based strategy sees it.
type Lock struct {
	Holder string // user id
	Token  int64  // fencing token of the current grant
}

// State is the strategy state an entity keeps beside its document: the
// CRDT registers and counters, the highest HLC stamp seen, and the stamp
// of each user's latest increment of each counter.
type State struct {
	CRDT  crdt.Doc `json:"crdt"`
	Clock crdt.HLC `json:"clock"`
	// Counted maps a counter's path to the stamp of each user's latest
	// increment of it; it has the keys of CRDT.Counters and their users.
	// A write at or above the path clears a user's part of the counter
	// only when the write's stamp is newer than that; an increment stamped
	// at or before the register held at or above its path is refused (it
	// would have been cleared had it arrived first). A part missing here
	// (state stored before the field) counts as older than any write.
	Counted map[string]map[string]crdt.HLC `json:"counted,omitempty"`
}

// cloneCounted returns a copy of c that shares no maps with it.
func cloneCounted(c map[string]map[string]crdt.HLC) map[string]map[string]crdt.HLC {
	if c == nil {
		return nil
	}
	out := make(map[string]map[string]crdt.HLC, len(c))
	for k, m := range c {
		out[k] = maps.Clone(m)
	}
	return out
}

// Input is everything Decide reads.
type Input struct {
	Strategy Strategy
	Doc      map[string]any // the current document; nil means empty
	Version  int64          // the current version
	State    *State         // the stored strategy state; nil when none
	Base     int64          // the version the change was written against
	Since    []Applied      // the changes Base+1..Version, oldest first; fewer when trimmed
	Op       doc.Op         // the incoming operation
	UserID   string         // the writer
	Stamp    *crdt.HLC      // crdt: the client's stamp (its Node is replaced by UserID); nil for a server stamp
	Lock     *Lock          // lock-based: the live lock; nil when there is none
	Token    int64          // lock-based: the fencing token presented; 0 for none
	Now      time.Time      // the server's clock
	MaxSkew  time.Duration  // crdt: how far ahead a client stamp may be; 0 means DefaultMaxSkew
}

// Kind classifies an Outcome.
type Kind string

// Outcome kinds.
const (
	// KindApplied: the operation was applied as sent; a new version.
	KindApplied Kind = "applied"
	// KindMerged: the operation was applied after being rebased over, or
	// merged with, concurrent changes; a new version.
	KindMerged Kind = "merged"
	// KindDropped: nothing was left of the operation after rebasing it
	// (its target was deleted or replaced concurrently); no new version.
	KindDropped Kind = "dropped"
	// KindSuperseded: a crdt write lost to a newer stamp; no new version.
	KindSuperseded Kind = "superseded"
	// KindUnchanged: a crdt write won but left the document as it was; the
	// state changed (the caller stores it) but there is no new version.
	KindUnchanged Kind = "unchanged"
	// KindConflict: a manual-strategy conflict; no new version.
	KindConflict Kind = "conflict"
)

// NewVersion reports whether the outcome makes a new version.
func (k Kind) NewVersion() bool { return k == KindApplied || k == KindMerged }

// Outcome is what Decide made of a change.
type Outcome struct {
	Kind Kind
	// Op is the operation applied to Input.Doc, for a new version.
	Op doc.Op
	// Inverse undoes Op on the new document.
	Inverse doc.Op
	// Doc is the new document, for a new version.
	Doc map[string]any
	// State is the new strategy state (crdt), for a new version or
	// KindUnchanged; nil when the strategy keeps none.
	State *State
	// Before and After are the values at Op's path before and after; the
	// flags report whether the path existed.
	Before, After       any
	HadBefore, HasAfter bool
	// Notices describe what rebasing did (drops, changes of meaning).
	Notices []string
	// Overwrote lists the concurrent changes to overlapping paths that a
	// last-write-wins (or lock-based) write replaced.
	Overwrote []Applied
	// Remote is the concurrent change a manual conflict is with.
	Remote *Applied
	// Rebased is, for a manual conflict, the incoming operation rebased
	// over the changes since its base: where it would write in Input.Doc
	// (a list element followed to where it stands now); nil when nothing
	// of it was left.
	Rebased *doc.Op
	// Intended is, for a manual conflict, the value the incoming change
	// wanted at its path; IntendedDelete when it wanted the path gone;
	// IntendedNone when there is no such value: a move, increment or
	// text edit that names no value of its own and of which nothing was
	// left after rebasing it (or that no longer applies).
	Intended       any
	IntendedDelete bool
	IntendedNone   bool
}

// Decide works out what becomes of in.Op under in.Strategy. Errors wrap
// ErrInvalid, ErrStale, ErrLockRequired or ErrStaleToken.
func Decide(in Input) (Outcome, error) {
	if _, err := in.Op.Validate(); err != nil {
		return Outcome{}, fmt.Errorf("decide: %w: %w", ErrInvalid, err)
	}
	if in.Base < 0 {
		return Outcome{}, fmt.Errorf("decide: base version %d: %w", in.Base, ErrInvalid)
	}
	if in.Base > in.Version {
		return Outcome{}, fmt.Errorf("decide: base version %d is ahead of version %d: %w", in.Base, in.Version, ErrStale)
	}
	if in.Doc == nil {
		in.Doc = map[string]any{}
	}
	switch in.Strategy {
	case LastWriteWins:
		return lastWriteWins(in)
	case OperationalTransform:
		return transform(in)
	case CRDT:
		return merge(in)
	case LockBased:
		if err := checkLock(in); err != nil {
			return Outcome{}, err
		}
		return lastWriteWins(in)
	case Manual:
		return manual(in)
	}
	return Outcome{}, fmt.Errorf("decide: unknown strategy %q: %w", in.Strategy, ErrInvalid)
}

// checkLock enforces the lock-based rules.
func checkLock(in Input) error {
	switch {
	case in.Lock == nil:
		return fmt.Errorf("decide: %s entity has no lock: %w", LockBased, ErrLockRequired)
	case in.Lock.Holder != in.UserID && in.Token != 0 && in.Token < in.Lock.Token:
		return fmt.Errorf("decide: token %d is older than the lock's %d: %w", in.Token, in.Lock.Token, ErrStaleToken)
	case in.Lock.Holder != in.UserID:
		return fmt.Errorf("decide: lock held by %q: %w", in.Lock.Holder, ErrLockRequired)
	case in.Token != in.Lock.Token:
		return fmt.Errorf("decide: token %d is not the lock's %d: %w", in.Token, in.Lock.Token, ErrStaleToken)
	}
	return nil
}

// complete reports whether in.Since holds every change since in.Base.
func complete(in Input) bool {
	if int64(len(in.Since)) != in.Version-in.Base {
		return false
	}
	for i, a := range in.Since {
		if a.Version != in.Base+int64(i)+1 {
			return false
		}
	}
	return true
}

// applyOp applies op to in.Doc and fills an Outcome of kind k; a failure
// is ErrStale when concurrent changes may be the cause, ErrInvalid
// otherwise.
func applyOp(in Input, op doc.Op, k Kind) (Outcome, error) {
	next, err := doc.Apply(in.Doc, op)
	if err != nil {
		if in.Base < in.Version {
			return Outcome{}, fmt.Errorf("decide: %s no longer applies: %w: %w", op, ErrStale, err)
		}
		return Outcome{}, fmt.Errorf("decide: %w: %w", ErrInvalid, err)
	}
	inv, err := doc.Inverse(in.Doc, op)
	if err != nil {
		return Outcome{}, fmt.Errorf("decide: invert %s: %w: %w", op, ErrInvalid, err)
	}
	out := Outcome{Kind: k, Op: op, Inverse: inv, Doc: next}
	out.Before, out.HadBefore = doc.Get(in.Doc, op.Path)
	out.After, out.HasAfter = doc.Get(next, op.Path)
	out.Before, out.After = doc.Clone(out.Before), doc.Clone(out.After)
	return out, nil
}

// overlap reports whether paths a and b are equal or one contains the
// other. Unparseable paths overlap nothing.
func overlap(a, b string) bool {
	pa, err1 := doc.ParsePath(a)
	pb, err2 := doc.ParsePath(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return pa.HasPrefix(pb) || pb.HasPrefix(pa)
}

// lastWriteWins applies in.Op to the current document and lists the
// concurrent changes it replaced. A base whose later changes are not all
// kept is ErrStale: the changes it would replace could not be reported.
func lastWriteWins(in Input) (Outcome, error) {
	if !complete(in) {
		return Outcome{}, fmt.Errorf("decide: changes since version %d are no longer kept: %w", in.Base, ErrStale)
	}
	out, err := applyOp(in, in.Op, KindApplied)
	if err != nil {
		return Outcome{}, err
	}
	for _, a := range in.Since {
		if overlap(a.Op.Path, in.Op.Path) {
			out.Overwrote = append(out.Overwrote, a)
		}
	}
	return out, nil
}

// rebase transforms in.Op over in.Since; ok is false when nothing is left.
func rebase(in Input) (doc.Op, bool, []string, error) {
	if !complete(in) {
		return doc.Op{}, false, nil, fmt.Errorf("decide: changes since version %d are no longer kept: %w", in.Base, ErrStale)
	}
	op := in.Op
	var notices []string
	for _, a := range in.Since {
		next, ok, notice, err := transformPast(op, a)
		if notice != "" {
			notices = append(notices, notice)
		}
		if err != nil || !ok {
			return doc.Op{}, false, notices, err
		}
		op = next
	}
	return op, true, notices, nil
}

// transformPast is ot.Transform of op past a, a change applied since op's
// base, for an op that is valid. An op the transform leaves invalid is
// not dropped by a (ot.Transform drops an invalid op only at the next
// change), nor held back as a conflict with a change that did not touch
// it:
//
//   - shifted past a bound no document is large enough to reach (a list
//     index, a move's from or to above doc.MaxIndex, a text count above
//     doc.MaxTextCount), it is ErrInvalid, as it is at the head;
//   - grown past a bound that an edit valid at the head does reach (more
//     than doc.MaxTextComponents text components, a path longer than
//     doc.MaxPathLen once an index gained a digit), it is ErrStale: the
//     same edit made on the current version may well be valid, so the
//     writer is told to catch up and retry (VERSION_CONFLICT).
func transformPast(op doc.Op, a Applied) (doc.Op, bool, string, error) {
	next, ok, notice := ot.Transform(op, a.Op)
	if ok {
		if _, err := next.Validate(); err != nil {
			if grownPastReachableBound(next) {
				return doc.Op{}, false, notice, fmt.Errorf("decide: %s rebased past version %d outgrows what one change may hold: %w: %w", op, a.Version, ErrStale, err)
			}
			return doc.Op{}, false, notice, fmt.Errorf("decide: %s rebased past version %d: %w: %w", op, a.Version, ErrInvalid, err)
		}
	}
	return next, ok, notice, nil
}

// grownPastReachableBound reports whether op, which failed validation
// after a rebase, has more text components or a longer path than an op
// may have, and no text count above doc.MaxTextCount (which takes
// precedence: no document reaches it).
func grownPastReachableBound(op doc.Op) bool {
	for _, c := range op.Text {
		if c.Retain > doc.MaxTextCount || c.Delete > doc.MaxTextCount {
			return false
		}
	}
	return len(op.Text) > doc.MaxTextComponents || len(op.Path) > doc.MaxPathLen
}

func transform(in Input) (Outcome, error) {
	op, ok, notices, err := rebase(in)
	if err != nil {
		return Outcome{}, err
	}
	if !ok {
		return Outcome{Kind: KindDropped, Notices: notices}, nil
	}
	k := KindApplied
	if len(in.Since) > 0 {
		k = KindMerged
	}
	out, err := applyOp(in, op, k)
	if err != nil {
		return Outcome{}, err
	}
	out.Notices = notices
	return out, nil
}

// concurrent reports whether b, a change applied since op's base, changed
// what op writes, where op is the incoming operation rebased over the
// changes before b: their paths overlap. An insert, delete or move of list
// elements changes only the list as a whole; it shifts the elements that
// op goes through, which rebasing follows (a deleted one drops op).
func concurrent(op, b doc.Op) bool {
	pb, err := b.Validate()
	if err != nil {
		return false
	}
	list, rearranges := pb, b.Kind == doc.Move
	if last := pb[len(pb)-1]; (b.Kind == doc.Insert || b.Kind == doc.Delete) && last.IsIndex {
		list, rearranges = pb[:len(pb)-1], true
	}
	if !rearranges {
		return overlap(b.Path, op.Path)
	}
	pa, err := doc.ParsePath(op.Path)
	return err == nil && list.HasPrefix(pa)
}

// manual holds in.Op back as a conflict when a change since its base
// changed what it writes; it follows in.Op through the changes oldest
// first, so that a list element is compared by where it stood at each
// change, not by the index it had at in.Op's base. The conflict is with
// the latest such change, or with the one that left nothing of in.Op.
func manual(in Input) (Outcome, error) {
	if !complete(in) {
		return Outcome{}, fmt.Errorf("decide: changes since version %d are no longer kept: %w", in.Base, ErrStale)
	}
	op, ok := in.Op, true
	var remote *Applied
	for _, a := range in.Since {
		if concurrent(op, a.Op) {
			remote = &a
		}
		var err error
		if op, ok, _, err = transformPast(op, a); err != nil {
			return Outcome{}, err
		}
		if !ok {
			remote = &a
			break
		}
	}
	if remote == nil {
		return transform(in)
	}
	out := Outcome{Kind: KindConflict, Remote: remote}
	// The value the change wanted, on the current document: the operation
	// rebased over the changes since its base (a text edit or a list index
	// applied as it stands would land elsewhere in the text or list that
	// moved on), read where the rebased operation wrote it.
	// When nothing is left of it, an insert or update still names the
	// value it wanted and a delete the absence; a move, increment or text
	// edit names none (its value was the one it changed).
	switch in.Op.Kind {
	case doc.Insert, doc.Update:
		out.Intended = doc.Clone(in.Op.Value)
	case doc.Delete:
		out.IntendedDelete = true
	default:
		out.IntendedNone = true
	}
	if ok {
		out.Rebased = &op
		if next, err := doc.Apply(in.Doc, op); err == nil {
			v, has := doc.Get(next, op.Path)
			out.Intended, out.IntendedDelete, out.IntendedNone = doc.Clone(v), !has, false
		}
	}
	return out, nil
}

// KeysOnly reports whether path goes through object keys only: it names
// the same place whatever inserts, deletes and moves of list elements
// were applied since it was written. An unparseable path is not.
func KeysOnly(path string) bool {
	p, err := doc.ParsePath(path)
	return err == nil && !slices.ContainsFunc(p, func(s doc.Segment) bool { return s.IsIndex })
}

// seedState returns the stored state, or one whose materialized document
// is d (one register per top-level key, stamped below every real write),
// for an entity that has a document but no state yet.
func seedState(st *State, d map[string]any) State {
	if st != nil {
		return State{CRDT: st.CRDT.Clone(), Clock: st.Clock, Counted: cloneCounted(st.Counted)}
	}
	var s State
	for k, v := range d {
		_ = s.CRDT.Set(doc.Path{doc.KeySegment(k)}.String(), v, crdt.HLC{})
	}
	return s
}

// boundStamps returns s with every stamp the skew check would refuse today
// (negative, or beyond limit: a clock that ran ahead, or state written
// before the check was overflow-safe) demoted to wall time 0 of its node,
// the oldest a real write can carry, and the clock recomputed from the
// stamps kept. Without it, one such stamp would make every later write to
// its field lose (or, as the floor, every write to a path holding no
// value). s is returned unchanged when all its stamps are in bounds.
func boundStamps(s State, limit int64) State {
	bad := func(h crdt.HLC) bool { return h.WallMs < 0 || h.WallMs > limit }
	dirty := bad(s.Clock) || bad(s.CRDT.Floor)
	for _, r := range s.CRDT.Registers {
		dirty = dirty || bad(r.Stamp)
	}
	for _, m := range s.Counted {
		for _, h := range m {
			dirty = dirty || bad(h)
		}
	}
	if !dirty {
		return s
	}
	out := State{CRDT: s.CRDT.Clone(), Counted: cloneCounted(s.Counted)}
	if f := out.CRDT.Floor; bad(f) {
		out.CRDT.Floor = crdt.HLC{Node: f.Node}
	}
	out.Clock = crdt.HLC{WallMs: out.CRDT.Floor.WallMs, Counter: out.CRDT.Floor.Counter}
	for k, r := range out.CRDT.Registers {
		if bad(r.Stamp) {
			r.Stamp = crdt.HLC{Node: r.Stamp.Node}
			out.CRDT.Registers[k] = r
		}
		if crdt.Compare(r.Stamp, out.Clock) > 0 {
			out.Clock = crdt.HLC{WallMs: r.Stamp.WallMs, Counter: r.Stamp.Counter}
		}
	}
	for _, m := range out.Counted {
		for n, h := range m {
			if bad(h) {
				h = crdt.HLC{Node: h.Node}
				m[n] = h
			}
			if crdt.Compare(h, out.Clock) > 0 {
				out.Clock = crdt.HLC{WallMs: h.WallMs, Counter: h.Counter}
			}
		}
	}
	if !bad(s.Clock) && crdt.Compare(s.Clock, out.Clock) > 0 {
		out.Clock = s.Clock
	}
	return out
}

func merge(in Input) (Outcome, error) {
	p, _ := in.Op.Validate() // Decide validated it
	for _, s := range p {
		if s.IsIndex {
			return Outcome{}, fmt.Errorf("decide: %s: crdt entities address object keys only: %w", in.Op, ErrInvalid)
		}
	}
	path := p.String()
	skew := in.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	limit := crdt.Limit(in.Now, skew)
	old := seedState(in.State, in.Doc)
	old = boundStamps(old, limit)
	// Registers that can never show again (a state stored before they
	// were pruned) are left out of the state this change stores.
	old.CRDT.Prune()
	next := State{CRDT: old.CRDT.Clone(), Clock: old.Clock, Counted: cloneCounted(old.Counted)}
	var stamp crdt.HLC
	if in.Stamp != nil {
		stamp = crdt.HLC{WallMs: in.Stamp.WallMs, Counter: in.Stamp.Counter, Node: in.UserID}
		if err := crdt.CheckSkew(stamp, in.Now, skew); err != nil {
			return Outcome{}, fmt.Errorf("decide: %w: %w", ErrInvalid, err)
		}
		next.Clock = crdt.Update(old.Clock, stamp, in.Now)
	} else {
		stamp = crdt.Now(in.Now, crdt.HLC{WallMs: old.Clock.WallMs, Counter: old.Clock.Counter, Node: in.UserID})
		next.Clock = stamp
	}
	if stamp.WallMs > limit || next.Clock.WallMs > limit {
		// Unreachable after CheckSkew and boundStamps; kept so that no
		// stored clock can ever pass the limit.
		return Outcome{}, fmt.Errorf("decide: stamp %s is beyond the clock limit %d: %w", stamp, limit, ErrInvalid)
	}
	var err error
	switch in.Op.Kind {
	case doc.Insert, doc.Update:
		err = next.CRDT.Set(path, in.Op.Value, stamp)
	case doc.Delete:
		// Recorded even where nothing is held now: a write stamped
		// before it that arrives later must still lose, whatever the
		// order. The tombstones are bounded instead (pruneTombstones).
		if err = next.CRDT.Delete(path, stamp); err == nil {
			pruneTombstones(&next.CRDT, MaxTombstones)
		}
	case doc.Increment:
		d, perr := strconv.ParseInt(string(in.Op.Delta), 10, 64)
		if perr != nil {
			return Outcome{}, fmt.Errorf("decide: %s: crdt counters take whole-number deltas: %w", in.Op, ErrInvalid)
		}
		// Older than a write, a delete or the floor over its path: had
		// it arrived first, that write would have cleared it (see below),
		// so it loses now too, whatever the order of arrival.
		if by, ok := old.CRDT.Outdated(path, stamp); ok {
			return superseded(in.Op, path, by, old.CRDT), nil
		}
		// The document shows the register plus the counter: an increment
		// of a value that is not a number (or of a key below one), or a
		// sum out of a number's range, is refused, as on the other
		// strategies, rather than shown as the counter alone in its place.
		if _, aerr := doc.Apply(in.Doc, in.Op); errors.Is(aerr, doc.ErrType) || errors.Is(aerr, doc.ErrRange) {
			return Outcome{}, fmt.Errorf("decide: %w: %w", ErrInvalid, aerr)
		}
		err = next.CRDT.Increment(path, in.UserID, d)
		if err == nil && d != 0 && crdt.Compare(stamp, next.Counted[path][in.UserID]) > 0 {
			if next.Counted == nil {
				next.Counted = map[string]map[string]crdt.HLC{}
			}
			if next.Counted[path] == nil {
				next.Counted[path] = map[string]crdt.HLC{}
			}
			next.Counted[path][in.UserID] = stamp
		}
	default:
		return Outcome{}, fmt.Errorf("decide: %s: crdt entities take insert, update, delete and increment: %w", in.Op, ErrInvalid)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("decide: %w: %w", ErrInvalid, err)
	}
	if in.Op.Kind != doc.Increment && next.CRDT.Registers[path].Stamp == stamp {
		// The write won its register: the value at the path is now the
		// written one, so counters at or below it start again from zero,
		// except for the part of each user whose latest increment is
		// stamped after the write: that adds to the written value. (A
		// user's earlier increments, older than the write, stay in that
		// part too: a user's increments are kept as one sum.) The server
		// is the only replica, so it may drop them.
		for k, c := range next.CRDT.Counters {
			if kp, err := doc.ParsePath(k); err != nil || !kp.HasPrefix(p) {
				continue
			}
			for n := range c {
				if crdt.Compare(next.Counted[k][n], stamp) <= 0 {
					delete(c, n)
					delete(next.Counted[k], n)
				}
			}
			if len(c) == 0 {
				delete(next.CRDT.Counters, k)
				delete(next.Counted, k)
			}
		}
	}
	if next.CRDT.Equal(old.CRDT) {
		if in.Op.Kind == doc.Increment {
			// Past the stamp checks above, an increment that leaves the
			// state as it was added zero: nothing beat it.
			return Outcome{Kind: KindUnchanged, State: &next}, nil
		}
		by := path
		if top, ok := old.CRDT.Hidden(path, stamp); ok {
			// A newer write or delete of the top-level key hides it.
			by = top
		} else if r, ok := old.CRDT.Registers[path]; in.Op.Kind != doc.Delete && in.Op.Kind != doc.Increment &&
			(!ok || r.Deleted && crdt.Compare(stamp, r.Stamp) > 0) {
			// Neither a value nor the path's own tombstone won: the floor did.
			// (A write below an older live value is not refused by it.)
			by = ""
		}
		return superseded(in.Op, path, by, old.CRDT), nil
	}
	materialized := next.CRDT.Materialize()
	if doc.Equal(materialized, in.Doc) {
		return Outcome{Kind: KindUnchanged, State: &next}, nil
	}
	effect, err := effectOp(in.Doc, materialized, p, in.Op)
	if err != nil {
		return Outcome{}, err
	}
	out, err := applyOp(Input{Doc: in.Doc, Base: in.Version, Version: in.Version}, effect, KindApplied)
	if err != nil {
		return Outcome{}, err
	}
	if in.Base < in.Version {
		out.Kind = KindMerged
	}
	out.Doc = materialized
	out.State = &next
	return out, nil
}

// superseded is the outcome of op, at path (canonical), which lost to the
// register at path by in d, or to d's floor when by is "".
func superseded(op doc.Op, path, by string, d crdt.Doc) Outcome {
	why := fmt.Sprintf("a newer write holds %q", by)
	switch r, ok := d.Registers[by]; {
	case by == "":
		why = fmt.Sprintf("%q holds no value, and a delete stamped up to %s may have removed it (the entity no longer keeps deletes that old apart)", path, d.Floor)
	case op.Kind == doc.Increment && ok && r.Deleted:
		why = fmt.Sprintf("a newer delete of %q removed what it adds to", by)
	case op.Kind == doc.Increment:
		why = fmt.Sprintf("a newer write of %q reset what it adds to", by)
	case by != path && r.Deleted:
		why = fmt.Sprintf("a newer delete of %q removed it", by)
	case by != path:
		why = fmt.Sprintf("a newer write of %q replaced it", by)
	}
	return Outcome{Kind: KindSuperseded, Notices: []string{fmt.Sprintf("%s superseded: %s", op, why)}}
}

// MaxTombstones bounds the tombstones (delete registers) a crdt entity
// keeps, so that deletes of ever new paths cannot fill the state: the
// newest MaxTombstones are kept, and of the older ones only those that
// hide a value (an older write of an ancestor, or an older value below);
// the others are dropped. The state keeps the newest
// stamp among those dropped as its floor (crdt.Doc.Floor), which stands
// for all of them: a write or increment stamped at or before it to a path
// that holds no live value (and lies below no older live value) loses, as
// it would have lost to the dropped tombstone, so that a late write cannot
// bring back a field deleted long ago. One stamp cannot say which paths
// were deleted, so such a write loses even where no delete was
// (superseded; a write stamped later applies, as does any the server
// stamps).
const MaxTombstones = 64

// pruneTombstones keeps the newest max tombstones of d and drops the
// older ones, except any that hides a value: one with a live register
// older than it at an ancestor of its path (whose value holds the deleted
// field) or below it. Hiding tombstones, however many, never push a
// newer one out: d keeps the newest max and the older ones that hide a
// value. It decides
// from the registers' paths and stamps, without materializing. Each
// dropped tombstone raises d.Floor to its stamp, which is thus older than
// every tombstone among the newest max.
func pruneTombstones(d *crdt.Doc, max int) {
	var keys []string
	for k, r := range d.Registers {
		if r.Deleted {
			keys = append(keys, k)
		}
	}
	if len(keys) <= max {
		return
	}
	older := func(a, b crdt.HLC) bool { return crdt.Compare(a, b) < 0 }
	live := map[string]crdt.HLC{}        // live register paths and stamps
	oldestBelow := map[string]crdt.HLC{} // per path, the oldest live register strictly below it
	for k, r := range d.Registers {
		if r.Deleted {
			continue
		}
		live[k] = r.Stamp
		p, err := doc.ParsePath(k)
		if err != nil {
			continue
		}
		for i := 1; i < len(p); i++ {
			pre := p[:i].String()
			if cur, ok := oldestBelow[pre]; !ok || older(r.Stamp, cur) {
				oldestBelow[pre] = r.Stamp
			}
		}
	}
	hides := func(k string, stamp crdt.HLC) bool {
		if s, ok := oldestBelow[k]; ok && older(s, stamp) {
			return true
		}
		p, err := doc.ParsePath(k)
		if err != nil {
			return true
		}
		for i := 1; i < len(p); i++ {
			if s, ok := live[p[:i].String()]; ok && older(s, stamp) {
				return true
			}
		}
		return false
	}
	slices.SortFunc(keys, func(a, b string) int { return crdt.Compare(d.Registers[a].Stamp, d.Registers[b].Stamp) })
	// The newest max are kept whatever they hide: a hiding tombstone
	// must not push a newer one out (the delete just made, say).
	for _, k := range keys[:len(keys)-max] {
		if !hides(k, d.Registers[k].Stamp) {
			d.DropTombstone(k) // raises d.Floor: older writes to k still lose
		}
	}
}

// effectOp returns one operation that turns old into next, where next
// differs from old only at or below p: the incoming increment when it is
// exact, else an update or delete at the shallowest prefix of p whose
// value must change shape, else the top-level key.
func effectOp(old, next map[string]any, p doc.Path, incoming doc.Op) (doc.Op, error) {
	var candidates []doc.Op
	if incoming.Kind == doc.Increment {
		candidates = append(candidates, doc.Op{Kind: doc.Increment, Path: p.String(), Delta: incoming.Delta})
	}
	for i := 1; i <= len(p); i++ {
		prefix := p[:i].String()
		ov, oldOK := doc.Get(old, prefix)
		nv, newOK := doc.Get(next, prefix)
		if !newOK {
			if oldOK {
				candidates = append(candidates, doc.Op{Kind: doc.Delete, Path: prefix})
			}
			break
		}
		if _, isObj := ov.(map[string]any); !oldOK || i == len(p) || !isObj {
			candidates = append(candidates, doc.Op{Kind: doc.Update, Path: prefix, Value: doc.Clone(nv)})
			break
		}
	}
	top := p[:1].String()
	if v, ok := doc.Get(next, top); ok {
		candidates = append(candidates, doc.Op{Kind: doc.Update, Path: top, Value: doc.Clone(v)})
	} else {
		candidates = append(candidates, doc.Op{Kind: doc.Delete, Path: top})
	}
	for _, c := range candidates {
		if got, err := doc.Apply(old, c); err == nil && doc.Equal(got, next) {
			return c, nil
		}
	}
	return doc.Op{}, fmt.Errorf("decide: the crdt state changed the document outside %q: %w", p.String(), ErrInvalid)
}
