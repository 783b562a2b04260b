package auth

import "strings"

// TokenProtocolPrefix marks the WebSocket subprotocol that carries a token:
// a client offers "bearer.<token>" in Sec-WebSocket-Protocol beside the
// subprotocol it speaks (browsers cannot set headers on a handshake, and a
// token in the URL ends up in access logs). JWTs consist of token
// characters only (RFC 7230), so they are valid subprotocol names. The
// server never selects this entry.
const TokenProtocolPrefix = "bearer."

// Protocols returns the subprotocols a $connect request offers, in order,
// from its Sec-WebSocket-Protocol header (looked up without regard to
// case; every value of a repeated header counts).
func Protocols(headers map[string]string, multi map[string][]string) []string {
	var values []string
	for k, vs := range multi {
		if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
			values = append(values, vs...)
		}
	}
	if len(values) == 0 {
		for k, v := range headers {
			if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
				values = append(values, v)
			}
		}
	}
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// ProtocolToken returns the token of the first offered subprotocol that
// starts with TokenProtocolPrefix, or "".
func ProtocolToken(offered []string) string {
	for _, p := range offered {
		if t, ok := strings.CutPrefix(p, TokenProtocolPrefix); ok {
			return t
		}
	}
	return ""
}

// SelectProtocol returns the subprotocol the server selects: the first
// offered one that does not carry a token, or "" when none is offered.
// Selecting one matters: a browser that offered subprotocols fails the
// handshake when the server selects none.
func SelectProtocol(offered []string) string {
	for _, p := range offered {
		if !strings.HasPrefix(p, TokenProtocolPrefix) {
			return p
		}
	}
	return ""
}
