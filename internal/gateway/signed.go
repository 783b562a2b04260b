package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"time"
)

// signedAPIPrefix is the path under which Config.SignedAPI is served.
const signedAPIPrefix = "/api"

// SignedAPIMaxBytes is the largest request body the signed API takes: the
// payload quota of an API Gateway HTTP API (10 MB), which stands in front
// of the publish API in AWS. Smaller bounds are the integration's to
// answer (the publish API's own FRAME_TOO_LARGE). In AWS a body past
// about 4.5 MB does not reach the publish function at all (Lambda's 6 MB
// synchronous payload), and API Gateway answers a 5xx instead; that is
// not emulated (see docs/DEPLOY.md).
const SignedAPIMaxBytes = 10 << 20

// serveSigned checks a request for Config.SignedAPI as the Management API
// checks its requests (no browser origin, a bounded body, a valid
// signature), after its route (Config.SignedAPIRoute), and hands it on
// with the prefix removed and the body buffered.
func (s *Server) serveSigned(w http.ResponseWriter, r *http.Request) {
	if browserOriginated(r) {
		s.refuse(w, r, errBrowser)
		return
	}
	if route := s.cfg.SignedAPIRoute; route != nil && !route(r.Method, strings.TrimPrefix(r.URL.Path, signedAPIPrefix)) {
		writeJSONError(w, http.StatusNotFound, "", "Not Found")
		return
	}
	const limit = SignedAPIMaxBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	switch {
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
		return
	case len(body) > limit:
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
