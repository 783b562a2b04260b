package handler

import (
	"context"
	"errors"
	"maps"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// The fixed messages of errors that clientError derives from internal
// errors. Their text never comes from the error: only the code, this
// message and allow-listed details reach the client; the internal text is
// logged.
const (
	msgInternal     = "internal error"
	msgUnavailable  = "service temporarily unavailable; retry"
	msgBadOp        = "the operation is malformed: check its kind, path and fields"
	msgBadChange    = "the change cannot be applied to this entity as it is"
	msgBadID        = "an identifier holds characters outside its allowed set or is too long"
	msgStale        = "the base version is stale and the entity's strategy cannot merge the change; sync and try again"
	msgLockRequired = "acquire the entity's lock first"
	msgStaleToken   = "the fencing token is not the lock's current one"
	msgUndoConflict = "a later change touched the same path; the undo cannot be applied"
)

// errNotRegistered is the answer to a frame whose connection is not
// stored (any more): its $disconnect ran, maybe while the frame was being
// handled.
func errNotRegistered() *protocol.Error {
	return protocol.NewError(protocol.CodeUnauthorized, "connection is not registered; reconnect")
}

// allowedDetails are the detail keys a client may see: the entity's
// version and its current lock (holder, expiry, fencing token).
var allowedDetails = map[string]bool{"version": true, "lock": true}

// clientError is the one mapping from an error a route returned to what
// the client sees: a *protocol.Error made by the handler or the editing
// service (a stable code, a message written for the client) is sent as it
// is; domain errors of the editing, document, identifier and store
// packages get their code and a fixed message, with the allowed details
// attached by protocol.WithDetails; anything else is INTERNAL. Internal error text never
// becomes part of the reply.
func clientError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	details := protocol.DetailsOf(err)
	maps.DeleteFunc(details, func(k string, _ any) bool { return !allowedDetails[k] })
	fixed := func(code protocol.Code, msg string) *protocol.Error {
		e := &protocol.Error{Code: code, Message: msg}
		if len(details) > 0 && code != protocol.CodeInternal && code != protocol.CodeUnavailable {
			e.Details = details
		}
		return e
	}
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return fixed(protocol.CodeUnavailable, msgUnavailable)
	case errors.Is(err, editing.ErrStale):
		return fixed(protocol.CodeVersionConflict, msgStale)
	case errors.Is(err, editing.ErrLockRequired):
		return fixed(protocol.CodeLockRequired, msgLockRequired)
	case errors.Is(err, editing.ErrStaleToken):
		return fixed(protocol.CodeStaleFencingToken, msgStaleToken)
	case errors.Is(err, editing.ErrUndoConflict):
		return fixed(protocol.CodeUndoConflict, msgUndoConflict)
	case errors.Is(err, ident.ErrInvalid):
		return fixed(protocol.CodeBadRequest, msgBadID)
	case errors.Is(err, doc.ErrBadOp), errors.Is(err, doc.ErrBadPath):
		return fixed(protocol.CodeBadRequest, msgBadOp)
	case errors.Is(err, editing.ErrInvalid):
		return fixed(protocol.CodeBadRequest, msgBadChange)
	}
	return fixed(protocol.CodeInternal, msgInternal)
}
