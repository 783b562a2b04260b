package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/omnisales/rtcollab/internal/awsrest"
)

// TokenSettings configure the $connect authenticator. Every field names its
// environment variable and default. At least one key source (Secret,
// SecretParameter or JWKSURL) is required outside development mode.
type TokenSettings struct {
	// Issuer must equal the token's iss claim (JWT_ISSUER). Default ""
	// (not checked).
	Issuer string
	// Audience must appear in the token's aud claim or, in a token without
	// aud, equal its client_id (JWT_AUDIENCE). Required with JWKSURL: an
	// identity provider signs other applications' tokens with the same
	// keys. JWT_AUDIENCE=* sets AnyAudience instead. Default "" (not
	// checked; allowed with an HS256 secret only).
	Audience string
	// AnyAudience accepts key-set tokens of any audience (JWT_AUDIENCE=*):
	// the explicit opt-out, for an identity provider that serves this
	// application only. Default false.
	AnyAudience bool
	// JWKSURL enables RS256 and ES256 tokens verified with the keys of this
	// JSON Web Key Set, such as a Cognito user pool's (JWT_JWKS_URL). Keys
	// are cached and fetched again when a token names an unknown key id.
	// Default "" (no key set).
	JWKSURL string
	// Secret is the HS256 secret itself, at least 32 bytes (JWT_SECRET).
	// Meant for the local server and tests; deployed functions use
	// SecretParameter. Default "" (none).
	Secret string
	// SecretParameter names the SSM parameter, normally a SecureString,
	// that holds the HS256 secret (JWT_SECRET_PARAMETER). It is read once,
	// when the authenticator is built at cold start. A Secrets Manager
	// secret is read through the same call by naming it
	// "/aws/reference/secretsmanager/<secret-name>". Default "" (none).
	SecretParameter string
	// Algorithms restricts the accepted alg values to this comma-separated
	// list of HS256, RS256 and ES256 (JWT_ALGORITHMS). Default: HS256 when
	// a secret is configured, RS256 and ES256 when a key set is.
	Algorithms []string
	// TenantClaim names the claim that carries the tenant (TENANT_CLAIM);
	// "custom:<name>" (Cognito custom attributes) is accepted as well. A
	// name starting with "custom:" makes the tenant required, as
	// RequireTenant does (see Config.TenantClaim). Default "tenant".
	TenantClaim string
	// DefaultTenant is the tenant of a token without a tenant claim
	// (DEFAULT_TENANT). Default "default".
	DefaultTenant string
	// RequireTenant refuses tokens without a tenant claim
	// (REQUIRE_TENANT=1). Default false (true in effect with a "custom:"
	// TenantClaim).
	RequireTenant bool
	// SSMEndpoint is where SecretParameter is read (AWS_ENDPOINT_URL_SSM,
	// else AWS_ENDPOINT_URL: the SDK's variables, which point a function or
	// a test at another endpoint). Default "": the regional endpoint of
	// TokenOptions.AWS.Region (awsrest.Endpoint).
	SSMEndpoint string
}

// TokenSettingsFromEnv reads TokenSettings through getenv (os.Getenv,
// passed in by main). A value the authenticator cannot use is refused
// here, with an error that wraps ErrConfig and names the variable
// (TokenSettings.check), so that the program stops at start naming what
// to fix, in development mode too.
func TokenSettingsFromEnv(getenv func(string) string) (TokenSettings, error) {
	ts := TokenSettings{
		Issuer:          strings.TrimSpace(getenv("JWT_ISSUER")),
		Audience:        strings.TrimSpace(getenv("JWT_AUDIENCE")),
		JWKSURL:         strings.TrimSpace(getenv("JWT_JWKS_URL")),
		Secret:          getenv("JWT_SECRET"),
		SecretParameter: strings.TrimSpace(getenv("JWT_SECRET_PARAMETER")),
		TenantClaim:     strings.TrimSpace(getenv("TENANT_CLAIM")),
		DefaultTenant:   strings.TrimSpace(getenv("DEFAULT_TENANT")),
	}
	if v := getenv("JWT_ALGORITHMS"); strings.TrimSpace(v) != "" {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				ts.Algorithms = append(ts.Algorithms, a)
			}
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("REQUIRE_TENANT"))); v {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		ts.RequireTenant = true
	default:
		return ts, fmt.Errorf("%w: REQUIRE_TENANT %q: want 1 or 0", ErrConfig, v)
	}
	if strings.TrimSpace(getenv("AWS_ENDPOINT_URL_SSM")) != "" || strings.TrimSpace(getenv("AWS_ENDPOINT_URL")) != "" {
		ts.SSMEndpoint = awsrest.Endpoint(getenv, awsrest.SSMService, "")
	}
	if ts.Audience == "*" {
		ts.Audience, ts.AnyAudience = "", true
	}
	if ts.Secret != "" && ts.SecretParameter != "" {
		return ts, fmt.Errorf("%w: JWT_SECRET and JWT_SECRET_PARAMETER %q are both set: set one", ErrConfig, ts.SecretParameter)
	}
	if err := ts.check(); err != nil {
		return ts, err
	}
	return ts, nil
}

// check refuses the values of ts that New would refuse, or that no token
// could ever match, with an error that wraps ErrConfig and names the
// environment variable of the setting (New's own errors name Config
// fields). The secret's value is never in the error. The secret held in
// SecretParameter is checked by NewTokenAuth once read.
func (ts TokenSettings) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	if ts.Secret != "" {
		if err := secretLength(len(ts.Secret)); err != nil {
			return bad("JWT_SECRET %v", err)
		}
	}
	if ts.JWKSURL != "" {
		if err := checkJWKSURL(ts.JWKSURL); err != nil {
			return bad("JWT_JWKS_URL %q: %v", ts.JWKSURL, err)
		}
	}
	for _, alg := range ts.Algorithms {
		keySet, ok := algorithmKeySet(alg)
		switch {
		case !ok:
			return bad("JWT_ALGORITHMS item %q is not supported: want %s, %s or %s", alg, AlgHS256, AlgRS256, AlgES256)
		case !ts.configured():
			// Development mode without key sources refuses every token;
			// outside it, Validate asks for a key source.
		case keySet && ts.JWKSURL == "":
			return bad("JWT_ALGORITHMS item %q needs JWT_JWKS_URL", alg)
		case !keySet && ts.Secret == "" && ts.SecretParameter == "":
			return bad("JWT_ALGORITHMS item %q needs JWT_SECRET or JWT_SECRET_PARAMETER", alg)
		}
	}
	if ts.DefaultTenant != "" {
		if err := checkKeyPart("DEFAULT_TENANT", ts.DefaultTenant); err != nil {
			return bad("%v", err)
		}
	}
	// Claim names and values decode from JSON as valid UTF-8: a setting
	// that is not would refuse every token.
	for _, s := range []struct{ name, value string }{
		{"JWT_ISSUER", ts.Issuer}, {"JWT_AUDIENCE", ts.Audience}, {"TENANT_CLAIM", ts.TenantClaim},
	} {
		if !utf8.ValidString(s.value) {
			return bad("%s is not valid UTF-8: no token could match it", s.name)
		}
	}
	if ts.TenantClaim == CognitoCustomPrefix {
		return bad("TENANT_CLAIM %q names no claim: want %s<name>", ts.TenantClaim, CognitoCustomPrefix)
	}
	return nil
}

// Validate checks ts as a deployed $connect function needs it, before any
// secret is read: usable values (as TokenSettingsFromEnv checks them), a
// key source, and an audience (or AnyAudience) whenever a key set is
// configured. Its errors name the environment variables.
func (ts TokenSettings) Validate() error {
	if err := ts.check(); err != nil {
		return err
	}
	if !ts.configured() {
		return fmt.Errorf("%w: set JWT_SECRET, JWT_SECRET_PARAMETER or JWT_JWKS_URL (or use development mode locally)", ErrConfig)
	}
	if ts.JWKSURL != "" && ts.Audience == "" && !ts.AnyAudience {
		return fmt.Errorf("%w: JWT_JWKS_URL %q needs JWT_AUDIENCE: the identity provider's keys sign other applications' tokens too"+
			" (JWT_AUDIENCE=* accepts any audience)", ErrConfig, ts.JWKSURL)
	}
	return nil
}

// configured reports whether ts names any key source.
func (ts TokenSettings) configured() bool {
	return ts.Secret != "" || ts.SecretParameter != "" || ts.JWKSURL != ""
}

// SecretReader returns the value of a named secret (an SSM parameter).
type SecretReader func(ctx context.Context, name string) (string, error)

// TokenOptions are collaborators of NewTokenAuth. A nil *TokenOptions means
// every default.
type TokenOptions struct {
	// Dev turns on development mode: a handshake without a token gets the
	// identity in its query string (DevIdentity); a handshake with a
	// token is still verified. Default false.
	Dev bool
	// ReadSecret reads TokenSettings.SecretParameter. Default: SSM
	// GetParameter with decryption (SSMSecretReader) signed with AWS at
	// TokenSettings.SSMEndpoint.
	ReadSecret SecretReader
	// AWS signs the default ReadSecret's requests: the function's role in
	// Lambda (app.LambdaFromEnv). The default ReadSecret needs its
	// credentials. Default: the zero aws.Config.
	AWS aws.Config
	// HTTPClient fetches the key set. Default: auth's client with a 5 s
	// timeout.
	HTTPClient *http.Client
	// Clock is the verifier's time source. Default time.Now.
	Clock func() time.Time
}

// Sentinel errors of the token authenticator. The handler logs them and
// answers 401; clients never see their text.
var (
	// ErrNoToken means the handshake carried no token and development mode
	// is off.
	ErrNoToken = errors.New("no token")
	// ErrNoVerifier means a token was presented in development mode but no
	// key source is configured to verify it.
	ErrNoVerifier = errors.New("no token verifier configured")
	// ErrSecret means the HS256 secret could not be read at cold start.
	ErrSecret = errors.New("read token secret")
)

// TokenAuth is the $connect authenticator: it verifies the signed token of
// the handshake with a Verifier and, in development mode only, falls
// back to the query-string identity when no token is given. It is safe for
// concurrent use.
type TokenAuth struct {
	verifier *Verifier // nil only in development mode without key sources
	dev      bool
}

// DevAuth returns the authenticator of development mode without key
// sources: every handshake gets the identity in its query string
// (DevIdentity) and every token is refused (ErrNoVerifier). It is what
// NewTokenAuth returns for empty TokenSettings in development mode, and
// what app.Build uses when development identities are on and no
// authenticator is given.
func DevAuth() *TokenAuth { return &TokenAuth{dev: true} }

// NewTokenAuth builds a TokenAuth from ts. Outside development mode ts must
// name a key source; in development mode without one, every token is
// refused and only query-string identities connect.
func NewTokenAuth(ctx context.Context, ts TokenSettings, o *TokenOptions) (*TokenAuth, error) {
	const op = "token auth"
	if o == nil {
		o = &TokenOptions{}
	}
	if !ts.configured() && o.Dev {
		return DevAuth(), nil
	}
	a := &TokenAuth{dev: o.Dev}
	if err := ts.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	secret := ts.Secret
	if ts.SecretParameter != "" {
		read := o.ReadSecret
		if read == nil {
			if o.AWS.Credentials == nil {
				return nil, fmt.Errorf("%s: %w %q: no AWS credentials to sign the SSM request with", op, ErrSecret, ts.SecretParameter)
			}
			ep := ts.SSMEndpoint
			if ep == "" {
				ep = awsrest.Endpoint(nil, awsrest.SSMService, o.AWS.Region)
			}
			read = SSMSecretReader(o.AWS, ep)
		}
		v, err := read(ctx, ts.SecretParameter)
		if err != nil {
			return nil, fmt.Errorf("%s: %w %q: %w", op, ErrSecret, ts.SecretParameter, err)
		}
		if err := secretLength(len(v)); err != nil {
			return nil, fmt.Errorf("%s: %w: JWT_SECRET_PARAMETER %q: the secret %v", op, ErrConfig, ts.SecretParameter, err)
		}
		secret = v
	}
	cfg := Config{
		Issuer:        ts.Issuer,
		Audience:      ts.Audience,
		AnyAudience:   ts.AnyAudience,
		JWKSURL:       ts.JWKSURL,
		Algorithms:    ts.Algorithms,
		TenantClaim:   ts.TenantClaim,
		DefaultTenant: ts.DefaultTenant,
		RequireTenant: ts.RequireTenant,
		HTTPClient:    o.HTTPClient,
		Clock:         o.Clock,
	}
	if secret != "" {
		cfg.HS256Secret = []byte(secret)
	}
	v, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	a.verifier = v
	return a, nil
}

// Authenticate verifies a $connect request (it implements
// handler.Authenticator). The token comes from the
// Sec-WebSocket-Protocol entry "bearer.<token>" (TokenProtocolPrefix;
// what the SDK sends), the ?token= query parameter (for clients that
// cannot offer subprotocols) or, for other clients, an "Authorization:
// Bearer" header. Every carrier is verified the same way.
func (a *TokenAuth) Authenticate(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (Identity, error) {
	const op = "authenticate"
	token := tokenOf(req)
	if token == "" {
		if a.dev {
			return DevIdentity(req.QueryStringParameters), nil
		}
		return Identity{}, fmt.Errorf("%s: %w", op, ErrNoToken)
	}
	if a.verifier == nil {
		return Identity{}, fmt.Errorf("%s: %w", op, ErrNoVerifier)
	}
	id, err := a.verifier.Verify(ctx, token)
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", op, err)
	}
	return id, nil
}

// tokenOf returns the token of a $connect request: the token subprotocol,
// else the token query parameter, else the credentials of an
// "Authorization: Bearer" header, else "".
func tokenOf(req events.APIGatewayWebsocketProxyRequest) string {
	if t := ProtocolToken(Protocols(req.Headers, req.MultiValueHeaders)); t != "" {
		return t
	}
	if t := strings.TrimSpace(req.QueryStringParameters["token"]); t != "" {
		return t
	}
	if vs := req.MultiValueQueryStringParameters["token"]; len(vs) > 0 {
		if t := strings.TrimSpace(vs[0]); t != "" {
			return t
		}
	}
	for k, v := range req.Headers {
		if !strings.EqualFold(k, "Authorization") {
			continue
		}
		scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(cred)
		}
	}
	return ""
}

// SSMSecretReader returns a SecretReader that calls SSM GetParameter with
// decryption at endpoint (see awsrest.Endpoint), signed with cfg (the
// function's role in Lambda).
func SSMSecretReader(cfg aws.Config, endpoint string) SecretReader {
	c := awsrest.New(awsrest.SSMService, cfg, nil)
	return func(ctx context.Context, name string) (string, error) {
		return awsrest.GetParameter(ctx, c, endpoint, name)
	}
}
