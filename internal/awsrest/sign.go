package awsrest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// fastSigner signs the requests this package sends with SigV4 in a header,
// producing exactly the Authorization header of the SDK's
// v4.Signer.SignHTTP (TestFastSignerMatchesSDK compares the two), at a
// fraction of its cost: the canonical request and the string to sign are
// built in one pooled buffer, and the derived signing key is kept per day,
// region, service and key.
//
// It covers the shape every request here has: no query string, header
// values without surrounding or repeated spaces, and a host without the
// scheme's default port. sign reports false for anything else, and the
// caller signs with the SDK.
type fastSigner struct {
	service, region string

	mu  sync.Mutex
	key *signingKey

	last atomic.Pointer[stamp] // the X-Amz-Date of the last second signed in
}

// stamp is an X-Amz-Date and the second it stands for.
type stamp struct {
	unix   int64
	text   string
	header []string // {text}, shared by the requests signed in that second (never modified)
}

// stamp returns t as an X-Amz-Date (20060102T150405Z), formatting it once
// per second.
func (s *fastSigner) stamp(t time.Time) *stamp {
	sec := t.Unix()
	if p := s.last.Load(); p != nil && p.unix == sec {
		return p
	}
	var buf [16]byte
	text := string(t.UTC().AppendFormat(buf[:0], "20060102T150405Z"))
	p := &stamp{unix: sec, text: text, header: []string{text}}
	s.last.Store(p)
	return p
}

type signingKey struct {
	date, accessKey, secret string
	scope                   string // date/region/service/aws4_request
	// macs holds HMAC-SHA256 states keyed with the derived key, reset
	// before each use.
	macs *sync.Pool
}

// signingAlgorithm and the header names SigV4 uses.
const (
	signingAlgorithm = "AWS4-HMAC-SHA256"
	hdrDate          = "X-Amz-Date"
	hdrToken         = "X-Amz-Security-Token"
	hdrAuthorization = "Authorization"
)

var signBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sign sets X-Amz-Date, X-Amz-Security-Token (with a session token) and
// Authorization on req, signed at t with payloadHash, the lower-case hex
// SHA-256 of the body. It reports false, changing nothing, when req is of
// a shape it does not cover.
func (s *fastSigner) sign(req *http.Request, creds aws.Credentials, payloadHash string, t time.Time) bool {
	return s.signPath(req, creds, payloadHash, t, "")
}

// signPath is sign with the request's escaped path given (its
// URL.EscapedPath()), or "" to have it computed.
func (s *fastSigner) signPath(req *http.Request, creds aws.Credentials, payloadHash string, t time.Time, escapedPath string) bool {
	u := req.URL
	if u.RawQuery != "" || u.ForceQuery || u.Opaque != "" {
		return false
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if defaultPort(u.Scheme, host) || strings.ContainsAny(host, " \t") {
		return false
	}
	var space [8]signedHeader
	hs := space[:0]
	hs = append(hs, signedHeader{lower: "host"})
	if req.ContentLength > 0 {
		hs = append(hs, signedHeader{lower: "content-length"})
	}
	for k, vs := range req.Header {
		if k != http.CanonicalHeaderKey(k) || k == "Host" {
			return false
		}
		switch k {
		case "Authorization", "User-Agent", "X-Amzn-Trace-Id", "Expect", "Transfer-Encoding": // never signed
			continue
		case "Content-Length", hdrDate: // signed from the request and t
			continue
		case hdrToken:
			if creds.SessionToken != "" {
				continue
			}
		}
		for _, v := range vs {
			if !cleanValue(v) {
				return false
			}
		}
		hs = append(hs, signedHeader{lower: lowerName(k), values: vs})
	}
	if !cleanValue(creds.SessionToken) && creds.SessionToken != "" {
		return false
	}

	st := s.stamp(t)
	amzDate := st.text
	date := amzDate[:8]
	req.Header[hdrDate] = st.header
	hs = append(hs, signedHeader{lower: "x-amz-date", values: req.Header[hdrDate]})
	if creds.SessionToken != "" {
		req.Header[hdrToken] = []string{creds.SessionToken}
		hs = append(hs, signedHeader{lower: "x-amz-security-token", values: req.Header[hdrToken]})
	}
	for i := 1; i < len(hs); i++ { // a handful: insertion sort
		for j := i; j > 0 && hs[j].lower < hs[j-1].lower; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
	key := s.keyFor(date, creds)

	bp := signBuffers.Get().(*[]byte)
	defer signBuffers.Put(bp)
	b := (*bp)[:0]

	// The canonical request.
	b = append(b, req.Method...)
	b = append(b, '\n')
	path := escapedPath
	if path == "" {
		path = u.EscapedPath()
	}
	if path == "" {
		path = "/"
	}
	b = AppendEscapedPath(b, path, false)
	b = append(b, "\n\n"...)
	for _, h := range hs {
		b = append(b, h.lower...)
		b = append(b, ':')
		switch h.lower {
		case "host":
			b = append(b, host...)
		case "content-length":
			b = strconv.AppendInt(b, req.ContentLength, 10)
		default:
			for i, v := range h.values {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, v...)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	signedStart := len(b)
	for i, h := range hs {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, h.lower...)
	}
	signedEnd := len(b)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	canonicalSum := sha256.Sum256(b)

	// The string to sign, then the signature, after the signed headers in b.
	b = b[:signedEnd]
	sts := len(b)
	b = append(b, signingAlgorithm+"\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, key.scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonicalSum[:])
	mac := key.macs.Get().(*macState)
	mac.h.Reset()
	mac.h.Write(b[sts:])
	sig := mac.h.Sum(mac.sum[:0])

	b = b[:sts]
	b = append(b, signingAlgorithm+" Credential="...)
	b = append(b, creds.AccessKeyID...)
	b = append(b, '/')
	b = append(b, key.scope...)
	b = append(b, ", SignedHeaders="...)
	b = append(b, b[signedStart:signedEnd]...)
	b = append(b, ", Signature="...)
	b = hex.AppendEncode(b, sig)
	key.macs.Put(mac)
	req.Header[hdrAuthorization] = []string{string(b[sts:])}
	*bp = b
	return true
}

// Signer signs requests for one service and region with SigV4: the same
// signature as the SDK's v4.Signer.SignHTTP, through the fast signer for
// the shapes it covers and through the SDK for the others. It is safe for
// concurrent use.
type Signer struct {
	fast *fastSigner
	sdk  *v4.Signer
}

// NewSigner returns a Signer for service in region.
func NewSigner(service, region string) *Signer {
	return &Signer{fast: &fastSigner{service: service, region: region}, sdk: v4.NewSigner()}
}

// Sign sets the SigV4 headers on req for creds at t; payloadHash is the
// lower-case hex SHA-256 of the body.
func (s *Signer) Sign(ctx context.Context, req *http.Request, creds aws.Credentials, payloadHash string, t time.Time) error {
	return s.sign(ctx, req, creds, payloadHash, t, "")
}

// sign is Sign with req.URL.EscapedPath() given, or "".
func (s *Signer) sign(ctx context.Context, req *http.Request, creds aws.Credentials, payloadHash string, t time.Time, escapedPath string) error {
	if s.fast.signPath(req, creds, payloadHash, t, escapedPath) {
		return nil
	}
	return s.sdk.SignHTTP(ctx, creds, req, payloadHash, s.fast.service, s.fast.region, t)
}

// macState is an HMAC-SHA256 keyed with a signing key, and room for its sum.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// signedHeader is one header in the canonical request.
type signedHeader struct {
	lower  string
	values []string
}

// lowerName returns the lower-case form of a canonical header name, without
// allocating for the names sent here.
func lowerName(k string) string {
	switch k {
	case "Content-Type":
		return "content-type"
	case "X-Amz-Target":
		return "x-amz-target"
	case "X-Amz-Invocation-Type":
		return "x-amz-invocation-type"
	case "Accept":
		return "accept"
	}
	return strings.ToLower(k)
}

// keyFor returns the signing key of date for creds (its scope and a pool
// of HMAC states keyed with it), deriving it when the day or the
// credentials changed.
func (s *fastSigner) keyFor(date string, creds aws.Credentials) *signingKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.key; k != nil && k.date == date && k.accessKey == creds.AccessKeyID && k.secret == creds.SecretAccessKey {
		return k
	}
	key := hmacSum([]byte("AWS4"+creds.SecretAccessKey), date)
	key = hmacSum(key, s.region)
	key = hmacSum(key, s.service)
	key = hmacSum(key, "aws4_request")
	s.key = &signingKey{date: date, accessKey: creds.AccessKeyID, secret: creds.SecretAccessKey,
		scope: date + "/" + s.region + "/" + s.service + "/aws4_request",
		macs:  &sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, key)} }}}
	return s.key
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// cleanValue reports whether v is signed as it is: no leading or trailing
// white space and no run of spaces (which SigV4 would trim or collapse).
// A value that starts or ends with a non-ASCII byte is left to the SDK,
// which trims Unicode spaces too.
func cleanValue(v string) bool {
	if v == "" {
		return true
	}
	if strings.Contains(v, "  ") {
		return false
	}
	first, last := v[0], v[len(v)-1]
	return !isSpace(first) && !isSpace(last) && first < 0x80 && last < 0x80
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// defaultPort reports whether host names the scheme's default port, which
// the SDK strips from the signed host.
func defaultPort(scheme, host string) bool {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.Contains(host[i:], "]") {
		return false
	}
	port := host[i+1:]
	return (scheme == "http" && port == "80") || (scheme == "https" && port == "443")
}

// AppendEscapedPath appends path to b escaped as AWS signs it: every byte
// but the unreserved ones (A-Z, a-z, 0-9, '-', '.', '_', '~') as %XX, and
// '/' too when encodeSep is set. It is smithy-go's httpbinding.EscapePath
// without its per-byte formatting.
func AppendEscapedPath(b []byte, path string, encodeSep bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	start := 0 // of the run of bytes kept as they are
	for i := 0; i < len(path); i++ {
		c := path[i]
		if keep[c] || (c == '/' && !encodeSep) {
			continue
		}
		b = append(b, path[start:i]...)
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		start = i + 1
	}
	return append(b, path[start:]...)
}

// keep marks the unreserved bytes, which are never escaped.
var keep = func() (k [256]bool) {
	for c := range 256 {
		k[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~'
	}
	return k
}()
