package e2e_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/devserver"
)

const (
	testIssuer   = "https://issuer.rtcollab.test"
	testAudience = "rtcollab-test"
)

var testSecret = []byte("an-hs256-secret-of-at-least-32-bytes!")

// startTokenServer starts a local server on the memory store whose
// $connect runs the token authenticator built from ts, as the connect
// function does, in development mode when dev is set.
func startTokenServer(t *testing.T, ts auth.TokenSettings, o *auth.TokenOptions) *devserver.Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	if o == nil {
		o = &auth.TokenOptions{}
	}
	authn, err := auth.NewTokenAuth(context.Background(), ts, o)
	if err != nil {
		t.Fatalf("token authenticator: %v", err)
	}
	srv, err := devserver.Start(context.Background(), devserver.Options{
		Addr: "127.0.0.1:0", Settings: app.Settings{DevIdentity: o.Dev}, SweepInterval: -1,
		App: &app.Options{Auth: authn},
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

// whoami is the identity a hello reports.
type whoami struct {
	ConnectionID string   `json:"connectionId"`
	UserID       string   `json:"userId"`
	Username     string   `json:"username"`
	Tenant       string   `json:"tenant"`
	Roles        []string `json:"roles"`
}

func (c *client) hello() whoami {
	c.t.Helper()
	var w whoami
	if err := json.Unmarshal(c.mustAck("hello", "", nil).Payload, &w); err != nil {
		c.t.Fatalf("hello: %v", err)
	}
	return w
}

// signJWT makes a compact JWS of hdr and claims. key is an HMAC secret
// ([]byte), an *rsa.PrivateKey or an *ecdsa.PrivateKey; nil leaves the
// signature empty.
func signJWT(t *testing.T, hdr, claims map[string]any, key any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch k := key.(type) {
	case nil:
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		t.Fatalf("unsupported key %T", key)
	}
	return signed + "." + enc.EncodeToString(sig)
}

// claims returns valid claims for user of tenant, with extra merged in (a
// nil value deletes the claim).
func claims(user, tenant string, extra map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"sub": user, "name": strings.ToUpper(user), "tenant": tenant, "roles": []string{"member"},
		"iss": testIssuer, "aud": testAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

var hs256 = map[string]any{"alg": "HS256", "typ": "JWT"}

// jwksServer serves a JSON Web Key Set that a test can change, and counts
// the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]any
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) add(k map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
}

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) map[string]any {
	t.Helper()
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:])}
}

func tokenQuery(tok string) url.Values { return url.Values{"token": {tok}} }

// TestHandshakeHS256: with an HS256 secret, issuer and audience configured
// (no development mode), a good token connects with the identity of its
// claims, and every bad token is refused at the handshake with 401.
func TestHandshakeHS256(t *testing.T) {
	srv := startTokenServer(t, auth.TokenSettings{Issuer: testIssuer, Audience: testAudience, Secret: string(testSecret)}, nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	good := signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"picture": "https://img.test/a.png", "roles": []string{"editor"}}), testSecret)
	c := mustDialQuery(t, srv, "alice", tokenQuery(good))
	if w := c.hello(); w.UserID != "alice" || w.Username != "ALICE" || w.Tenant != "tenant-a" || len(w.Roles) != 1 || w.Roles[0] != "editor" {
		t.Fatalf("hello = %+v", w)
	}

	tampered := func() string {
		parts := strings.Split(good, ".")
		p, _ := json.Marshal(claims("mallory", "tenant-b", nil))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
	}()
	bad := []struct {
		name  string
		query url.Values
	}{
		{"no token", nil},
		{"dev identity without dev mode", url.Values{"userId": {"alice"}, "tenant": {"tenant-a"}}},
		{"empty token", tokenQuery("")},
		{"not a JWT", tokenQuery("not-a-jwt")},
		{"expired", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()}), testSecret))},
		{"not yet valid", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), testSecret))},
		{"issued in the future", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"iat": now.Add(10 * time.Minute).Unix()}), testSecret))},
		{"wrong issuer", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"iss": "https://evil.test"}), testSecret))},
		{"no issuer", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"iss": nil}), testSecret))},
		{"wrong audience", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"aud": "other-app"}), testSecret))},
		{"no expiry", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"exp": nil}), testSecret))},
		{"no subject", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", map[string]any{"sub": nil}), testSecret))},
		{"tenant with key separator", tokenQuery(signJWT(t, hs256, claims("alice", "a#CHAN#b", nil), testSecret))},
		{"wrong secret", tokenQuery(signJWT(t, hs256, claims("alice", "tenant-a", nil), []byte("another-secret-that-is-32-bytes-long!!")))},
		{"tampered claims", tokenQuery(tampered)},
		{"signature stripped", tokenQuery(good[:strings.LastIndexByte(good, '.')+1])},
		{"alg none", tokenQuery(signJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, claims("alice", "tenant-a", nil), nil))},
		{"alg None", tokenQuery(signJWT(t, map[string]any{"alg": "None"}, claims("alice", "tenant-a", nil), nil))},
		{"alg HS512", tokenQuery(signJWT(t, map[string]any{"alg": "HS512"}, claims("alice", "tenant-a", nil), testSecret))},
		{"alg RS256 not configured", tokenQuery(signJWT(t, map[string]any{"alg": "RS256", "kid": "k"}, claims("alice", "tenant-a", nil), rsaKey))},
		{"oversized token", tokenQuery(strings.Repeat("a", 20000))},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if c, status := dialQuery(t, srv, tt.name, tt.query); c != nil || status != http.StatusUnauthorized {
				t.Fatalf("handshake status %d, want 401", status)
			}
		})
	}
	// The good token still works after the refusals.
	mustDialQuery(t, srv, "alice-again", tokenQuery(good)).quiet()
}

// TestHandshakeJWKS: RS256 and ES256 tokens are verified with keys from a
// key set served by the test. Keys are cached; a token with an unknown key
// id makes the verifier fetch the set again (at most once a minute), which
// picks up a rotated key. An HS256 token signed with a public key's bytes
// (key confusion) and unknown key ids are refused.
func TestHandshakeJWKS(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := newJWKSServer(t, rsaJWK("rsa-1", &rsaKey.PublicKey), ecJWK(t, "ec-1", &ecKey.PublicKey))
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv := startTokenServer(t, auth.TokenSettings{Issuer: testIssuer, Audience: testAudience, JWKSURL: jwks.URL}, &auth.TokenOptions{Clock: clock})

	rs := signJWT(t, map[string]any{"alg": "RS256", "kid": "rsa-1"}, claims("rita", "tenant-a", nil), rsaKey)
	if w := mustDialQuery(t, srv, "rita", tokenQuery(rs)).hello(); w.UserID != "rita" || w.Tenant != "tenant-a" {
		t.Fatalf("RS256 hello = %+v", w)
	}
	es := signJWT(t, map[string]any{"alg": "ES256", "kid": "ec-1"}, claims("eve", "tenant-b", nil), ecKey)
	if w := mustDialQuery(t, srv, "eve", tokenQuery(es)).hello(); w.UserID != "eve" || w.Tenant != "tenant-b" {
		t.Fatalf("ES256 hello = %+v", w)
	}
	if n := jwks.fetches.Load(); n != 1 {
		t.Fatalf("key set fetched %d times for two tokens, want 1 (cached)", n)
	}

	pubDER := rsaKey.PublicKey.N.Bytes()
	bad := []struct{ name, token string }{
		{"unknown kid", signJWT(t, map[string]any{"alg": "RS256", "kid": "nope"}, claims("rita", "tenant-a", nil), rotated)},
		{"wrong key for kid", signJWT(t, map[string]any{"alg": "RS256", "kid": "rsa-1"}, claims("rita", "tenant-a", nil), rotated)},
		{"ES256 header on RSA key", signJWT(t, map[string]any{"alg": "ES256", "kid": "rsa-1"}, claims("rita", "tenant-a", nil), ecKey)},
		{"HS256 with public key as secret", signJWT(t, hs256, claims("rita", "tenant-a", nil), pubDER)},
		{"alg none", signJWT(t, map[string]any{"alg": "none", "kid": "rsa-1"}, claims("rita", "tenant-a", nil), nil)},
		{"expired", signJWT(t, map[string]any{"alg": "RS256", "kid": "rsa-1"}, claims("rita", "tenant-a", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), rsaKey)},
		{"wrong audience", signJWT(t, map[string]any{"alg": "ES256", "kid": "ec-1"}, claims("eve", "tenant-b", map[string]any{"aud": "x"}), ecKey)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if c, status := dialQuery(t, srv, tt.name, tokenQuery(tt.token)); c != nil || status != http.StatusUnauthorized {
				t.Fatalf("handshake status %d, want 401", status)
			}
		})
	}

	// Rotation: a new key appears in the set; a token naming it is
	// accepted once the refetch interval has passed.
	jwks.add(rsaJWK("rsa-2", &rotated.PublicKey))
	skew.Store(int64(2 * time.Minute))
	before := jwks.fetches.Load()
	tok := signJWT(t, map[string]any{"alg": "RS256", "kid": "rsa-2"}, claims("rita", "tenant-a", nil), rotated)
	if w := mustDialQuery(t, srv, "rita-rotated", tokenQuery(tok)).hello(); w.UserID != "rita" {
		t.Fatalf("rotated key hello = %+v", w)
	}
	if jwks.fetches.Load() != before+1 {
		t.Fatalf("rotation caused %d fetches, want 1", jwks.fetches.Load()-before)
	}
}

// TestHandshakeDevMode: development mode (make dev) accepts the
// query-string identity when no token is given, still verifies a token
// when one is given, and refuses every token when no key source is set.
func TestHandshakeDevMode(t *testing.T) {
	srv := startTokenServer(t, auth.TokenSettings{Secret: string(testSecret)}, &auth.TokenOptions{Dev: true})
	if w := devDial(t, srv, "dora", "tenant-d").hello(); w.UserID != "dora" || w.Tenant != "tenant-d" {
		t.Fatalf("dev hello = %+v", w)
	}
	good := signJWT(t, hs256, claims("tess", "tenant-t", map[string]any{"iss": nil, "aud": nil}), testSecret)
	q := tokenQuery(good)
	q.Set("userId", "admin") // ignored: the token decides
	if w := mustDialQuery(t, srv, "tess", q).hello(); w.UserID != "tess" || w.Tenant != "tenant-t" {
		t.Fatalf("token hello in dev mode = %+v", w)
	}
	forged := signJWT(t, hs256, claims("tess", "tenant-t", nil), []byte("not-the-secret-but-long-enough-to-sign"))
	if c, status := dialQuery(t, srv, "forged", url.Values{"token": {forged}, "userId": {"tess"}}); c != nil || status != http.StatusUnauthorized {
		t.Fatalf("bad token in dev mode: status %d, want 401", status)
	}

	keyless := startTokenServer(t, auth.TokenSettings{}, &auth.TokenOptions{Dev: true})
	devDial(t, keyless, "dora", "tenant-d").quiet()
	if c, status := dialQuery(t, keyless, "tess", tokenQuery(good)); c != nil || status != http.StatusUnauthorized {
		t.Fatalf("token without a verifier: status %d, want 401", status)
	}
}
