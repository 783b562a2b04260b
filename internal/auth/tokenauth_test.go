package auth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

const secret32 = "0123456789abcdef0123456789abcdef"

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTokenSettingsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    TokenSettings
		wantErr bool
	}{
		{"empty", nil, TokenSettings{}, false},
		{"all", map[string]string{
			"JWT_ISSUER": " https://iss ", "JWT_AUDIENCE": "aud", "JWT_JWKS_URL": "https://keys",
			"JWT_SECRET_PARAMETER": "/rtcollab/jwt", "JWT_ALGORITHMS": "RS256, ES256,",
			"TENANT_CLAIM": "org", "DEFAULT_TENANT": "acme", "REQUIRE_TENANT": "true",
		}, TokenSettings{Issuer: "https://iss", Audience: "aud", JWKSURL: "https://keys", SecretParameter: "/rtcollab/jwt",
			Algorithms: []string{"RS256", "ES256"}, TenantClaim: "org", DefaultTenant: "acme", RequireTenant: true}, false},
		{"any audience", map[string]string{"JWT_JWKS_URL": "https://keys", "JWT_AUDIENCE": " * "},
			TokenSettings{JWKSURL: "https://keys", AnyAudience: true}, false},
		{"raw secret kept as is", map[string]string{"JWT_SECRET": " " + secret32 + " "}, TokenSettings{Secret: " " + secret32 + " "}, false},
		{"both secrets", map[string]string{"JWT_SECRET": secret32, "JWT_SECRET_PARAMETER": "/p"}, TokenSettings{}, true},
		{"bad REQUIRE_TENANT", map[string]string{"REQUIRE_TENANT": "maybe"}, TokenSettings{}, true},
		{"SSM endpoint", map[string]string{"JWT_SECRET_PARAMETER": "/p", "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:5000/"},
			TokenSettings{SecretParameter: "/p", SSMEndpoint: "http://127.0.0.1:5000"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TokenSettingsFromEnv(envMap(tt.env))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewTokenAuth(t *testing.T) {
	var reads []string
	reader := func(value string, err error) SecretReader {
		return func(_ context.Context, name string) (string, error) {
			reads = append(reads, name)
			return value, err
		}
	}
	tests := []struct {
		name    string
		ts      TokenSettings
		o       *TokenOptions
		wantErr error
	}{
		{"raw secret", TokenSettings{Secret: secret32}, nil, nil},
		{"secret from parameter", TokenSettings{SecretParameter: "/p"}, &TokenOptions{ReadSecret: reader(secret32, nil)}, nil},
		{"parameter read fails", TokenSettings{SecretParameter: "/p"}, &TokenOptions{ReadSecret: reader("", errors.New("AccessDenied"))}, ErrSecret},
		{"parameter without credentials", TokenSettings{SecretParameter: "/p"}, nil, ErrSecret},
		{"short secret", TokenSettings{Secret: "short"}, nil, ErrConfig},
		{"no key source", TokenSettings{}, nil, ErrConfig},
		{"no key source in dev mode", TokenSettings{}, &TokenOptions{Dev: true}, nil},
		{"http key set off loopback", TokenSettings{JWKSURL: "http://keys.example.com/jwks", Audience: "app"}, nil, ErrConfig},
		{"key set without audience", TokenSettings{JWKSURL: "https://keys.example.com/jwks"}, nil, ErrConfig},
		{"key set and secret without audience", TokenSettings{JWKSURL: "https://keys.example.com/jwks", Secret: secret32}, nil, ErrConfig},
		{"key set without audience in dev mode", TokenSettings{JWKSURL: "https://keys.example.com/jwks"}, &TokenOptions{Dev: true}, ErrConfig},
		{"key set with audience", TokenSettings{JWKSURL: "https://keys.example.com/jwks", Audience: "app"}, nil, nil},
		{"key set, any audience on purpose", TokenSettings{JWKSURL: "https://keys.example.com/jwks", AnyAudience: true}, nil, nil},
		{"algorithm without key", TokenSettings{Secret: secret32, Algorithms: []string{"RS256"}}, nil, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads = nil
			a, err := NewTokenAuth(context.Background(), tt.ts, tt.o)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || a == nil {
				t.Fatalf("NewTokenAuth: %v", err)
			}
			if tt.ts.SecretParameter != "" && !slices.Equal(reads, []string{tt.ts.SecretParameter}) {
				t.Fatalf("secret reads = %q, want one of %q", reads, tt.ts.SecretParameter)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	now := time.Now()
	tok, err := SignHS256([]byte(secret32), map[string]any{"sub": "u1", "tenant": "t1", "name": "User", "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := NewTokenAuth(context.Background(), TokenSettings{Secret: secret32}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewTokenAuth(context.Background(), TokenSettings{Secret: secret32}, &TokenOptions{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	req := func(q map[string]string, h map[string]string) events.APIGatewayWebsocketProxyRequest {
		return events.APIGatewayWebsocketProxyRequest{QueryStringParameters: q, Headers: h}
	}
	tests := []struct {
		name    string
		a       *TokenAuth
		req     events.APIGatewayWebsocketProxyRequest
		user    string
		tenant  string
		wantErr error
	}{
		{"query token", strict, req(map[string]string{"token": tok}, nil), "u1", "t1", nil},
		{"bearer header", strict, req(nil, map[string]string{"authorization": "Bearer " + tok}), "u1", "t1", nil},
		{"basic header ignored", strict, req(nil, map[string]string{"Authorization": "Basic " + tok}), "", "", ErrNoToken},
		{"no token", strict, req(map[string]string{"userId": "admin"}, nil), "", "", ErrNoToken},
		{"bad token", strict, req(map[string]string{"token": tok + "x"}, nil), "", "", ErrSignature},
		{"dev identity", dev, req(map[string]string{"userId": "d1", "tenant": "dt"}, nil), "d1", "dt", nil},
		{"dev mode verifies tokens", dev, req(map[string]string{"token": tok, "userId": "admin", "tenant": "x"}, nil), "u1", "t1", nil},
		{"dev mode refuses bad tokens", dev, req(map[string]string{"token": "a.b.c", "userId": "admin"}, nil), "", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.a.Authenticate(context.Background(), tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.UserID != tt.user || id.Tenant != tt.tenant {
				t.Fatalf("identity = %+v, want %s/%s", id, tt.tenant, tt.user)
			}
		})
	}
}

// TestTokenCarriers: a token offered as the "bearer.<token>" subprotocol
// authenticates exactly as the same token in ?token= does: the same
// identity for a good token and the same refusal for every bad one.
func TestTokenCarriers(t *testing.T) {
	now := time.Now()
	sign := func(claims map[string]any) string {
		t.Helper()
		tok, err := SignHS256([]byte(secret32), claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(map[string]any{"sub": "u1", "tenant": "t1", "name": "User", "roles": []string{"admin"}, "exp": now.Add(time.Hour).Unix()})
	expired := sign(map[string]any{"sub": "u1", "tenant": "t1", "exp": now.Add(-time.Hour).Unix()})
	future := sign(map[string]any{"sub": "u1", "tenant": "t1", "nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()})
	otherKey, err := SignHS256([]byte("another-secret-of-32-bytes-or-more!!"), map[string]any{"sub": "u1", "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	// Token characters only, so that it can also travel as a subprotocol.
	huge := good + "." + strings.Repeat("A", MaxTokenBytes)
	tokens := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"good", good, nil},
		{"expired", expired, ErrExpired},
		{"not yet valid", future, ErrNotYetValid},
		{"signed with another key", otherKey, ErrSignature},
		{"tampered", good + "x", ErrSignature},
		{"not a JWT", "abc", ErrMalformed},
		{"over MaxTokenBytes", huge, ErrMalformed},
	}
	carriers := []struct {
		name string
		req  func(tok string) events.APIGatewayWebsocketProxyRequest
	}{
		{"query", func(tok string) events.APIGatewayWebsocketProxyRequest {
			return events.APIGatewayWebsocketProxyRequest{QueryStringParameters: map[string]string{"token": tok}}
		}},
		{"subprotocol", func(tok string) events.APIGatewayWebsocketProxyRequest {
			v := "rtcollab.v1, " + TokenProtocolPrefix + tok
			return events.APIGatewayWebsocketProxyRequest{
				Headers:           map[string]string{"Sec-WebSocket-Protocol": v},
				MultiValueHeaders: map[string][]string{"Sec-WebSocket-Protocol": {v}},
			}
		}},
		{"subprotocol, lower-case header, token first", func(tok string) events.APIGatewayWebsocketProxyRequest {
			return events.APIGatewayWebsocketProxyRequest{Headers: map[string]string{"sec-websocket-protocol": TokenProtocolPrefix + tok + ",rtcollab.v1"}}
		}},
	}
	for _, dev := range []bool{false, true} {
		a, err := NewTokenAuth(context.Background(), TokenSettings{Secret: secret32}, &TokenOptions{Dev: dev})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tokens {
			var want handlerIdentityResult
			for i, c := range carriers {
				t.Run(fmt.Sprintf("dev=%v/%s/%s", dev, tk.name, c.name), func(t *testing.T) {
					req := c.req(tk.token)
					// In development mode a query identity must not win
					// over a token in any carrier.
					if dev {
						if req.QueryStringParameters == nil {
							req.QueryStringParameters = map[string]string{}
						}
						req.QueryStringParameters["userId"] = "admin"
					}
					id, err := a.Authenticate(context.Background(), req)
					if tk.wantErr != nil && !errors.Is(err, tk.wantErr) {
						t.Fatalf("err = %v, want %v", err, tk.wantErr)
					}
					if tk.wantErr == nil && (err != nil || id.UserID != "u1" || id.Tenant != "t1" || !slices.Equal(id.Roles, []string{"admin"})) {
						t.Fatalf("identity = %+v, %v; want u1 in t1 with role admin", id, err)
					}
					got := handlerIdentityResult{fmt.Sprintf("%+v", id), errors.Unwrap(err) != nil}
					if i == 0 {
						want = got
					} else if got != want {
						t.Errorf("%s carrier: %+v, query carrier: %+v", c.name, got, want)
					}
				})
			}
		}
	}
}

type handlerIdentityResult struct {
	identity string
	failed   bool
}

// TestConnectNeedsAnAudienceWithAKeySet: the $connect function's cold
// start (functions/connect: TokenSettingsFromEnv, then NewTokenAuth)
// refuses a key set without an audience, and starts with an audience or
// the explicit opt-out JWT_AUDIENCE=*.
func TestConnectNeedsAnAudienceWithAKeySet(t *testing.T) {
	const jwks = "https://idp.example.com/.well-known/jwks.json"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"key set without audience", map[string]string{"JWT_SECRET": "", "JWT_JWKS_URL": jwks}, true},
		{"key set and secret without audience", map[string]string{"JWT_JWKS_URL": jwks}, true},
		{"key set with audience", map[string]string{"JWT_SECRET": "", "JWT_JWKS_URL": jwks, "JWT_AUDIENCE": "rtcollab-web"}, false},
		{"key set, any audience on purpose", map[string]string{"JWT_SECRET": "", "JWT_JWKS_URL": jwks, "JWT_AUDIENCE": "*"}, false},
		{"secret without audience", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"JWT_SECRET": secret32}
			for k, v := range tt.env {
				env[k] = v
			}
			ts, err := TokenSettingsFromEnv(envMap(env))
			if err == nil {
				_, err = NewTokenAuth(context.Background(), ts, nil)
			}
			if tt.wantErr != errors.Is(err, ErrConfig) || (!tt.wantErr && err != nil) {
				t.Fatalf("connect cold start = %v, want refused = %v", err, tt.wantErr)
			}
		})
	}
}

// TestTokenSettingsFromEnvNamesTheVariable: the $connect cold start
// (TokenSettingsFromEnv, then NewTokenAuth) refuses each unusable token
// setting with ErrConfig and an error naming its environment variable, as
// docs/CONFIG.md promises, never a Config field; a secret's value is never
// in the error. Usable values start.
func TestTokenSettingsFromEnvNamesTheVariable(t *testing.T) {
	const jwks, param = "https://idp.example.com/.well-known/jwks.json", "/rtcollab/jwt"
	short, secret31 := "short-secret-value", secret32[:31]
	tests := []struct {
		name      string
		env       map[string]string
		ssm       string // the value of the JWT_SECRET_PARAMETER parameter
		dev       bool
		wantInErr string // "" means the cold start succeeds
	}{
		{"short secret", map[string]string{"JWT_SECRET": short}, "", false, "JWT_SECRET has 18 bytes"},
		{"secret one byte short", map[string]string{"JWT_SECRET": secret31}, "", false, "JWT_SECRET has 31 bytes"},
		{"short secret in dev mode", map[string]string{"JWT_SECRET": short}, "", true, "JWT_SECRET"},
		{"short secret from SSM", map[string]string{"JWT_SECRET_PARAMETER": param}, short, false, `JWT_SECRET_PARAMETER "/rtcollab/jwt": `},
		{"empty secret from SSM beside a key set", map[string]string{"JWT_SECRET_PARAMETER": param, "JWT_JWKS_URL": jwks, "JWT_AUDIENCE": "app"},
			"", false, `JWT_SECRET_PARAMETER "/rtcollab/jwt": `},
		{"unsupported algorithm", map[string]string{"JWT_SECRET": secret32, "JWT_ALGORITHMS": "HS256,HS512"}, "", false, `JWT_ALGORITHMS item "HS512"`},
		{"algorithm none", map[string]string{"JWT_SECRET": secret32, "JWT_ALGORITHMS": "none"}, "", false, `JWT_ALGORITHMS item "none"`},
		{"algorithm in lower case", map[string]string{"JWT_SECRET": secret32, "JWT_ALGORITHMS": "hs256"}, "", false, `JWT_ALGORITHMS item "hs256"`},
		{"unsupported algorithm without key source in dev mode", map[string]string{"JWT_ALGORITHMS": "HS512"}, "", true, `JWT_ALGORITHMS item "HS512"`},
		{"key-set algorithm without a key set", map[string]string{"JWT_SECRET": secret32, "JWT_ALGORITHMS": "RS256"}, "", false,
			`JWT_ALGORITHMS item "RS256" needs JWT_JWKS_URL`},
		{"HS256 without a secret", map[string]string{"JWT_JWKS_URL": jwks, "JWT_AUDIENCE": "app", "JWT_ALGORITHMS": "ES256,HS256"}, "", false,
			`JWT_ALGORITHMS item "HS256" needs JWT_SECRET or JWT_SECRET_PARAMETER`},
		{"tenant with separator", map[string]string{"JWT_SECRET": secret32, "DEFAULT_TENANT": "a#b"}, "", false, "DEFAULT_TENANT holds '#'"},
		{"tenant too long", map[string]string{"JWT_SECRET": secret32, "DEFAULT_TENANT": strings.Repeat("t", MaxClaimLen+1)}, "", false, "DEFAULT_TENANT"},
		{"tenant with a format character", map[string]string{"JWT_SECRET": secret32, "DEFAULT_TENANT": "acme\u202e"}, "", false, "DEFAULT_TENANT"},
		{"tenant not UTF-8", map[string]string{"JWT_SECRET": secret32, "DEFAULT_TENANT": "acme\xff"}, "", false, "DEFAULT_TENANT"},
		{"bad tenant in dev mode", map[string]string{"DEFAULT_TENANT": "a#b"}, "", true, "DEFAULT_TENANT"},
		{"key set over http", map[string]string{"JWT_JWKS_URL": "http://idp.example.com/jwks", "JWT_AUDIENCE": "app"}, "", false,
			`JWT_JWKS_URL "http://idp.example.com/jwks": http is allowed on loopback hosts only`},
		{"key set of another scheme", map[string]string{"JWT_JWKS_URL": "ftp://idp.example.com/jwks", "JWT_AUDIENCE": "app"}, "", false, "JWT_JWKS_URL"},
		{"key set without host", map[string]string{"JWT_JWKS_URL": "https:///jwks", "JWT_AUDIENCE": "app"}, "", false, "JWT_JWKS_URL"},
		{"key set URL that does not parse", map[string]string{"JWT_JWKS_URL": "https://idp.example.com:port/jwks", "JWT_AUDIENCE": "app"}, "", false, "JWT_JWKS_URL"},
		{"bad key set in dev mode", map[string]string{"JWT_JWKS_URL": "ftp://idp.example.com/jwks", "JWT_AUDIENCE": "app"}, "", true, "JWT_JWKS_URL"},
		{"custom prefix without a name", map[string]string{"JWT_SECRET": secret32, "TENANT_CLAIM": "custom:"}, "", false, `TENANT_CLAIM "custom:"`},
		{"tenant claim not UTF-8", map[string]string{"JWT_SECRET": secret32, "TENANT_CLAIM": "org\xff"}, "", false, "TENANT_CLAIM"},
		{"issuer not UTF-8", map[string]string{"JWT_SECRET": secret32, "JWT_ISSUER": "https://iss\xff"}, "", false, "JWT_ISSUER"},
		{"audience not UTF-8", map[string]string{"JWT_JWKS_URL": jwks, "JWT_AUDIENCE": "app\xff"}, "", false, "JWT_AUDIENCE"},
		{"require tenant", map[string]string{"JWT_SECRET": secret32, "REQUIRE_TENANT": "maybe"}, "", false, "REQUIRE_TENANT"},
		{"both secrets", map[string]string{"JWT_SECRET": secret32, "JWT_SECRET_PARAMETER": param}, "", false, "JWT_SECRET and JWT_SECRET_PARAMETER"},

		{"secret of the least length", map[string]string{"JWT_SECRET": secret32, "JWT_ALGORITHMS": " HS256 ", "DEFAULT_TENANT": " acme ",
			"TENANT_CLAIM": "custom:tenant", "JWT_ISSUER": "https://iss", "JWT_AUDIENCE": "app", "REQUIRE_TENANT": "no"}, "", false, ""},
		{"secret from SSM", map[string]string{"JWT_SECRET_PARAMETER": param, "DEFAULT_TENANT": "Ünïcode-tenant"}, secret32, false, ""},
		{"key set", map[string]string{"JWT_JWKS_URL": jwks, "JWT_AUDIENCE": "app", "JWT_ALGORITHMS": "RS256,ES256"}, "", false, ""},
		{"key set on loopback", map[string]string{"JWT_JWKS_URL": "http://127.0.0.1:9/jwks", "JWT_AUDIENCE": "*"}, "", false, ""},
		{"key set on localhost and a secret", map[string]string{"JWT_JWKS_URL": "http://localhost:9/jwks", "JWT_AUDIENCE": "app",
			"JWT_SECRET": secret32, "JWT_ALGORITHMS": "HS256,RS256,ES256"}, "", false, ""},
		{"nothing in dev mode", nil, "", true, ""},
		{"algorithms without key source in dev mode", map[string]string{"JWT_ALGORITHMS": "RS256"}, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := TokenSettingsFromEnv(envMap(tt.env))
			if err == nil {
				read := func(context.Context, string) (string, error) { return tt.ssm, nil }
				_, err = NewTokenAuth(context.Background(), ts, &TokenOptions{Dev: tt.dev, ReadSecret: read})
			}
			if tt.wantInErr == "" {
				if err != nil {
					t.Fatalf("cold start: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("cold start = %v, want %v naming %q", err, ErrConfig, tt.wantInErr)
			}
			for _, s := range []string{short, secret31, secret32} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q shows the secret", err)
				}
			}
		})
	}
}
