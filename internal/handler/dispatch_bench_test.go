package handler_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/ratelimit"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// discardPoster accepts every post and keeps nothing: the benchmarks
// measure the handler, not the Management API.
type discardPoster struct{}

func (discardPoster) PostToConnection(context.Context, string, []byte) error { return nil }

// benchAuth accepts every connection as a member of tenant "t1".
type benchAuth struct{}

func (benchAuth) Authenticate(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	return auth.Identity{UserID: "u-" + req.RequestContext.ConnectionID, Username: "U", Tenant: "t1"}, nil
}

func benchEvent(conn, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: conn, RequestID: "req", DomainName: "abc.execute-api.us-east-1.amazonaws.com", Stage: "prod",
			RouteKey: "$default", EventType: "MESSAGE",
		},
	}
}

// benchHandler returns a handler on the memory store whose channel
// "order:1" has subscribers connections, and the id of a connection
// (not subscribed) that sends the frames. Rate limits are lifted so that
// the loop measures dispatch, not refusals.
func benchHandler(b *testing.B, subscribers int) (*handler.Handler, string) {
	b.Helper()
	unlimited := ratelimit.Config{Rate: 1e12, Burst: 1 << 30}
	h, err := handler.New(handler.Config{RequestLimit: unlimited, CursorLimit: unlimited, FanoutConcurrency: 32}, handler.Deps{
		Store:   memory.New(nil),
		Posters: func(string) broadcast.Poster { return discardPoster{} },
		Auth:    benchAuth{},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range subscribers + 1 {
		id := fmt.Sprintf("conn%05d", i)
		if resp, _ := h.Connect(ctx, benchEvent(id, "")); resp.StatusCode != 200 {
			b.Fatalf("connect %s: %d", id, resp.StatusCode)
		}
		if i == subscribers {
			return h, id
		}
		resp, _ := h.Message(ctx, benchEvent(id, `{"type":"subscribe","channel":"order:1","messageId":"s"}`))
		if !strings.Contains(resp.Body, `"ack"`) {
			b.Fatalf("subscribe %s: %s", id, resp.Body)
		}
	}
	return h, ""
}

// BenchmarkDecode measures decoding and validating one client frame.
func BenchmarkDecode(b *testing.B) {
	frames := []struct{ name, body string }{
		{"ping", `{"type":"ping","messageId":"m1","timestamp":"2026-01-02T03:04:05Z"}`},
		{"publish-256B", `{"type":"publish","channel":"order:1","messageId":"m1","timestamp":"2026-01-02T03:04:05Z","payload":{"status":"paid","note":"` + strings.Repeat("x", 200) + `"}}`},
		{"publish-8KB", `{"type":"publish","channel":"order:1","messageId":"m1","payload":{"note":"` + strings.Repeat("x", 8000) + `"}}`},
	}
	for _, f := range frames {
		b.Run(f.name, func(b *testing.B) {
			data := []byte(f.body)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := protocol.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessage measures one $default invocation end to end inside the
// handler: decode, rate limit, connection lookup, dispatch on type, the
// route's work on the memory store, and the reply. Publishes post through
// a Poster that discards, so fan-out-N measures the handler's own cost of
// N posts.
func BenchmarkMessage(b *testing.B) {
	benches := []struct {
		name        string
		subscribers int
		body        string
	}{
		{"ping", 0, `{"type":"ping","messageId":"m1"}`},
		{"hello", 0, `{"type":"hello","messageId":"m1"}`},
		{"unknown-type", 0, `{"type":"nope","messageId":"m1"}`},
		{"bad-frame", 0, `{"type":`},
		{"subscribe-again", 0, `{"type":"subscribe","channel":"order:2","messageId":"m1"}`},
		{"publish/fanout-0", 0, `{"type":"publish","channel":"order:1","messageId":"m1","payload":{"status":"paid"}}`},
		{"publish/fanout-10", 10, `{"type":"publish","channel":"order:1","messageId":"m1","payload":{"status":"paid"}}`},
		{"publish/fanout-100", 100, `{"type":"publish","channel":"order:1","messageId":"m1","payload":{"status":"paid"}}`},
		{"publish/fanout-1000", 1000, `{"type":"publish","channel":"order:1","messageId":"m1","payload":{"status":"paid"}}`},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			h, sender := benchHandler(b, bb.subscribers)
			ctx := context.Background()
			ev := benchEvent(sender, bb.body)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := h.Message(ctx, ev)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("Message: %v %d", err, resp.StatusCode)
				}
			}
		})
	}
}
