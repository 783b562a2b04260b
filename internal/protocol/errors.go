package protocol

import "fmt"

// Code is a stable, machine-readable error code sent to clients in the
// payload of an error frame. Clients translate codes; the message text is
// for developers and never contains internal details (the handler's
// clientError is the one mapping from internal errors to codes).
type Code string

// The closed set of client-facing error codes. Retryable codes mark
// temporary conditions: the same request may succeed if sent again later.
const (
	CodeBadFrame             Code = "BAD_FRAME"              // not a JSON object, invalid UTF-8, trailing data
	CodeBadRequest           Code = "BAD_REQUEST"            // a field is missing, has the wrong type or is out of bounds
	CodeUnknownType          Code = "UNKNOWN_TYPE"           // the request type is not one the server handles
	CodeInvalidChannel       Code = "INVALID_CHANNEL"        // the channel name is malformed
	CodeFrameTooLarge        Code = "FRAME_TOO_LARGE"        // the request frame exceeds 32 KB, or the reply or broadcast it causes would exceed 128 KB
	CodeUnauthorized         Code = "UNAUTHORIZED"           // no valid identity (handshake) or the connection record is gone
	CodeForbidden            Code = "FORBIDDEN"              // the user's roles or tenant do not allow this
	CodeRateLimited          Code = "RATE_LIMITED"           // too many frames; the frame was dropped
	CodeTooManySubscriptions Code = "TOO_MANY_SUBSCRIPTIONS" // the per-connection subscription limit is reached
	CodeTooManyLocks         Code = "TOO_MANY_LOCKS"         // the per-connection lock limit is reached
	CodeNotSubscribed        Code = "NOT_SUBSCRIBED"         // a cursor for a room the connection has not joined
	CodeNotFound             Code = "NOT_FOUND"              // the entity, change, comment or conflict does not exist
	CodeLockHeld             Code = "LOCK_HELD"              // another user holds the lock
	CodeNotLockHolder        Code = "NOT_LOCK_HOLDER"        // renew or release by someone who does not hold the lock
	CodeLockRequired         Code = "LOCK_REQUIRED"          // lock-based entity changed without holding the lock
	CodeStaleFencingToken    Code = "STALE_FENCING_TOKEN"    // the fencing token presented is not the current one
	CodeVersionConflict      Code = "VERSION_CONFLICT"       // the base version is stale and the strategy could not merge
	CodeUndoConflict         Code = "UNDO_CONFLICT"          // a later change touched the path; the undo cannot be applied
	CodeConflictResolved     Code = "CONFLICT_RESOLVED"      // the conflict was already resolved
	CodeIdempotencyMismatch  Code = "IDEMPOTENCY_MISMATCH"   // the messageId was used by this user for a different request
	CodeUnavailable          Code = "UNAVAILABLE"            // a dependency is throttled or failing; retry with backoff
	CodeInternal             Code = "INTERNAL"               // an unexpected server error; retry with backoff
)

// Retryable reports whether a request that failed with c may succeed if sent
// again unchanged.
func (c Code) Retryable() bool {
	switch c {
	case CodeRateLimited, CodeUnavailable, CodeInternal, CodeLockHeld:
		return true
	}
	return false
}

// Codes lists every code, for documentation and tests.
func Codes() []Code {
	return []Code{CodeBadFrame, CodeBadRequest, CodeUnknownType, CodeInvalidChannel,
		CodeFrameTooLarge, CodeUnauthorized, CodeForbidden, CodeRateLimited,
		CodeTooManySubscriptions, CodeTooManyLocks, CodeNotSubscribed, CodeNotFound, CodeLockHeld,
		CodeNotLockHolder, CodeLockRequired, CodeStaleFencingToken, CodeVersionConflict,
		CodeUndoConflict, CodeConflictResolved, CodeIdempotencyMismatch, CodeUnavailable, CodeInternal}
}

// Error is a client-facing failure: a code, a safe message and optional
// details (for example the current lock holder).
type Error struct {
	Code    Code
	Message string
	Details map[string]any
}

// NewError returns an *Error with a formatted, client-safe message.
func NewError(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns e with details attached.
func (e *Error) WithDetails(d map[string]any) *Error {
	e.Details = d
	return e
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, ErrDecode) true for every decode error.
func (e *Error) Is(target error) bool { return target == ErrDecode }

// Payload is the JSON payload of the error frame.
func (e *Error) Payload() map[string]any {
	p := map[string]any{"code": string(e.Code), "message": e.Message, "retryable": e.Code.Retryable()}
	if len(e.Details) > 0 {
		p["details"] = e.Details
	}
	return p
}
