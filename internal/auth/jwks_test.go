package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// jwksFixture is a Verifier on a key set server with a fake clock.
type jwksFixture struct {
	srv   *jwksServer
	clock *storetest.FakeClock
	v     *Verifier
}

func newJWKSFixture(t *testing.T, keys ...map[string]any) *jwksFixture {
	t.Helper()
	f := &jwksFixture{srv: newJWKSServer(t, keys...), clock: newFakeClock()}
	v, err := New(Config{
		JWKSURL:                f.srv.URL,
		AnyAudience:            true,
		Clock:                  f.clock.Now,
		JWKSRefreshMinInterval: time.Minute,
		JWKSCacheTTL:           time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

// verify signs claims valid at the fixture's current time with key under
// kid and verifies them.
func (f *jwksFixture) verify(t *testing.T, kid string, key *rsa.PrivateKey) error {
	t.Helper()
	tok := signToken(t, map[string]any{"alg": "RS256", "kid": kid}, claimsAt(f.clock.Now(), nil), key)
	_, err := f.v.Verify(context.Background(), tok)
	return err
}

func TestJWKSRotationAndRateLimit(t *testing.T) {
	keyA, keyB, keyC := rsaKey(t), rsaKey(t), rsaKey(t)
	f := newJWKSFixture(t, rsaJWK("a", &keyA.PublicKey))

	// Each step: optionally change the server's keys, advance the clock,
	// verify a token, and check the result and the fetch count.
	steps := []struct {
		name      string
		setKeys   []map[string]any // nil leaves the server as it is
		advance   time.Duration
		kid       string
		key       *rsa.PrivateKey
		want      error
		wantFetch int
	}{
		{"first use fetches", nil, 0, "a", keyA, nil, 1},
		{"known kid is cached", nil, 10 * time.Minute, "a", keyA, nil, 1},
		{"rotation: new kid refetches", []map[string]any{rsaJWK("a", &keyA.PublicKey), rsaJWK("b", &keyB.PublicKey)}, 0, "b", keyB, nil, 2},
		{"unknown kid right after a fetch is refused without fetching", nil, 0, "c", keyC, ErrUnknownKey, 2},
		{"still rate-limited within the interval", nil, 59 * time.Second, "c", keyC, ErrUnknownKey, 2},
		{"after the interval an unknown kid refetches", nil, time.Second, "c", keyC, ErrUnknownKey, 3},
		{"key published later is found after the interval", []map[string]any{rsaJWK("b", &keyB.PublicKey), rsaJWK("c", &keyC.PublicKey)}, time.Minute, "c", keyC, nil, 4},
		{"removed key is gone after the refetch", nil, 0, "a", keyA, ErrUnknownKey, 4},
		{"old key still served before TTL is refused once refetched", nil, time.Minute, "a", keyA, ErrUnknownKey, 5},
		{"cached key within TTL", nil, 30 * time.Minute, "b", keyB, nil, 5},
		{"TTL expiry refetches even a known kid", nil, 31 * time.Minute, "b", keyB, nil, 6},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.setKeys != nil {
				f.srv.setKeys(t, s.setKeys...)
			}
			f.clock.Advance(s.advance)
			err := f.verify(t, s.kid, s.key)
			if !errors.Is(err, s.want) {
				t.Fatalf("Verify error = %v, want %v", err, s.want)
			}
			if got := f.srv.count(); got != s.wantFetch {
				t.Fatalf("fetches = %d, want %d", got, s.wantFetch)
			}
		})
	}
}

func TestJWKSFailures(t *testing.T) {
	key := rsaKey(t)
	good := func(t *testing.T) []byte {
		t.Helper()
		b, err := json.Marshal(map[string]any{"keys": []any{rsaJWK("a", &key.PublicKey)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		status int
		body   func(t *testing.T) []byte
	}{
		{"server error", http.StatusInternalServerError, func(*testing.T) []byte { return []byte("oops") }},
		{"not found", http.StatusNotFound, good},
		{"not JSON", http.StatusOK, func(*testing.T) []byte { return []byte("<html>") }},
		{"no keys member", http.StatusOK, func(*testing.T) []byte { return []byte(`{"k":[]}`) }},
		{"no usable key", http.StatusOK, func(*testing.T) []byte { return []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`) }},
		{"too large", http.StatusOK, func(t *testing.T) []byte {
			b := good(t)
			return append(b[:len(b)-1], []byte(`,"pad":"`+strings.Repeat("x", MaxJWKSBytes)+`"}`)...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newJWKSFixture(t)
			f.srv.setResponse(tt.status, tt.body(t))
			if err := f.verify(t, "a", key); !errors.Is(err, ErrJWKS) {
				t.Fatalf("Verify error = %v, want ErrJWKS", err)
			}
			// A failed fetch rate-limits the next one too.
			if err := f.verify(t, "a", key); !errors.Is(err, ErrJWKS) {
				t.Fatalf("second Verify error = %v, want ErrJWKS", err)
			}
			if got := f.srv.count(); got != 1 {
				t.Fatalf("fetches = %d, want 1", got)
			}
			// Recovery after the interval.
			f.srv.setResponse(http.StatusOK, good(t))
			f.clock.Advance(time.Minute)
			if err := f.verify(t, "a", key); err != nil {
				t.Fatalf("Verify after recovery: %v", err)
			}
		})
	}
}

func TestJWKSStaleKeysSurviveFailedRefresh(t *testing.T) {
	key := rsaKey(t)
	f := newJWKSFixture(t, rsaJWK("a", &key.PublicKey))
	if err := f.verify(t, "a", key); err != nil {
		t.Fatal(err)
	}
	f.srv.setResponse(http.StatusServiceUnavailable, nil)
	f.clock.Advance(2 * time.Hour)
	if err := f.verify(t, "a", key); err != nil {
		t.Fatalf("Verify with stale keys: %v", err)
	}
	if err := f.verify(t, "x", key); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Verify of unknown kid = %v, want ErrUnknownKey", err)
	}
	if got := f.srv.count(); got != 2 {
		t.Fatalf("fetches = %d, want 2", got)
	}
}

func TestJWKSConcurrentColdStartFetchesOnce(t *testing.T) {
	key := rsaKey(t)
	f := newJWKSFixture(t, rsaJWK("a", &key.PublicKey))
	tok := signToken(t, map[string]any{"alg": "RS256", "kid": "a"}, claimsAt(f.clock.Now(), nil), key)
	const n = 32
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if got := f.srv.count(); got != 1 {
		t.Fatalf("fetches = %d, want 1", got)
	}
}

func TestJWKSCancelledContext(t *testing.T) {
	key := rsaKey(t)
	f := newJWKSFixture(t, rsaJWK("a", &key.PublicKey))
	tok := signToken(t, map[string]any{"alg": "RS256", "kid": "a"}, claimsAt(f.clock.Now(), nil), key)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.v.Verify(ctx, tok); !errors.Is(err, ErrJWKS) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify error = %v, want ErrJWKS wrapping context.Canceled", err)
	}
	// A cancelled fetch does not count against the rate limit.
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after cancellation: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	large, ec := rsaKey(t), ecKey(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := ecJWK(t, "off", &ec.PublicKey)
	offCurve["y"] = offCurve["x"]
	withUse := func(k map[string]any, use string) map[string]any { k["use"] = use; return k }
	withAlg := func(k map[string]any, alg string) map[string]any { k["alg"] = alg; return k }
	withCrv := func(k map[string]any, crv string) map[string]any { k["crv"] = crv; return k }
	withE := func(k map[string]any, e string) map[string]any { k["e"] = e; return k }
	tests := []struct {
		name     string
		keys     []any
		wantKids []string // nil: parse error expected
	}{
		{"RSA and EC", []any{rsaJWK("r", &large.PublicKey), ecJWK(t, "e", &ec.PublicKey)}, []string{"r", "e"}},
		{"small RSA skipped", []any{rsaJWK("small", &small.PublicKey), rsaJWK("r", &large.PublicKey)}, []string{"r"}},
		{"encryption key skipped", []any{withUse(rsaJWK("enc", &large.PublicKey), "enc"), ecJWK(t, "e", &ec.PublicKey)}, []string{"e"}},
		{"RSA key pinned to another alg skipped", []any{withAlg(rsaJWK("ps", &large.PublicKey), "PS256"), ecJWK(t, "e", &ec.PublicKey)}, []string{"e"}},
		{"other curve skipped", []any{withCrv(ecJWK(t, "p384", &ec.PublicKey), "P-384"), rsaJWK("r", &large.PublicKey)}, []string{"r"}},
		{"point off the curve skipped", []any{offCurve, rsaJWK("r", &large.PublicKey)}, []string{"r"}},
		{"even exponent skipped", []any{withE(rsaJWK("even", &large.PublicKey), "Ag"), rsaJWK("r", &large.PublicKey)}, []string{"r"}},
		{"bad base64 skipped", []any{withE(rsaJWK("bad", &large.PublicKey), "!!"), rsaJWK("r", &large.PublicKey)}, []string{"r"}},
		{"non-object entry skipped", []any{"junk", rsaJWK("r", &large.PublicKey)}, []string{"r"}},
		{"oct only", []any{map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}}, nil},
		{"empty", []any{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{"keys": tt.keys})
			if err != nil {
				t.Fatal(err)
			}
			keys, err := parseJWKS(body)
			if tt.wantKids == nil {
				if err == nil {
					t.Fatalf("parseJWKS = %d keys, want an error", len(keys))
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			var kids []string
			for _, k := range keys {
				kids = append(kids, k.kid)
			}
			if strings.Join(kids, ",") != strings.Join(tt.wantKids, ",") {
				t.Fatalf("kids = %v, want %v", kids, tt.wantKids)
			}
		})
	}
}
