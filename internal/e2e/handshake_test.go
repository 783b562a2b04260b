package e2e_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/devserver"
)

// dialWith opens a WebSocket to srv with the given query, subprotocols,
// Origin ("" sends none) and Host (the name in the URL; "" means the
// server's own address). The connection always goes to srv's address, as
// after DNS rebinding. It returns the client (nil when refused) and the
// handshake status.
func dialWith(t *testing.T, srv *devserver.Server, q url.Values, protocols []string, origin, host string) (*client, *websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := url.Parse(srv.WebSocketURL())
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		u.Host = host
	}
	u.RawQuery = q.Encode()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Addr())
	}
	opts := &websocket.DialOptions{Subprotocols: protocols, HTTPClient: &http.Client{Transport: tr}, HTTPHeader: http.Header{}}
	if origin != "" {
		opts.HTTPHeader.Set("Origin", origin)
	}
	c, resp, err := connectURL(ctx, t, u.String(), "c", nil, opts)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, nil, resp.StatusCode
	}
	return c, c.conn, http.StatusSwitchingProtocols
}

// TestSubprotocolHandshake: the connect handler selects the real
// subprotocol a client offers, never the token one; a token offered as
// "bearer.<token>" authenticates as ?token= does, with the same refusals.
func TestSubprotocolHandshake(t *testing.T) {
	srv := startTokenServer(t, auth.TokenSettings{Issuer: testIssuer, Audience: testAudience, Secret: string(testSecret)}, nil)
	now := time.Now()
	good := signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"roles": []string{"editor"}}), testSecret)
	bearer := func(tok string) string { return auth.TokenProtocolPrefix + tok }

	t.Run("token in the subprotocol", func(t *testing.T) {
		c, conn, status := dialWith(t, srv, nil, []string{"rtcollab.v1", bearer(good)}, "", "")
		if c == nil {
			t.Fatalf("handshake status %d, want 101", status)
		}
		if got := conn.Subprotocol(); got != "rtcollab.v1" {
			t.Errorf("selected subprotocol %q, want rtcollab.v1", got)
		}
		if w := c.hello(); w.UserID != "alice" || w.Tenant != "tenant-a" || len(w.Roles) != 1 || w.Roles[0] != "editor" {
			t.Errorf("hello = %+v", w)
		}
	})
	t.Run("token first, then the subprotocol", func(t *testing.T) {
		_, conn, status := dialWith(t, srv, nil, []string{bearer(good), "rtcollab.v2"}, "", "")
		if conn == nil || conn.Subprotocol() != "rtcollab.v2" {
			t.Fatalf("handshake status %d, subprotocol %v; want 101 rtcollab.v2", status, conn)
		}
	})
	t.Run("subprotocol with the token in the URL", func(t *testing.T) {
		c, conn, status := dialWith(t, srv, tokenQuery(good), []string{"rtcollab.v1"}, "", "")
		if c == nil || conn.Subprotocol() != "rtcollab.v1" {
			t.Fatalf("handshake status %d; want 101 with rtcollab.v1", status)
		}
		if w := c.hello(); w.UserID != "alice" {
			t.Errorf("hello = %+v", w)
		}
	})
	bad := map[string]string{
		"expired":         signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()}), testSecret),
		"wrong secret":    signJWT(t, hs256, claims("alice", "tenant-a", nil), []byte("another-secret-that-is-32-bytes-long!!")),
		"wrong audience":  signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"aud": "other-app"}), testSecret),
		"alg none":        signJWT(t, map[string]any{"alg": "none"}, claims("alice", "tenant-a", nil), nil),
		"not a JWT":       "not-a-jwt",
		"oversized token": strings.Repeat("a", auth.MaxTokenBytes+1),
	}
	for name, tok := range bad {
		t.Run("refused: "+name, func(t *testing.T) {
			_, _, viaQuery := dialWith(t, srv, tokenQuery(tok), []string{"rtcollab.v1"}, "", "")
			_, _, viaProtocol := dialWith(t, srv, nil, []string{"rtcollab.v1", bearer(tok)}, "", "")
			if viaQuery != http.StatusUnauthorized || viaProtocol != http.StatusUnauthorized {
				t.Fatalf("status via ?token= %d, via subprotocol %d; want 401 for both", viaQuery, viaProtocol)
			}
		})
	}
}

// TestDevServerLocalPagesOnly: a development server, which trusts
// ?userId=&roles= from anyone, accepts loopback Host names and pages of
// this machine (and configured origins) only; a token server, like API
// Gateway, checks neither.
func TestDevServerLocalPagesOnly(t *testing.T) {
	dev, err := devserver.Start(context.Background(), devserver.Options{
		Addr: "127.0.0.1:0", Settings: app.Settings{DevIdentity: true}, SweepInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = dev.Close(ctx)
	})
	_, port, _ := net.SplitHostPort(dev.Addr())
	admin := url.Values{"userId": {"root"}, "roles": {"admin"}}
	tests := []struct {
		name, origin, host string
		want               int
	}{
		{"no Origin (not a browser)", "", "", http.StatusSwitchingProtocols},
		{"page on localhost", "http://localhost:5173", "localhost:" + port, http.StatusSwitchingProtocols},
		{"page on 127.0.0.1", "http://127.0.0.1:" + port, "", http.StatusSwitchingProtocols},
		{"page on [::1]", "http://[::1]:8080", "", http.StatusSwitchingProtocols},
		{"another web site's page", "https://evil.example", "", http.StatusForbidden},
		{"DNS rebinding", "http://rebind.example:" + port, "rebind.example:" + port, http.StatusForbidden},
		{"DNS rebinding, no Origin", "", "rebind.example:" + port, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, status := dialWith(t, dev, admin, nil, tt.origin, tt.host)
			if status != tt.want {
				t.Fatalf("handshake status %d, want %d", status, tt.want)
			}
			if c != nil {
				if w := c.hello(); w.UserID != "root" {
					t.Errorf("hello = %+v", w)
				}
			}
		})
	}

	srv := startTokenServer(t, auth.TokenSettings{Issuer: testIssuer, Audience: testAudience, Secret: string(testSecret)}, nil)
	good := signJWT(t, hs256, claims("alice", "tenant-a", nil), testSecret)
	if c, _, status := dialWith(t, srv, tokenQuery(good), nil, "https://app.example", "api.example:443"); c == nil {
		t.Fatalf("token server: handshake status %d, want 101 (API Gateway checks no origin)", status)
	}
}
