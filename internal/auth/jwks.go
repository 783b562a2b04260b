package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// minRSABits is the smallest RSA modulus accepted from a key set.
const minRSABits = 2048

// publicKey is one usable signing key from a key set. Exactly one of rsa and
// ec is set.
type publicKey struct {
	kid string
	alg string // the JWK's alg member; empty when the key does not pin one
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// fits reports whether the key may verify a token whose header says alg.
func (k publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case AlgRS256:
		return k.rsa != nil
	case AlgES256:
		return k.ec != nil
	}
	return false
}

// findKey picks the key for a token header. With a kid, the first key of
// that kid that fits alg (RFC 7517 lets keys of different types share a
// kid), else the first of that kid (which the signature check then refuses
// for its algorithm); without one, the only key that fits alg. found is
// false when no key has the kid (or, without a kid, when not exactly one
// key fits).
func findKey(keys []publicKey, kid, alg string) (k publicKey, found bool) {
	if kid != "" {
		for _, c := range keys {
			if c.kid == kid && c.fits(alg) {
				return c, true
			}
		}
		for _, c := range keys {
			if c.kid == kid {
				return c, true
			}
		}
		return publicKey{}, false
	}
	n := 0
	for _, c := range keys {
		if c.fits(alg) {
			k, n = c, n+1
		}
	}
	return k, n == 1
}

// keyCache holds the key set fetched from one URL. It is safe for
// concurrent use: mu guards the cached state, and sem (a one-slot
// semaphore) lets at most one fetch run at a time, so a burst of tokens with
// an unknown kid causes one fetch, not one per token.
type keyCache struct {
	url         string
	client      *http.Client
	clock       func() time.Time
	minInterval time.Duration
	ttl         time.Duration

	sem chan struct{}

	mu        sync.Mutex
	keys      []publicKey // nil until the first successful fetch
	fetchedAt time.Time   // time of the last successful fetch
	attemptAt time.Time   // time of the last completed fetch attempt
	attempts  uint64      // completed fetch attempts
	lastErr   error       // error of the last attempt; nil after a success
}

func newKeyCache(cfg Config) *keyCache {
	return &keyCache{
		url:         cfg.JWKSURL,
		client:      cfg.HTTPClient,
		clock:       cfg.Clock,
		minInterval: cfg.JWKSRefreshMinInterval,
		ttl:         cfg.JWKSCacheTTL,
		sem:         make(chan struct{}, 1),
	}
}

// key returns the key for kid and alg, fetching the key set when it has
// never been fetched, when it is older than the TTL, or when kid is unknown;
// fetches other than the first are at least minInterval apart. When a
// refetch fails, the keys fetched before stay in use.
func (c *keyCache) key(ctx context.Context, kid, alg string) (publicKey, error) {
	const op = "auth.Verify"
	now := c.clock()
	c.mu.Lock()
	k, found := findKey(c.keys, kid, alg)
	fresh := c.keys != nil && now.Sub(c.fetchedAt) < c.ttl
	mayFetch := c.attempts == 0 || now.Sub(c.attemptAt) >= c.minInterval
	seen := c.attempts
	c.mu.Unlock()
	if found && fresh {
		return k, nil
	}
	if !mayFetch {
		return c.settle(kid, k, found, nil)
	}

	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return publicKey{}, fmt.Errorf("%s: %w: waiting for key set: %w", op, ErrJWKS, ctx.Err())
	}
	defer func() { <-c.sem }()

	c.mu.Lock()
	if c.attempts != seen {
		// Another caller fetched while this one waited: use its result.
		k, found = findKey(c.keys, kid, alg)
		c.mu.Unlock()
		return c.settle(kid, k, found, nil)
	}
	c.mu.Unlock()

	keys, err := c.fetch(ctx)

	c.mu.Lock()
	if err == nil || ctx.Err() == nil {
		// A fetch cut short by this caller's own context is not counted,
		// so it does not hold back other callers.
		c.attempts++
		c.attemptAt = c.clock()
		c.lastErr = err
		if err == nil {
			c.keys, c.fetchedAt = keys, c.attemptAt
		}
	}
	k, found = findKey(c.keys, kid, alg)
	c.mu.Unlock()
	return c.settle(kid, k, found, err)
}

// settle turns a lookup result into key's answer. fetchErr is the error of
// a fetch this caller just made, if any.
func (c *keyCache) settle(kid string, k publicKey, found bool, fetchErr error) (publicKey, error) {
	const op = "auth.Verify"
	if found {
		return k, nil
	}
	c.mu.Lock()
	have, lastErr := c.keys != nil, c.lastErr
	c.mu.Unlock()
	if !have {
		if fetchErr == nil {
			fetchErr = lastErr
		}
		if fetchErr == nil {
			fetchErr = fmt.Errorf("%s: %w: no key set fetched yet", op, ErrJWKS)
		}
		return publicKey{}, fetchErr
	}
	if kid == "" {
		return publicKey{}, fmt.Errorf("%s: %w: token has no kid and not exactly one key fits", op, ErrUnknownKey)
	}
	return publicKey{}, fmt.Errorf("%s: %w: no key for kid %q", op, ErrUnknownKey, kid)
}

// fetch downloads and parses the key set.
func (c *keyCache) fetch(ctx context.Context) ([]publicKey, error) {
	const op = "auth.fetchJWKS"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w: %w", op, c.url, ErrJWKS, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w: %w", op, c.url, ErrJWKS, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxJWKSBytes))
		return nil, fmt.Errorf("%s %q: %w: status %d", op, c.url, ErrJWKS, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w: %w", op, c.url, ErrJWKS, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("%s %q: %w: response larger than %d bytes", op, c.url, ErrJWKS, MaxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w: %w", op, c.url, ErrJWKS, err)
	}
	return keys, nil
}

// rawJWK is the subset of RFC 7517/7518 members read from a key.
type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a key set and keeps its RSA (2048 bits or more) and EC
// P-256 signing keys. Keys of other types or curves, keys for encryption,
// symmetric ("oct") keys and keys that fail to parse are skipped, so one odd
// key does not take the whole set down; a set with no usable key is an
// error.
func parseJWKS(body []byte) ([]publicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode key set: %w", err)
	}
	keys := make([]publicKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var j rawJWK
		if err := json.Unmarshal(raw, &j); err != nil {
			continue
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		k := publicKey{kid: j.Kid, alg: j.Alg}
		switch j.Kty {
		case "RSA":
			if j.Alg != "" && j.Alg != AlgRS256 {
				continue
			}
			pub, err := parseRSA(j.N, j.E)
			if err != nil {
				continue
			}
			k.rsa = pub
		case "EC":
			if j.Alg != "" && j.Alg != AlgES256 {
				continue
			}
			pub, err := parseEC(j.Crv, j.X, j.Y)
			if err != nil {
				continue
			}
			k.ec = pub
		default:
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key set has no usable RS256 or ES256 key among %d", len(set.Keys))
	}
	return keys, nil
}

// parseRSA builds an RSA public key from base64url n and e.
func parseRSA(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(n64)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(e64)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < minRSABits {
		return nil, fmt.Errorf("modulus of %d bits, want at least %d", n.BitLen(), minRSABits)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, fmt.Errorf("exponent of %d bytes", len(eb))
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 {
		return nil, fmt.Errorf("exponent %d", e)
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// parseEC builds a P-256 public key from base64url x and y, checking that
// the point is on the curve.
func parseEC(crv, x64, y64 string) (*ecdsa.PublicKey, error) {
	if crv != "P-256" {
		return nil, fmt.Errorf("curve %q", crv)
	}
	x, err := base64.RawURLEncoding.DecodeString(x64)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	y, err := base64.RawURLEncoding.DecodeString(y64)
	if err != nil {
		return nil, fmt.Errorf("y: %w", err)
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("coordinates of %d and %d bytes, want 32", len(x), len(y))
	}
	point := make([]byte, 0, 65)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}
