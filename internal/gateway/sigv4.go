package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Local credentials of the Management API. The local gateway accepts
// requests signed (Signature Version 4, service execute-api, for
// Config.Region) with a key pair of Config.Credentials; by default only
// this fixed pair, which the local server's own Management API client uses.
const (
	LocalAccessKeyID     = "local"
	LocalSecretAccessKey = "local"
)

// signingService is the SigV4 service name of the Management API.
const signingService = "execute-api"

// maxClockSkew is how far X-Amz-Date may lie from the server's clock:
// API Gateway refuses a request more than 5 minutes off, either way.
const maxClockSkew = 5 * time.Minute

// amzDateFormat is the layout of X-Amz-Date.
const amzDateFormat = "20060102T150405Z"

// authError is a refused Management API request: API Gateway's 403 with
// its error type and message.
type authError struct {
	errType, message string
}

// The refusals of a Management API request, as API Gateway words them for
// APIs that require IAM authorization.
var (
	errMissingAuth = &authError{"MissingAuthenticationTokenException", "Missing Authentication Token"}
	errUnknownKey  = &authError{"UnrecognizedClientException", "The security token included in the request is invalid."}
	errBadSig      = &authError{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	errBadAuth     = &authError{"IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters, and an X-Amz-Date header."}
	errBrowser     = &authError{"ForbiddenException", "Forbidden"}
)

// browserOriginated reports whether r comes from a web page: browsers send
// Origin on cross-origin and non-GET requests and Sec-Fetch-Site (with
// Sec-Fetch-Dest) on every request. No Management API client is a
// browser, and refusing these closes the door on forged cross-site
// requests. Sec-Fetch-Mode alone does not count: Node.js's fetch sends it.
func browserOriginated(r *http.Request) bool {
	if _, ok := r.Header["Origin"]; ok {
		return true
	}
	for _, k := range []string{"Sec-Fetch-Site", "Sec-Fetch-Dest", "Sec-Fetch-User"} {
		if _, ok := r.Header[k]; ok {
			return true
		}
	}
	return false
}

// sigV4Auth is the parsed Authorization header of a SigV4 request.
type sigV4Auth struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

// parseSigV4 parses "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/
// execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex".
func parseSigV4(h string) (sigV4Auth, bool) {
	var a sigV4Auth
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != "AWS4-HMAC-SHA256" {
		return a, false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, false
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, false
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.accessKey != "" && a.signature != "" && len(a.signedHeaders) > 0
}

// errSkewed is API Gateway's refusal of a request signed at t, more than
// maxClockSkew from the server's clock now, in AWS's words: "Signature
// expired: 20260102T114000Z is now earlier than 20260102T115500Z
// (20260102T120000Z - 5 min.)", or "Signature not yet current: ... is
// still later than ... (... + 5 min.)" for one from the future.
func errSkewed(t, now time.Time) *authError {
	now = now.UTC()
	format, bound := "Signature expired: %s is now earlier than %s (%s - %d min.)", now.Add(-maxClockSkew)
	if t.After(now) {
		format, bound = "Signature not yet current: %s is still later than %s (%s + %d min.)", now.Add(maxClockSkew)
	}
	return &authError{"InvalidSignatureException", fmt.Sprintf(format,
		t.Format(amzDateFormat), bound.Format(amzDateFormat), now.Format(amzDateFormat), int(maxClockSkew/time.Minute))}
}

// errWrongRegion is API Gateway's refusal of a signature scoped to
// another region than the API's (the message ends with a space, as AWS's).
func errWrongRegion(region string) *authError {
	return &authError{"InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", region)}
}

// verifySigV4 checks the signature of a Management API request whose body
// is body, by signing the same request again (as the SDK's signer does)
// with the secret of its access key. It returns nil for a valid signature.
func (s *Server) verifySigV4(r *http.Request, body []byte, now time.Time) *authError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errMissingAuth
	}
	a, ok := parseSigV4(h)
	if !ok {
		return errBadAuth
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil || !strings.HasPrefix(amzDate, a.date) {
		return errBadAuth
	}
	secret, ok := s.cfg.Credentials[a.accessKey]
	if !ok {
		return errUnknownKey
	}
	if a.region != s.cfg.Region {
		return errWrongRegion(a.region)
	}
	if a.service != signingService {
		return errBadSig
	}
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return errSkewed(t, now)
	}
	u, err := url.Parse("http://" + r.Host + r.RequestURI)
	if err != nil {
		return errBadSig
	}
	// The request as the client signed it: the signed headers only.
	again := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			again.ContentLength = int64(len(body))
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				again.Header[http.CanonicalHeaderKey(name)] = vs
			}
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: a.accessKey, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := s.signer.Sign(context.Background(), again, creds, hex.EncodeToString(sum[:]), t); err != nil {
		return errBadSig
	}
	want, ok := parseSigV4(again.Header.Get("Authorization"))
	if !ok || strings.Join(want.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return errBadSig
	}
	return nil
}
