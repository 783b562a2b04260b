package rtpublish

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// The codes of refused requests, as the server sends them (the protocol's
// closed set, see docs), plus the refusals of API Gateway's IAM check.
const (
	CodeBadRequest          = "BAD_REQUEST"          // a field is missing, has the wrong type or is out of bounds
	CodeBadFrame            = "BAD_FRAME"            // the body is not a JSON object
	CodeInvalidChannel      = "INVALID_CHANNEL"      // the channel name is malformed
	CodeFrameTooLarge       = "FRAME_TOO_LARGE"      // the frame would exceed its size limit (the client refuses such a call unsent)
	CodeForbidden           = "FORBIDDEN"            // the channel policy refuses the channel
	CodeIdempotencyMismatch = "IDEMPOTENCY_MISMATCH" // the key was used for another request
	CodeRateLimited         = "RATE_LIMITED"         // retryable
	CodeUnavailable         = "UNAVAILABLE"          // retryable
	CodeInternal            = "INTERNAL"             // retryable
	// CodeNotAuthorized is a request API Gateway refused before it
	// reached the service: unsigned, wrongly signed, or by an identity
	// without the publisher policy (403 with no code of the service's).
	CodeNotAuthorized = "NOT_AUTHORIZED"
)

// Error is a request the API refused. Check it with errors.As or CodeOf.
type Error struct {
	Op      string // the path, e.g. "/publish"
	Status  int    // the HTTP status: 200 for a pending duplicate (see Result.Pending), 0 for a call refused unsent (FRAME_TOO_LARGE)
	Code    string // a Code* constant, or another code a newer server sends
	Message string // for developers; never shown to end users
	// Type is API Gateway's x-amzn-ErrorType of a refusal of its own,
	// e.g. "InvalidSignatureException"; "" otherwise.
	Type      string
	Retryable bool // the same request may succeed later
}

func (e *Error) Error() string {
	return fmt.Sprintf("rtpublish: %s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// RetryableError reports whether the request may be sent again; the SDK's
// retryers consult it.
func (e *Error) RetryableError() bool { return e.Retryable }

// HTTPStatusCode is the HTTP status, for the SDK's retryers.
func (e *Error) HTTPStatusCode() int { return e.Status }

// CodeOf returns the code of an *Error in err's chain, or "" when there is
// none (nil, a network error, ...).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// errorOf builds the *Error of a refused request.
func errorOf(op string, resp *http.Response, answer []byte) *Error {
	var body struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Retryable *bool  `json:"retryable"`
	}
	_ = json.Unmarshal(answer, &body)
	e := &Error{Op: op, Status: resp.StatusCode, Code: body.Code, Message: body.Message, Type: resp.Header.Get("x-amzn-ErrorType")}
	if e.Code == "" {
		// API Gateway's own answer: {"message": ...}.
		switch {
		case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
			e.Code = CodeNotAuthorized
		case resp.StatusCode == http.StatusTooManyRequests:
			e.Code = CodeRateLimited
		case resp.StatusCode == http.StatusRequestEntityTooLarge:
			e.Code = CodeFrameTooLarge
		case resp.StatusCode >= 500:
			e.Code = CodeUnavailable
		default:
			e.Code = CodeBadRequest
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if body.Retryable != nil {
		e.Retryable = *body.Retryable
	} else {
		e.Retryable = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	}
	return e
}
