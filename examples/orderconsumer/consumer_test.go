package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/store"
)

// editor is a WebSocket client of the local server that waits for each
// reply.
type editor struct {
	t    *testing.T
	conn *websocket.Conn
	n    int
}

func (e *editor) call(typ string, payload map[string]any) map[string]any {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.n++
	id := fmt.Sprintf("m%d", e.n)
	b, _ := json.Marshal(map[string]any{"type": typ, "messageId": id, "payload": payload})
	if err := e.conn.Write(ctx, websocket.MessageText, b); err != nil {
		e.t.Fatal(err)
	}
	for {
		_, data, err := e.conn.Read(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		var f struct {
			Type    string         `json:"type"`
			ReplyTo string         `json:"replyTo"`
			Payload map[string]any `json:"payload"`
		}
		if json.Unmarshal(data, &f) == nil && f.ReplyTo == id {
			if f.Type != "ack" {
				e.t.Fatalf("%s answered %s", typ, data)
			}
			return f.Payload
		}
	}
}

// TestConsumerKeepsACopyOfTheOrder: changes made to an order on the local
// server reach the change feed; delivered to the consumer out of order and
// some twice, as EventBridge may, they leave its copy equal to the
// server's order.
func TestConsumerKeepsACopyOfTheOrder(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	srv, err := devserver.Start(context.Background(), devserver.Options{Addr: "127.0.0.1:0", SweepInterval: -1, ChangeFeedInterval: -1,
		Settings: app.Settings{DevIdentity: true}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, srv.WebSocketURL()+"?"+url.Values{"userId": {"alice"}, "tenant": {"acme"}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(websocket.StatusNormalClosure, "")
	ed := &editor{t: t, conn: conn}
	lock := map[string]any{"entityType": "order", "entityId": "SO-1042"}
	token := ed.call("lock.acquire", lock)["lock"].(map[string]any)["fencingToken"]
	edits := []struct {
		op, path string
		after    any
	}{{"update", "status", "packed"}, {"update", "lines", []any{}}, {"insert", "lines[0]", map[string]any{"sku": "A", "qty": 2}},
		{"update", "lines[0].qty", 3}, {"update", "status", "shipped"}, {"delete", "lines[0]", nil}}
	for i, e := range edits {
		p := map[string]any{"entityType": "order", "entityId": "SO-1042", "baseVersion": i, "operation": e.op, "path": e.path, "fencingToken": token}
		if e.op != "delete" {
			p["after"] = e.after
		}
		ed.call("change", p)
	}
	if _, err := srv.DrainChanges(ctx); err != nil {
		t.Fatal(err)
	}
	// The rule matches detail-type rtcollab.Change: the feed's lock event
	// (the grant above) goes to consumers of rtcollab.Lock instead.
	var feed []changefeed.Event
	locks := 0
	for _, ev := range srv.Changes.Since(0) {
		switch ev.DetailType() {
		case changefeed.DetailType:
			feed = append(feed, ev)
		case changefeed.LockDetailType:
			locks++
		}
	}
	if len(feed) != len(edits) || locks != 1 {
		t.Fatalf("the feed holds %d change events and %d lock events, want %d and 1", len(feed), locks, len(edits))
	}
	// EventBridge may deliver out of order and more than once.
	deliveries := append(append([]changefeed.Event{}, feed...), feed[1], feed[4])
	rand.New(rand.NewPCG(3, 5)).Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	r := NewReplica()
	for _, c := range deliveries {
		detail, _ := json.Marshal(c)
		if err := handle(r, slog.New(slog.DiscardHandler), events.EventBridgeEvent{ID: "e-" + c.ID, DetailType: changefeed.DetailType, Source: changefeed.Source, Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := srv.Built.Store.GetHead(ctx, store.EntityKey{Tenant: "acme", Type: "order", ID: "SO-1042"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := doc.Decode(head.Doc)
	if err != nil {
		t.Fatal(err)
	}
	got, v := r.Order("acme", "SO-1042")
	t.Logf("copy at version %d: %v", v, got)
	if v != head.Version || !doc.Equal(got, want) {
		t.Fatalf("copy at version %d: %v; the server's order at %d: %v", v, got, head.Version, want)
	}
}
