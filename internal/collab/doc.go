// Package collab is the editing service: edit locks, versioned changes
// under each entity type's conflict strategy, sync, history, undo, manual
// conflicts and comments. It reads and writes through store.Editing, and
// says what happened through a Notifier (the events it broadcasts and the
// activity entries it records); the decisions themselves are package
// editing's. It knows nothing of WebSockets or API Gateway: the routes of
// internal/handler decode a frame, authorize the caller on the entity's
// channel, call one method and encode its reply.
//
// Every method returns either its typed reply (the wire types of package
// protocol) or an error that is a *protocol.Error (a refusal with a
// stable code and a message written for the client), a domain error of
// packages editing, doc or ident, possibly carrying client details (see
// protocol.WithDetails), or an internal error. The handler maps them to
// what the client sees in one place.
//
// Change, Undo, Resolve and AddComment are idempotent per caller and
// messageId: the reply is recorded in the same write as its effect, and a
// resend of the same request (same protocol.RequestHash) gets it again; a
// different request under the same messageId is IDEMPOTENCY_MISMATCH.
//
// Entry points: New, then Entity to name an entity, and the methods
// Acquire, Renew, Release, Change, Sync, History, Undo, Resolve,
// AddComment, Comment, ResolveComment and ListComments; ReleaseLocksOf
// and SweepLocks for connection clean-up and the sweeper.
package collab
