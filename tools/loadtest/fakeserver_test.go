package loadtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// startFakeServer starts a minimal WebSocket server speaking the part of
// the protocol a load run uses: it acknowledges subscribes, and delivers
// each publish to the channel's subscribers at once before acknowledging
// it with the recipient count. With resendAfter > 0 it delivers every
// publish a second time that long after (a post retried after its first
// attempt had arrived). It returns the ws:// URL.
func startFakeServer(t *testing.T, resendAfter time.Duration) string {
	t.Helper()
	var mu sync.Mutex
	subs := map[string][]*websocket.Conn{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx := context.Background()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var f struct {
				Type, Channel, MessageID string
				Payload                  json.RawMessage
			}
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			switch f.Type {
			case "subscribe":
				mu.Lock()
				subs[f.Channel] = append(subs[f.Channel], c)
				mu.Unlock()
				_ = c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"ack","replyTo":%q}`, f.MessageID))
			case "publish":
				mu.Lock()
				rcpt := append([]*websocket.Conn(nil), subs[f.Channel]...)
				mu.Unlock()
				upd := fmt.Appendf(nil, `{"type":"update","channel":%q,"payload":%s}`, f.Channel, f.Payload)
				deliver := func() {
					for _, s := range rcpt {
						_ = s.Write(context.Background(), websocket.MessageText, upd)
					}
				}
				deliver()
				_ = c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"ack","replyTo":%q,"payload":{"recipients":%d}}`, f.MessageID, len(rcpt)))
				if resendAfter > 0 {
					time.AfterFunc(resendAfter, deliver)
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}
