package auth

import "errors"

// Sentinel errors returned (wrapped) by Verify and New. Callers tell them
// apart with errors.Is; the $connect handler answers every Verify error with
// HTTP 401 and logs which sentinel it was.
var (
	// ErrMalformed means the token is not a well-formed compact JWS/JWT, a
	// required claim (sub, exp) is missing, or a claim has the wrong type.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm means the header's alg is "none", is not in the allowed
	// list, or does not fit the key the kid names.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrSignature means the signature does not verify.
	ErrSignature = errors.New("bad signature")
	// ErrUnknownKey means no key in the key set matches the token's kid.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrJWKS means the key set could not be fetched or parsed.
	ErrJWKS = errors.New("key set unavailable")
	// ErrExpired means exp is at or before the current time (exp has no
	// leeway: the connection's frames are refused from it on).
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid means nbf, or iat, lies in the future beyond the leeway.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrIssuer means iss is missing or differs from Config.Issuer.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience means aud does not name Config.Audience, or, in a token
	// without aud, client_id does not equal it.
	ErrAudience = errors.New("wrong audience")
	// ErrTenant means the token carries no tenant and Config.RequireTenant
	// is set (as it is when Config.TenantClaim names a Cognito custom
	// attribute), or the tenant claim is not a usable tenant name.
	ErrTenant = errors.New("missing or invalid tenant")
	// ErrConfig means New was given an unusable Config.
	ErrConfig = errors.New("invalid auth config")
)
