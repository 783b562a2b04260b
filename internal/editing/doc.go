// Package editing decides what becomes of a change pushed to an entity,
// under the entity's conflict strategy. It is pure: it reads the entity's
// current document and version, the changes applied since the change's
// base version, the lock (for the lock-based strategy) and the incoming
// operation, and returns an Outcome; storing it is the caller's job, with a
// write conditional on the version it read.
//
// Entry points: Decide applies one change; UndoOp builds the operation
// that undoes an earlier change; ResolveOp builds the operation that
// settles a manual conflict; ParseStrategies reads the strategy table from
// configuration.
//
// # Strategies
//
//   - last-write-wins: the operation is applied to the current document as
//     it is, so the later arrival at the server wins. The concurrent
//     changes it replaced (the same path, an ancestor or a descendant) are
//     listed in Outcome.Overwrote so that their writers can be told; a
//     base older than the changes kept is ErrStale, as they could not be.
//   - operational-transform: the operation is rebased over the changes
//     since its base version with ot.TransformAgainst: changes to other
//     paths merge, list indexes shift, text edits of one string merge, and
//     an operation whose target a concurrent change deleted is dropped
//     with a notice (KindDropped).
//   - crdt: the entity keeps a crdt.Doc beside its document. insert and
//     update write a last-writer-wins register stamped with a hybrid
//     logical clock (the client's stamp when it sends one, else the
//     server's), delete writes a tombstone (the newest MaxTombstones are
//     kept, older ones only where they hide a value of an older write;
//     the newest stamp dropped is kept as the state's floor, at or before
//     which a write or increment of a path holding no value, nor inside
//     an older value of a parent, loses, as it would have lost to the
//     dropped tombstone), increment adds to a per-user counter. A write
//     (or delete) that wins its register clears the counters at or below
//     its path, except the part of each user whose latest increment is
//     stamped after the write, which adds to the written value; an
//     increment stamped at or before the register held at its path or a
//     parent would have been cleared by it had it arrived first, and
//     loses to it instead, so that the document does not depend on which
//     arrives first. Ties between stamps are broken by user id. A write
//     or increment that loses to a newer stamp is KindSuperseded, as is
//     a write or delete below a field whose top-level key holds a newer
//     write or delete (it could never show). The state keeps nothing of
//     what can never show again (crdt.Doc.Prune): a write or delete of a
//     path drops the older registers below it (below a deeper path it
//     keeps their paths, not their values), and a state stored before
//     is pruned by the entity's next change. Paths name object keys
//     only; move and text are refused.
//   - lock-based: only the user holding the entity's lock, presenting the
//     lock's current fencing token, may write (ErrLockRequired,
//     ErrStaleToken); the write is then applied as with last-write-wins.
//     The caller makes the store write conditional on the same lock.
//   - manual: a concurrent change to an overlapping path makes the
//     outcome a conflict (KindConflict) that a user settles later with
//     ResolveOp; changes to other paths merge as with
//     operational-transform. A list element is followed through the
//     concurrent inserts, deletes and moves of its list: a change to it
//     conflicts with a later change to the same element at its shifted
//     index, not with one to the element now at its old index.
//
// Every applied outcome carries the operation as applied (which clients
// replay to follow the document) and its inverse (which undo uses).
package editing
