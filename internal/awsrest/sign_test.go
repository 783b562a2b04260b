package awsrest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// signBoth signs two copies of one request, with the SDK and with the fast
// signer, and returns them (fast is nil when the fast signer declined).
func signBoth(t *testing.T, method, rawURL string, header http.Header, body []byte, creds aws.Credentials, region, service string, at time.Time) (sdk, fast *http.Request) {
	t.Helper()
	build := func() *http.Request {
		req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s %s: %v", method, rawURL, err)
		}
		if len(body) == 0 {
			req.ContentLength = 0
		}
		for k, vs := range header {
			req.Header[k] = append([]string(nil), vs...)
		}
		return req
	}
	hash := PayloadHash(body)
	sdk = build()
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, sdk, hash, service, region, at); err != nil {
		t.Fatal(err)
	}
	fast = build()
	fs := &fastSigner{service: service, region: region}
	if !fs.sign(fast, creds, hash, at) {
		return sdk, nil
	}
	return sdk, fast
}

func sameSignature(t *testing.T, what string, sdk, fast *http.Request) {
	t.Helper()
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if got, want := fast.Header.Values(h), sdk.Header.Values(h); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %s\n fast %q\n sdk  %q", what, h, got, want)
		}
	}
	if fast.Host != sdk.Host {
		t.Errorf("%s: host %q, SDK %q", what, fast.Host, sdk.Host)
	}
}

// TestFastSignerMatchesSDK signs the Management API's and the other
// clients' request shapes with both signers: the Authorization header must
// be the SDK's, byte for byte.
func TestFastSignerMatchesSDK(t *testing.T) {
	ids := []string{"R1kmxc2VNjMCF1000=", "a+b/c=d", "id with space", "100%", "é✓", "~-._", "x:y@z!$&'()*,;"}
	endpoints := []string{
		"https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
		"https://ws.example.com",
		"https://ws.example.com/base/path",
		"http://127.0.0.1:8099/local",
		"https://abc.execute-api.us-east-1.amazonaws.com:8443/prod",
		"http://[::1]:9000/dev",
	}
	credsList := []aws.Credentials{
		{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
		{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret2", SessionToken: "FwoGZXIvYXdzEBYaD+token/with=chars"},
	}
	headers := []http.Header{
		nil,
		{"Content-Type": {"application/octet-stream"}},
		{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Target": {"DynamoDB_20120810.GetItem"}},
		{"X-Custom": {"a", "b"}, "Accept": {"application/json"}, "User-Agent": {"rtcollab"}},
		{"X-Amz-Invocation-Type": {"Event"}, "X-Amzn-Trace-Id": {"Root=1-abc"}},
	}
	at := time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC)
	n := 0
	for _, ep := range endpoints {
		for _, id := range ids {
			u := ep + "/@connections/" + httpbinding.EscapePath(id, true)
			for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
				for ci, creds := range credsList {
					for hi, h := range headers {
						var body []byte
						if method == http.MethodPost {
							body = []byte(`{"type":"update","payload":{"n":` + fmt.Sprint(n) + `}}`)
						}
						for _, when := range []time.Time{at, at.Add(time.Second)} { // across midnight: a new key
							sdk, fast := signBoth(t, method, u, h, body, creds, "eu-west-1", "execute-api", when)
							if fast == nil {
								t.Fatalf("fast signer declined %s %s headers %d creds %d", method, u, hi, ci)
							}
							sameSignature(t, fmt.Sprintf("%s %s headers %d creds %d at %s", method, u, hi, ci, when.Format(time.RFC3339)), sdk, fast)
							n++
						}
					}
				}
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d requests compared", n)
	}
}

// TestFastSignerRandomRequests compares the two signers on random paths,
// headers, services and regions.
func TestFastSignerRandomRequests(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	alphabet := []rune("abcXYZ019-._~!$&'()*+,;=:@%/ é✓\u00a0\x7f")
	word := func(n int) string {
		var sb strings.Builder
		for range r.IntN(n) + 1 {
			sb.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return sb.String()
	}
	compared := 0
	for i := range 3000 {
		path := "/" + httpbinding.EscapePath(word(12), true) + "/" + httpbinding.EscapePath(word(12), true)
		h := http.Header{}
		for range r.IntN(4) {
			h[http.CanonicalHeaderKey("X-Test-"+fmt.Sprint(r.IntN(5)))] = []string{word(10), word(3)}[:r.IntN(2)+1]
		}
		body := bytes.Repeat([]byte{'x'}, r.IntN(3)*r.IntN(5000))
		creds := aws.Credentials{AccessKeyID: "AK" + fmt.Sprint(r.IntN(3)), SecretAccessKey: "s" + fmt.Sprint(r.IntN(3))}
		if r.IntN(2) == 0 {
			creds.SessionToken = "tok" + fmt.Sprint(i)
		}
		at := time.Unix(1_700_000_000+int64(r.IntN(400_000)), 0)
		service := []string{"execute-api", "lambda", "dynamodb", "events"}[r.IntN(4)]
		region := []string{"us-east-1", "ap-southeast-1"}[r.IntN(2)]
		method := []string{http.MethodPost, http.MethodGet, http.MethodDelete, http.MethodPut}[r.IntN(4)]
		sdk, fast := signBoth(t, method, "https://h.example.com"+path, h, body, creds, region, service, at)
		if fast == nil {
			continue // a shape left to the SDK (a value with spaces to trim)
		}
		sameSignature(t, fmt.Sprintf("%s %s %v", method, path, h), sdk, fast)
		compared++
	}
	if compared < 2000 {
		t.Fatalf("only %d of 3000 random requests took the fast path", compared)
	}
}

// TestFastSignerDeclines: shapes it does not cover are left to the SDK,
// untouched.
func TestFastSignerDeclines(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "s"}
	for _, c := range []struct {
		url    string
		header http.Header
	}{
		{"https://h.example.com/p?a=1", nil},
		{"https://h.example.com:443/p", nil},
		{"http://h.example.com:80/p", nil},
		{"https://h.example.com/p", http.Header{"X-A": {" padded"}}},
		{"https://h.example.com/p", http.Header{"X-A": {"two  spaces"}}},
		{"https://h.example.com/p", http.Header{"X-A": {"nbsp\u00a0"}}},
	} {
		sdk, fast := signBoth(t, http.MethodGet, c.url, c.header, nil, creds, "us-east-1", "execute-api", time.Now())
		if fast != nil {
			t.Errorf("%s %v: signed by the fast signer", c.url, c.header)
		}
		if sdk.Header.Get("Authorization") == "" {
			t.Errorf("%s: the SDK did not sign", c.url)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "https://h.example.com/p?a=1", nil)
	if (&fastSigner{service: "s", region: "r"}).sign(req, creds, PayloadHash(nil), time.Now()) || len(req.Header) != 0 {
		t.Fatalf("a declined request was changed: %v", req.Header)
	}
}

// TestAppendEscapedPath: the same escaping as smithy-go's, for every byte.
func TestAppendEscapedPath(t *testing.T) {
	var all strings.Builder
	for c := range 256 {
		all.WriteByte(byte(c))
	}
	for _, p := range []string{"", "/a/b", all.String(), "é✓/%2F"} {
		for _, sep := range []bool{false, true} {
			if got, want := string(AppendEscapedPath(nil, p, sep)), httpbinding.EscapePath(p, sep); got != want {
				t.Errorf("%q sep=%v: %q, want %q", p, sep, got, want)
			}
		}
	}
}

func BenchmarkSign(b *testing.B) {
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "token"}
	hash := PayloadHash([]byte("frame"))
	at := time.Now()
	newReq := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/R1kmxc2VNjMCF1000%3D", bytes.NewReader([]byte("frame")))
		req.Header.Set("Content-Type", "application/octet-stream")
		return req
	}
	b.Run("signer=sdk", func(b *testing.B) {
		s := v4.NewSigner()
		b.ReportAllocs()
		for b.Loop() {
			if err := s.SignHTTP(context.Background(), creds, newReq(), hash, "execute-api", "eu-west-1", at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signer=fast", func(b *testing.B) {
		s := &fastSigner{service: "execute-api", region: "eu-west-1"}
		b.ReportAllocs()
		for b.Loop() {
			if !s.sign(newReq(), creds, hash, at) {
				b.Fatal("declined")
			}
		}
	})
}
