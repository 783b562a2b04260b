// Package ot transforms concurrent document operations (package doc) so
// that an operation written against an old version of an entity can be
// applied to the current version while keeping its intent.
//
// Entry points: Transform and TransformSide transform one operation
// against one concurrent operation; TransformAgainst folds one operation
// over the history applied since its base version; TransformSeq transforms
// two concurrent sequences against each other.
//
// # Model
//
// TransformSide(a, b, aWins) returns a2 such that applying b then a2 has
// the effect of applying a then b2 = TransformSide(b, a, !aWins) (the TP1
// property: both orders converge). When a has no effect left, ok is false
// and a notice says why; a dropped operation acts as a no-op in TP1. The
// rules:
//
//   - Operations on unrelated paths pass through unchanged.
//   - A list insert, delete or move shifts the indexes of later siblings
//     and of every path that goes through the list ("items[3].qty" becomes
//     "items[4].qty" after an insert at items[1]). Two inserts at the same
//     index are ordered by aWins: the winner's element comes first.
//   - An operation on a path that the other deleted (or whose ancestor it
//     deleted or replaced with update) is dropped. Delete wins over a
//     concurrent update of the same path or below it.
//   - Two updates (or object inserts) of the same path: the winner's value
//     is kept; the loser is dropped. An object insert that wins becomes an
//     update, because the key now exists.
//   - An update replaces a concurrent increment, text edit or move of the
//     same path (those are dropped).
//   - Increments of the same number commute and both pass (arithmetic is
//     exact decimal, see doc.AddNumbers).
//   - Text edits of the same string are transformed component by
//     component: concurrent inserts at the same position are ordered by
//     aWins, overlapping deletes remove the text once, and text inserted
//     by one side inside a range the other side deleted survives.
//   - Moves: an element moved concurrently with an insert, delete or other
//     move keeps its position relative to the elements that did not move;
//     an insert next to a moved element stays next to its unmoved
//     neighbour. Two moves of the same element: the winner's target holds.
//
// Transform uses aWins = true: on the server, the incoming operation is the
// later arrival and wins ties against the history it is rebased over.
//
// # Limitations
//
// TP1 is checked by a seeded property test over random documents and every
// pair of kinds, moves included; no category is excluded. A dropped
// operation counts as a no-op there. TP2 (transforming against two
// different concurrent histories) is not provided: one authority (the
// server) orders the changes of an entity, so only TP1 is needed.
//
// Some outcomes are convergent but lose intent by design: an update (or a
// winning object insert) overwrites concurrent increments of the same
// number, so stock adjustments that must never be lost belong to the CRDT
// strategy (package crdt counters); an update of an object or list drops
// concurrent edits below it; and a delete drops concurrent edits of the
// deleted value. Operations that valid clients cannot produce against the
// same version (for example a write below a key that did not exist) pass
// through unchanged and fail later in doc.Apply.
package ot
