package auth

import (
	"context"
	"testing"
)

// TestSharedKidAcrossKeyTypes: RFC 7517 section 4.5 allows keys of
// different kty to share a kid ("different keys might use the same kid
// value ... if they have different kty values but are considered to be
// equivalent alternatives"). A key set with an RSA and an EC key under
// kid "k1" must verify an RS256 token and an ES256 token naming "k1", each
// with the key that fits its alg (SECURITY.md: RS256/ES256 with keys from
// a JWKS; the algorithm decides the key source).
func TestSharedKidAcrossKeyTypes(t *testing.T) {
	rk, ek := rsaKey(t), ecKey(t)
	f := newJWKSFixture(t, rsaJWK("k1", &rk.PublicKey), ecJWK(t, "k1", &ek.PublicKey))
	rs := signToken(t, map[string]any{"alg": "RS256", "kid": "k1"}, claimsAt(f.clock.Now(), nil), rk)
	if _, err := f.v.Verify(context.Background(), rs); err != nil {
		t.Errorf("RS256 token, kid k1: %v", err)
	}
	es := signToken(t, map[string]any{"alg": "ES256", "kid": "k1"}, claimsAt(f.clock.Now(), nil), ek)
	if _, err := f.v.Verify(context.Background(), es); err != nil {
		t.Errorf("ES256 token, kid k1 (an EC key with that kid is in the set): %v", err)
	}
}
