// Package crdt holds the state-based CRDT used by entities whose conflict
// strategy is "crdt": replicas edit their own copy of the state and merge
// copies in any order, any number of times, and converge.
//
// Entry points: Now and Update advance a hybrid logical clock (HLC) and
// Compare orders stamps; Doc.Set, Doc.Delete and Doc.Increment record local
// edits; Merge combines two states; Doc.Materialize renders the state as a
// JSON document (see package doc).
//
// # State
//
// A Doc maps field paths to last-writer-wins registers (Register: a value
// and the HLC stamp of its write; the larger stamp wins) and to
// positive-negative counters (Counter: per node, the total of its positive
// and of its negative deltas), used for numeric adjustments such as stock
// movements that must add up rather than overwrite each other. Merge takes,
// per path, the winning register and, per counter and node, the larger
// totals; it is commutative, associative and idempotent.
//
// Tombstones may be dropped (Doc.DropTombstone: the editing package keeps
// the newest 64 per entity) to bound the state. The newest stamp dropped
// is kept as the state's Floor, a tombstone for every path that holds no
// live value (and has no ancestor whose live value is older than the
// write): Set records a write there only when it is stamped after both
// the path's own tombstone and the floor. Which paths the dropped
// tombstones held is not kept, so the floor refuses such writes at any
// such path, also one never deleted. Delete, Increment and Merge's
// registers are not filtered by it (Merge keeps the newer floor).
//
// A register at a path hides the older registers below it for good:
// Materialize applies it after them, and it replaces or removes all they
// wrote below the path (registers only get newer). Doc.Prune leaves them
// out of the state: below a top-level key's newer register they are
// dropped, and Set and Delete do not record such a write (Doc.Hidden
// reports it); below a deeper newer register they keep their paths and
// stamps but not their values, because a register also makes its path's
// ancestors objects, which a delete of the deeper path leaves behind (a
// write of "o.p.k" then a delete of "o.p" show {"o":{}}), and because a
// path that holds a value lets older writes past the floor. A write or
// delete that wins its register prunes the registers below it, and
// Merge prunes its result, so that the document and Outdated are those
// of the state that keeps every register, in every order of arrival
// (where Floor applies, a path whose hidden value was dropped counts as
// holding none). The paths and stamps kept below a deeper register stay
// until a newer register of their top-level key drops them, and no
// smaller summary of them gives the same documents: while any of them
// holds its path, a delete of the deeper path leaves the parents
// objects, and deleting each of those paths later removes them, so the
// state must tell which are still held.
//
// Counters keep no stamps. Doc.Outdated reports whether an edit stamped
// at some time is older than a register (a value or a tombstone) at its
// path or an ancestor, or than the floor where Set would apply it; the
// editing package, which keeps the stamp of each user's latest increment
// and clears the increments that a winning write follows, refuses such an
// increment, so that an increment and a write give the same document in
// either order of arrival.
//
// # Paths
//
// Paths use the syntax of doc.ParsePath restricted to object keys
// ("customer.name", `lines["sku-1"].qty`); list indexes are refused because
// positions are not stable across replicas (a list is stored whole, as one
// register value). Paths are stored in canonical form, so "$.a.b" and
// "a.b" name the same field.
//
// Materialize starts from an empty object and applies the registers in
// stamp order (ties: shallower path first, then path text): a live
// register sets its path, creating missing intermediate objects and
// replacing non-object intermediates; a deleted register removes its path.
// A later write to an ancestor therefore hides earlier writes below it,
// and a later write below a scalar turns the scalar into an object. Then
// every counter adds its value to the number at its path (a missing or
// non-number value counts as 0), creating intermediates the same way.
// Using one path both as a register and as a counter is allowed but a Set
// does not reset the counter: the materialized number is the register
// value plus the counter total.
package crdt
