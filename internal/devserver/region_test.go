package devserver

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

// TestRegion: the local gateway takes the settings' region (AWS_REGION)
// as its API's: a Management API call signed for another region is
// refused, and the server's own client, posting over HTTP, signs for it
// (a publish reaches a subscriber).
func TestRegion(t *testing.T) {
	srv := startForPosters(t, Options{Settings: app.Settings{Region: "eu-west-1"}, ManagementHTTP: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")
	for region, wantErr := range map[string]string{"eu-west-1": "GoneException", "us-east-1": "Credential should be scoped to a valid region, not 'us-east-1'."} {
		c := mgmtapi.New(srv.Endpoint(), aws.Config{Region: region, Credentials: creds}, &mgmtapi.Options{MaxAttempts: 1})
		if _, err := c.GetConnection(ctx, "R1kmxc2VNjMCFIA="); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("GetConnection signed for %s = %v, want %q", region, err, wantErr)
		}
	}

	dial := func(user string) *websocket.Conn {
		conn, _, err := websocket.Dial(ctx, srv.WebSocketURL()+"?userId="+user, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.CloseNow() })
		return conn
	}
	exchange := func(conn *websocket.Conn, frame string) {
		if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if _, reply, err := conn.Read(ctx); err != nil || !strings.Contains(string(reply), `"type":"ack"`) {
			t.Fatalf("%s: reply %s, %v", frame, reply, err)
		}
	}
	listener, publisher := dial("lena"), dial("rey")
	exchange(listener, `{"type":"subscribe","channel":"order-updates","messageId":"sub-1"}`)
	exchange(publisher, `{"type":"publish","channel":"order-updates","payload":{"n":1},"messageId":"pub-1"}`)
	_, got, err := listener.Read(ctx)
	var f struct{ Type, MessageID string }
	if err != nil || json.Unmarshal(got, &f) != nil || f.Type != "update" || f.MessageID != "pub-1" {
		t.Fatalf("subscriber got %s, %v; want the update pub-1, posted over HTTP signed for eu-west-1", got, err)
	}
}
