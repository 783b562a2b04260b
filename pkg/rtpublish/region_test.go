package rtpublish_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/pkg/rtpublish"
)

// scopeOf records the credential scope of each request and answers 200.
type scopeOf struct{ scopes []string }

func (s *scopeOf) RoundTrip(r *http.Request) (*http.Response, error) {
	auth := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, "Credential=")
	cred, _, _ = strings.Cut(cred, ",")
	s.scopes = append(s.scopes, cred[strings.Index(cred, "/")+1:])
	body := `{"channel":"c","recipients":0,"delivered":0}`
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// TestRegionOfTheEndpoint: without Options.Region the signature is scoped
// to the region of an execute-api endpoint, which API Gateway requires,
// else to us-east-1; an explicit Region wins.
func TestRegionOfTheEndpoint(t *testing.T) {
	for _, tc := range []struct{ endpoint, region, want string }{
		{"https://abc123.execute-api.eu-west-1.amazonaws.com", "", "eu-west-1"},
		{"https://abc123.execute-api.cn-north-1.amazonaws.com.cn/", "", "cn-north-1"},
		{"https://abc123-vpce-0a1b.execute-api.ap-south-1.vpce.amazonaws.com", "", "ap-south-1"},
		{"https://abc123.execute-api.eu-west-1.amazonaws.com", "eu-central-1", "eu-central-1"},
		{"https://publish.example.com", "", "us-east-1"},
		{"http://127.0.0.1:3001/api", "", "us-east-1"},
		{"http://127.0.0.1:3001/api", "eu-west-1", "eu-west-1"},
	} {
		rt := &scopeOf{}
		c, err := rtpublish.New(tc.endpoint, &rtpublish.Options{Credentials: localCreds, Region: tc.region, HTTPClient: &http.Client{Transport: rt}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "c", Payload: 1}); err != nil {
			t.Fatalf("%s: %v", tc.endpoint, err)
		}
		if want := tc.want + "/execute-api/aws4_request"; len(rt.scopes) != 1 || !strings.HasSuffix(rt.scopes[0], want) {
			t.Errorf("%s with Region %q: scope %v, want .../%s", tc.endpoint, tc.region, rt.scopes, want)
		}
	}
}
