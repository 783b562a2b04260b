package gateway

import (
	"bytes"
	"encoding/json"
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
// escaped id is rawID. Signatures are accepted without being verified.
func (s *Server) serveManagement(w http.ResponseWriter, r *http.Request, rawID string) {
	// Reading the body first also lets the server notice a client that
	// gives up while a fault delays the answer.
	limit := s.cfg.MaxMessageBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
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
	if int64(len(body)) > s.cfg.MaxMessageBytes {
		writeServiceError(w, http.StatusRequestEntityTooLarge)
		return
	}
	c := s.lookup(id)
	if c == nil || !c.await(r.Context()) {
		writeServiceError(w, http.StatusGone)
		return
	}
	typ := websocket.MessageText
	if !utf8.Valid(body) {
		typ = websocket.MessageBinary
	}
	if err := c.send(typ, body); err != nil {
		s.log.Debug("post to connection failed", "connectionId", id, "error", err)
		writeServiceError(w, http.StatusGone)
		return
	}
	w.WriteHeader(http.StatusOK)
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
