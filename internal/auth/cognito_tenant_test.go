package auth

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestCognitoCustomTenantClaimIsRequired: a tenant claim configured as a
// Cognito custom attribute (TenantClaim "custom:tenant", the set-up
// docs/DEPLOY.md gives a pool of several tenants) makes the tenant
// required, RequireTenant left false. A Cognito access token never
// carries custom attributes: accepted, it landed in the shared tenant
// "default" with its cognito:groups as roles, so an admin of acme became
// an admin of "default", beside the users of every other tenant.
func TestCognitoCustomTenantClaimIsRequired(t *testing.T) {
	key := rsaKey(t)
	srv := newJWKSServer(t, rsaJWK("k1", &key.PublicKey))
	clock := newFakeClock()
	const iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
	v, err := New(Config{JWKSURL: srv.URL, Audience: "client123", Issuer: iss, TenantClaim: "custom:tenant", Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]any{"alg": "RS256", "kid": "k1"}
	sign := func(extra map[string]any) string {
		extra["iss"] = iss
		return signToken(t, hdr, claimsAt(clock.Now(), extra), key)
	}
	// The ID token of ann, an admin of acme, connects to acme.
	id, err := v.Verify(context.Background(), sign(map[string]any{"aud": "client123", "token_use": "id",
		"custom:tenant": "acme", "cognito:groups": []string{"admin"}}))
	if err != nil || id.Tenant != "acme" || !slices.Equal(id.Roles, []string{"admin"}) {
		t.Fatalf("ID token: %+v %v, want tenant acme, roles [admin]", id, err)
	}
	for name, claims := range map[string]map[string]any{
		// Her access token of the same sign-in: client_id for aud, no
		// custom attributes.
		"access token": {"aud": nil, "client_id": "client123", "token_use": "access", "cognito:groups": []string{"admin"}},
		// The ID token of a user whose attribute is unset.
		"ID token without the attribute": {"aud": "client123", "token_use": "id", "cognito:groups": []string{"admin"}},
	} {
		id, err := v.Verify(context.Background(), sign(claims))
		if !errors.Is(err, ErrTenant) {
			t.Errorf("%s: %+v %v, want ErrTenant (tenant %q, roles %v otherwise)", name, id, err, id.Tenant, id.Roles)
		}
	}
}

// TestTenantClaimOptionalOtherwise: without a "custom:" tenant claim and
// without RequireTenant, a token without the tenant claim still belongs to
// DefaultTenant (a single-tenant set-up), with a key set and with HS256, and
// "custom:tenant" is still read as the default claim "tenant".
func TestTenantClaimOptionalOtherwise(t *testing.T) {
	key := rsaKey(t)
	srv := newJWKSServer(t, rsaJWK("k1", &key.PublicKey))
	clock := newFakeClock()
	secret := []byte(secret32)
	v, err := New(Config{JWKSURL: srv.URL, Audience: "rtcollab", HS256Secret: secret, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rs := map[string]any{"alg": "RS256", "kid": "k1"}
	hs := map[string]any{"alg": "HS256"}
	for _, tc := range []struct {
		name   string
		token  string
		tenant string
	}{
		{"access token", signToken(t, rs, claimsAt(clock.Now(), map[string]any{"aud": nil, "client_id": "rtcollab", "token_use": "access"}), key), DefaultTenantName},
		{"ID token with custom:tenant", signToken(t, rs, claimsAt(clock.Now(), map[string]any{"token_use": "id", "custom:tenant": "acme"}), key), "acme"},
		{"HS256 without tenant", signToken(t, hs, claimsAt(clock.Now(), nil), secret), DefaultTenantName},
		{"HS256 with tenant", signToken(t, hs, claimsAt(clock.Now(), map[string]any{"tenant": "globex"}), secret), "globex"},
	} {
		id, err := v.Verify(context.Background(), tc.token)
		if err != nil || id.Tenant != tc.tenant {
			t.Errorf("%s: %+v %v, want tenant %q", tc.name, id, err, tc.tenant)
		}
	}
}

// TestTokenSettingsCustomTenantClaim: TENANT_CLAIM=custom:tenant without
// REQUIRE_TENANT makes the $connect authenticator refuse a token without
// the claim.
func TestTokenSettingsCustomTenantClaim(t *testing.T) {
	env := map[string]string{"JWT_SECRET": secret32, "TENANT_CLAIM": "custom:tenant"}
	ts, err := TokenSettingsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	a, err := NewTokenAuth(context.Background(), ts, &TokenOptions{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs := map[string]any{"alg": "HS256"}
	connect := func(claims map[string]any) (Identity, error) {
		tok := signToken(t, hs, claimsAt(clock.Now(), claims), []byte(secret32))
		return a.Authenticate(context.Background(), events.APIGatewayWebsocketProxyRequest{QueryStringParameters: map[string]string{"token": tok}})
	}
	if id, err := connect(map[string]any{"custom:tenant": "acme"}); err != nil || id.Tenant != "acme" {
		t.Errorf("with custom:tenant: %+v %v, want tenant acme", id, err)
	}
	if id, err := connect(nil); !errors.Is(err, ErrTenant) {
		t.Errorf("without custom:tenant: %+v %v, want ErrTenant", id, err)
	}
}
