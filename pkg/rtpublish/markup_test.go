package rtpublish_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/pkg/rtpublish"
)

// TestMarkupIsSentAsItIs: a payload of markup that the publish API accepts
// as a raw JSON body (12 KB of '<', '&' and '>') is accepted through the
// client too, as a value and as a caller's json.RawMessage, and reaches
// the subscriber: the client does not escape each of those characters as
// six bytes, which made the body 72 KB and refused with FRAME_TOO_LARGE.
func TestMarkupIsSentAsItIs(t *testing.T) {
	for name, srv := range servers(t) {
		t.Run(name, func(t *testing.T) {
			a := subscribe(t, srv, "acme", "alice", "order-updates")
			a.conn.SetReadLimit(1 << 20) // the server's update frame escapes the markup
			markup := strings.Repeat("<&>", 4<<10)
			payload := `{"html":"` + markup + `"}`
			raw := `{"tenant":"acme","channel":"order-updates","payload":` + payload + `}`
			if status, body := signedRequest(t, http.MethodPost, srv.APIURL()+"/publish", []byte(raw)); status != http.StatusOK {
				t.Fatalf("the raw body: %d %s, want 200", status, body)
			}
			expectHTML(a, markup)
			c := newClient(t, srv, localCreds, nil)
			for _, p := range []any{map[string]any{"html": markup}, json.RawMessage(payload)} {
				if _, err := c.Publish(t.Context(), rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: p}); err != nil {
					t.Fatalf("the same payload (%T) through the client: %v", p, err)
				}
				expectHTML(a, markup)
			}
			marker(t, c, "acme", "order-updates", a)
		})
	}
}

// expectHTML reads the next frame and checks that it is an update of
// order-updates whose payload is {"html": html}.
func expectHTML(s *subscriber, html string) {
	s.t.Helper()
	f := s.next()
	var p struct{ HTML string }
	if f.Type != "update" || f.Channel != "order-updates" || json.Unmarshal(f.Payload, &p) != nil || p.HTML != html {
		s.t.Fatalf("%s: got %s %s of %d bytes, want the update of the markup", s.name, f.Type, f.Channel, len(f.Payload))
	}
}
