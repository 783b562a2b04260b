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

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

// TestStageWithSlashes: a stage given with slashes around it (-stage /ws)
// names the same stage as without them, for the gateway and for the
// handlers alike: the endpoint recorded with each connection is the
// gateway's, a GetConnection through it finds the connection, and a
// publication reaches its subscriber in process and over the signed HTTP
// Management API.
func TestStageWithSlashes(t *testing.T) {
	for _, stage := range []string{"/ws", "ws/", "/ws/", "//dev//"} {
		for _, mgmtHTTP := range []bool{false, true} {
			name := strings.ReplaceAll(stage, "/", "_") + map[bool]string{false: "-direct", true: "-http"}[mgmtHTTP]
			t.Run(name, func(t *testing.T) {
				srv := startForPosters(t, Options{Stage: stage, ManagementHTTP: mgmtHTTP})
				if want := "http://" + srv.Addr() + "/" + strings.Trim(stage, "/"); srv.Endpoint() != want {
					t.Fatalf("gateway endpoint %s, want %s", srv.Endpoint(), want)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				listener, publisher := dialDev(ctx, t, srv, "lena"), dialDev(ctx, t, srv, "rey")

				conns, err := srv.Built.Store.UserConnections(ctx, auth.DefaultTenantName, "lena")
				if err != nil || len(conns) != 1 {
					t.Fatalf("connections of lena: %v, %v", conns, err)
				}
				if got := conns[0].Endpoint; got != srv.Endpoint() {
					t.Errorf("connection recorded with endpoint %s, want the gateway's %s", got, srv.Endpoint())
				}
				creds := credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")
				c := mgmtapi.New(conns[0].Endpoint, aws.Config{Region: srv.Gateway.Region(), Credentials: creds}, &mgmtapi.Options{MaxAttempts: 1})
				if _, err := c.GetConnection(ctx, conns[0].ID); err != nil {
					t.Errorf("GetConnection at the recorded endpoint: %v", err)
				}

				exchangeAck(ctx, t, listener, `{"type":"subscribe","channel":"order-updates","messageId":"sub-1"}`)
				exchangeAck(ctx, t, publisher, `{"type":"publish","channel":"order-updates","payload":{"n":1},"messageId":"pub-1"}`)
				readUpdate(ctx, t, listener, "pub-1", map[bool]string{false: "handed over in process", true: "posted over HTTP"}[mgmtHTTP])
			})
		}
	}
}

// dialDev connects to srv as the development identity user; the
// connection is closed when the test ends.
func dialDev(ctx context.Context, t *testing.T, srv *Server, user string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, srv.WebSocketURL()+"?userId="+user, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// exchangeAck sends frame and fails the test unless the reply is an ack.
func exchangeAck(ctx context.Context, t *testing.T, conn *websocket.Conn, frame string) {
	t.Helper()
	if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	if _, reply, err := conn.Read(ctx); err != nil || !strings.Contains(string(reply), `"type":"ack"`) {
		t.Fatalf("%s: reply %s, %v", frame, reply, err)
	}
}

// readUpdate fails the test unless the next frame on conn is the update
// of the publish messageID; how says how it should have come.
func readUpdate(ctx context.Context, t *testing.T, conn *websocket.Conn, messageID, how string) {
	t.Helper()
	_, got, err := conn.Read(ctx)
	var f struct{ Type, MessageID string }
	if err != nil || json.Unmarshal(got, &f) != nil || f.Type != "update" || f.MessageID != messageID {
		t.Fatalf("subscriber got %s, %v; want the update %s, %s", got, err, messageID, how)
	}
}
