package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// managementTimeLayout formats connectedAt and lastActiveAt in GET
// responses (ISO 8601 in UTC with milliseconds, as API Gateway sends).
const managementTimeLayout = "2006-01-02T15:04:05.000Z"

// connectionInfo is the body of a GET @connections/{id} response.
type connectionInfo struct {
	ConnectedAt  string           `json:"connectedAt"`
	Identity     identityResponse `json:"identity"`
	LastActiveAt string           `json:"lastActiveAt"`
}

type identityResponse struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// serveManagement handles the Management API for the connection whose
// escaped id is rawID. Every request must be signed (see
// Config.Credentials); requests from web pages are refused.
func (s *Server) serveManagement(w http.ResponseWriter, r *http.Request, rawID string) {
	if browserOriginated(r) {
		s.refuse(w, r, errBrowser)
		return
	}
	// Reading the body first also lets the server notice a client that
	// gives up while a fault delays the answer.
	limit := s.cfg.MaxMessageBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
		return
	}
	switch {
	case int64(len(body)) > limit && r.Header.Get("Authorization") != "":
		// The signature covers a body the server does not read whole: the
		// size is the error to report.
		writeServiceError(w, http.StatusRequestEntityTooLarge)
		return
	case int64(len(body)) > limit:
		s.refuse(w, r, errMissingAuth)
		return
	}
	if ae := s.verifySigV4(r, body, time.Now()); ae != nil {
		s.refuse(w, r, ae)
		return
	}
	if f := s.cfg.ManagementFault; f != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		status, delay := f(r)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if status >= 200 && status <= 299 {
			w.WriteHeader(status) // answered as a post is: no body
			return
		}
		if status != 0 {
			writeServiceError(w, status)
			return
		}
	}
	id, err := url.PathUnescape(rawID)
	if err != nil || id == "" || strings.Contains(rawID, "/") {
		writeJSONError(w, http.StatusNotFound, "NotFoundException", "Not Found")
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.postToConnection(w, r, id, body)
	case http.MethodGet:
		s.getConnection(w, r, id)
	case http.MethodDelete:
		s.deleteConnection(w, id)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeJSONError(w, http.StatusMethodNotAllowed, "", "Method Not Allowed")
	}
}

// postToConnection sends the request body to the connection as one
// message: a text frame when it is valid UTF-8, a binary frame otherwise.
func (s *Server) postToConnection(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	switch err := s.post(r.Context(), id, body); {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, ErrPayloadTooLarge):
		writeServiceError(w, http.StatusRequestEntityTooLarge)
	case errors.Is(err, ErrLimitExceeded):
		writeJSONError(w, http.StatusTooManyRequests, "LimitExceededException", BufferFullMessage)
	default:
		writeServiceError(w, http.StatusGone)
	}
}

// Errors of PostToConnection, the outcomes a POST to the Management API
// reports as 410, 413 and 429.
var (
	// ErrGone means the connection is not open, or the write to it failed
	// (410 GoneException).
	ErrGone = errors.New("connection is gone")
	// ErrPayloadTooLarge means the data exceeds Config.MaxMessageBytes (413
	// PayloadTooLargeException).
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrLimitExceeded means the client's buffer is full: the connection's
	// backlog of accepted messages passed its limit (1 MiB) because the
	// client reads more slowly than messages are posted to it (429
	// LimitExceededException, which AWS answers when "the WebSocket client
	// side buffer is full"). The message was not accepted; the connection
	// stays open, and a later post may succeed once the client has read.
	ErrLimitExceeded = errors.New("limit exceeded: the client's buffer is full")
)

// BufferFullMessage is the message of the 429 LimitExceededException
// answered for a client whose buffer is full (AWS documents the error
// type, not its message).
const BufferFullMessage = "The WebSocket client side buffer is full"

// PostToConnection sends data to connection id as one message, as a POST to
// @connections/{id} does, without HTTP: a text frame when data is valid
// UTF-8, a binary frame otherwise. The message is queued for the
// connection's writer, as API Gateway accepts a post before the client
// has it (see conn.send). It returns an error wrapping ErrPayloadTooLarge
// when data exceeds MaxMessageBytes, ErrLimitExceeded when the client's
// backlog is full (the connection stays open), ErrGone when the
// connection is not open or an earlier write to it failed, and ctx's
// error when ctx ends first. ctx bounds the wait for a handshake still in
// progress; a post never waits on the client, as a POST does not.
// Config.ManagementFault is not consulted: faults apply to the HTTP
// Management API only.
//
// It is the local server's shortcut for handlers in the same process. data
// is written after it returns and must not change afterwards.
func (s *Server) PostToConnection(ctx context.Context, id string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("post to connection %q: %w", id, err)
	}
	if err := s.post(ctx, id, data); err != nil {
		if ctx.Err() != nil && errors.Is(err, ErrGone) {
			return fmt.Errorf("post to connection %q: %w", id, ctx.Err())
		}
		return err
	}
	return nil
}

// post sends data to connection id as one message, queued for the
// connection's writer; it is the POST of the Management API and of
// PostToConnection.
func (s *Server) post(ctx context.Context, id string, data []byte) error {
	if int64(len(data)) > s.cfg.MaxMessageBytes {
		return fmt.Errorf("post to connection %q: %d bytes: %w", id, len(data), ErrPayloadTooLarge)
	}
	c := s.lookup(id)
	if c == nil || !c.await(ctx) {
		return fmt.Errorf("post to connection %q: %w", id, ErrGone)
	}
	typ := websocket.MessageText
	if !utf8.Valid(data) {
		typ = websocket.MessageBinary
	}
	switch err := c.send(typ, data, false); {
	case errors.Is(err, ErrLimitExceeded):
		s.log.Debug("client buffer full: post refused", "connectionId", id, "backlogLimit", maxBacklogBytes)
		return err
	case err != nil:
		s.log.Debug("post to connection failed", "connectionId", id, "error", err)
		return fmt.Errorf("%w: %w", ErrGone, err)
	}
	return nil
}

// getConnection answers with the connection's metadata.
func (s *Server) getConnection(w http.ResponseWriter, r *http.Request, id string) {
	c := s.lookup(id)
	if c == nil || !c.await(r.Context()) {
		writeServiceError(w, http.StatusGone)
		return
	}
	info := connectionInfo{
		ConnectedAt:  c.connectedAt.UTC().Format(managementTimeLayout),
		Identity:     identityResponse{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		LastActiveAt: c.lastActiveAt().UTC().Format(managementTimeLayout),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}

// deleteConnection closes the connection; $disconnect follows.
func (s *Server) deleteConnection(w http.ResponseWriter, id string) {
	c := s.lookup(id)
	if c == nil {
		writeServiceError(w, http.StatusGone)
		return
	}
	c.closeWith(closeDeleted, "")
	w.WriteHeader(http.StatusNoContent)
}

// refuse answers a Management API request that is not authorized with
// 403 and ae's error type and message.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ae *authError) {
	s.log.Warn("management API request refused", "method", r.Method, "path", r.URL.Path, "error", ae.errType)
	writeJSONError(w, http.StatusForbidden, ae.errType, ae.message)
}

// writeServiceError answers with the Management API's error for status.
func writeServiceError(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusGone:
		writeJSONError(w, status, "GoneException", "Gone")
	case status == http.StatusForbidden:
		writeJSONError(w, status, "ForbiddenException", "Forbidden")
	case status == http.StatusRequestEntityTooLarge:
		writeJSONError(w, status, "PayloadTooLargeException", "Request entity too large")
	case status == http.StatusTooManyRequests:
		writeJSONError(w, status, "LimitExceededException", "Rate exceeded")
	case status >= 500:
		writeJSONError(w, status, "InternalServerErrorException", "Internal server error")
	default:
		writeJSONError(w, status, "", http.StatusText(status))
	}
}

// writeJSONError writes {"message": msg} with status, and the error type
// in x-amzn-ErrorType when errType is set.
func writeJSONError(w http.ResponseWriter, status int, errType, msg string) {
	if errType != "" {
		w.Header().Set("x-amzn-ErrorType", errType)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}
