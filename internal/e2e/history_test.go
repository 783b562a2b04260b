package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/storetest"
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

// historyPage is the payload of a subscribe or history reply on a channel
// with history.
type historyPage struct {
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

// acked sends a request and requires an ack; frames that arrive in
// between stay queued.
func acked(c *client, typ, channel string, payload any) frame {
	c.t.Helper()
	f := c.call(typ, channel, payload)
	if f.Type != "ack" {
		c.t.Fatalf("%s %s: got %s %s %.300s", c.name, typ, f.Type, f.code(), f.Payload)
	}
	return f
}

// pageOf sends a subscribe or history request and decodes its ack.
func pageOf(c *client, typ, channel string, payload any) historyPage {
	c.t.Helper()
	var p historyPage
	if err := json.Unmarshal(acked(c, typ, channel, payload).Payload, &p); err != nil {
		c.t.Fatalf("%s %s reply: %v", c.name, typ, err)
	}
	return p
}

// publish publishes payload on channel from c under messageID ("" for a
// fresh one), sending the same frame again while it is rate limited, as
// the SDK does, and returns the reply. It may be called from any
// goroutine: a connection that fails, or a rate limit that lasts over
// 30s, is reported with t.Errorf and returns a zero frame.
func publish(t testing.TB, c *client, channel, messageID string, payload any) frame {
	if messageID == "" {
		messageID = c.nextID()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, err := c.roundTrip(context.Background(), "publish", channel, messageID, payload)
		if err != nil {
			t.Errorf("publish %s: %v", messageID, err)
			return frame{}
		}
		var e struct {
			Details struct {
				RetryAfterMs int `json:"retryAfterMs"`
			} `json:"details"`
		}
		if f.Type != "error" || f.code() != "RATE_LIMITED" || json.Unmarshal(f.Payload, &e) != nil {
			return f
		}
		if time.Now().After(deadline) {
			t.Errorf("publish %s: still rate limited after 30s", messageID)
			return frame{}
		}
		time.Sleep(time.Duration(e.Details.RetryAfterMs) * time.Millisecond)
	}
}

// offsetOf returns the position of a publish ack.
func offsetOf(t testing.TB, f frame) (int64, string) {
	t.Helper()
	var a struct {
		Offset int64  `json:"offset"`
		Epoch  string `json:"epoch"`
	}
	if f.Type != "ack" || json.Unmarshal(f.Payload, &a) != nil || a.Offset < 1 || a.Epoch == "" {
		t.Errorf("publish reply without a position:%s", describeFrames([]frame{f}))
	}
	return a.Offset, a.Epoch
}

// readHistory pages through the history of channel since after, checking
// each page, and returns the offsets read.
func readHistory(c *client, channel string, after int64, epoch string) []int64 {
	c.t.Helper()
	var got []int64
	for range 10000 {
		p := pageOf(c, "history", channel, map[string]any{"since": map[string]any{"offset": after, "epoch": epoch}, "limit": 1000})
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

// TestHistoryConcurrentPublishers: 10 publishers × 40 publications to one
// channel get offsets 1..400, each once; a resend keeps its offset. On
// both stores (about 30 s on moto, which serves one request at a time;
// 40 each keeps every publisher contending for the offset throughout, and
// 100 each took 140 s); the store's own tests cover concurrent appends of
// separate processes.
func TestHistoryConcurrentPublishers(t *testing.T) {
	for _, b := range historyServers(t, "order-updates=2000/10m") {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			const publishers = 10
			const each = 40
			const ch = "order-updates"
			var (
				mu    sync.Mutex
				acks  []int64
				wg    sync.WaitGroup
				epoch string
			)
			pubs := make([]*client, publishers)
			for i := range pubs {
				pubs[i] = dial(t, srv, fmt.Sprintf("pub%d", i))
			}
			for _, p := range pubs { // one connection per goroutine
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						off, ep := offsetOf(t, publish(t, p, ch, "", map[string]any{"n": i}))
						mu.Lock()
						acks, epoch = append(acks, off), ep
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			slices.Sort(acks)
			if !slices.Equal(acks, offsets1To(publishers*each)) {
				t.Fatalf("acked offsets are not 1..%d each once: %d acks, first %v", publishers*each, len(acks), acks[:min(len(acks), 20)])
			}
			reader := dial(t, srv, "reader")
			if got := readHistory(reader, ch, 0, epoch); !slices.Equal(got, offsets1To(publishers*each)) {
				t.Fatalf("history offsets: %d read, want 1..%d in order", len(got), publishers*each)
			}

			// A resend (same user, same messageId, same request) keeps its
			// offset and is not stored again; another request under the
			// same messageId is refused.
			first := publish(t, pubs[0], ch, "resend-1", map[string]any{"n": "r"})
			off, _ := offsetOf(t, first)
			again := publish(t, pubs[0], ch, "resend-1", map[string]any{"n": "r"})
			if off2, _ := offsetOf(t, again); off2 != off {
				t.Fatalf("resend got offset %d, first %d", off2, off)
			}
			if f := publish(t, pubs[0], ch, "resend-1", map[string]any{"n": "other"}); f.Type != "error" || f.code() != "IDEMPOTENCY_MISMATCH" {
				t.Fatalf("another publish under a used messageId:%s", describeFrames([]frame{f}))
			}
			if p := pageOf(reader, "subscribe", ch, nil); p.Position == nil || p.Position.Offset != off {
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
			a, bpub := dial(t, srv, "alice"), dial(t, srv, "bob")
			sub := dial(t, srv, "carol")
			first := pageOf(sub, "subscribe", ch, nil)
			if first.Position == nil || first.Position.Offset != 0 || !strings.HasPrefix(first.Position.Epoch, "t") {
				t.Fatalf("subscribe on a new stream: position %+v, want offset 0 and a stand-in epoch", first.Position)
			}
			since := *first.Position
			sub.close()

			publishEach := func(n int) {
				var wg sync.WaitGroup
				for _, p := range []*client{a, bpub} { // one goroutine per connection
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range n {
							offsetOf(t, publish(t, p, ch, "", map[string]any{"i": i, "by": p.name}))
						}
					}()
				}
				wg.Wait()
			}
			publishEach(25) // 50 while away

			// Publishers keep going while the subscriber recovers.
			during := make(chan struct{})
			go func() { defer close(during); publishEach(10) }()
			back := dial(t, srv, "carol")
			rec := pageOf(back, "subscribe", ch, map[string]any{"since": since})
			// The stream's first publication started its epoch.
			if rec.Recovered == nil || !*rec.Recovered || rec.Position.Epoch == since.Epoch || strings.HasPrefix(rec.Position.Epoch, "t") {
				t.Fatalf("recovery: %+v", rec)
			}
			epoch := rec.Position.Epoch
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
				p := pageOf(back, "history", ch, map[string]any{"since": map[string]any{"offset": last, "epoch": epoch}})
				for _, pub := range p.Publications {
					deliver(pub.Offset)
					last = pub.Offset
				}
				more = p.HasMore
			}
			<-during
			// Live updates: those of the hand-over window and one more.
			// Every frame queued on back is one (the replies went to their
			// callers).
			offsetOf(t, publish(t, a, ch, "", map[string]any{"final": true}))
			const total = 50 + 20 + 1
			var live []int64
			deadline := time.Now().Add(20 * time.Second)
			for !slices.Contains(live, total) {
				f, ok := back.waitEvent(time.Until(deadline), func(frame) bool { return true })
				if !ok {
					t.Fatalf("live updates: got %v, want up to %d", live, total)
				}
				if f.Type != "update" || f.Epoch != epoch || f.Offset < 1 {
					t.Fatalf("live frame without a position:%s", describeFrames([]frame{f}))
				}
				live = append(live, f.Offset)
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
	pub := dial(t, srv, "pub")
	var (
		epoch string
		last  int64
	)
	for i := range 8 {
		last, epoch = offsetOf(t, publish(t, pub, ch, "", map[string]any{"i": i}))
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
			sub := dial(t, srv, "sub")
			p := pageOf(sub, "subscribe", ch, map[string]any{"since": tc.since})
			if p.Recovered == nil || *p.Recovered || len(p.Publications) != 0 || p.Position == nil || *p.Position != (protocol.Position{Offset: last, Epoch: epoch}) {
				t.Fatalf("reply %+v, want recovered false at {%d %s}", p, last, epoch)
			}
			off, _ := offsetOf(t, publish(t, pub, ch, "", map[string]any{"live": true}))
			last = off
			if f := sub.next(); f.Offset != off {
				t.Fatalf("live update%s, want offset %d", describeFrames([]frame{f}), off)
			}
		})
	}
	sub := dial(t, srv, "sub2")
	if p := pageOf(sub, "subscribe", ch, map[string]any{"since": map[string]any{"offset": last - 2, "epoch": epoch}}); p.Recovered == nil || !*p.Recovered || len(p.Publications) != 2 {
		t.Fatalf("within the count: %+v, want the last two", p)
	}
	for _, bad := range []any{
		map[string]any{"since": map[string]any{"offset": -1, "epoch": epoch}},
		map[string]any{"since": map[string]any{"epoch": epoch}},
		map[string]any{"since": map[string]any{"offset": 1e300, "epoch": epoch}},
		map[string]any{"since": "yesterday"},
	} {
		b, _ := json.Marshal(bad)
		if f := sub.bad().call("subscribe", ch, json.RawMessage(b)); f.Type != "error" || f.code() != "BAD_REQUEST" {
			t.Errorf("subscribe %s:%s, want BAD_REQUEST", b, describeFrames([]frame{f}))
		}
	}
	if f := sub.call("history", "user-presence", nil); f.Type != "error" || f.code() != "NOT_FOUND" {
		t.Errorf("history of a channel without history:%s", describeFrames([]frame{f}))
	}
}

// TestHistoryPageBytes: a history page never exceeds 128 KB, however
// large the publications, and paging reads them all.
func TestHistoryPageBytes(t *testing.T) {
	srv := startServer(t, devserverSettings("report:*=50/1m"), gateway.Config{})
	pub := dial(t, srv, "pub")
	blob := strings.Repeat("<", 5000) // 6 bytes each once escaped: 30 KB a publication
	var epoch string
	for i := range 12 {
		_, epoch = offsetOf(t, publish(t, pub, "report:big", "", map[string]any{"i": i, "blob": blob}))
	}
	reader := dial(t, srv, "reader")
	var got []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		f := acked(reader, "history", "report:big", map[string]any{"since": map[string]any{"offset": after, "epoch": epoch}, "limit": 1000})
		if f.size > protocol.MaxFrameBytes {
			t.Fatalf("history page of %d bytes", f.size)
		}
		var p historyPage
		if err := json.Unmarshal(f.Payload, &p); err != nil {
			t.Fatalf("history reply: %v", err)
		}
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

// TestPublishStoredOnlyIfReadable: a publication is refused with
// FRAME_TOO_LARGE, and not stored, when it could not be sent once stored:
// its item in a history page (escaping makes it larger than the frame the
// client sent), or its update event once the offset and epoch are added.
// Stored, it would have been acked, yet every history read and recovering
// subscribe across it would fail until it expired. The stream's position
// does not move, and a publication that fits is read back.
func TestPublishStoredOnlyIfReadable(t *testing.T) {
	srv := startServer(t, devserverSettings("report:*=50/1m"), gateway.Config{})
	pub := dial(t, srv, "pub")
	reader := dial(t, srv, "reader")
	const ch = "report:big"
	before := pageOf(reader, "subscribe", ch, nil)
	blob := strings.Repeat("<", 10500) // 6 bytes each once escaped: a 21 KB frame, a 126 KB event
	pub.sendValid(`{"type":"publish","channel":"` + ch + `","messageId":"big-1","payload":{"a":"` + blob + `","b":"` + blob + `"}}`)
	if f := pub.await(func(f frame) bool { return f.ReplyTo == "big-1" }, "publish reply"); f.Type != "error" || f.code() != "FRAME_TOO_LARGE" {
		t.Fatalf("publish of a 126 KB event: %s %s, want FRAME_TOO_LARGE", f.Type, f.code())
	}
	// An update event just under 128 KB without its position, over it with.
	var body string
	for fill := 0; fill < 200; fill++ {
		body = `{"a":"` + strings.Repeat("<", 10930) + `","b":"` + strings.Repeat("<", 10930-fill) + `"}`
		ev, err := protocol.Event(protocol.TypeUpdate, ch, "pub", "edge-1", json.RawMessage(body), time.Now())
		if err == nil && len(ev) > protocol.MaxFrameBytes-30 {
			break
		}
	}
	pub.sendValid(`{"type":"publish","channel":"` + ch + `","messageId":"edge-1","payload":` + body + `}`)
	if f := pub.await(func(f frame) bool { return f.ReplyTo == "edge-1" }, "publish reply"); f.Type != "error" || f.code() != "FRAME_TOO_LARGE" {
		t.Fatalf("publish whose event passes 128 KB with its position: %s %s, want FRAME_TOO_LARGE", f.Type, f.code())
	}
	if after := pageOf(dial(t, srv, "reader2"), "subscribe", ch, nil); after.Position.Offset != before.Position.Offset {
		t.Fatalf("position %d after the refused publishes, was %d: a refused publication was stored", after.Position.Offset, before.Position.Offset)
	}
	_, epoch := offsetOf(t, publish(t, pub, ch, "ok-1", map[string]any{"blob": strings.Repeat("<", 5000)}))
	if h := reader.call("history", ch, map[string]any{"since": map[string]any{"offset": 0, "epoch": epoch}}); h.Type != "ack" {
		t.Fatalf("history: %s %s", h.Type, h.code())
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

// TestHistoryRecoveryFromEmptyStream: a stream with no live publication
// (none yet, or all expired) has no epoch; a subscribe then gets a
// stand-in epoch, and a recovery from it, within the retention age,
// delivers every publication stored since, in the epoch they started. An
// older stand-in is not recovered from: publications stored since may
// have been removed. On both stores, with the server's clock in the test's
// hands.
func TestHistoryRecoveryFromEmptyStream(t *testing.T) {
	const ch = "report:quiet"
	s := devserverSettings("report:*=100/1m")
	for _, b := range historyServers(t, "report:*=100/1m") {
		t.Run(b.name, func(t *testing.T) {
			clock := storetest.NewFakeClock(time.Now())
			d := s
			if b.name == "dynamo" {
				d.TableName, d.DynamoDBEndpoint, d.Region = fmt.Sprintf("hist-%d-%d", time.Now().UnixNano(), tableSeq.Add(1)), os.Getenv("DYNAMODB_TEST_ENDPOINT"), "us-east-1"
			}
			o := app.Options{Clock: clock.Now}
			if b.name == "dynamo" {
				o.DynamoOptions = []func(*dynamodb.Options){dynamo.SerialHTTP()}
			}
			srv := startWith(t, d, o, gateway.Config{})
			pub := dial(t, srv, "pub")
			standIn := func(who string, wantOffset int64) protocol.Position {
				t.Helper()
				p := pageOf(dial(t, srv, who), "subscribe", ch, nil)
				if p.Position == nil || p.Position.Offset != wantOffset || !strings.HasPrefix(p.Position.Epoch, "t") {
					t.Fatalf("subscribe to a stream without live publications: position %+v, want offset %d and a stand-in epoch", p.Position, wantOffset)
				}
				return *p.Position
			}
			recover := func(who string, since protocol.Position) historyPage {
				t.Helper()
				return pageOf(dial(t, srv, who), "subscribe", ch, map[string]any{"since": map[string]any{"offset": since.Offset, "epoch": since.Epoch}})
			}
			publishN := func(n int) (offs []int64, epoch string) {
				for i := range n {
					off, e := offsetOf(t, publish(t, pub, ch, "", map[string]any{"i": i}))
					offs, epoch = append(offs, off), e
				}
				return offs, epoch
			}
			check := func(p historyPage, want []int64, epoch string) {
				t.Helper()
				var got []int64
				for _, pb := range p.Publications {
					got = append(got, pb.Offset)
				}
				if p.Recovered == nil || !*p.Recovered || !slices.Equal(got, want) || p.Position == nil || *p.Position != (protocol.Position{Offset: want[len(want)-1], Epoch: epoch}) {
					t.Fatalf("recovery: recovered %v, offsets %v, position %+v; want true, %v, {%d %s}", p.Recovered, got, p.Position, want, want[len(want)-1], epoch)
				}
			}

			// A new stream.
			empty := standIn("early", 0)
			offs, epoch := publishN(3)
			if strings.HasPrefix(epoch, "t") || !slices.Equal(offs, []int64{1, 2, 3}) {
				t.Fatalf("first publications: %v in epoch %q, want 1..3 in a real epoch", offs, epoch)
			}
			check(recover("early-again", empty), []int64{1, 2, 3}, epoch)

			// Every publication expired: the stream has no epoch again.
			clock.Advance(2 * time.Minute)
			empty = standIn("late", 3)
			offs, epoch2 := publishN(2)
			if epoch2 == epoch || !slices.Equal(offs, []int64{4, 5}) {
				t.Fatalf("after expiry: %v in epoch %q, want 4, 5 in a new epoch", offs, epoch2)
			}
			check(recover("late-again", empty), []int64{4, 5}, epoch2)

			// A stand-in as old as the retention age (less the slack for
			// clocks): not recovered from, though nothing has expired yet.
			clock.Advance(56 * time.Second)
			if p := recover("too-late", empty); p.Recovered == nil || *p.Recovered || len(p.Publications) != 0 || p.Position == nil || *p.Position != (protocol.Position{Offset: 5, Epoch: epoch2}) {
				t.Fatalf("old stand-in: %+v, want recovered false at {5 %s}", p, epoch2)
			}
			// A position with no epoch at all is not one.
			if p := recover("no-epoch", protocol.Position{Offset: 5}); p.Recovered == nil || *p.Recovered {
				t.Fatalf("since without an epoch: %+v, want recovered false", p)
			}
		})
	}
}
