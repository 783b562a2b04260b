package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	rsaPriv, rsaOther, ecPriv := rsaKey(t), rsaKey(t), ecKey(t)
	srv := newJWKSServer(t, rsaJWK("rsa-1", &rsaPriv.PublicKey), ecJWK(t, "ec-1", &ecPriv.PublicKey))
	clock := newFakeClock()
	now := clock.Now()
	v, err := New(Config{
		Issuer:      "https://issuer.example",
		Audience:    "rtcollab",
		HS256Secret: []byte(testSecret),
		JWKSURL:     srv.URL,
		Clock:       clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := map[string]any{"alg": "HS256", "typ": "JWT"}
	rs := map[string]any{"alg": "RS256", "kid": "rsa-1"}
	es := map[string]any{"alg": "ES256", "kid": "ec-1"}
	good := claimsAt(now, nil)
	with := func(extra map[string]any) map[string]any { return claimsAt(now, extra) }
	hdr := func(base map[string]any, extra map[string]any) map[string]any {
		h := map[string]any{}
		for k, v := range base {
			h[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(h, k)
				continue
			}
			h[k] = v
		}
		return h
	}
	secret := []byte(testSecret)
	goodHS := signToken(t, hs, good, secret)
	parts := strings.Split(goodHS, ".")
	enc := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name  string
		token string
		want  error // nil for success
	}{
		{"HS256 ok", goodHS, nil},
		{"RS256 ok", signToken(t, rs, good, rsaPriv), nil},
		{"ES256 ok", signToken(t, es, good, ecPriv), nil},
		{"RS256 without kid picks the only RSA key", signToken(t, hdr(rs, map[string]any{"kid": nil}), good, rsaPriv), nil},
		{"exp a second past (no leeway on exp)", signToken(t, hs, with(map[string]any{"exp": now.Add(-time.Second).Unix()}), secret), ErrExpired},
		{"exp a second ahead", signToken(t, hs, with(map[string]any{"exp": now.Add(time.Second).Unix()}), secret), nil},
		{"nbf within leeway", signToken(t, hs, with(map[string]any{"nbf": now.Add(10 * time.Second).Unix()}), secret), nil},
		{"fractional dates", signToken(t, hs, with(map[string]any{"exp": float64(now.Unix()) + 60.5, "iat": float64(now.Unix()) - 0.25}), secret), nil},
		{"aud array", signToken(t, hs, with(map[string]any{"aud": []string{"other", "rtcollab"}}), secret), nil},
		{"cognito client_id instead of aud", signToken(t, hs, with(map[string]any{"aud": nil, "client_id": "rtcollab"}), secret), nil},

		{"expired", signToken(t, hs, with(map[string]any{"exp": now.Add(-31 * time.Second).Unix()}), secret), ErrExpired},
		{"expired exactly now", signToken(t, hs, with(map[string]any{"exp": now.Unix()}), secret), ErrExpired},
		{"exp missing", signToken(t, hs, with(map[string]any{"exp": nil}), secret), ErrMalformed},
		{"exp a string", signToken(t, hs, with(map[string]any{"exp": "tomorrow"}), secret), ErrMalformed},
		{"exp absurd", signToken(t, hs, with(map[string]any{"exp": 1e300}), secret), ErrMalformed},
		{"nbf in the future", signToken(t, hs, with(map[string]any{"nbf": now.Add(31 * time.Second).Unix()}), secret), ErrNotYetValid},
		{"iat in the future", signToken(t, hs, with(map[string]any{"iat": now.Add(2 * time.Minute).Unix()}), secret), ErrNotYetValid},
		{"wrong issuer", signToken(t, hs, with(map[string]any{"iss": "https://evil.example"}), secret), ErrIssuer},
		{"issuer missing", signToken(t, hs, with(map[string]any{"iss": nil}), secret), ErrIssuer},
		{"wrong audience", signToken(t, hs, with(map[string]any{"aud": "other"}), secret), ErrAudience},
		{"audience missing", signToken(t, hs, with(map[string]any{"aud": nil}), secret), ErrAudience},
		{"wrong client_id", signToken(t, hs, with(map[string]any{"aud": nil, "client_id": "other"}), secret), ErrAudience},
		// An RFC 9068 access token for another resource server names its
		// client in client_id: it counts only when the token has no aud.
		{"aud of another API, client_id naming this one", signToken(t, hs, with(map[string]any{"aud": "https://payments.example", "client_id": "rtcollab"}), secret), ErrAudience},
		{"aud array of other APIs, client_id naming this one", signToken(t, hs, with(map[string]any{"aud": []string{"https://payments.example"}, "client_id": "rtcollab"}), secret), ErrAudience},
		{"empty aud array, client_id naming this one", signToken(t, hs, with(map[string]any{"aud": []string{}, "client_id": "rtcollab"}), secret), ErrAudience},
		{"sub missing", signToken(t, hs, with(map[string]any{"sub": nil}), secret), ErrMalformed},
		{"sub empty", signToken(t, hs, with(map[string]any{"sub": ""}), secret), ErrMalformed},
		{"sub not a string", signToken(t, hs, with(map[string]any{"sub": 42}), secret), ErrMalformed},
		{"sub with key separator", signToken(t, hs, with(map[string]any{"sub": "a#b"}), secret), ErrMalformed},
		{"sub too long", signToken(t, hs, with(map[string]any{"sub": strings.Repeat("x", MaxClaimLen+1)}), secret), ErrMalformed},

		{"HS256 wrong secret", signToken(t, hs, good, []byte(strings.Repeat("k", 32))), ErrSignature},
		{"HS256 tampered payload", parts[0] + "." + enc([]byte(`{"sub":"admin","exp":9999999999}`)) + "." + parts[2], ErrSignature},
		{"HS256 empty signature", parts[0] + "." + parts[1] + ".", ErrSignature},
		{"RS256 signed by another key", signToken(t, rs, good, rsaOther), ErrSignature},
		{"ES256 signed by another key", signToken(t, es, good, ecKey(t)), ErrSignature},
		{"ES256 DER-length signature", signToken(t, es, good, nil) + enc(make([]byte, 70)), ErrSignature},

		{"alg none", signToken(t, map[string]any{"alg": "none"}, good, nil), ErrAlgorithm},
		{"alg NONE", signToken(t, map[string]any{"alg": "NONE"}, good, nil), ErrAlgorithm},
		{"alg nOnE", signToken(t, map[string]any{"alg": "nOnE"}, good, nil), ErrAlgorithm},
		{"alg none with HMAC signature", signToken(t, map[string]any{"alg": "none"}, good, secret), ErrAlgorithm},
		{"alg lower case hs256", signToken(t, map[string]any{"alg": "hs256"}, good, secret), ErrAlgorithm},
		{"alg HS512", signToken(t, map[string]any{"alg": "HS512"}, good, secret), ErrAlgorithm},
		{"alg PS256", signToken(t, hdr(rs, map[string]any{"alg": "PS256"}), good, rsaPriv), ErrAlgorithm},
		{"RS256 header naming an EC key", signToken(t, hdr(rs, map[string]any{"kid": "ec-1"}), good, rsaPriv), ErrAlgorithm},
		{"ES256 header naming an RSA key", signToken(t, hdr(es, map[string]any{"kid": "rsa-1"}), good, ecPriv), ErrAlgorithm},
		{"unknown kid", signToken(t, hdr(rs, map[string]any{"kid": "nope"}), good, rsaPriv), ErrUnknownKey},

		{"empty token", "", ErrMalformed},
		{"one part", "abc", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", goodHS + ".x", ErrMalformed},
		{"five parts (JWE)", "a.b.c.d.e", ErrMalformed},
		{"header not base64", "!!!." + parts[1] + "." + parts[2], ErrMalformed},
		{"header padded", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"header not JSON", enc([]byte("hello")) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"header without alg", signToken(t, map[string]any{"typ": "JWT"}, good, secret), ErrMalformed},
		{"alg not a string", signToken(t, map[string]any{"alg": 256}, good, secret), ErrMalformed},
		{"crit header", signToken(t, hdr(hs, map[string]any{"crit": []string{"exp"}}), good, secret), ErrMalformed},
		{"signature not base64", parts[0] + "." + parts[1] + ".***", ErrMalformed},
		{"payload not JSON", signRaw(t, hs, "not json", secret), ErrMalformed},
		{"payload an array", signRaw(t, hs, `["sub"]`, secret), ErrMalformed},
		{"payload null", signRaw(t, hs, `null`, secret), ErrMalformed},
		{"payload with trailing data", signRaw(t, hs, `{"sub":"u","exp":9999999999} {}`, secret), ErrMalformed},
		{"oversized token", strings.Repeat("a", MaxTokenBytes+1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.UserID != "user-1" {
					t.Errorf("UserID = %q, want user-1", id.UserID)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
		})
	}
}

// signRaw makes an HS256 token whose payload is the raw string payload.
func signRaw(t *testing.T, hdr map[string]any, payload string, secret []byte) string {
	t.Helper()
	h := strings.SplitN(signToken(t, hdr, map[string]any{}, nil), ".", 2)[0]
	signed := h + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return signed + "." + base64.RawURLEncoding.EncodeToString(hmacSHA256(secret, signed))
}

// TestKeyConfusion checks that an HS256 token whose HMAC key is the RSA
// public key (as PEM, DER or raw modulus) is refused: with only a key set
// configured as an algorithm error, and with a shared secret as well as a
// bad signature.
func TestKeyConfusion(t *testing.T) {
	priv := rsaKey(t)
	srv := newJWKSServer(t, rsaJWK("rsa-1", &priv.PublicKey))
	clock := newFakeClock()
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwksOnly, err := New(Config{JWKSURL: srv.URL, AnyAudience: true, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	both, err := New(Config{JWKSURL: srv.URL, AnyAudience: true, HS256Secret: []byte(testSecret), Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	claims := claimsAt(clock.Now(), nil)
	tests := []struct {
		name string
		v    *Verifier
		key  []byte
		want error
	}{
		{"PEM key, key set only", jwksOnly, pemBytes, ErrAlgorithm},
		{"DER key, key set only", jwksOnly, der, ErrAlgorithm},
		{"modulus, key set only", jwksOnly, priv.PublicKey.N.Bytes(), ErrAlgorithm},
		{"PEM key, secret and key set", both, pemBytes, ErrSignature},
		{"DER key, secret and key set", both, der, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signToken(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, claims, tt.key)
			if _, err := tt.v.Verify(context.Background(), tok); !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyAlgorithmsList(t *testing.T) {
	rsaPriv, ecPriv := rsaKey(t), ecKey(t)
	srv := newJWKSServer(t, rsaJWK("rsa-1", &rsaPriv.PublicKey), ecJWK(t, "ec-1", &ecPriv.PublicKey))
	clock := newFakeClock()
	claims := claimsAt(clock.Now(), nil)
	rs := signToken(t, map[string]any{"alg": "RS256", "kid": "rsa-1"}, claims, rsaPriv)
	es := signToken(t, map[string]any{"alg": "ES256", "kid": "ec-1"}, claims, ecPriv)
	hs := signToken(t, map[string]any{"alg": "HS256"}, claims, []byte(testSecret))
	tests := []struct {
		name       string
		cfg        Config
		rs, es, hs error
	}{
		{"RS256 only", Config{JWKSURL: srv.URL, AnyAudience: true, Algorithms: []string{AlgRS256}}, nil, ErrAlgorithm, ErrAlgorithm},
		{"ES256 only", Config{JWKSURL: srv.URL, AnyAudience: true, Algorithms: []string{AlgES256}}, ErrAlgorithm, nil, ErrAlgorithm},
		{"secret only", Config{HS256Secret: []byte(testSecret)}, ErrAlgorithm, ErrAlgorithm, nil},
		{"both, HS256 excluded", Config{HS256Secret: []byte(testSecret), JWKSURL: srv.URL, AnyAudience: true, Algorithms: []string{AlgRS256, AlgES256}}, nil, nil, ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Clock = clock.Now
			v, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name, tok string
				want      error
			}{{"RS256", rs, tt.rs}, {"ES256", es, tt.es}, {"HS256", hs, tt.hs}} {
				_, err := v.Verify(context.Background(), c.tok)
				if !errors.Is(err, c.want) {
					t.Errorf("%s: Verify error = %v, want %v", c.name, err, c.want)
				}
			}
		})
	}
}

func TestVerifyIdentity(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now()
	exp := now.Add(time.Hour).Truncate(time.Second)
	tests := []struct {
		name   string
		cfg    Config
		claims map[string]any
		want   Identity
		err    error
	}{
		{
			name:   "plain claims",
			claims: map[string]any{"sub": "u1", "exp": exp.Unix(), "name": "Ada", "picture": "https://a/p.png", "tenant": "acme", "roles": []string{"editor", "pricing"}},
			want:   Identity{UserID: "u1", Username: "Ada", Avatar: "https://a/p.png", Tenant: "acme", Roles: []string{"editor", "pricing"}, ExpiresAt: exp},
		},
		{
			name: "cognito claims",
			claims: map[string]any{"sub": "u2", "exp": exp.Unix(), "cognito:username": "bob", "custom:tenant": "globex",
				"cognito:groups": []string{"admin", "editor"}, "roles": "editor,viewer"},
			want: Identity{UserID: "u2", Username: "bob", Tenant: "globex", Roles: []string{"editor", "viewer", "admin"}, ExpiresAt: exp},
		},
		{
			name:   "username precedence",
			claims: map[string]any{"sub": "u3", "exp": exp.Unix(), "preferred_username": "pref", "username": "user", "avatar": "x"},
			want:   Identity{UserID: "u3", Username: "pref", Avatar: "x", Tenant: "default", ExpiresAt: exp},
		},
		{
			name:   "username falls back to sub",
			claims: map[string]any{"sub": "u4", "exp": exp.Unix(), "roles": []any{"a", 7, "", "a"}},
			want:   Identity{UserID: "u4", Username: "u4", Tenant: "default", Roles: []string{"a"}, ExpiresAt: exp},
		},
		{
			name:   "custom tenant claim and default",
			cfg:    Config{TenantClaim: "org", DefaultTenant: "fallback"},
			claims: map[string]any{"sub": "u5", "exp": exp.Unix(), "tenant": "ignored"},
			want:   Identity{UserID: "u5", Username: "u5", Tenant: "fallback", ExpiresAt: exp},
		},
		{
			name:   "custom tenant claim, cognito form",
			cfg:    Config{TenantClaim: "org"},
			claims: map[string]any{"sub": "u6", "exp": exp.Unix(), "custom:org": "initech"},
			want:   Identity{UserID: "u6", Username: "u6", Tenant: "initech", ExpiresAt: exp},
		},
		{
			name:   "tenant required and missing",
			cfg:    Config{RequireTenant: true},
			claims: map[string]any{"sub": "u7", "exp": exp.Unix()},
			err:    ErrTenant,
		},
		{
			name:   "tenant required and present",
			cfg:    Config{RequireTenant: true},
			claims: map[string]any{"sub": "u8", "exp": exp.Unix(), "tenant": "acme"},
			want:   Identity{UserID: "u8", Username: "u8", Tenant: "acme", ExpiresAt: exp},
		},
		{
			name:   "tenant with key separator",
			claims: map[string]any{"sub": "u9", "exp": exp.Unix(), "tenant": "a#b"},
			err:    ErrTenant,
		},
		{
			name:   "tenant not a string",
			claims: map[string]any{"sub": "u9", "exp": exp.Unix(), "tenant": 12},
			err:    ErrTenant,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.HS256Secret = []byte(testSecret)
			cfg.Clock = clock.Now
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := SignHS256([]byte(testSecret), tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), tok)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Verify error = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.UserID != tt.want.UserID || got.Username != tt.want.Username || got.Avatar != tt.want.Avatar ||
				got.Tenant != tt.want.Tenant || !slices.Equal(got.Roles, tt.want.Roles) || !got.ExpiresAt.Equal(tt.want.ExpiresAt) {
				t.Errorf("identity = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	secret := []byte(testSecret)
	tests := []struct {
		name     string
		cfg      Config
		wantErr  bool
		wantAlgs []string
	}{
		{"no key source", Config{}, true, nil},
		{"short secret", Config{HS256Secret: []byte("short")}, true, nil},
		{"secret only", Config{HS256Secret: secret}, false, []string{AlgHS256}},
		{"key set only", Config{JWKSURL: "https://idp.example/jwks.json", Audience: "rtcollab"}, false, []string{AlgRS256, AlgES256}},
		{"both", Config{HS256Secret: secret, JWKSURL: "https://idp.example/jwks.json", Audience: "rtcollab"}, false, []string{AlgHS256, AlgRS256, AlgES256}},
		{"loopback http", Config{JWKSURL: "http://127.0.0.1:8080/jwks", Audience: "rtcollab"}, false, []string{AlgRS256, AlgES256}},
		{"localhost http", Config{JWKSURL: "http://localhost/jwks", Audience: "rtcollab"}, false, []string{AlgRS256, AlgES256}},
		{"key set without audience", Config{JWKSURL: "https://idp.example/jwks.json"}, true, nil},
		{"key set and secret without audience", Config{HS256Secret: secret, JWKSURL: "https://idp.example/jwks.json"}, true, nil},
		{"key set, any audience on purpose", Config{JWKSURL: "https://idp.example/jwks.json", AnyAudience: true}, false, []string{AlgRS256, AlgES256}},
		{"audience and any audience", Config{JWKSURL: "https://idp.example/jwks.json", Audience: "rtcollab", AnyAudience: true}, true, nil},
		{"wildcard audience", Config{JWKSURL: "https://idp.example/jwks.json", Audience: "*"}, true, nil},
		{"remote http", Config{JWKSURL: "http://idp.example/jwks", Audience: "rtcollab"}, true, nil},
		{"other scheme", Config{JWKSURL: "file:///etc/jwks", Audience: "rtcollab"}, true, nil},
		{"URL without host", Config{JWKSURL: "https:///jwks", Audience: "rtcollab"}, true, nil},
		{"HS256 without secret", Config{JWKSURL: "https://idp.example/jwks", Algorithms: []string{AlgHS256}, Audience: "rtcollab"}, true, nil},
		{"RS256 without key set", Config{HS256Secret: secret, Algorithms: []string{AlgRS256}}, true, nil},
		{"none in list", Config{HS256Secret: secret, Algorithms: []string{AlgHS256, "none"}}, true, nil},
		{"unsupported alg", Config{HS256Secret: secret, Algorithms: []string{"HS512"}}, true, nil},
		{"leeway too large", Config{HS256Secret: secret, Leeway: 2 * time.Minute}, true, nil},
		{"negative leeway", Config{HS256Secret: secret, Leeway: -time.Second}, true, nil},
		{"max leeway", Config{HS256Secret: secret, Leeway: MaxLeeway}, false, []string{AlgHS256}},
		{"unusable default tenant", Config{HS256Secret: secret, DefaultTenant: "a#b"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("New error = %v, want ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if !slices.Equal(v.cfg.Algorithms, tt.wantAlgs) {
				t.Errorf("Algorithms = %v, want %v", v.cfg.Algorithms, tt.wantAlgs)
			}
			if v.cfg.Leeway <= 0 || v.cfg.Leeway > MaxLeeway || v.cfg.Clock == nil || v.cfg.HTTPClient == nil {
				t.Errorf("defaults not filled in: %+v", v.cfg)
			}
		})
	}
}

func TestSignHS256(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		claims  map[string]any
		wantErr bool
		is      error // when set, the error must wrap it
	}{
		{"ok", []byte(testSecret), map[string]any{"sub": "u", "exp": 1}, false, nil},
		{"short secret", []byte("x"), map[string]any{"sub": "u"}, true, ErrConfig},
		{"unencodable claims", []byte(testSecret), map[string]any{"bad": make(chan int)}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := SignHS256(tt.secret, tt.claims)
			if tt.wantErr {
				if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
					t.Fatalf("SignHS256 error = %v, want one wrapping %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("SignHS256: %v", err)
			}
			if strings.Count(tok, ".") != 2 {
				t.Fatalf("token %q is not three segments", tok)
			}
			v, err := New(Config{HS256Secret: tt.secret, Clock: func() time.Time { return time.Unix(0, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("Verify of a signed token: %v", err)
			}
		})
	}
}
