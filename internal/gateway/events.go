package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// requestTimeLayout is the layout of requestContext.requestTime, e.g.
// "20/Jan/2024:11:55:08 +0000".
const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

// newID returns an id in the form API Gateway uses for connection, request
// and message ids: 16 characters of URL-safe base64 (11 random bytes)
// ending in '=', e.g. "R1kmxc2VNjMCFIA=".
func newID() string {
	var b [11]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.URLEncoding.EncodeToString(b[:])
}

// newTraceID returns an X-Amzn-Trace-Id header value.
func newTraceID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}

// peer is what the gateway knows of a connection's client, fixed at the
// handshake.
type peer struct {
	id          string
	connectedAt time.Time
	domainName  string // Host of the handshake, e.g. "localhost:3001"
	sourceIP    string
	userAgent   string
}

// requestContext builds the requestContext every event shares.
func (s *Server) requestContext(p *peer, routeKey, eventType string, now time.Time) events.APIGatewayWebsocketProxyRequestContext {
	reqID := newID()
	return events.APIGatewayWebsocketProxyRequestContext{
		RouteKey:          routeKey,
		EventType:         eventType,
		ExtendedRequestID: reqID,
		RequestTime:       now.UTC().Format(requestTimeLayout),
		MessageDirection:  "IN",
		Stage:             s.cfg.Stage,
		ConnectedAt:       p.connectedAt.UnixMilli(),
		RequestTimeEpoch:  now.UnixMilli(),
		Identity: events.APIGatewayRequestIdentity{
			SourceIP:  p.sourceIP,
			UserAgent: p.userAgent,
		},
		RequestID:    reqID,
		DomainName:   p.domainName,
		ConnectionID: p.id,
		APIID:        s.cfg.APIID,
	}
}

// connectEvent builds the $connect event for handshake r: the request's
// headers (with the X-Forwarded-* and trace headers API Gateway adds) and
// query string, in single- and multi-value form.
func (s *Server) connectEvent(p *peer, r *http.Request, now time.Time) events.APIGatewayWebsocketProxyRequest {
	multi := map[string][]string{"Host": {r.Host}}
	for k, vs := range r.Header {
		switch k {
		case "Connection", "Upgrade", "Host":
			continue // hop-by-hop, or set above
		}
		multi[headerName(k)] = append([]string(nil), vs...)
	}
	multi["X-Forwarded-For"] = []string{p.sourceIP}
	multi["X-Forwarded-Port"] = []string{localPort(r)}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	multi["X-Forwarded-Proto"] = []string{proto}
	multi["X-Amzn-Trace-Id"] = []string{newTraceID(now)}

	req := events.APIGatewayWebsocketProxyRequest{
		Headers:           lastValues(multi),
		MultiValueHeaders: multi,
		RequestContext:    s.requestContext(p, RouteConnect, EventConnect, now),
	}
	if q := r.URL.Query(); len(q) > 0 {
		req.MultiValueQueryStringParameters = q
		req.QueryStringParameters = lastValues(q)
	}
	return req
}

// messageEvent builds the $default event for one text message (binary
// ones close the connection, as API Gateway's do).
func (s *Server) messageEvent(p *peer, data []byte, now time.Time) events.APIGatewayWebsocketProxyRequest {
	rc := s.requestContext(p, RouteDefault, EventMessage, now)
	rc.MessageID = newID()
	return events.APIGatewayWebsocketProxyRequest{RequestContext: rc, Body: string(data)}
}

// disconnectEvent builds the $disconnect event, with the fixed headers API
// Gateway sends on it and the close status and reason.
func (s *Server) disconnectEvent(p *peer, code int, reason string, now time.Time) events.APIGatewayWebsocketProxyRequest {
	rc := s.requestContext(p, RouteDisconnect, EventDisconnect, now)
	rc.DisconnectStatusCode = int64(code)
	rc.DisconnectReason = &reason
	multi := map[string][]string{
		"Host":            {p.domainName},
		"x-api-key":       {""},
		"X-Forwarded-For": {""},
		"x-restapi":       {""},
	}
	return events.APIGatewayWebsocketProxyRequest{
		Headers:           lastValues(multi),
		MultiValueHeaders: multi,
		RequestContext:    rc,
	}
}

// lastValues reduces a multi-value map to its last values, as API Gateway
// fills the single-value headers and query parameters.
func lastValues(m map[string][]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, vs := range m {
		if len(vs) > 0 {
			out[k] = vs[len(vs)-1]
		}
	}
	return out
}

// headerName restores the usual spelling of header names that Go's
// canonical form changes ("Sec-Websocket-Key" -> "Sec-WebSocket-Key"), so
// handlers see the names browsers send and API Gateway passes on.
func headerName(k string) string {
	const goForm, wsForm = "Sec-Websocket-", "Sec-WebSocket-"
	if rest, ok := strings.CutPrefix(k, goForm); ok {
		return wsForm + rest
	}
	return k
}

// localPort is the port the client connected to.
func localPort(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(a.String()); err == nil {
			return port
		}
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		return port
	}
	return "80"
}

// clientIP is the address of the client of r.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
