package devserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
)

// slowDisconnect answers every route at once except $disconnect, which
// takes longer than the caller's shutdown deadline (as a $disconnect
// stuck on an unreachable DynamoDB endpoint does, within the 29 s
// integration timeout).
// slowDisconnect takes 3 s to run $disconnect.
type slowDisconnect struct{}

func (slowDisconnect) Invoke(ctx context.Context, route string, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	if route == "$disconnect" {
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

func (slowDisconnect) Sweep(context.Context) error { return nil }

// TestCloseReturnsAtItsDeadline: Close must return (with the
// deadline's error) once its context ends, as cmd/localserver relies on
// for its 10 s shutdown bound.
// TestCloseReturnsAtItsDeadline: a shutdown whose deadline passes while a
// $disconnect is still running returns at the deadline (the local server
// hung for good: the HTTP server was never stopped, so Serve never
// returned and Close waited for it).
func TestCloseReturnsAtItsDeadline(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	srv, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Invoker: slowDisconnect{}, SweepInterval: -1,
		Settings: app.Settings{DevIdentity: true}})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(context.Background(), srv.WebSocketURL()+"?userId=u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- srv.Close(ctx) }()
	select {
	case err := <-done:
		if err == nil || time.Since(start) > 2*time.Second {
			t.Fatalf("Close returned %v after %v; want the deadline's error at about 500 ms", err, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Close(ctx with a 500 ms deadline) has not returned after 10 s (the $disconnect finished after 3 s)")
	}
}
