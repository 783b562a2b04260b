package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/protocol/protocoltest"
)

// historyServer is one store the channel history tests run on.
type historyServer struct {
	name  string
	start func(t *testing.T) *devserver.Server
}

// historyServers are the stores of the channel history tests, with the
// given HISTORY_RETENTION: the embedded store, and DynamoDB when
// DYNAMODB_TEST_ENDPOINT names a server (make test starts moto for it).
func historyServers(t *testing.T, retention string) []historyServer {
	t.Helper()
	s := devserverSettings(retention)
	out := []historyServer{{"memory", func(t *testing.T) *devserver.Server { return startServer(t, s, gateway.Config{}) }}}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		out = append(out, historyServer{"dynamo", func(t *testing.T) *devserver.Server {
			d := s
			d.TableName, d.DynamoDBEndpoint, d.Region = fmt.Sprintf("hist-%d-%d", time.Now().UnixNano(), tableSeq.Add(1)), ep, "us-east-1"
			return startServer(t, d, gateway.Config{})
		}})
	}
	return out
}

// streamFrame is a server frame with the members of channel history.
type streamFrame struct {
	Type      string          `json:"type"`
	Channel   string          `json:"channel"`
	ReplyTo   string          `json:"replyTo"`
	MessageID string          `json:"messageId"`
	UserID    string          `json:"userId"`
	Payload   json.RawMessage `json:"payload"`
	Offset    int64           `json:"offset"`
	Epoch     string          `json:"epoch"`
	raw       []byte
}

// streamPage is the payload of a subscribe or history reply.
type streamPage struct {
	Channel      string             `json:"channel"`
	Recovered    *bool              `json:"recovered"`
	Position     *protocol.Position `json:"position"`
	Publications []struct {
		Offset    int64           `json:"offset"`
		MessageID string          `json:"messageId"`
		UserID    string          `json:"userId"`
		Payload   json.RawMessage `json:"payload"`
	} `json:"publications"`
	HasMore bool `json:"hasMore"`
}

// streamClient is a WebSocket client that checks every frame it sends and
// receives against docs/asyncapi.yaml, and keeps replies apart from
// events.
type streamClient struct {
	t       *testing.T
	name    string
	conn    *websocket.Conn
	spec    *protocoltest.Spec
	mu      sync.Mutex
	seq     int
	pending map[string]chan streamFrame // replies, by messageId
	types   map[string]string           // request type, by messageId
	events  chan streamFrame
	done    chan struct{}
	// invalid: the requests sent are meant to be refused; they are not
	// checked against the document.
	invalid bool
}

func streamDial(t *testing.T, srv *devserver.Server, user string) *streamClient {
	t.Helper()
	spec, err := protocoltest.Default()
	if err != nil {
		t.Fatalf("load asyncapi: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, srv.WebSocketURL()+"?userId="+url.QueryEscape(user), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	conn.SetReadLimit(1 << 20)
	c := &streamClient{t: t, name: user, conn: conn, spec: spec, pending: map[string]chan streamFrame{},
		types: map[string]string{}, events: make(chan streamFrame, 4096), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { c.close() })
	return c
}

func (c *streamClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var f streamFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Errorf("%s: undecodable frame %q", c.name, data)
			return
		}
		f.raw = data
		c.mu.Lock()
		ch, ok := c.pending[f.ReplyTo]
		typ := c.types[f.ReplyTo]
		delete(c.pending, f.ReplyTo)
		c.mu.Unlock()
		if ok {
			if err := c.spec.Reply(typ, data); err != nil {
				c.t.Errorf("%s: reply to %s does not match docs/asyncapi.yaml: %v\n%s", c.name, typ, err, data)
			}
			ch <- f
			continue
		}
		if err := c.spec.Event(data); err != nil {
			c.t.Errorf("%s: event does not match docs/asyncapi.yaml: %v\n%s", c.name, err, data)
		}
		select {
		case c.events <- f:
		default:
			c.t.Errorf("%s: event buffer full", c.name)
		}
	}
}

func (c *streamClient) close() {
	c.conn.Close(websocket.StatusNormalClosure, "")
	<-c.done
}

// call sends a request with the given messageId ("" for a new one) and
// returns its reply; safe for concurrent use.
func (c *streamClient) call(typ, channel, id string, payload any) streamFrame {
	c.t.Helper()
	c.mu.Lock()
	if id == "" {
		c.seq++
		id = fmt.Sprintf("%s-%d", c.name, c.seq)
	}
	ch := make(chan streamFrame, 1)
	c.pending[id], c.types[id] = ch, typ
	c.mu.Unlock()
	m := map[string]any{"type": typ, "messageId": id, "channel": channel}
	if payload != nil {
		m["payload"] = payload
	}
	b, _ := json.Marshal(m)
	if err := c.spec.Request(b); err != nil && !c.invalid {
		c.t.Errorf("%s: request does not match docs/asyncapi.yaml: %v\n%s", c.name, err, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
	select {
	case f := <-ch:
		return f
	case <-ctx.Done():
		c.t.Fatalf("%s: no reply to %s %s", c.name, typ, id)
	}
	return streamFrame{}
}

func (c *streamClient) ack(typ, channel, id string, payload any) streamFrame {
	c.t.Helper()
	f := c.call(typ, channel, id, payload)
	if f.Type != "ack" {
		c.t.Fatalf("%s %s: %s %s", c.name, typ, f.Type, f.Payload)
	}
	return f
}

func (c *streamClient) page(typ, channel string, payload any) streamPage {
	c.t.Helper()
	var p streamPage
	if err := json.Unmarshal(c.ack(typ, channel, "", payload).Payload, &p); err != nil {
		c.t.Fatalf("%s %s reply: %v", c.name, typ, err)
	}
	return p
}

// publish publishes payload on channel under messageID ("" for a new
// one), sending the same frame again while it is rate limited, as the SDK
// does; it returns the reply.
func (c *streamClient) publish(channel, messageID string, payload any) streamFrame {
	c.t.Helper()
	if messageID == "" {
		c.mu.Lock()
		c.seq++
		messageID = fmt.Sprintf("%s-p%d", c.name, c.seq)
		c.mu.Unlock()
	}
	for {
		f := c.call("publish", channel, messageID, payload)
		var e struct {
			Code    string `json:"code"`
			Details struct {
				RetryAfterMs int `json:"retryAfterMs"`
			} `json:"details"`
		}
		if f.Type != "error" || json.Unmarshal(f.Payload, &e) != nil || e.Code != "RATE_LIMITED" {
			return f
		}
		time.Sleep(time.Duration(e.Details.RetryAfterMs) * time.Millisecond)
	}
}

// offsetOf returns the offset of a publish ack.
func offsetOf(t *testing.T, f streamFrame) (int64, string) {
	t.Helper()
	var a struct {
		Offset int64  `json:"offset"`
		Epoch  string `json:"epoch"`
	}
	if f.Type != "ack" || json.Unmarshal(f.Payload, &a) != nil || a.Offset < 1 || a.Epoch == "" {
		t.Errorf("publish reply without a position: %s", f.raw)
	}
	return a.Offset, a.Epoch
}

// readAll pages through history since after, checking each page, and
// returns the offsets read.
func (c *streamClient) readAll(channel string, after int64, epoch string) []int64 {
	c.t.Helper()
	var got []int64
	for range 10000 {
		p := c.page("history", channel, map[string]any{"since": map[string]any{"offset": after, "epoch": epoch}, "limit": 1000})
		if p.Recovered == nil || !*p.Recovered {
			c.t.Fatalf("history since %d: not recovered: %+v", after, p)
		}
		for _, pub := range p.Publications {
			got = append(got, pub.Offset)
			after = pub.Offset
		}
		if !p.HasMore {
			return got
		}
	}
	c.t.Fatalf("history of %s: no end", channel)
	return nil
}

func offsets1To(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

// TestHistoryConcurrentPublishers: 10 publishers × 100 publications to one
// channel get offsets 1..1000, each once; a resend keeps its offset. On
// DynamoDB (moto, which serves one request at a time) the publishers send
// 20 each, to keep the suite's time reasonable; the store's own tests
// cover concurrent appends of separate processes.
func TestHistoryConcurrentPublishers(t *testing.T) {
	for _, b := range historyServers(t, "order-updates=2000/10m") {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			const publishers = 10
			each := 100
			if b.name == "dynamo" {
				each = 20
			}
			const ch = "order-updates"
			var (
				mu    sync.Mutex
				acked []int64
				wg    sync.WaitGroup
				epoch string
			)
			pubs := make([]*streamClient, publishers)
			for i := range pubs {
				pubs[i] = streamDial(t, srv, fmt.Sprintf("pub%d", i))
			}
			for _, p := range pubs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						off, ep := offsetOf(t, p.publish(ch, "", map[string]any{"n": i}))
						mu.Lock()
						acked, epoch = append(acked, off), ep
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			slices.Sort(acked)
			if !slices.Equal(acked, offsets1To(publishers*each)) {
				t.Fatalf("acked offsets are not 1..%d each once: %d acks, first %v", publishers*each, len(acked), acked[:min(len(acked), 20)])
			}
			reader := streamDial(t, srv, "reader")
			if got := reader.readAll(ch, 0, epoch); !slices.Equal(got, offsets1To(publishers*each)) {
				t.Fatalf("history offsets: %d read, want 1..%d in order", len(got), publishers*each)
			}

			// A resend (same user, same messageId, same request) keeps its
			// offset and is not stored again; another request under the
			// same messageId is refused.
			first := pubs[0].publish(ch, "resend-1", map[string]any{"n": "r"})
			off, _ := offsetOf(t, first)
			again := pubs[0].publish(ch, "resend-1", map[string]any{"n": "r"})
			if off2, _ := offsetOf(t, again); off2 != off {
				t.Fatalf("resend got offset %d, first %d", off2, off)
			}
			if f := pubs[0].publish(ch, "resend-1", map[string]any{"n": "other"}); f.Type != "error" || !strings.Contains(string(f.Payload), "IDEMPOTENCY_MISMATCH") {
				t.Fatalf("another publish under a used messageId: %s", f.raw)
			}
			if p := reader.page("subscribe", ch, nil); p.Position == nil || p.Position.Offset != off {
				t.Fatalf("position after a resend: %+v, want offset %d", p.Position, off)
			}
		})
	}
}

// TestHistoryRecovery: a subscriber that was away for 50 publications of
// two concurrent publishers, while more keep arriving during its
// recovery, gets every publication exactly once by merging the recovery
// reply and the live updates by offset; then the live ones.
func TestHistoryRecovery(t *testing.T) {
	for _, b := range historyServers(t, "order-updates=500/10m") {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			const ch = "order-updates"
			a, bpub := streamDial(t, srv, "alice"), streamDial(t, srv, "bob")
			sub := streamDial(t, srv, "carol")
			first := sub.page("subscribe", ch, nil)
			if first.Position == nil || first.Position.Offset != 0 || first.Position.Epoch == "" {
				t.Fatalf("subscribe on a new stream: position %+v, want offset 0 and an epoch", first.Position)
			}
			since := *first.Position
			sub.close()

			publish := func(n int) {
				var wg sync.WaitGroup
				for _, p := range []*streamClient{a, bpub} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range n {
							p.publish(ch, "", map[string]any{"i": i, "by": p.name})
						}
					}()
				}
				wg.Wait()
			}
			publish(25) // 50 while away

			// Publishers keep going while the subscriber recovers.
			during := make(chan struct{})
			go func() { defer close(during); publish(10) }()
			back := streamDial(t, srv, "carol")
			rec := back.page("subscribe", ch, map[string]any{"since": since})
			if rec.Recovered == nil || !*rec.Recovered || rec.Position.Epoch != since.Epoch {
				t.Fatalf("recovery: %+v", rec)
			}
			seen := map[int64]int{}
			var delivered []int64
			deliver := func(off int64) {
				if seen[off]++; seen[off] == 1 {
					delivered = append(delivered, off)
				}
			}
			last := since.Offset
			for _, p := range rec.Publications {
				deliver(p.Offset)
				last = p.Offset
			}
			for more := rec.HasMore; more; {
				p := back.page("history", ch, map[string]any{"since": map[string]any{"offset": last, "epoch": since.Epoch}})
				for _, pub := range p.Publications {
					deliver(pub.Offset)
					last = pub.Offset
				}
				more = p.HasMore
			}
			<-during
			// Live updates: those of the hand-over window and one more.
			a.publish(ch, "", map[string]any{"final": true})
			const total = 50 + 20 + 1
			var live []int64
			deadline := time.After(20 * time.Second)
			for !slices.Contains(live, total) {
				select {
				case f := <-back.events:
					if f.Type != "update" || f.Epoch != since.Epoch || f.Offset < 1 {
						t.Fatalf("live frame without a position: %s", f.raw)
					}
					live = append(live, f.Offset)
				case <-deadline:
					t.Fatalf("live updates: got %v, want up to %d", live, total)
				}
			}
			for _, off := range live {
				if off > last {
					deliver(off)
				}
			}
			slices.Sort(delivered)
			if !slices.Equal(delivered, offsets1To(total)) {
				t.Fatalf("delivered %v, want 1..%d", delivered, total)
			}
			for off, n := range seen {
				if off <= 50 && n != 1 {
					t.Errorf("offset %d recovered %d times", off, n)
				}
			}
		})
	}
}

// TestHistoryRecoveryFails: a position of another epoch, beyond the
// retained count, or ahead of the stream is not recovered; the reply
// carries the current position and the subscription is live.
func TestHistoryRecoveryFails(t *testing.T) {
	srv := startServer(t, devserverSettings("inventory-*=5/1m"), gateway.Config{})
	const ch = "inventory-updates"
	pub := streamDial(t, srv, "pub")
	var (
		epoch string
		last  int64
	)
	for i := range 8 {
		last, epoch = offsetOf(t, pub.publish(ch, "", map[string]any{"i": i}))
	}
	for _, tc := range []struct {
		name  string
		since map[string]any
	}{
		{"other epoch", map[string]any{"offset": 7, "epoch": "0000000000000000"}},
		{"beyond the count", map[string]any{"offset": 1, "epoch": epoch}},
		{"ahead", map[string]any{"offset": int64(1<<63 - 1), "epoch": epoch}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := streamDial(t, srv, "sub")
			p := sub.page("subscribe", ch, map[string]any{"since": tc.since})
			if p.Recovered == nil || *p.Recovered || len(p.Publications) != 0 || p.Position == nil || *p.Position != (protocol.Position{Offset: last, Epoch: epoch}) {
				t.Fatalf("reply %+v, want recovered false at {%d %s}", p, last, epoch)
			}
			off, _ := offsetOf(t, pub.publish(ch, "", map[string]any{"live": true}))
			last = off
			select {
			case f := <-sub.events:
				if f.Offset != off {
					t.Fatalf("live update %s, want offset %d", f.raw, off)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no live update after a failed recovery")
			}
		})
	}
	sub := streamDial(t, srv, "sub2")
	if p := sub.page("subscribe", ch, map[string]any{"since": map[string]any{"offset": last - 2, "epoch": epoch}}); p.Recovered == nil || !*p.Recovered || len(p.Publications) != 2 {
		t.Fatalf("within the count: %+v, want the last two", p)
	}
	sub.invalid = true
	for _, bad := range []any{
		map[string]any{"since": map[string]any{"offset": -1, "epoch": epoch}},
		map[string]any{"since": map[string]any{"epoch": epoch}},
		map[string]any{"since": map[string]any{"offset": 1e300, "epoch": epoch}},
		map[string]any{"since": "yesterday"},
	} {
		b, _ := json.Marshal(bad)
		if f := sub.call("subscribe", ch, "", json.RawMessage(b)); f.Type != "error" || !strings.Contains(string(f.Payload), "BAD_REQUEST") {
			t.Errorf("subscribe %s: %s, want BAD_REQUEST", b, f.raw)
		}
	}
	if f := sub.call("history", "user-presence", "", nil); f.Type != "error" || !strings.Contains(string(f.Payload), "NOT_FOUND") {
		t.Errorf("history of a channel without history: %s", f.raw)
	}
}

// TestHistoryPageBytes: a history page never exceeds 128 KB, however
// large the publications, and paging reads them all.
func TestHistoryPageBytes(t *testing.T) {
	srv := startServer(t, devserverSettings("report:*=50/1m"), gateway.Config{})
	pub := streamDial(t, srv, "pub")
	blob := strings.Repeat("<", 5000) // 6 bytes each once escaped: 30 KB a publication
	var epoch string
	for i := range 12 {
		_, epoch = offsetOf(t, pub.publish("report:big", "", map[string]any{"i": i, "blob": blob}))
	}
	reader := streamDial(t, srv, "reader")
	var got []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		f := reader.ack("history", "report:big", "", map[string]any{"since": map[string]any{"offset": after, "epoch": epoch}, "limit": 1000})
		if len(f.raw) > protocol.MaxFrameBytes {
			t.Fatalf("history page of %d bytes", len(f.raw))
		}
		var p streamPage
		_ = json.Unmarshal(f.Payload, &p)
		if len(p.Publications) == 0 && p.HasMore {
			t.Fatalf("empty page with more to come")
		}
		for _, x := range p.Publications {
			got = append(got, x.Offset)
			after = x.Offset
		}
		if !p.HasMore {
			break
		}
		if pages > 12 {
			t.Fatalf("no end")
		}
	}
	if !slices.Equal(got, offsets1To(12)) {
		t.Fatalf("paged offsets %v, want 1..12", got)
	}
}

// devserverSettings are development settings with the given
// HISTORY_RETENTION.
func devserverSettings(retention string) app.Settings {
	r, err := handler.ParseRetention(retention)
	if err != nil {
		panic(err)
	}
	return app.Settings{DevIdentity: true, History: r}
}
