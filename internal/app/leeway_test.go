package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
)

// TestTokenExpirySameAtConnectAndFrames: $connect and the connection's
// frames judge exp by one rule. A token shortly past its exp is refused at
// $connect (it used to pass within the clock-skew leeway, and then every
// frame was refused TOKEN_EXPIRED); one shortly before it connects and
// its frames are answered.
func TestTokenExpirySameAtConnectAndFrames(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	ctx := context.Background()
	ta, err := auth.NewTokenAuth(ctx, auth.TokenSettings{Secret: string(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(ctx, Settings{Region: "eu-west-1"}, &Options{Auth: ta, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	connect := func(id string, expiredAgo time.Duration) (int, events.APIGatewayWebsocketProxyRequestContext) {
		tok, err := auth.SignHS256(secret, map[string]any{"sub": "alice", "exp": time.Now().Add(-expiredAgo).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		rc := events.APIGatewayWebsocketProxyRequestContext{ConnectionID: id, DomainName: "x.execute-api.eu-west-1.amazonaws.com",
			Stage: "prod", APIID: "x", RouteKey: "$connect", EventType: "CONNECT"}
		resp, _ := b.Handler.Connect(ctx, events.APIGatewayWebsocketProxyRequest{RequestContext: rc, QueryStringParameters: map[string]string{"token": tok}})
		rc.RouteKey, rc.EventType = "$default", "MESSAGE"
		return resp.StatusCode, rc
	}
	if status, _ := connect("Conn0=", 2*time.Second); status != 401 {
		t.Errorf("$connect with a token 2 s past exp = %d, want 401", status)
	}
	status, rc := connect("Conn1=", -10*time.Second)
	if status != 200 {
		t.Fatalf("$connect with a token 10 s before exp = %d, want 200", status)
	}
	msg, _ := b.Handler.Message(ctx, events.APIGatewayWebsocketProxyRequest{RequestContext: rc, Body: `{"type":"ping","messageId":"m1"}`})
	if !strings.Contains(msg.Body, `"type":"pong"`) {
		t.Errorf("the first frame of a connection $connect accepted: %s, want pong", msg.Body)
	}
}
