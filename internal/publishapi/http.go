package publishapi

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/protocol"
)

// ServeHTTP serves POST /publish, /notify and /presence/snapshot, and
// POST /events, which takes one EventBridge event as a rule delivers it to
// its target (see Event), for local development. Mount it with
// http.StripPrefix under a prefix of your own. It does not authenticate:
// put it behind a signature check.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := a.serveHTTP(r.Context(), true, r.Method, r.URL.Path, func() ([]byte, bool) {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		return b, err == nil
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// HTTPAPI is the Lambda handler of an API Gateway HTTP API (payload format
// 2.0) whose routes are POST /publish, /notify and /presence/snapshot,
// with AWS_IAM authorization.
func (a *API) HTTPAPI(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method, path := req.RequestContext.HTTP.Method, req.RawPath
	if m, p, ok := strings.Cut(req.RouteKey, " "); ok {
		method, path = m, p
	}
	status, body := a.serveHTTP(ctx, false, method, path, func() ([]byte, bool) {
		if req.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(req.Body)
			return b, err == nil
		}
		return []byte(req.Body), true
	})
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}, nil
}

// notFound is API Gateway's own answer to a request that matches none of
// an HTTP API's routes, whatever its method: 404 {"message":"Not Found"}.
// The integration never sees such a request in AWS; locally and in the
// Lambda handler (a route key the template does not define) it is
// answered the same.
var notFound = []byte(`{"message":"Not Found"}`)

// Route reports whether a request of method to path (below the API's
// prefix) matches one of its routes: POST /publish, /notify and
// /presence/snapshot, and POST /events when events is set (ServeHTTP
// serves it). Any other request gets 404 {"message":"Not Found"}.
func Route(method, path string, events bool) bool {
	op := strings.Trim(path, "/")
	_, ok := fields[op]
	return method == http.MethodPost && (ok || op == opEvents && events)
}

// serveHTTP routes one request by method and path; body reads the body.
// events enables POST /events. Only POST routes exist.
func (a *API) serveHTTP(ctx context.Context, events bool, method, path string, body func() ([]byte, bool)) (int, []byte) {
	if !Route(method, path, events) {
		return http.StatusNotFound, notFound
	}
	op := strings.Trim(path, "/")
	b, ok := body()
	if !ok {
		return errorAnswer(protocol.NewError(protocol.CodeBadFrame, "the request body could not be read"))
	}
	if op == opEvents {
		return a.serveEvent(ctx, b)
	}
	return a.Do(ctx, op, b, "")
}

// opEvents is the path of the local EventBridge endpoint (ServeHTTP only).
const opEvents = "events"
