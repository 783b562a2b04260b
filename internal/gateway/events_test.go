package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// connIDForm is the form of the connection, request and message ids in
// real API Gateway events (see testdata): 15 characters of URL-safe base64
// and a '=' of padding.
const connIDForm = `^[A-Za-z0-9_-]{15}=$`

// isConnID reports whether s has the form of an API Gateway id.
func isConnID(s string) bool { return regexp.MustCompile(connIDForm).MatchString(s) }

// loadFixture reads a real API Gateway event from testdata as generic JSON.
func loadFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var typed events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(raw, &typed); err != nil {
		t.Fatalf("fixture %s does not decode as an event: %v", name, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// asJSON marshals an event as Lambda would receive it and decodes it as
// generic JSON.
func asJSON(t *testing.T, req events.APIGatewayWebsocketProxyRequest) map[string]any {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// shape flattens a JSON document into "path: kind" lines, e.g.
// "requestContext.connectedAt: number".
func shape(doc map[string]any) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			out = append(out, prefix+": object")
			for k, e := range x {
				walk(strings.TrimPrefix(prefix+"."+k, "."), e)
			}
		case []any:
			out = append(out, prefix+": array")
			for _, e := range x {
				walk(prefix+"[]", e)
			}
		case string:
			out = append(out, prefix+": string")
		case float64:
			out = append(out, prefix+": number")
		case bool:
			out = append(out, prefix+": bool")
		case nil:
			out = append(out, prefix+": null")
		}
	}
	walk("", doc)
	sort.Strings(out)
	return dedupe(out)
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// diff returns the lines of a missing from b.
func diff(a, b []string) []string {
	in := map[string]bool{}
	for _, v := range b {
		in[v] = true
	}
	var out []string
	for _, v := range a {
		if !in[v] {
			out = append(out, v)
		}
	}
	return out
}

// checkForms checks the values whose form API Gateway fixes: ids, times,
// direction.
func checkForms(t *testing.T, rc map[string]any, now time.Time) {
	t.Helper()
	for _, k := range []string{"connectionId", "requestId", "extendedRequestId", "messageId"} {
		if v, ok := rc[k]; ok && !isConnID(fmt.Sprint(v)) {
			t.Errorf("%s = %q, want the form %s", k, v, connIDForm)
		}
	}
	rt, err := time.Parse(requestTimeLayout, fmt.Sprint(rc["requestTime"]))
	if err != nil {
		t.Errorf("requestTime %q: %v", rc["requestTime"], err)
	}
	epoch := int64(rc["requestTimeEpoch"].(float64))
	connected := int64(rc["connectedAt"].(float64))
	if !now.IsZero() {
		if d := now.UnixMilli() - epoch; d < -60_000 || d > 60_000 {
			t.Errorf("requestTimeEpoch %d is not milliseconds near now (%d)", epoch, now.UnixMilli())
		}
		if rt.Unix() != epoch/1000 {
			t.Errorf("requestTime %q and requestTimeEpoch %d disagree", rc["requestTime"], epoch)
		}
	}
	if connected > epoch {
		t.Errorf("connectedAt %d after requestTimeEpoch %d", connected, epoch)
	}
	if rc["messageDirection"] != "IN" {
		t.Errorf("messageDirection = %v, want IN", rc["messageDirection"])
	}
}

// TestEventsMatchFixtures compares the events the gateway builds with real
// API Gateway events shipped with aws-lambda-go: the same fields, of the
// same JSON kinds, with values of the same form.
func TestEventsMatchFixtures(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		produce func(t *testing.T, c *client, inv *fakeInvoker) events.APIGatewayWebsocketProxyRequest
		check   func(t *testing.T, got events.APIGatewayWebsocketProxyRequest)
	}{
		{
			name:    "MESSAGE",
			fixture: "apigw-websocket-request-send-message.json",
			produce: func(t *testing.T, c *client, inv *fakeInvoker) events.APIGatewayWebsocketProxyRequest {
				c.send(t, websocket.MessageText, []byte("{\r\n\t\"a\": 1\r\n}"))
				return next(t, inv.messages, "$default")
			},
			check: func(t *testing.T, got events.APIGatewayWebsocketProxyRequest) {
				if got.Body != "{\r\n\t\"a\": 1\r\n}" || got.IsBase64Encoded {
					t.Errorf("body = %q (base64 %v), want the frame as sent", got.Body, got.IsBase64Encoded)
				}
				if got.RequestContext.EventType != EventMessage || got.RequestContext.RouteKey != RouteDefault {
					t.Errorf("eventType %q routeKey %q", got.RequestContext.EventType, got.RequestContext.RouteKey)
				}
			},
		},
		{
			name:    "DISCONNECT",
			fixture: "apigw-websocket-request-disconnect.json",
			produce: func(t *testing.T, c *client, inv *fakeInvoker) events.APIGatewayWebsocketProxyRequest {
				_ = c.conn.Close(websocket.StatusGoingAway, "")
				return next(t, inv.disconnects, "$disconnect")
			},
			check: func(t *testing.T, got events.APIGatewayWebsocketProxyRequest) {
				rc := got.RequestContext
				if rc.EventType != EventDisconnect || rc.RouteKey != RouteDisconnect || rc.DisconnectStatusCode != 1001 {
					t.Errorf("eventType %q routeKey %q status %d", rc.EventType, rc.RouteKey, rc.DisconnectStatusCode)
				}
				want := map[string]string{"Host": rc.DomainName, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
				if fmt.Sprint(got.Headers) != fmt.Sprint(want) {
					t.Errorf("headers = %v, want %v", got.Headers, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fixture := loadFixture(t, tt.fixture)
			checkForms(t, fixture["requestContext"].(map[string]any), time.Time{})

			inv := newFakeInvoker()
			s := startGateway(t, Config{}, inv)
			c := dial(t, s, nil)
			connect := next(t, inv.connects, "$connect")
			got := tt.produce(t, c, inv)
			doc := asJSON(t, got)

			want, have := shape(fixture), shape(doc)
			if missing := diff(want, have); len(missing) > 0 {
				t.Errorf("fields of the real event missing or of another kind:\n  %s", strings.Join(missing, "\n  "))
			}
			if extra := diff(have, want); len(extra) > 0 {
				t.Errorf("fields the real event does not have:\n  %s", strings.Join(extra, "\n  "))
			}
			checkForms(t, doc["requestContext"].(map[string]any), time.Now())

			rc, crc := got.RequestContext, connect.RequestContext
			if rc.ConnectionID != crc.ConnectionID || rc.ConnectedAt != crc.ConnectedAt {
				t.Errorf("connectionId/connectedAt %q/%d differ from $connect's %q/%d", rc.ConnectionID, rc.ConnectedAt, crc.ConnectionID, crc.ConnectedAt)
			}
			if rc.RequestID == crc.RequestID {
				t.Error("requestId repeats the $connect one")
			}
			if rc.Identity.UserAgent != testUserAgent || rc.Identity.SourceIP != "127.0.0.1" {
				t.Errorf("identity = %+v", rc.Identity)
			}
			if rc.DomainName != strings.TrimSuffix(strings.TrimPrefix(s.WebSocketURL(), "ws://"), "/ws") || rc.Stage != "ws" || rc.APIID != DefaultAPIID {
				t.Errorf("domainName %q stage %q apiId %q", rc.DomainName, rc.Stage, rc.APIID)
			}
			tt.check(t, got)
		})
	}
}
