package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

// localCreds are the credentials the gateway accepts by default.
var localCreds = aws.Credentials{AccessKeyID: LocalAccessKeyID, SecretAccessKey: LocalSecretAccessKey}

// managementRequest builds a request to the Management API of s, signed
// with creds for its region by the SDK's signer at time at (unsigned when
// creds is nil).
func managementRequest(t *testing.T, s *Server, method, id string, body []byte, creds *aws.Credentials, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, s.Endpoint()+"/@connections/"+url.PathEscape(id), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if creds != nil {
		signAs(t, req, body, *creds, s.cfg.Region, at)
	}
	return req
}

// manage sends one HTTP request, signed with the local credentials, to the
// Management API of s.
func manage(t *testing.T, s *Server, method, id string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	return do(t, managementRequest(t, s, method, id, body, &localCreds, time.Now()))
}

// do sends req and returns the status, headers and body of the answer.
func do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// connected dials s and returns the client and its connection id.
func connected(t *testing.T, s *Server, inv *fakeInvoker) (*client, string) {
	t.Helper()
	c := dial(t, s, nil)
	return c, next(t, inv.connects, "$connect").RequestContext.ConnectionID
}

func TestManagementPostGetDelete(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id := connected(t, s, inv)
	before := time.Now()

	status, _, _ := manage(t, s, http.MethodPost, id, []byte(`{"type":"notification"}`))
	if status != http.StatusOK {
		t.Fatalf("POST = %d, want 200", status)
	}
	if got := string(c.next(t)); got != `{"type":"notification"}` {
		t.Errorf("client got %q", got)
	}

	status, hdr, body := manage(t, s, http.MethodGet, id, nil)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("GET = %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	var info map[string]any
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("GET body %s: %v", body, err)
	}
	identity, _ := info["identity"].(map[string]any)
	if identity["sourceIp"] != "127.0.0.1" || identity["userAgent"] != testUserAgent {
		t.Errorf("identity = %v", info["identity"])
	}
	connectedAt, err1 := time.Parse(time.RFC3339Nano, info["connectedAt"].(string))
	lastActive, err2 := time.Parse(time.RFC3339Nano, info["lastActiveAt"].(string))
	if err1 != nil || err2 != nil {
		t.Fatalf("times are not ISO 8601: %s", body)
	}
	if connectedAt.After(before) || lastActive.Before(before.Add(-time.Millisecond)) {
		t.Errorf("connectedAt %v lastActiveAt %v, want connectedAt before and lastActiveAt after the POST at %v", connectedAt, lastActive, before)
	}

	status, _, _ = manage(t, s, http.MethodDelete, id, nil)
	if status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", status)
	}
	if code, _ := c.closeStatus(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("close after DELETE = %d, want 1000", code)
	}
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, reasonDeleted)

	for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		status, hdr, body := manage(t, s, method, id, []byte("late"))
		if status != http.StatusGone || hdr.Get("x-amzn-ErrorType") != "GoneException" || string(body) != `{"message":"Gone"}` {
			t.Errorf("%s after DELETE = %d %q %s, want 410 GoneException", method, status, hdr.Get("x-amzn-ErrorType"), body)
		}
	}
	none(t, inv.disconnects, 100*time.Millisecond, "second $disconnect")
}

// TestNoMessageAfterDelete: a message the client sends after a DELETE has
// closed its connection (before it has read the close frame) reaches no
// integration: the connection is gone from the Management API already.
func TestNoMessageAfterDelete(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id := connected(t, s, inv)
	if status, _, _ := manage(t, s, http.MethodDelete, id, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.conn.Write(ctx, websocket.MessageText, []byte("after the delete"))
	none(t, inv.messages, 300*time.Millisecond, "$default")
	if code, _ := c.closeStatus(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("close after DELETE = %d, want 1000", code)
	}
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), id, 1000, reasonDeleted)
}

// TestManagementPostData: a POST's body reaches the client as one
// message: a text frame when it is valid UTF-8, an empty body included
// (an empty text message: the service model allows Data of 0 bytes), and
// a binary frame when it is not.
func TestManagementPostData(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	overHTTP := func(_ context.Context, id string, data []byte) error {
		if status, hdr, body := manage(t, s, http.MethodPost, id, data); status != http.StatusOK {
			return fmt.Errorf("POST answered %d %s %s", status, hdr.Get("x-amzn-ErrorType"), body)
		}
		return nil
	}
	for _, tt := range []struct {
		name string
		data []byte
		want websocket.MessageType
	}{
		{"empty", []byte{}, websocket.MessageText},
		{"UTF-8", []byte("héllo"), websocket.MessageText},
		{"not UTF-8", []byte{0xff, 0xfe, 0x00}, websocket.MessageBinary},
	} {
		t.Run(tt.name, func(t *testing.T) {
			typ, got := postTyped(t, s, inv, tt.data, overHTTP)
			if typ != tt.want || !bytes.Equal(got, tt.data) {
				t.Errorf("client got %v %q, want %v %q", typ, got, tt.want, tt.data)
			}
		})
	}
}

func TestManagementErrors(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		id       string // "" means the open connection
		body     []byte
		want     int
		wantType string
	}{
		{"POST unknown", http.MethodPost, "R1kmxc2VNjMCFIA=", []byte("x"), http.StatusGone, "GoneException"},
		{"GET unknown", http.MethodGet, "R1kmxc2VNjMCFIA=", nil, http.StatusGone, "GoneException"},
		{"DELETE unknown", http.MethodDelete, "R1kmxc2VNjMCFIA=", nil, http.StatusGone, "GoneException"},
		{"POST too large", http.MethodPost, "", make([]byte, DefaultMaxMessageBytes+1), http.StatusRequestEntityTooLarge, "PayloadTooLargeException"},
		{"POST at the limit", http.MethodPost, "", bytes.Repeat([]byte("a"), DefaultMaxMessageBytes), http.StatusOK, ""},
		{"PUT", http.MethodPut, "", nil, http.StatusMethodNotAllowed, ""},
	}
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	_, open := connected(t, s, inv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.id
			if id == "" {
				id = open
			}
			status, hdr, _ := manage(t, s, tt.method, id, tt.body)
			if status != tt.want || hdr.Get("x-amzn-ErrorType") != tt.wantType {
				t.Errorf("%s = %d %q, want %d %q", tt.method, status, hdr.Get("x-amzn-ErrorType"), tt.want, tt.wantType)
			}
		})
	}
}

// TestManagementWithClient drives the Management API through package
// mgmtapi, as the handlers do: ids ending in '=' are escaped, requests are
// signed, and outcomes map to the client's sentinel errors.
func TestManagementWithClient(t *testing.T) {
	var fault atomic.Int32 // status the next Management request fails with
	inv := newFakeInvoker()
	s := startGateway(t, Config{
		ManagementFault: func(*http.Request) (int, time.Duration) {
			return int(fault.Swap(0)), 0
		},
	}, inv)
	c, id := connected(t, s, inv)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(LocalAccessKeyID, LocalSecretAccessKey, "")}
	mc := mgmtapi.New(s.Endpoint(), cfg, &mgmtapi.Options{
		Backoff: retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil }),
	})
	ctx := context.Background()

	fault.Store(http.StatusTooManyRequests) // one throttle, then success
	if err := mc.PostToConnection(ctx, id, []byte("hello")); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := string(c.next(t)); got != "hello" {
		t.Errorf("client got %q", got)
	}
	info, err := mc.GetConnection(ctx, id)
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	if info.Identity.UserAgent != testUserAgent || info.ConnectedAt.IsZero() || info.LastActiveAt.Before(info.ConnectedAt) {
		t.Errorf("GetConnection = %+v", info)
	}
	if err := mc.DeleteConnection(ctx, id); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	next(t, inv.disconnects, "$disconnect")
	if err := mc.PostToConnection(ctx, id, []byte("late")); !errors.Is(err, mgmtapi.ErrGone) {
		t.Errorf("PostToConnection after delete = %v, want ErrGone", err)
	}
	if err := mc.PostToConnection(ctx, id, make([]byte, DefaultMaxMessageBytes+1)); !errors.Is(err, mgmtapi.ErrPayloadTooLarge) {
		t.Errorf("oversized PostToConnection = %v, want ErrPayloadTooLarge", err)
	}
}

func TestManagementFaults(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		delay    time.Duration
		timeout  time.Duration
		want     int
		wantType string
	}{
		{"throttled", http.StatusTooManyRequests, 0, 0, http.StatusTooManyRequests, "LimitExceededException"},
		{"server error", http.StatusInternalServerError, 0, 0, http.StatusInternalServerError, "InternalServerErrorException"},
		{"forbidden", http.StatusForbidden, 0, 0, http.StatusForbidden, "ForbiddenException"},
		{"slow but fine", 0, 50 * time.Millisecond, 0, http.StatusOK, ""},
		{"timeout", 0, 5 * time.Second, 100 * time.Millisecond, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newFakeInvoker()
			s := startGateway(t, Config{ManagementFault: func(r *http.Request) (int, time.Duration) {
				return tt.status, tt.delay
			}}, inv)
			_, id := connected(t, s, inv)
			hc := &http.Client{Timeout: tt.timeout}
			start := time.Now()
			resp, err := hc.Do(managementRequest(t, s, http.MethodPost, id, []byte("x"), &localCreds, time.Now()))
			if tt.want == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("POST answered %d, want a client timeout", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want || resp.Header.Get("x-amzn-ErrorType") != tt.wantType {
				t.Errorf("POST = %d %q, want %d %q", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), tt.want, tt.wantType)
			}
			if time.Since(start) < tt.delay {
				t.Errorf("answered after %v, before the %v delay", time.Since(start), tt.delay)
			}
		})
	}
}

// TestManagementEncodedCommand: AWS's "Use @connections commands" page
// URL-encodes the command (".../prod/%40connections/R0oXAdfD0kwCH6w%3D");
// every verb reaches the Management API by that path too, and an unsigned
// request to it is refused as one to @connections is (403, not 404).
func TestManagementEncodedCommand(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id := connected(t, s, inv)
	encoded := func(method string, body []byte, creds *aws.Credentials) *http.Request {
		req := managementRequest(t, s, method, id, body, nil, time.Now())
		req.URL.RawPath = "/" + s.cfg.Stage + "/%40connections/" + url.PathEscape(id)
		if creds != nil {
			signAs(t, req, body, *creds, s.cfg.Region, time.Now())
		}
		return req
	}
	if status, hdr, out := do(t, encoded(http.MethodPost, []byte("unsigned"), nil)); status != http.StatusForbidden || hdr.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned POST = %d %q %s, want 403 MissingAuthenticationTokenException", status, hdr.Get("x-amzn-ErrorType"), out)
	}
	for _, tt := range []struct {
		method string
		body   []byte
		want   int
	}{
		{http.MethodPost, []byte("hello world"), http.StatusOK},
		{http.MethodGet, nil, http.StatusOK},
		{http.MethodDelete, nil, http.StatusNoContent},
	} {
		req := encoded(tt.method, tt.body, &localCreds)
		if status, hdr, out := do(t, req); status != tt.want {
			t.Errorf("%s %s = %d %q %s, want %d", tt.method, req.URL.EscapedPath(), status, hdr.Get("x-amzn-ErrorType"), out, tt.want)
		}
		if tt.method == http.MethodPost {
			if got := string(c.next(t)); got != "hello world" {
				t.Errorf("client got %q, want the signed POST only", got)
			}
		}
	}
	if code, _ := c.closeStatus(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("close after DELETE = %d, want 1000", code)
	}
}

// TestManagementRequiresSignature: every verb of the Management API needs
// a valid SigV4 signature with the configured credentials and is refused
// from web pages; a refused request changes nothing (no frame delivered,
// the connection stays open).
func TestManagementRequiresSignature(t *testing.T) {
	wrongSecret := aws.Credentials{AccessKeyID: LocalAccessKeyID, SecretAccessKey: "not-the-secret"}
	unknownKey := aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: LocalSecretAccessKey}
	tests := []struct {
		name     string
		creds    *aws.Credentials
		at       time.Duration // signing time relative to now
		edit     func(r *http.Request)
		wantType string
	}{
		{name: "unsigned", wantType: "MissingAuthenticationTokenException"},
		{name: "wrong secret", creds: &wrongSecret, wantType: "InvalidSignatureException"},
		{name: "unknown access key", creds: &unknownKey, wantType: "UnrecognizedClientException"},
		{name: "signed 20 minutes ago", creds: &localCreds, at: -20 * time.Minute, wantType: "InvalidSignatureException"},
		{name: "signed 10 minutes ago", creds: &localCreds, at: -10 * time.Minute, wantType: "InvalidSignatureException"},
		{name: "signed 10 minutes ahead", creds: &localCreds, at: 10 * time.Minute, wantType: "InvalidSignatureException"},
		{name: "tampered path", creds: &localCreds, edit: func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" }, wantType: "InvalidSignatureException"},
		{name: "malformed authorization", creds: &localCreds, edit: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Signature=00") }, wantType: "IncompleteSignatureException"},
		{name: "signed but from a web page (Origin)", creds: &localCreds, edit: func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, wantType: "ForbiddenException"},
		{name: "signed but from a web page (Sec-Fetch-Site)", creds: &localCreds, edit: func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, wantType: "ForbiddenException"},
		{name: "text/plain cross-site form post", edit: func(r *http.Request) {
			r.Header.Set("Origin", "null")
			r.Header.Set("Content-Type", "text/plain")
		}, wantType: "ForbiddenException"},
	}
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c, id := connected(t, s, inv)
	for _, tt := range tests {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				var body []byte
				if method == http.MethodPost {
					body = []byte(`{"type":"forged"}`)
				}
				req := managementRequest(t, s, method, id, body, tt.creds, time.Now().Add(tt.at))
				if tt.edit != nil {
					tt.edit(req)
				}
				status, hdr, out := do(t, req)
				if status != http.StatusForbidden || hdr.Get("x-amzn-ErrorType") != tt.wantType {
					t.Errorf("%s = %d %q %s, want 403 %q", method, status, hdr.Get("x-amzn-ErrorType"), out, tt.wantType)
				}
				var msg map[string]string
				if err := json.Unmarshal(out, &msg); err != nil || msg["message"] == "" {
					t.Errorf("body %s: want {\"message\": ...}", out)
				}
			})
		}
	}
	// Nothing reached the client and the connection is still open: a
	// signed POST is the next and only frame it gets.
	if status, _, _ := manage(t, s, http.MethodPost, id, []byte("signed")); status != http.StatusOK {
		t.Fatalf("signed POST = %d, want 200", status)
	}
	if got := string(c.next(t)); got != "signed" {
		t.Errorf("client got %q first, want the signed frame only", got)
	}
	if status, _, _ := manage(t, s, http.MethodGet, id, nil); status != http.StatusOK {
		t.Errorf("signed GET = %d, want 200", status)
	}
	if s.ConnectionCount() != 1 {
		t.Errorf("%d connections open, want 1", s.ConnectionCount())
	}
	none(t, inv.disconnects, 50*time.Millisecond, "$disconnect")
}

// TestSignatureScopedToTheRegion: API Gateway refuses a signature whose
// credential scope names another region than the API's with 403
// InvalidSignatureException, "Credential should be scoped to a valid
// region, not 'X'. ", on the Management API and on a signed API alike;
// the local gateway's region is Config.Region (default us-east-1).
func TestSignatureScopedToTheRegion(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        Config
		own, other string
	}{
		{"default", Config{SignedAPI: echoAPI{}}, "us-east-1", "eu-west-1"},
		{"eu-west-1", Config{SignedAPI: echoAPI{}, Region: "eu-west-1"}, "eu-west-1", "us-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := newFakeInvoker()
			s := startGateway(t, tc.cfg, inv)
			c, id := connected(t, s, inv)
			requests := func(region string) map[string]*http.Request {
				post, err := http.NewRequest(http.MethodPost, s.Endpoint()+"/@connections/"+url.PathEscape(id), bytes.NewReader([]byte("frame")))
				if err != nil {
					t.Fatal(err)
				}
				signAs(t, post, []byte("frame"), localCreds, region, time.Now())
				get, _ := http.NewRequest(http.MethodGet, s.Endpoint()+"/@connections/"+url.PathEscape(id), nil)
				signAs(t, get, nil, localCreds, region, time.Now())
				api, _ := http.NewRequest(http.MethodPost, s.SignedAPIURL()+"/publish", bytes.NewReader([]byte("{}")))
				signAs(t, api, []byte("{}"), localCreds, region, time.Now())
				return map[string]*http.Request{"POST @connections": post, "GET @connections": get, "signed API": api}
			}
			for name, req := range requests(tc.other) {
				status, hdr, out := do(t, req)
				want := fmt.Sprintf(`{"message":"Credential should be scoped to a valid region, not '%s'. "}`, tc.other)
				if status != http.StatusForbidden || hdr.Get("x-amzn-ErrorType") != "InvalidSignatureException" || string(out) != want {
					t.Errorf("%s signed for %s = %d %q %s, want 403 InvalidSignatureException %s", name, tc.other, status, hdr.Get("x-amzn-ErrorType"), out, want)
				}
			}
			for name, req := range requests(tc.own) {
				if status, _, out := do(t, req); status != http.StatusOK {
					t.Errorf("%s signed for %s = %d %s, want 200", name, tc.own, status, out)
				}
			}
			if got := string(c.next(t)); got != "frame" {
				t.Errorf("client got %q first, want the frame signed for %s only", got, tc.own)
			}
		})
	}
}

// signAs signs req, whose body is body, with creds for region (service
// execute-api) at time at, with the SDK's signer.
func signAs(t *testing.T, req *http.Request, body []byte, creds aws.Credentials, region string, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", region, at); err != nil {
		t.Fatal(err)
	}
}

// TestSignatureClockSkew: API Gateway refuses a signature whose X-Amz-Date
// is more than 5 minutes before or after its clock, in AWS's words, and
// takes one within 5 minutes. The check runs on a fixed clock.
func TestSignatureClockSkew(t *testing.T) {
	s := New(Config{}, newFakeInvoker())
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Duration // signing time relative to now
		want string        // the refusal's message, "" for none
	}{
		{-5 * time.Minute, ""},
		{5 * time.Minute, ""},
		{-5*time.Minute - time.Second, "Signature expired: 20260102T115459Z is now earlier than 20260102T115500Z (20260102T120000Z - 5 min.)"},
		{5*time.Minute + time.Second, "Signature not yet current: 20260102T120501Z is still later than 20260102T120500Z (20260102T120000Z + 5 min.)"},
		{-20 * time.Minute, "Signature expired: 20260102T114000Z is now earlier than 20260102T115500Z (20260102T120000Z - 5 min.)"},
	} {
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:3001/ws/@connections/R1kmxc2VNjMCFIA%3D", nil)
		if err != nil {
			t.Fatal(err)
		}
		signAs(t, req, nil, localCreds, DefaultRegion, now.Add(tc.at))
		req.RequestURI = req.URL.RequestURI()
		ae := s.verifySigV4(req, nil, now)
		switch {
		case tc.want == "" && ae != nil:
			t.Errorf("signed %v from the server's clock: refused %q, want accepted", tc.at, ae.message)
		case tc.want != "" && (ae == nil || ae.errType != "InvalidSignatureException" || ae.message != tc.want):
			t.Errorf("signed %v from the server's clock: %+v, want InvalidSignatureException %q", tc.at, ae, tc.want)
		}
	}
}
