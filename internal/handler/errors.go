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

// allowedDetails are the detail keys a client may see: the entity's
// version and its current lock (holder, expiry, fencing token).
var allowedDetails = map[string]bool{"version": true, "lock": true}

// detailed attaches client details to an internal error; see withDetails.
type detailed struct {
	err     error
	details map[string]any
}

func (d *detailed) Error() string { return d.err.Error() }
func (d *detailed) Unwrap() error { return d.err }

// withDetails returns err with details that clientError adds to the
// client's error when it maps err to a domain code (VERSION_CONFLICT,
// LOCK_REQUIRED, ...). Only allowedDetails keys are kept. A nil err stays
// nil.
func withDetails(err error, details map[string]any) error {
	if err == nil {
		return nil
	}
	return &detailed{err: err, details: details}
}

// clientError is the one mapping from an error a route returned to what
// the client sees: a *protocol.Error made by the handler (a stable code,
// a message written for the client) is sent as it is; domain errors of
// the editing, document, identifier and store packages get their code and
// a fixed message; anything else is INTERNAL. Internal error text never
// becomes part of the reply.
func clientError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	var details map[string]any
	var d *detailed
	if errors.As(err, &d) {
		details = maps.Clone(d.details)
		maps.DeleteFunc(details, func(k string, _ any) bool { return !allowedDetails[k] })
	}
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

// badName is the error of a malformed name field (entityType, entityId,
// commentId, ...); field is the field's wire name.
func badName(field string) *protocol.Error {
	return protocol.NewError(protocol.CodeBadRequest, "%s must be 1..%d characters of [A-Za-z0-9._-]", field, editing.MaxNameLen)
}
