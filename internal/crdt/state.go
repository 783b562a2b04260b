package crdt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/omnisales/rtcollab/internal/doc"
)

// ErrNode is wrapped by Increment when the node id is empty.
var ErrNode = errors.New("empty node id")

// ErrOverflow is wrapped by Increment when a counter's sums would pass
// math.MaxInt64.
var ErrOverflow = errors.New("counter overflow")

// Doc is the CRDT state of one entity: registers and counters keyed by
// canonical field path (see the package documentation). The zero value is
// an empty state ready for use. A Doc is not safe for concurrent use; Merge
// and Materialize do not modify their arguments.
type Doc struct {
	Registers map[string]Register `json:"registers,omitempty"`
	Counters  map[string]Counter  `json:"counters,omitempty"`
	// Floor is the newest stamp of the tombstones dropped by
	// DropTombstone (the zero stamp when none was: also a state stored
	// before the field existed). It stands for them, since the state no
	// longer says which paths they held: Set and Outdated treat it as a
	// tombstone at every path that holds no live value of its own (see
	// Set).
	Floor HLC `json:"floor,omitzero"`
}

// fieldPath parses a register or counter path: non-root, keys only.
func fieldPath(op, path string) (string, error) {
	p, err := doc.ParsePath(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if len(p) == 0 {
		return "", fmt.Errorf("%s %q: the path must name a field: %w", op, path, doc.ErrBadPath)
	}
	for _, s := range p {
		if s.IsIndex {
			return "", fmt.Errorf("%s %q: list indexes are not addressable in a CRDT state: %w", op, path, doc.ErrBadPath)
		}
	}
	return p.String(), nil
}

// Set records the write of value at path with stamp, keeping the existing
// register when it wins (last writer wins). value is normalized and copied
// (doc.Normalize); it fails with doc.ErrBadOp when value has no JSON form
// and with doc.ErrBadPath for a malformed, root or indexed path.
//
// Where path holds no live value (no register, or a tombstone), the write
// must also beat a tombstone stamped Floor, or it is not recorded: a
// dropped tombstone may have held path, an ancestor or a field below it,
// and one stamp cannot say which paths they held, so every such path is
// taken as deleted at the newest of them. This is conservative: a write
// stamped at or before Floor to a field that was never deleted loses too.
// A path with its own tombstone is covered as well, because the write's
// value may hold a field below it whose dropped tombstone is newer than
// the write. Two cases are merged as before, because no tombstone newer
// than the write there can have been dropped (DropTombstone keeps those
// that hide a value): a path with a live value (a newer tombstone below
// it hides part of that value), and a path with an ancestor whose live
// value is older than the write (a newer tombstone at, above or below the
// path, up to that ancestor, hides part of the ancestor's value).
//
// A write below a register newer than it is never shown (see Prune): it
// is not recorded when that register is at the path's top-level key, and
// recorded without its value otherwise. A write that wins its register
// prunes the older registers below its path.
func (d *Doc) Set(path string, value any, stamp HLC) error {
	key, err := fieldPath("crdt set", path)
	if err != nil {
		return err
	}
	v, err := doc.Normalize(value)
	if err != nil {
		return fmt.Errorf("crdt set %q: %w", path, err)
	}
	d.put(key, Register{Value: v, Stamp: stamp})
	return nil
}

// Delete records the removal of path with stamp (a tombstone register).
// Floor does not apply: a tombstone agrees with the deletes it stands for,
// and one stamped before Floor may still hide a value written before it.
// As for Set, a delete below a newer register of the path's top-level key
// is not recorded, and one that wins its register prunes the older
// registers below its path (see Prune).
func (d *Doc) Delete(path string, stamp HLC) error {
	key, err := fieldPath("crdt delete", path)
	if err != nil {
		return err
	}
	d.put(key, Register{Stamp: stamp, Deleted: true})
	return nil
}

// put records r at key (canonical) as Set and Delete do (see Set for
// Floor, Prune for the registers below a newer one).
func (d *Doc) put(key string, r Register) {
	switch sh, _ := d.shade(key, r.Stamp); sh {
	case gone:
		return
	case hidden:
		r.Value = nil
	}
	if !r.Deleted && d.lostToFloor(key, r.Stamp) {
		return
	}
	if cur, ok := d.Registers[key]; ok && !r.Wins(cur) {
		return
	}
	if d.Registers == nil {
		d.Registers = map[string]Register{}
	}
	d.Registers[key] = r
	d.pruneBelow(key, r.Stamp)
}

// shade is what the registers at the proper ancestors of a path make of a
// register there (see Prune).
type shade int

const (
	// shown: no ancestor's register is newer.
	shown shade = iota
	// hidden: a register below the top-level key is newer: the value
	// never shows; the path may (it makes the ancestors objects).
	hidden
	// gone: the top-level key's register is newer: nothing of it shows.
	gone
)

// shade reports what the registers at the proper ancestors of key (a
// canonical path) make of a register stamped stamp there, and the path of
// the shallowest ancestor whose register is newer ("" when shown).
func (d Doc) shade(key string, stamp HLC) (shade, string) {
	sh := gone
	for end := ancestorEnd(key, 0); end > 0; end = ancestorEnd(key, end) {
		if a, ok := d.Registers[key[:end]]; ok && Compare(a.Stamp, stamp) > 0 {
			return sh, key[:end]
		}
		sh = hidden
	}
	return shown, ""
}

// ancestorEnd returns the length of the shortest proper ancestor of the
// canonical path key that is longer than from (0 to start from the
// top-level key), or -1 when there is none: the index of the next '.' or
// '[' past from that starts a segment (not one inside a bracketed key).
func ancestorEnd(key string, from int) int {
	quoted, escaped := false, false
	for i := from + 1; i < len(key); i++ {
		switch c := key[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && (c == '.' || c == '['):
			return i
		}
	}
	return -1
}

// Hidden reports whether a write or delete of path stamped stamp lies
// below a newer register at the path's top-level key, by: Set and Delete
// do not record it, since nothing of it could ever show (see Prune). A
// malformed path is reported as not hidden.
func (d Doc) Hidden(path string, stamp HLC) (by string, ok bool) {
	p, err := doc.ParsePath(path)
	if err != nil {
		return "", false
	}
	sh, by := d.shade(p.String(), stamp)
	return by, sh == gone
}

// Prune drops what can never show again from the registers. A register
// at a path replaces everything below the path whenever Materialize
// applies it, so the values of the registers below it that are older
// never show. Those below a newer register of their top-level key are
// dropped: all they did besides was make the key an object, which that
// register undoes. Below a deeper register, a register keeps its stamp and loses
// its value: its path still counts, since it made the ancestors objects
// (a delete of the deeper path leaves them behind) and a path that holds
// a value lets older writes past Floor (see Set). Materialize gives the
// same document before and after, and Set, Delete and Merge, which prune
// as they record, give the same documents as on a state that keeps
// everything. So does Outdated. Only where Floor applies can they
// differ: a path whose value the newer register of its top-level key
// hid, dropped, counts as holding no value (as in the document), so a
// write there stamped at or before Floor loses. Counters are left alone,
// and so are keys that are not canonical paths.
func (d *Doc) Prune() {
	for k, r := range d.Registers {
		// The order does not matter: a register dropped here is older
		// than the one that hides it, so whatever it hid, that one
		// hides too.
		switch sh, _ := d.shade(k, r.Stamp); {
		case sh == gone:
			delete(d.Registers, k)
		case sh == hidden && r.Value != nil:
			r.Value = nil
			d.Registers[k] = r
		}
	}
}

// pruneBelow prunes, as Prune does, the registers strictly below key (a
// canonical path) stamped before stamp: after a write of key that won its
// register with stamp, they are the only ones that can have become
// hidden.
func (d *Doc) pruneBelow(key string, stamp HLC) {
	top := ancestorEnd(key, 0) < 0
	for k, r := range d.Registers {
		if len(k) <= len(key) || k[:len(key)] != key || (k[len(key)] != '.' && k[len(key)] != '[') ||
			Compare(r.Stamp, stamp) >= 0 {
			continue
		}
		switch {
		case top:
			delete(d.Registers, k)
		case r.Value != nil:
			r.Value = nil
			d.Registers[k] = r
		}
	}
}

// lostToFloor reports whether a write stamped stamp at key loses to Floor
// (see Set): key holds no live value, the write does not beat a tombstone
// stamped Floor (a tie goes to the tombstone, as in Register.Wins), and
// no ancestor of key holds a live value older than it.
func (d Doc) lostToFloor(key string, stamp HLC) bool {
	if cur, ok := d.Registers[key]; ok && !cur.Deleted {
		return false
	}
	if d.Floor.IsZero() || Compare(stamp, d.Floor) > 0 {
		return false
	}
	p, err := doc.ParsePath(key)
	if err != nil {
		return true
	}
	for i := 1; i < len(p); i++ {
		if a, ok := d.Registers[p[:i].String()]; ok && !a.Deleted && Compare(a.Stamp, stamp) < 0 {
			return false
		}
	}
	return true
}

// Outdated reports whether an edit of path stamped stamp is older than a
// write d holds over it, one that would have reset the edit's effect had
// the edit arrived first: a register (a value or a tombstone) at path or
// at an ancestor stamped at or after stamp, or, where path holds no live
// value, Floor as Set applies it (a tie goes to the register or the
// floor). by is the register's path, or "" when only Floor is newer. The
// editing package refuses such an increment: a counter keeps no stamps,
// so the state cannot order an increment against writes by itself. A
// malformed path is reported as not outdated (Increment refuses it).
func (d Doc) Outdated(path string, stamp HLC) (by string, outdated bool) {
	p, err := doc.ParsePath(path)
	if err != nil || len(p) == 0 {
		return "", false
	}
	for i := 1; i <= len(p); i++ {
		k := p[:i].String()
		if r, ok := d.Registers[k]; ok && Compare(r.Stamp, stamp) >= 0 {
			return k, true
		}
	}
	return "", d.lostToFloor(p.String(), stamp)
}

// join keeps the winner of r and the register cur at key (ok reports
// whether there is one).
func (d *Doc) join(key string, r, cur Register, ok bool) {
	if ok && !r.Wins(cur) {
		return
	}
	if d.Registers == nil {
		d.Registers = map[string]Register{}
	}
	d.Registers[key] = r
}

// DropTombstone removes the tombstone at key (a path as Registers holds
// it) and raises Floor to its stamp when that is newer. It reports
// whether there was a tombstone there; a live register is left alone.
// Drop only a tombstone that hides no value (no live register older than
// it at an ancestor of key or below key): Floor does not stand for one
// that does (see Set), and materializing without it would show the
// value.
func (d *Doc) DropTombstone(key string) bool {
	r, ok := d.Registers[key]
	if !ok || !r.Deleted {
		return false
	}
	delete(d.Registers, key)
	if Compare(r.Stamp, d.Floor) > 0 {
		d.Floor = r.Stamp
	}
	return true
}

// Increment adds delta to the counter at path on behalf of node. A delta
// of 0 changes nothing. Counters are exact: an increment that would take
// the node's positive or negative sum, or the counter's total of either,
// past math.MaxInt64 fails with ErrOverflow and changes nothing, so no sum
// ever saturates or wraps (math.MinInt64, whose negation has no int64,
// always fails).
func (d *Doc) Increment(path, node string, delta int64) error {
	key, err := fieldPath("crdt increment", path)
	if err != nil {
		return err
	}
	if node == "" {
		return fmt.Errorf("crdt increment %q: %w", path, ErrNode)
	}
	if delta == 0 {
		return nil
	}
	if delta == math.MinInt64 {
		return fmt.Errorf("crdt increment %q by %d: %w", path, delta, ErrOverflow)
	}
	c := d.Counters[key]
	p, n, ok := c.sums()
	e := c[node]
	switch {
	case !ok:
		return fmt.Errorf("crdt increment %q: the counter's sums already overflow: %w", path, ErrOverflow)
	case delta > 0 && (delta > math.MaxInt64-p || delta > math.MaxInt64-e.P):
		return fmt.Errorf("crdt increment %q by %d: %w", path, delta, ErrOverflow)
	case delta < 0 && (-delta > math.MaxInt64-n || -delta > math.MaxInt64-e.N):
		return fmt.Errorf("crdt increment %q by %d: %w", path, delta, ErrOverflow)
	}
	if delta > 0 {
		e.P += delta
	} else {
		e.N += -delta
	}
	if d.Counters == nil {
		d.Counters = map[string]Counter{}
	}
	if c == nil {
		c = Counter{}
		d.Counters[key] = c
	}
	c[node] = e
	return nil
}

// Merge returns the join of a and b: for every path the winning register,
// the per-node maximum of the counters and the newer Floor, pruned (see
// Prune: a register that one side's newer register above it hides is
// dropped or loses its value, as Set and Delete would have done). It is
// commutative, associative and idempotent (Merge(a, a) is a pruned; the
// states Set, Delete and Merge make are pruned). The floors do not filter the
// registers: a floor cannot tell a path whose tombstone was dropped from
// one its replica never heard of, so it only applies to writes recorded
// with Set. The result shares register values with the inputs (they are
// immutable) but no maps.
func Merge(a, b Doc) Doc {
	out := a.Clone()
	for k, r := range b.Registers {
		cur, ok := out.Registers[k]
		out.join(k, r, cur, ok)
	}
	if Compare(b.Floor, out.Floor) > 0 {
		out.Floor = b.Floor
	}
	for k, c := range b.Counters {
		if out.Counters == nil {
			out.Counters = map[string]Counter{}
		}
		out.Counters[k] = MergeCounter(out.Counters[k], c)
	}
	out.Prune()
	return out
}

// Clone returns a copy of d that shares no maps with it (register values
// are shared).
func (d Doc) Clone() Doc {
	out := Doc{Floor: d.Floor}
	if d.Registers != nil {
		out.Registers = make(map[string]Register, len(d.Registers))
		for k, r := range d.Registers {
			out.Registers[k] = r
		}
	}
	if d.Counters != nil {
		out.Counters = make(map[string]Counter, len(d.Counters))
		for k, c := range d.Counters {
			out.Counters[k] = c.Clone()
		}
	}
	return out
}

// Equal reports whether d and o hold the same registers, counters and
// Floor. A nil map equals an empty one.
func (d Doc) Equal(o Doc) bool {
	if d.Floor != o.Floor || len(d.Registers) != len(o.Registers) || len(d.Counters) != len(o.Counters) {
		return false
	}
	for k, r := range d.Registers {
		if q, ok := o.Registers[k]; !ok || !r.Equal(q) {
			return false
		}
	}
	for k, c := range d.Counters {
		if q, ok := o.Counters[k]; !ok || !c.Equal(q) {
			return false
		}
	}
	return true
}

// Materialize renders the state as a document, following the rules in the
// package documentation. The result shares nothing with d.
func (d Doc) Materialize() map[string]any {
	type item struct {
		key  string
		path doc.Path
		reg  Register
	}
	items := make([]item, 0, len(d.Registers))
	for k, r := range d.Registers {
		p, err := doc.ParsePath(k)
		if err != nil || len(p) == 0 {
			continue // not written by Set or Delete; nothing sensible to show
		}
		items = append(items, item{k, p, r})
	}
	slices.SortFunc(items, func(x, y item) int {
		if c := Compare(x.reg.Stamp, y.reg.Stamp); c != 0 {
			return c
		}
		if c := len(x.path) - len(y.path); c != 0 {
			return c
		}
		return strings.Compare(x.key, y.key)
	})
	out := map[string]any{}
	for _, it := range items {
		parent := ensureParent(out, it.path, !it.reg.Deleted)
		if parent == nil {
			continue
		}
		last := it.path[len(it.path)-1].Key
		if it.reg.Deleted {
			delete(parent, last)
		} else {
			parent[last] = doc.Clone(it.reg.Value)
		}
	}
	counters := make([]string, 0, len(d.Counters))
	for k := range d.Counters {
		counters = append(counters, k)
	}
	slices.Sort(counters)
	for _, k := range counters {
		p, err := doc.ParsePath(k)
		if err != nil || len(p) == 0 {
			continue
		}
		parent := ensureParent(out, p, true)
		last := p[len(p)-1].Key
		total := json.Number(strconv.FormatInt(d.Counters[k].Value(), 10))
		sum, err := doc.AddNumbers(parent[last], total)
		if err != nil { // missing, not a number, or out of range: the counter alone
			sum = total
		}
		parent[last] = sum
	}
	return out
}

// ensureParent returns the object that holds p's last key. With create it
// makes missing or non-object intermediates into empty objects; without,
// it returns nil when an intermediate is not an object.
func ensureParent(root map[string]any, p doc.Path, create bool) map[string]any {
	cur := root
	for _, s := range p[:len(p)-1] {
		next, ok := cur[s.Key].(map[string]any)
		if !ok {
			if !create {
				return nil
			}
			next = map[string]any{}
			cur[s.Key] = next
		}
		cur = next
	}
	return cur
}
