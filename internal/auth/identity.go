package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/omnisales/rtcollab/internal/ident"
)

// Identity is who a connection belongs to, as established on $connect by
// an authenticator (TokenAuth, or any handler.Authenticator). It is the
// one identity type of the service: the handler keeps it with the
// connection.
type Identity struct {
	UserID   string   // the token's sub
	Username string   // display name; the UserID when the token has none
	Avatar   string   // picture URL, possibly empty
	Tenant   string   // the tenant whose data the connection may see
	Roles    []string // roles from roles and cognito:groups, in token order
	// ExpiresAt is the token's exp; zero for a DevIdentity. The
	// connection's frames are refused from then on, and the sweeper
	// closes it.
	ExpiresAt time.Time
}

// HasRole reports whether the identity holds role, compared without regard
// to case.
func (id Identity) HasRole(role string) bool {
	for _, r := range id.Roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// DevIdentity builds the identity of a local development connection from
// its query parameters: userId, username, tenant, avatar and roles
// (comma-separated). Without userId the connection gets an anonymous id,
// "anon-" and 12 random hex digits; the username defaults to the user id
// and the tenant to "default". Every value is stripped of the code points
// ident.Visible refuses (controls, format characters such as bidirectional
// controls and zero-width characters, separators, noncharacters, invalid
// bytes). The user id, tenant and roles are also stripped of '#' and cut to
// MaxClaimLen bytes; the username and avatar are display values, bounded
// as a token's name and picture claims are (ident.MaxDisplayNameLen,
// ident.MaxURLLen), so that the handler applies the same bounds to both.
//
// Anyone can claim any identity this way: DevIdentity must be used only in
// an explicitly enabled development mode, never where a token is expected.
func DevIdentity(query map[string]string) Identity {
	id := Identity{
		UserID:   devClean(query["userId"]),
		Username: ident.Clean(query["username"], ident.MaxDisplayNameLen, false),
		Tenant:   devClean(query["tenant"]),
		Avatar:   ident.Clean(query["avatar"], ident.MaxURLLen, false),
	}
	if id.UserID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		id.UserID = "anon-" + hex.EncodeToString(b[:])
	}
	if id.Username == "" {
		id.Username = id.UserID
	}
	if id.Tenant == "" {
		id.Tenant = DefaultTenantName
	}
	for _, r := range strings.Split(query["roles"], ",") {
		if r = devClean(strings.TrimSpace(r)); r != "" {
			id.Roles = append(id.Roles, r)
		}
	}
	return id
}

// devClean drops what ident.Visible refuses and '#' from s and cuts it to
// MaxClaimLen bytes without splitting a character.
func devClean(s string) string { return ident.Clean(s, MaxClaimLen, true) }

// SignHS256 makes an HS256 token of claims, for tests and development
// tooling. secret must be at least MinHS256SecretLen bytes, as New demands.
// The claims are signed as given: set sub and exp for Verify to accept the
// token.
func SignHS256(secret []byte, claims map[string]any) (string, error) {
	const op = "auth.SignHS256"
	if len(secret) < MinHS256SecretLen {
		return "", fmt.Errorf("%s: %w: secret has %d bytes, want at least %d", op, ErrConfig, len(secret), MinHS256SecretLen)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("%s: encode claims: %w", op, err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil)), nil
}
