// Package auth verifies the signed tokens presented on $connect, turns them
// into an Identity, and decides which channels an identity may subscribe
// and publish to (Policy).
//
// Browsers cannot set headers on a WebSocket handshake, so the token
// arrives as ?token= on the $connect request, or in the "bearer.<token>"
// subprotocol the client SDK offers. Verify accepts compact JWS
// tokens signed with HS256 (a shared secret) or with RS256/ES256 keys from a
// JSON Web Key Set such as an Amazon Cognito user pool's. The algorithm
// decides the key source and never the other way round: HS256 uses only the
// shared secret, RS256 and ES256 only key set keys, so a public key can
// never be used as an HMAC secret. Header members that point at keys (jku,
// x5u, jwk, x5c) are ignored.
//
// Entry points: TokenSettingsFromEnv reads the $connect settings through a
// getenv function supplied by main; NewTokenAuth builds the $connect
// authenticator (TokenAuth) from them, reading an HS256 secret kept in SSM
// once; DevAuth and DevIdentity are development mode; New and
// Verifier.Verify check one token; Policy decides channel access.
package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/omnisales/rtcollab/internal/ident"
)

// maxNumericDate bounds exp, nbf and iat (the last second of year 9999), so
// absurd values cannot overflow time arithmetic.
const maxNumericDate = 253402300799

// Verifier checks tokens against a Config. It is safe for concurrent use;
// the key set cache it holds is shared by all callers.
type Verifier struct {
	cfg     Config
	allowed map[string]bool
	keys    *keyCache // nil without JWKSURL
}

// New checks cfg, fills in its defaults and returns a Verifier. It does not
// fetch the key set; the first Verify that needs it does.
func New(cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, allowed: make(map[string]bool, len(cfg.Algorithms))}
	for _, alg := range cfg.Algorithms {
		v.allowed[alg] = true
	}
	if cfg.JWKSURL != "" {
		v.keys = newKeyCache(cfg)
	}
	return v, nil
}

// header is the subset of the JOSE header that Verify reads.
type header struct {
	Alg  *string         `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// Verify checks token's signature and claims and returns the identity it
// carries. Every error wraps one of the package's sentinel errors. ctx
// bounds a key set fetch, if one is needed.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	const op = "auth.Verify"
	if token == "" || len(token) > MaxTokenBytes {
		return Identity{}, fmt.Errorf("%s: %w: token of %d bytes", op, ErrMalformed, len(token))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Identity{}, fmt.Errorf("%s: %w: %d parts, want 3", op, ErrMalformed, len(parts))
	}
	hdrJSON, err := decodeSegment(parts[0])
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w: header: %w", op, ErrMalformed, err)
	}
	var h header
	if err := json.Unmarshal(hdrJSON, &h); err != nil {
		return Identity{}, fmt.Errorf("%s: %w: header: %w", op, ErrMalformed, err)
	}
	if h.Alg == nil {
		return Identity{}, fmt.Errorf("%s: %w: header has no alg", op, ErrMalformed)
	}
	alg := *h.Alg
	if strings.EqualFold(alg, "none") || !v.allowed[alg] {
		return Identity{}, fmt.Errorf("%s: %w: alg %q", op, ErrAlgorithm, alg)
	}
	if len(h.Crit) > 0 {
		return Identity{}, fmt.Errorf("%s: %w: unsupported crit header", op, ErrMalformed)
	}
	sig, err := decodeSegment(parts[2])
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w: signature: %w", op, ErrMalformed, err)
	}
	signed := token[:len(parts[0])+1+len(parts[1])]
	if err := v.checkSignature(ctx, alg, h.Kid, signed, sig); err != nil {
		return Identity{}, err
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w: payload: %w", op, ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return Identity{}, fmt.Errorf("%s: %w: payload is not a JSON object", op, ErrMalformed)
	}
	if dec.More() {
		return Identity{}, fmt.Errorf("%s: %w: trailing data after payload", op, ErrMalformed)
	}
	return v.identity(claims)
}

// checkSignature verifies sig over signed with the key alg calls for.
func (v *Verifier) checkSignature(ctx context.Context, alg, kid, signed string, sig []byte) error {
	const op = "auth.Verify"
	digest := sha256.Sum256([]byte(signed))
	switch alg {
	case AlgHS256:
		mac := hmac.New(sha256.New, v.cfg.HS256Secret)
		mac.Write([]byte(signed))
		if !hmac.Equal(mac.Sum(nil), sig) {
			return fmt.Errorf("%s: %w: alg %q", op, ErrSignature, alg)
		}
		return nil
	case AlgRS256, AlgES256:
		k, err := v.keys.key(ctx, kid, alg)
		if err != nil {
			return err
		}
		if !k.fits(alg) {
			return fmt.Errorf("%s: %w: alg %q does not fit key %q", op, ErrAlgorithm, alg, kid)
		}
		if alg == AlgRS256 {
			if err := rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest[:], sig); err != nil {
				return fmt.Errorf("%s: %w: alg %q kid %q", op, ErrSignature, alg, kid)
			}
			return nil
		}
		if len(sig) != 64 {
			return fmt.Errorf("%s: %w: ES256 signature of %d bytes, want 64", op, ErrSignature, len(sig))
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k.ec, digest[:], r, s) {
			return fmt.Errorf("%s: %w: alg %q kid %q", op, ErrSignature, alg, kid)
		}
		return nil
	}
	return fmt.Errorf("%s: %w: alg %q", op, ErrAlgorithm, alg)
}

// identity checks the registered claims and maps the rest to an Identity.
func (v *Verifier) identity(c map[string]any) (Identity, error) {
	const op = "auth.Verify"
	now := v.cfg.Clock()
	leeway := v.cfg.Leeway

	sub, _ := c["sub"].(string)
	if !validKeyPart(sub) {
		return Identity{}, fmt.Errorf("%s: %w: sub missing or unusable", op, ErrMalformed)
	}
	exp, ok, err := numericDate(c, "exp")
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w: %w", op, ErrMalformed, err)
	}
	if !ok {
		return Identity{}, fmt.Errorf("%s: %w: exp missing", op, ErrMalformed)
	}
	// exp has no leeway: the connection's frames are refused from exp on
	// (Identity.ExpiresAt), and a token $connect accepted must not be
	// refused by the first frame. Leeway is for nbf and iat, which a
	// clock behind the issuer's would otherwise see in the future.
	if !now.Before(exp) {
		return Identity{}, fmt.Errorf("%s: %w: expired at %s", op, ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	for _, name := range []string{"nbf", "iat"} {
		t, ok, err := numericDate(c, name)
		if err != nil {
			return Identity{}, fmt.Errorf("%s: %w: %w", op, ErrMalformed, err)
		}
		if ok && t.After(now.Add(leeway)) {
			return Identity{}, fmt.Errorf("%s: %w: %s is %s", op, ErrNotYetValid, name, t.UTC().Format(time.RFC3339))
		}
	}
	if v.cfg.Issuer != "" {
		if iss, _ := c["iss"].(string); iss != v.cfg.Issuer {
			return Identity{}, fmt.Errorf("%s: %w: iss %q", op, ErrIssuer, iss)
		}
	}
	if v.cfg.Audience != "" && !hasAudience(c, v.cfg.Audience) {
		return Identity{}, fmt.Errorf("%s: %w: want %q", op, ErrAudience, v.cfg.Audience)
	}

	id := Identity{
		UserID:    sub,
		Username:  ident.Clean(firstString(c, "name", "preferred_username", "username", "cognito:username"), ident.MaxDisplayNameLen, false),
		Avatar:    ident.Clean(firstString(c, "picture", "avatar"), ident.MaxURLLen, false),
		Roles:     roles(c, "roles", "cognito:groups"),
		ExpiresAt: exp,
	}
	if id.Username == "" {
		id.Username = sub
	}
	tenantClaim := v.cfg.TenantClaim
	_, present := c[tenantClaim]
	if !present {
		tenantClaim = CognitoCustomPrefix + v.cfg.TenantClaim
		_, present = c[tenantClaim]
	}
	switch {
	case present:
		t, _ := c[tenantClaim].(string)
		if !validKeyPart(t) {
			return Identity{}, fmt.Errorf("%s: %w: claim %q unusable", op, ErrTenant, tenantClaim)
		}
		id.Tenant = t
	case v.cfg.RequireTenant:
		if use, _ := c["token_use"].(string); use == "access" {
			return Identity{}, fmt.Errorf("%s: %w: claim %q missing from a Cognito access token, which carries no custom attributes: send the ID token",
				op, ErrTenant, v.cfg.TenantClaim)
		}
		return Identity{}, fmt.Errorf("%s: %w: claim %q missing", op, ErrTenant, v.cfg.TenantClaim)
	default:
		id.Tenant = v.cfg.DefaultTenant
	}
	return id, nil
}

// decodeSegment decodes one unpadded base64url segment.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// numericDate reads a NumericDate claim (seconds since the epoch, possibly
// fractional). ok is false when the claim is absent.
func numericDate(c map[string]any, name string) (t time.Time, ok bool, err error) {
	raw, present := c[name]
	if !present {
		return time.Time{}, false, nil
	}
	n, isNum := raw.(json.Number)
	if !isNum {
		return time.Time{}, false, fmt.Errorf("claim %q is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false, fmt.Errorf("claim %q out of range", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// hasAudience reports whether aud (a string or an array of strings) holds
// want. Only a token without an aud claim may name its audience in
// client_id instead, as Cognito access tokens do: an access token issued
// for another resource server (RFC 9068) carries that server in aud and
// its client in client_id, and is not for this application even when the
// client is.
func hasAudience(c map[string]any, want string) bool {
	raw, present := c["aud"]
	if !present {
		clientID, _ := c["client_id"].(string)
		return clientID == want
	}
	switch aud := raw.(type) {
	case string:
		return aud == want
	case []any:
		for _, a := range aud {
			if s, _ := a.(string); s == want {
				return true
			}
		}
	}
	return false
}

// firstString returns the first non-empty string claim among names.
func firstString(c map[string]any, names ...string) string {
	for _, n := range names {
		if s, _ := c[n].(string); s != "" {
			return s
		}
	}
	return ""
}

// roles collects the roles from the named claims, each an array of strings
// or a string of comma- or space-separated roles. Non-string entries are
// skipped; duplicates are dropped and order is kept.
func roles(c map[string]any, names ...string) []string {
	var out []string
	add := func(r string) {
		r = strings.TrimSpace(r)
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for _, n := range names {
		switch v := c[n].(type) {
		case string:
			for _, r := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
				add(r)
			}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					add(s)
				}
			}
		}
	}
	return out
}
