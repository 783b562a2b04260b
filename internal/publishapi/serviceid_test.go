package publishapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/publishapi"
)

// TestUserCannotTakeTheServiceIdentity: the publish API publishes as the
// user handler.DefaultServiceID, and its idempotencyKey becomes the
// frame's messageId. A tenant user whose token's sub is that id would
// share the service's (tenant, channel, userId, messageId) space: their
// frames would carry the backend's userId, and a publish of theirs with
// a messageId the order service later uses as its key would make the
// service's publish fail for good with IDEMPOTENCY_MISMATCH. $connect
// refuses such a token, so the service's publish goes through.
func TestUserCannotTakeTheServiceIdentity(t *testing.T) {
	ctx := t.Context()
	secret := []byte("0123456789abcdef0123456789abcdef")
	authn, err := auth.NewTokenAuth(ctx, auth.TokenSettings{Secret: string(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	retention, err := handler.ParseRetention("order-updates=500/10m")
	if err != nil {
		t.Fatal(err)
	}
	b, err := app.Build(ctx, app.Settings{ManagementEndpoint: "http://127.0.0.1:1/ws", History: retention},
		&app.Options{Logger: quiet, Auth: authn})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.SignHS256(secret, map[string]any{"sub": handler.DefaultServiceID, "tenant": "acme",
		"roles": []string{"member"}, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(route, eventType, body string) events.APIGatewayWebsocketProxyRequest {
		return events.APIGatewayWebsocketProxyRequest{Body: body, QueryStringParameters: map[string]string{"token": tok},
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{ConnectionID: "c1", RequestID: route + body,
				RouteKey: route, EventType: eventType, Stage: "prod", DomainName: "127.0.0.1:1"}}
	}
	if resp, _ := b.Handler.Connect(ctx, ev("$connect", "CONNECT", "")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("$connect with sub %q = %d, want 401", handler.DefaultServiceID, resp.StatusCode)
	}
	// Whatever $connect answered, the user's publish with the order
	// service's future key must not take it.
	resp, _ := b.Handler.Message(ctx, ev("$default", "MESSAGE",
		`{"type":"publish","messageId":"order-1001-v3","channel":"order-updates","payload":{"price":0}}`))
	t.Logf("the user's publish: %s", resp.Body)

	api := publishapi.New(publishapi.Config{}, b.Handler, b.Store, nil, quiet)
	a := post(t, api, "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"price":99},"idempotencyKey":"order-1001-v3"}`)
	if a.status != http.StatusOK || a.body["duplicate"] != nil {
		t.Fatalf("the order service's publish with its own key = %d %v, want 200 and not a duplicate", a.status, a.body)
	}
	// The key is the service's now: its retry is a duplicate, another
	// request with it a mismatch.
	if a := post(t, api, "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"price":99},"idempotencyKey":"order-1001-v3"}`); a.status != http.StatusOK || a.body["duplicate"] != true {
		t.Errorf("retry = %d %v, want a duplicate", a.status, a.body)
	}
}
