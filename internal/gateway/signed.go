package gateway

import (
	"bytes"
	"io"
	"net/http"
	"time"
)

// signedAPIPrefix is the path under which Config.SignedAPI is served.
const signedAPIPrefix = "/api"

// serveSigned checks a request for Config.SignedAPI as the Management API
// checks its requests (no browser origin, a bounded body, a valid
// signature) and hands it on with the prefix removed and the body
// buffered.
func (s *Server) serveSigned(w http.ResponseWriter, r *http.Request) {
	if browserOriginated(r) {
		s.refuse(w, r, errBrowser)
		return
	}
	limit := s.cfg.MaxMessageBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	switch {
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
		return
	case int64(len(body)) > limit:
		writeServiceError(w, http.StatusRequestEntityTooLarge)
		return
	}
	if ae := s.verifySigV4(r, body, time.Now()); ae != nil {
		s.refuse(w, r, ae)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	http.StripPrefix(signedAPIPrefix, s.cfg.SignedAPI).ServeHTTP(w, r)
}

// SignedAPIURL is the base URL of Config.SignedAPI, e.g.
// "http://127.0.0.1:3001/api".
func (s *Server) SignedAPIURL() string { return "http://" + s.hostPort() + signedAPIPrefix }
