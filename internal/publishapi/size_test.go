package publishapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/publishapi"
)

// padded returns body with pad bytes of white space between its tokens:
// the same request, as a pretty-printer could write it.
func padded(body string, pad int) string {
	return strings.Replace(body, ",", ","+strings.Repeat(" ", pad/2)+"\n"+strings.Repeat("\t", pad-pad/2-1), 1)
}

// TestSizeIsTheFrames: FRAME_TOO_LARGE is decided by the frame a request
// becomes (compact, at most protocol.MaxClientFrameBytes), not by the
// bytes of its body: a small payload sent with 40 KB of white space is
// published, over HTTP and through the Lambda handler; a frame of 32,768
// bytes is published and one of 32,769 is refused. A body past
// MaxBodyBytes is refused before it is parsed, with a message of its own.
func TestSizeIsTheFrames(t *testing.T) {
	small := `{"tenant":"acme","channel":"order-updates","payload":{"orderId":"SO-1","note":"` + strings.Repeat("n", 1<<10) + `"}}`
	body := padded(small, 40<<10)
	api, c, _ := newAPI(t)
	if a := post(t, api, "/publish", body); a.status != 200 {
		t.Fatalf("1 KB payload in a body of %d bytes = %v, want it published", len(body), a)
	}
	var req events.APIGatewayV2HTTPRequest
	readFixture(t, "apigw-http-publish.json", &req)
	req.Body = base64.StdEncoding.EncodeToString([]byte(body))
	if resp, err := api.HTTPAPI(t.Context(), req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTPAPI with a padded body = %d %s, %v; want it published", resp.StatusCode, resp.Body, err)
	}
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("published %d times, want 2", n)
	}

	// With a key the frame is known to the byte:
	// {"type":"publish","messageId":"k-1","channel":"order-updates","payload":["x...","x..."]}
	// (two strings: one may be at most 16 KB).
	payload := func(n int) string {
		head, sep, tail := `{"type":"publish","messageId":"k-1","channel":"order-updates","payload":["`, `","`, `"]}`
		fill := n - len(head) - len(sep) - len(tail)
		return `["` + strings.Repeat("x", fill/2) + sep + strings.Repeat("x", fill-fill/2) + `"]`
	}
	for _, tc := range []struct {
		frame  int
		status int
	}{{protocol.MaxClientFrameBytes, 200}, {protocol.MaxClientFrameBytes + 1, 413}} {
		api, _, _ := newAPI(t)
		b := padded(`{"tenant":"acme","channel":"order-updates","idempotencyKey":"k-1","payload":`+payload(tc.frame)+`}`, 4<<10)
		a := post(t, api, "/publish", b)
		if a.status != tc.status || tc.status == 413 && a.body["code"] != "FRAME_TOO_LARGE" {
			t.Fatalf("a frame of %d bytes = %v, want %d", tc.frame, a, tc.status)
		}
	}

	huge := padded(small, publishapi.MaxBodyBytes)
	a := post(t, api, "/publish", huge)
	if msg, _ := a.body["message"].(string); a.status != 413 || a.body["code"] != "FRAME_TOO_LARGE" || !strings.Contains(msg, fmt.Sprint(publishapi.MaxBodyBytes)) || !strings.Contains(msg, "body") {
		t.Fatalf("a body of %d bytes = %v, want 413 FRAME_TOO_LARGE naming the body bound", len(huge), a)
	}
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("published %d times, want 2", n)
	}
}

// TestLocalEventSizeIsTheDetails: the local POST /events bounds an
// event's detail as the publish API bounds a body (the frame it becomes),
// not the whole event: EventBridge hands the function the event, and only
// its detail is a request. An event whose detail is a small publish
// is published whatever its other fields hold.
func TestLocalEventSizeIsTheDetails(t *testing.T) {
	api, c, _ := newAPI(t)
	var ev map[string]any
	readFixture(t, "eventbridge-publish.json", &ev)
	resources := make([]string, 500)
	for i := range resources {
		resources[i] = fmt.Sprintf("arn:aws:dynamodb:eu-west-1:111122223333:table/orders/stream/2026-12-06T03:00:00.%03d", i)
	}
	ev["resources"] = resources
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) <= 36<<10 {
		t.Fatalf("the event is %d bytes, want more than 36 KB", len(b))
	}
	if a := post(t, api, "/events", string(b)); a.status != 200 {
		t.Fatalf("an event of %d bytes with a small detail = %v, want it published", len(b), a)
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("published %d times, want once", n)
	}
}
