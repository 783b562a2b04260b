package gateway

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// isLoopbackHost reports whether host (a Host header or URL host, with or
// without a port) names this machine: localhost, 127.0.0.0/8 or [::1].
func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// normalOrigin returns an origin in the form browsers send
// (scheme://host[:port], lower case, no trailing slash).
func normalOrigin(o string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
}

// originAllowed reports whether a handshake's Origin header may connect in
// loopback-only mode: absent (not a browser), a page served from this
// machine over http or https, or one of Config.AllowedOrigins.
func (s *Server) originAllowed(r *http.Request) bool {
	vs, ok := r.Header["Origin"]
	if !ok {
		return true
	}
	if len(vs) != 1 {
		return false
	}
	o := normalOrigin(vs[0])
	for _, a := range s.cfg.AllowedOrigins {
		if normalOrigin(a) == o {
			return true
		}
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return false
	}
	return isLoopbackHost(u.Host)
}

// loopbackRefusal returns why a request is refused in loopback-only mode,
// or "" when it may proceed: the Host header must name this machine (which
// defeats DNS rebinding), and a WebSocket handshake's Origin must be
// allowed (which keeps other web sites' pages out).
func (s *Server) loopbackRefusal(r *http.Request, handshake bool) string {
	switch {
	case !s.cfg.LoopbackOnly:
		return ""
	case !isLoopbackHost(r.Host):
		return "host is not a loopback name"
	case handshake && !s.originAllowed(r):
		return "origin is neither loopback nor allowed"
	}
	return ""
}
