package deploy

import (
	"maps"
	"regexp"
	"testing"

	"github.com/omnisales/rtcollab/internal/auth"
)

// TestTokenParametersTheConnectFunctionTakes: a value of a token parameter
// that CloudFormation accepts (its AllowedPattern and the template's rules)
// is one the connect function takes at cold start (auth.TokenSettingsFromEnv
// and Validate, as its main runs them, on the environment the template
// gives it): a value it refuses would stop every cold start, and every
// $connect would answer 500. Each value goes through both, so the pattern
// and the function cannot drift apart; deploy says whether the template
// is to take it.
func TestTokenParametersTheConnectFunctionTakes(t *testing.T) {
	base := map[string]any{
		"JwtJwksUrl":             "https://issuer.invalid/.well-known/jwks.json",
		"JwtAudience":            "rtcollab-web",
		"JwtSecretParameterName": "/rtcollab/test/jwt-secret",
	}
	tests := []struct {
		param, value string
		deploy       bool
	}{
		{"TenantClaim", "tenant", true},
		{"TenantClaim", "org_id", true},
		{"TenantClaim", "custom:tenant", true},
		{"TenantClaim", "custom:tenant:id", true},
		{"TenantClaim", "custom:", false},
		// Taken by the function, but no claim is named so.
		{"TenantClaim", "org:", false},
		{"TenantClaim", "custom::", false},
		{"TenantClaim", "custom", true},
		{"TenantClaim", "", false},

		{"JwtJwksUrl", "", true},
		{"JwtJwksUrl", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123/.well-known/jwks.json", true},
		{"JwtJwksUrl", "https://login.example.com/common/discovery/v2.0/keys?appid=0000-1111", true},
		{"JwtJwksUrl", "https://issuer.example:8443/oauth2/v1/keys", true},
		{"JwtJwksUrl", "https://issuer.example", true},
		{"JwtJwksUrl", "https://issuer.example?jwks", true},
		{"JwtJwksUrl", "https://issuer.example/keys%2Fv1", true},
		{"JwtJwksUrl", "https:///.well-known/jwks.json", false},
		{"JwtJwksUrl", "https://", false},
		{"JwtJwksUrl", "https://?jwks", false},
		{"JwtJwksUrl", "https://#jwks", false},
		{"JwtJwksUrl", "https://user@/keys", false},
		{"JwtJwksUrl", "https://issuer.example:port/keys", false},
		{"JwtJwksUrl", "https://issuer example/keys", false},
		{"JwtJwksUrl", "https://issuer.example/%zz", false},
		{"JwtJwksUrl", "https://issuer.example/keys#%zz", false},
		{"JwtJwksUrl", "https://[::1/keys", false},
		{"JwtJwksUrl", "https://issuer.example/keys\x01", false},
		{"JwtJwksUrl", "http://issuer.example/keys", false},
		// Taken by the function for local development, never deployed.
		{"JwtJwksUrl", "http://127.0.0.1:9000/keys", false},
	}
	for _, tt := range tests {
		t.Run(tt.param+"="+tt.value, func(t *testing.T) {
			params := maps.Clone(base)
			params[tt.param] = tt.value
			tpl, raw := loadTemplateRaw(t, evaluated, params)
			decl, _ := raw["Parameters"].(map[string]any)[tt.param].(map[string]any)
			pattern, _ := decl["AllowedPattern"].(string)
			re, err := regexp.Compile(pattern)
			if err != nil {
				t.Fatalf("%s AllowedPattern %q: %v", tt.param, pattern, err)
			}
			failed := failedRules(t, raw)
			deployed := re.MatchString(tt.value) && len(failed) == 0
			if deployed != tt.deploy {
				t.Errorf("template takes %q: %v (AllowedPattern %q, rules refusing: %q), want %v", tt.value, deployed, pattern, failed, tt.deploy)
			}
			if !deployed {
				return
			}
			ts, err := auth.TokenSettingsFromEnv(getenv(environment(t, tpl, "ConnectFunction")))
			if err == nil {
				err = ts.Validate()
			}
			if err != nil {
				t.Errorf("%s=%q passes the template, but ConnectFunction refuses it at every cold start: %v", tt.param, tt.value, err)
			}
		})
	}
}
