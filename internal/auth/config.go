package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/omnisales/rtcollab/internal/ident"
)

// Algorithm names accepted in a token's alg header. Comparison is exact and
// case-sensitive, as RFC 7515 requires; "none" is never accepted.
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// Limits and defaults.
const (
	// DefaultLeeway is the clock skew tolerated on nbf and iat (exp is
	// checked exactly: frames are refused from it too).
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest Leeway that New accepts.
	MaxLeeway = 60 * time.Second
	// DefaultTenantName is the tenant given to tokens without a tenant claim.
	DefaultTenantName = "default"
	// DefaultTenantClaim is the claim that carries the tenant.
	DefaultTenantClaim = "tenant"
	// CognitoCustomPrefix begins the claims of Cognito custom attributes,
	// which Cognito puts in ID tokens only, never in access tokens. A
	// TenantClaim with this prefix makes the tenant required.
	CognitoCustomPrefix = "custom:"
	// DefaultJWKSRefreshMinInterval rate-limits key set refetches.
	DefaultJWKSRefreshMinInterval = time.Minute
	// DefaultJWKSCacheTTL is how long a fetched key set is used before it is
	// fetched again.
	DefaultJWKSCacheTTL = time.Hour
	// DefaultHTTPTimeout bounds one key set fetch by the default HTTPClient.
	DefaultHTTPTimeout = 5 * time.Second
	// MinHS256SecretLen is the shortest HS256 secret accepted: RFC 7518
	// section 3.2 requires a key at least as long as the hash output.
	MinHS256SecretLen = 32
	// MaxJWKSBytes bounds a key set response body.
	MaxJWKSBytes = 1 << 20
	// MaxTokenBytes bounds a token; longer ones are refused as malformed
	// before any decoding. A token travels in the handshake's URL
	// (?token=) or in its Sec-WebSocket-Protocol header (bearer.<token>):
	// API Gateway accepts WebSocket URLs of at most 4096 characters, so a
	// longer token could not take the URL, and 4 KB leaves room within the
	// 10240 bytes of request line and headers API Gateway documents for
	// HTTP APIs.
	MaxTokenBytes = 4096
	// MaxClaimLen bounds the sub and tenant values, which end up in storage
	// keys.
	MaxClaimLen = ident.MaxIDLen
)

// Config configures a Verifier. At least one key source, HS256Secret or
// JWKSURL, must be set.
type Config struct {
	// Issuer, if set, must equal the token's iss exactly. Default: "" (iss
	// is not checked). For Cognito use
	// "https://cognito-idp.<region>.amazonaws.com/<user-pool-id>".
	Issuer string
	// Audience, if set, must appear in the token's aud (string or array) or,
	// in a token without aud, equal its client_id (Cognito access tokens
	// carry client_id instead of aud). It is required with JWKSURL unless
	// AnyAudience is set: an identity provider signs the tokens of every
	// application it serves with the same keys, so without it a token
	// issued to another application would be accepted. Default: "" (not
	// checked; allowed with HS256Secret alone, a secret shared with this
	// application only).
	Audience string
	// AnyAudience accepts key-set tokens of any audience: the explicit
	// opt-out of the Audience requirement, for an identity provider that
	// serves this application only. It cannot be combined with Audience.
	// Default: false.
	AnyAudience bool
	// HS256Secret enables HS256 tokens signed with this shared secret; it
	// must be at least MinHS256SecretLen bytes. Default: nil (HS256 off).
	HS256Secret []byte
	// JWKSURL enables RS256 and ES256 tokens verified with keys fetched from
	// this JSON Web Key Set URL. It must be https, except on a loopback host.
	// Default: "" (no key set).
	JWKSURL string
	// Algorithms lists the accepted alg values, from HS256, RS256 and ES256;
	// each must be backed by its key source. Default: HS256 when HS256Secret
	// is set, plus RS256 and ES256 when JWKSURL is set.
	Algorithms []string
	// Leeway is the clock skew tolerated on nbf and iat (not on exp, which
	// the connection's frames are checked against too), at most
	// MaxLeeway. Default: 0 means DefaultLeeway (30s); negative is refused.
	Leeway time.Duration
	// TenantClaim names the claim that carries the tenant; "custom:" plus
	// this name (Cognito's custom attributes) is accepted as well. A name
	// that starts with "custom:" (CognitoCustomPrefix) names a Cognito
	// custom attribute and implies RequireTenant: a pool whose users carry
	// their tenant there serves several tenants, and its access tokens
	// never carry custom attributes, so a token without the claim must
	// not land in DefaultTenant. Default: "tenant".
	TenantClaim string
	// DefaultTenant is the tenant of a token without a tenant claim, unless
	// RequireTenant is set. Default: "default".
	DefaultTenant string
	// RequireTenant refuses tokens without a tenant claim. Default: false,
	// or true when TenantClaim starts with "custom:".
	RequireTenant bool
	// HTTPClient fetches the key set. Default: a client with a
	// DefaultHTTPTimeout (5s) timeout.
	HTTPClient *http.Client
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// JWKSRefreshMinInterval is the least time between two key set fetches
	// caused by an unknown kid or a failed fetch. Default: 1m.
	JWKSRefreshMinInterval time.Duration
	// JWKSCacheTTL is how long a fetched key set is trusted before it is
	// fetched again. Default: 1h.
	JWKSCacheTTL time.Duration
}

// withDefaults checks cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	const op = "auth.New"
	if len(cfg.HS256Secret) == 0 && cfg.JWKSURL == "" {
		return cfg, fmt.Errorf("%s: %w: set HS256Secret or JWKSURL", op, ErrConfig)
	}
	if len(cfg.HS256Secret) > 0 {
		if err := secretLength(len(cfg.HS256Secret)); err != nil {
			return cfg, fmt.Errorf("%s: %w: HS256Secret %v", op, ErrConfig, err)
		}
	}
	if cfg.JWKSURL != "" {
		if err := checkJWKSURL(cfg.JWKSURL); err != nil {
			return cfg, fmt.Errorf("%s: %w: JWKSURL %q: %v", op, ErrConfig, cfg.JWKSURL, err)
		}
	}
	if err := checkAudience(cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w: %v", op, ErrConfig, err)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = nil
		if len(cfg.HS256Secret) > 0 {
			cfg.Algorithms = append(cfg.Algorithms, AlgHS256)
		}
		if cfg.JWKSURL != "" {
			cfg.Algorithms = append(cfg.Algorithms, AlgRS256, AlgES256)
		}
	} else {
		cfg.Algorithms = slices.Clone(cfg.Algorithms)
	}
	for _, alg := range cfg.Algorithms {
		keySet, ok := algorithmKeySet(alg)
		switch {
		case !ok:
			return cfg, fmt.Errorf("%s: %w: algorithm %q is not supported", op, ErrConfig, alg)
		case keySet && cfg.JWKSURL == "":
			return cfg, fmt.Errorf("%s: %w: algorithm %q needs JWKSURL", op, ErrConfig, alg)
		case !keySet && len(cfg.HS256Secret) == 0:
			return cfg, fmt.Errorf("%s: %w: algorithm %q needs HS256Secret", op, ErrConfig, alg)
		}
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return cfg, fmt.Errorf("%s: %w: Leeway %s outside (0, %s]", op, ErrConfig, cfg.Leeway, MaxLeeway)
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = DefaultTenantClaim
	}
	if strings.HasPrefix(cfg.TenantClaim, CognitoCustomPrefix) {
		cfg.RequireTenant = true
	}
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = DefaultTenantName
	}
	if !validKeyPart(cfg.DefaultTenant) {
		return cfg, fmt.Errorf("%s: %w: DefaultTenant %q is not a usable tenant", op, ErrConfig, cfg.DefaultTenant)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.JWKSRefreshMinInterval <= 0 {
		cfg.JWKSRefreshMinInterval = DefaultJWKSRefreshMinInterval
	}
	if cfg.JWKSCacheTTL <= 0 {
		cfg.JWKSCacheTTL = DefaultJWKSCacheTTL
	}
	cfg.HS256Secret = slices.Clone(cfg.HS256Secret)
	return cfg, nil
}

// checkAudience refuses a key set without an audience (unless AnyAudience
// says so), and the ambiguous combinations of the two settings.
func checkAudience(cfg Config) error {
	switch {
	case cfg.AnyAudience && cfg.Audience != "":
		return fmt.Errorf("AnyAudience and Audience %q are both set: set one", cfg.Audience)
	case cfg.Audience == "*":
		return fmt.Errorf("wildcard Audience %q: set AnyAudience to accept any audience", cfg.Audience)
	case cfg.JWKSURL != "" && cfg.Audience == "" && !cfg.AnyAudience:
		return fmt.Errorf("JWKSURL needs an Audience: the identity provider's keys sign other applications' tokens too" +
			" (set AnyAudience to accept any audience)")
	}
	return nil
}

// checkJWKSURL accepts https URLs, and http ones on a loopback host for
// local development and tests.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("http is allowed on loopback hosts only")
	default:
		return fmt.Errorf("scheme %q is not https", u.Scheme)
	}
}

// validKeyPart reports whether s can serve as a user id or tenant: the
// rule of ident.UserID and ident.Tenant (1 to MaxClaimLen bytes of valid
// UTF-8 without '#', which is reserved as the storage key separator, and
// without control, format, separator, private-use or noncharacter code
// points).
func validKeyPart(s string) bool { return checkKeyPart("", s) == nil }

// checkKeyPart is validKeyPart with an error that names the value what and
// describes the rule, without quoting s.
func checkKeyPart(what, s string) error {
	if err := ident.Check(ident.UserID.Named(what), s); err != nil {
		return err
	}
	return ident.Check(ident.Tenant.Named(what), s)
}

// secretLength refuses an HS256 secret of n bytes, shorter than
// MinHS256SecretLen; the error reads after the secret's name.
func secretLength(n int) error {
	if n < MinHS256SecretLen {
		return fmt.Errorf("has %d bytes, want at least %d", n, MinHS256SecretLen)
	}
	return nil
}

// algorithmKeySet reports whether alg is a supported algorithm (ok) and
// whether its keys come from the key set (RS256, ES256) rather than the
// HS256 secret.
func algorithmKeySet(alg string) (keySet, ok bool) {
	switch alg {
	case AlgHS256:
		return false, true
	case AlgRS256, AlgES256:
		return true, true
	}
	return false, false
}
