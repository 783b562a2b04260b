package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// echoAPI answers with the path and body it received.
type echoAPI struct{}

func (echoAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	_, _ = w.Write([]byte(r.URL.Path + " " + string(b)))
}

// signedRequest builds a POST to the signed API of s, signed with creds
// for its region (unsigned when nil) at time at.
func signedRequest(t *testing.T, s *Server, path string, body []byte, creds *aws.Credentials, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.SignedAPIURL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if creds != nil {
		signAs(t, req, body, *creds, s.cfg.Region, at)
	}
	return req
}

// TestSignedAPI: requests under /api/ reach Config.SignedAPI, without the
// prefix and with their body, only with a valid signature of a known key
// and not from a web page, as the Management API; the loopback-only rule
// of development servers leaves them to that check.
func TestSignedAPI(t *testing.T) {
	s := startGateway(t, Config{SignedAPI: echoAPI{}, LoopbackOnly: true}, newFakeInvoker())
	body := []byte(`{"tenant":"acme"}`)
	now := time.Now()
	status, _, out := do(t, signedRequest(t, s, "/publish", body, &localCreds, now))
	if status != http.StatusOK || string(out) != "/publish "+string(body) {
		t.Fatalf("signed request = %d %q", status, out)
	}
	// Node.js's fetch sends Sec-Fetch-Mode, and no other Sec-Fetch header.
	node := signedRequest(t, s, "/publish", body, &localCreds, now)
	node.Header.Set("Sec-Fetch-Mode", "cors")
	if status, _, _ := do(t, node); status != http.StatusOK {
		t.Fatalf("signed request with Sec-Fetch-Mode only = %d, want 200", status)
	}
	wrong := aws.Credentials{AccessKeyID: LocalAccessKeyID, SecretAccessKey: "wrong"}
	unknown := aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"}
	browser := signedRequest(t, s, "/publish", body, &localCreds, now)
	browser.Header.Set("Origin", "http://localhost:5173")
	fetchSite := signedRequest(t, s, "/publish", body, &localCreds, now)
	fetchSite.Header.Set("Sec-Fetch-Site", "cross-site")
	tampered := signedRequest(t, s, "/publish", body, &localCreds, now)
	tampered.Body = io.NopCloser(strings.NewReader(`{"tenant":"evil"}`))
	tampered.ContentLength = int64(len(`{"tenant":"evil"}`))
	for name, tc := range map[string]struct {
		req     *http.Request
		errType string
	}{
		"unsigned":     {signedRequest(t, s, "/publish", body, nil, now), "MissingAuthenticationTokenException"},
		"wrong secret": {signedRequest(t, s, "/publish", body, &wrong, now), "InvalidSignatureException"},
		"unknown key":  {signedRequest(t, s, "/publish", body, &unknown, now), "UnrecognizedClientException"},
		"expired":      {signedRequest(t, s, "/publish", body, &localCreds, now.Add(-time.Hour)), "InvalidSignatureException"},
		"tampered":     {tampered, "InvalidSignatureException"},
		"from a page":  {browser, "ForbiddenException"},
		"fetch site":   {fetchSite, "ForbiddenException"},
	} {
		t.Run(name, func(t *testing.T) {
			status, h, out := do(t, tc.req)
			if status != http.StatusForbidden || h.Get("x-amzn-ErrorType") != tc.errType || strings.Contains(string(out), "acme") {
				t.Fatalf("= %d %s %q, want 403 %s", status, h.Get("x-amzn-ErrorType"), out, tc.errType)
			}
		})
	}
	// A body past a WebSocket message but within an HTTP API's payload
	// quota reaches the integration, which answers for its own bound (the
	// publish API's FRAME_TOO_LARGE), as in AWS; past the quota, 413.
	if status, _, out := do(t, signedRequest(t, s, "/publish", bytes.Repeat([]byte("x"), 200<<10), &localCreds, now)); status != http.StatusOK {
		t.Fatalf("signed 200 KB body = %d %s, want it passed to the integration", status, out)
	}
	big := bytes.Repeat([]byte("x"), SignedAPIMaxBytes+1)
	if status, _, _ := do(t, signedRequest(t, s, "/publish", big, &localCreds, now)); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body = %d, want 413", status)
	}
}

// TestSignedAPIUnset: without Config.SignedAPI, /api/ is an ordinary path.
func TestSignedAPIUnset(t *testing.T) {
	s := startGateway(t, Config{}, newFakeInvoker())
	if status, _, _ := do(t, signedRequest(t, s, "/publish", nil, &localCreds, time.Now())); status != http.StatusNotFound {
		t.Fatalf("= %d, want 404", status)
	}
}
