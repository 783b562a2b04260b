package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// handshake sends a WebSocket handshake with the given Host and Origin
// ("" leaves it out) and returns the response status.
func handshake(t *testing.T, s *Server, host, origin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.hostPort()+"/"+s.cfg.Stage, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		name, host, origin string
		want               int
	}{
		{"127.0.0.1 without Origin (not a browser)", "127.0.0.1:3001", "", http.StatusSwitchingProtocols},
		{"localhost with a localhost page", "localhost:3001", "http://localhost:5173", http.StatusSwitchingProtocols},
		{"127.0.0.0/8 with a 127.0.0.1 page", "127.1.2.3:3001", "http://127.0.0.1:3001", http.StatusSwitchingProtocols},
		{"[::1] with an https [::1] page", "[::1]:3001", "https://[::1]:8443", http.StatusSwitchingProtocols},
		{"host without a port", "localhost", "", http.StatusSwitchingProtocols},
		{"configured origin", "127.0.0.1:3001", "http://Devbox.Example:5173", http.StatusSwitchingProtocols},
		{"DNS rebinding host name", "attacker.example:3001", "http://attacker.example:3001", http.StatusForbidden},
		{"rebinding host without Origin", "attacker.example", "", http.StatusForbidden},
		{"localhost lookalike", "localhost.attacker.example:3001", "", http.StatusForbidden},
		{"LAN address", "192.168.1.20:3001", "", http.StatusForbidden},
		{"other web site's page", "127.0.0.1:3001", "https://evil.example", http.StatusForbidden},
		{"opaque origin (sandboxed page, file:)", "127.0.0.1:3001", "null", http.StatusForbidden},
		{"loopback origin with another scheme", "127.0.0.1:3001", "chrome-extension://127.0.0.1", http.StatusForbidden},
	}
	inv := newFakeInvoker()
	s := startGateway(t, Config{LoopbackOnly: true, AllowedOrigins: []string{"http://devbox.example:5173/"}}, inv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := handshake(t, s, tt.host, tt.origin); got != tt.want {
				t.Fatalf("handshake status = %d, want %d", got, tt.want)
			}
			if tt.want == http.StatusForbidden {
				none(t, inv.connects, 50*time.Millisecond, "$connect")
				return
			}
			next(t, inv.connects, "$connect")
		})
	}
}

// TestLoopbackOffByDefault: API Gateway checks neither Host nor Origin.
func TestLoopbackOffByDefault(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	if got := handshake(t, s, "attacker.example", "https://evil.example"); got != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status = %d, want 101", got)
	}
	next(t, inv.connects, "$connect")
}

// TestLoopbackOnlySparesManagementAPI: functions in containers reach the
// Management API by names such as host.docker.internal; it needs a
// signature whatever the Host.
func TestLoopbackOnlySparesManagementAPI(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{LoopbackOnly: true}, inv)
	_, id := connected(t, s, inv)
	req := managementRequest(t, s, http.MethodGet, id, nil, nil, time.Now())
	req.Host = "host.docker.internal:3001"
	if status, hdr, _ := do(t, req); status != http.StatusForbidden || hdr.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned GET = %d %q, want 403 MissingAuthenticationTokenException", status, hdr.Get("x-amzn-ErrorType"))
	}
	req = managementRequest(t, s, http.MethodGet, id, nil, &localCreds, time.Now())
	if status, _, _ := do(t, req); status != http.StatusOK {
		t.Errorf("signed GET = %d, want 200", status)
	}
}
