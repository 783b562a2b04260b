package app

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
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
		{"raw secret kept as is", map[string]string{"JWT_SECRET": " s "}, TokenSettings{Secret: " s "}, false},
		{"both secrets", map[string]string{"JWT_SECRET": secret32, "JWT_SECRET_PARAMETER": "/p"}, TokenSettings{}, true},
		{"bad REQUIRE_TENANT", map[string]string{"REQUIRE_TENANT": "maybe"}, TokenSettings{}, true},
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
		{"short secret", TokenSettings{Secret: "short"}, nil, auth.ErrConfig},
		{"no key source", TokenSettings{}, nil, auth.ErrConfig},
		{"no key source in dev mode", TokenSettings{}, &TokenOptions{Dev: true}, nil},
		{"http key set off loopback", TokenSettings{JWKSURL: "http://keys.example.com/jwks", Audience: "app"}, nil, auth.ErrConfig},
		{"key set without audience", TokenSettings{JWKSURL: "https://keys.example.com/jwks"}, nil, auth.ErrConfig},
		{"key set and secret without audience", TokenSettings{JWKSURL: "https://keys.example.com/jwks", Secret: secret32}, nil, auth.ErrConfig},
		{"key set without audience in dev mode", TokenSettings{JWKSURL: "https://keys.example.com/jwks"}, &TokenOptions{Dev: true}, auth.ErrConfig},
		{"key set with audience", TokenSettings{JWKSURL: "https://keys.example.com/jwks", Audience: "app"}, nil, nil},
		{"key set, any audience on purpose", TokenSettings{JWKSURL: "https://keys.example.com/jwks", AnyAudience: true}, nil, nil},
		{"algorithm without key", TokenSettings{Secret: secret32, Algorithms: []string{"RS256"}}, nil, auth.ErrConfig},
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
	tok, err := auth.SignHS256([]byte(secret32), map[string]any{"sub": "u1", "tenant": "t1", "name": "User", "exp": now.Add(time.Hour).Unix()})
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
		{"bad token", strict, req(map[string]string{"token": tok + "x"}, nil), "", "", auth.ErrSignature},
		{"dev identity", dev, req(map[string]string{"userId": "d1", "tenant": "dt"}, nil), "d1", "dt", nil},
		{"dev mode verifies tokens", dev, req(map[string]string{"token": tok, "userId": "admin", "tenant": "x"}, nil), "u1", "t1", nil},
		{"dev mode refuses bad tokens", dev, req(map[string]string{"token": "a.b.c", "userId": "admin"}, nil), "", "", auth.ErrMalformed},
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
