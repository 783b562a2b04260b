package mgmtapi

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel outcomes of a Management API call. Every *APIError wraps the one
// that matches its status, so errors.Is(err, ErrGone) works on anything a
// Client method returns.
var (
	// ErrGone means the connection no longer exists (410 GoneException).
	// The caller should forget the connection; the call is never retried.
	ErrGone = errors.New("connection is gone")
	// ErrForbidden means the request was refused (403 ForbiddenException):
	// missing permissions, a bad signature or a wrong endpoint. Never retried.
	ErrForbidden = errors.New("forbidden")
	// ErrPayloadTooLarge means the frame exceeds the service limit (413
	// PayloadTooLargeException). Never retried.
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrThrottled means the request rate was exceeded (429
	// LimitExceededException). Retried; returned once attempts run out.
	ErrThrottled = errors.New("throttled")
	// ErrServer means the service failed (any 5xx status). Retried;
	// returned once attempts run out.
	ErrServer = errors.New("server error")
)

// IsGone reports whether err means the connection no longer exists
// (errors.Is(err, ErrGone)). It suits callbacks that take a func(error) bool.
func IsGone(err error) bool { return errors.Is(err, ErrGone) }

// APIError is an error response of the Management API. It wraps the
// sentinel error that matches Status (see Unwrap).
type APIError struct {
	// Op is the operation: "PostToConnection", "GetConnection" or
	// "DeleteConnection".
	Op string
	// ConnectionID is the connection the call addressed.
	ConnectionID string
	// Status is the HTTP status code of the last attempt.
	Status int
	// Type is the service's error type, e.g. "GoneException", taken from
	// the x-amzn-ErrorType header or the body, or derived from Status.
	Type string
	// Message is the service's error message, possibly empty.
	Message string
}

// Error describes the failed call with its operation and connection id.
func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %q: %d %s", e.Op, e.ConnectionID, e.Status, e.Type)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns the sentinel error for Status, or nil for a status that has
// none (for example 400).
func (e *APIError) Unwrap() error { return sentinelFor(e.Status) }

func sentinelFor(status int) error {
	switch {
	case status == http.StatusGone:
		return ErrGone
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusRequestEntityTooLarge:
		return ErrPayloadTooLarge
	case status == http.StatusTooManyRequests:
		return ErrThrottled
	case status >= 500 && status <= 599:
		return ErrServer
	}
	return nil
}

// defaultType names the error type the service reports for status, used
// when a response carries none.
func defaultType(status int) string {
	switch {
	case status == http.StatusGone:
		return "GoneException"
	case status == http.StatusForbidden:
		return "ForbiddenException"
	case status == http.StatusRequestEntityTooLarge:
		return "PayloadTooLargeException"
	case status == http.StatusTooManyRequests:
		return "LimitExceededException"
	case status == http.StatusBadRequest:
		return "BadRequestException"
	case status >= 500 && status <= 599:
		return "InternalServerErrorException"
	}
	return http.StatusText(status)
}
