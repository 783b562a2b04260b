package e2e_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/ratelimit"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// burst sends n frames of typ back to back without waiting, then reads
// the n replies, returned in the order the frames were sent; frames of
// other kinds that arrive in between are returned apart.
func (c *client) burst(n int, typ, channel string, payload any) (replies []frame, others []frame) {
	c.t.Helper()
	ids := make(map[string]int, n)
	for i := range n {
		ids[c.send(typ, channel, payload, nil)] = i
	}
	replies = make([]frame, n)
	for got := 0; got < n; {
		f := c.next()
		i, ok := ids[f.ReplyTo]
		if !ok {
			others = append(others, f)
			continue
		}
		replies[i] = f
		got++
	}
	return replies, others
}

func countCode(fs []frame, code string) int {
	n := 0
	for _, f := range fs {
		if f.code() == code {
			n++
		}
	}
	return n
}

// TestRateLimit: a burst of publishes well over the per-connection limit
// (burst 40, then 20 per second) gets RATE_LIMITED for every frame over
// it (which frames those are is not fixed: they are handled concurrently);
// those frames are dropped (subscribers receive exactly the acked ones),
// and the connection keeps working with its subscriptions. The server's
// clock stands still during the burst, so the counts are exact whatever
// the machine's speed.
func TestRateLimit(t *testing.T) {
	const n = 3 * ratelimit.DefaultBurst
	for _, r := range checkedRuns(t) {
		t.Run(r.name, func(t *testing.T) {
			clock := storetest.NewFakeClock(time.Now())
			srv := r.startOpts(t, app.Settings{}, app.Options{Clock: clock.Now}, gateway.Config{})
			sender, listener := dial(t, srv, "sender"), dial(t, srv, "listener")
			sender.mustAck("subscribe", "inventory-updates", nil) // takes one token
			listener.mustAck("subscribe", "order-updates", nil)

			// The frames of one connection are handled concurrently, in no
			// set order, as API Gateway invokes them: which of them take
			// the burst's tokens is not fixed, only how many do.
			replies, _ := sender.burst(n, "publish", "order-updates", map[string]any{"burst": true})
			acked := map[string]bool{}
			for i, f := range replies {
				if f.Type == "ack" {
					acked[f.ReplyTo] = true
					continue
				}
				var p struct {
					Retryable bool
					Details   struct{ RetryAfterMs *int64 }
				}
				if f.code() != "RATE_LIMITED" || json.Unmarshal(f.Payload, &p) != nil || !p.Retryable || p.Details.RetryAfterMs == nil {
					t.Fatalf("frame %d: got %s %s, want an ack or a retryable RATE_LIMITED with retryAfterMs", i, f.Type, f.Payload)
				}
			}
			if len(acked) != ratelimit.DefaultBurst-1 {
				t.Fatalf("%d of a burst of %d acked, want %d (the burst less the subscribe's token)", len(acked), n, ratelimit.DefaultBurst-1)
			}
			for range acked {
				if f := listener.next(); f.Type != "update" || !acked[f.MessageID] {
					t.Fatalf("listener got %+v, not an acked publish", f)
				}
			}
			listener.quiet() // nothing from the dropped frames

			// Once the bucket has refilled, the connection and its
			// subscriptions work as before.
			clock.Advance(3 * time.Second)
			sender.mustAck("publish", "order-updates", map[string]any{"after": true})
			if f := listener.next(); f.Type != "update" || f.UserID != "sender" {
				t.Fatalf("after the burst the listener got %+v", f)
			}
			listener.mustAck("publish", "inventory-updates", map[string]any{"x": 1})
			if f := sender.next(); f.Type != "update" || f.Channel != "inventory-updates" {
				t.Fatalf("sender's subscription lost: got %+v", f)
			}
			r.check(t)
		})
	}
}

// TestCursorRateLimitIsSeparate: cursor frames have their own bucket
// (burst 2, one per 50 ms): a cursor burst is limited while ordinary
// requests still pass, and a request burst does not limit cursors.
func TestCursorRateLimitIsSeparate(t *testing.T) {
	clock := storetest.NewFakeClock(time.Now())
	srv := startWith(t, app.Settings{}, app.Options{Clock: clock.Now}, gateway.Config{})
	c := dial(t, srv, "mover")
	replies, _ := c.burst(10, "cursor", "", map[string]any{"room": "dashboard", "x": 1, "y": 2})
	if got := countCode(replies, "RATE_LIMITED"); got != 10-ratelimit.DefaultCursorBurst {
		t.Fatalf("cursor burst of 10: %d rate limited, want %d", got, 10-ratelimit.DefaultCursorBurst)
	}
	c.quiet() // the request bucket is untouched

	d := dial(t, srv, "typist")
	replies, _ = d.burst(ratelimit.DefaultBurst+5, "ping", "", nil)
	if got := countCode(replies, "RATE_LIMITED"); got != 5 {
		t.Fatalf("ping burst: %d rate limited, want 5", got)
	}
	if f := d.request("cursor", "", map[string]any{"room": "dashboard", "x": 3, "y": 4}); f.code() == "RATE_LIMITED" {
		t.Fatalf("cursor limited by the request bucket: %+v", f)
	}
}

// TestMaxSubscriptions: a connection may hold MaxSubscriptions channels;
// one more is refused with TOO_MANY_SUBSCRIPTIONS and changes nothing,
// and a slot freed by unsubscribing can be used again.
func TestMaxSubscriptions(t *testing.T) {
	for _, r := range checkedRuns(t) {
		t.Run(r.name, func(t *testing.T) {
			srv := r.startOpts(t, app.Settings{MaxSubscriptions: 3}, app.Options{}, gateway.Config{})
			c := dial(t, srv, "hoarder")
			id := c.hello().ConnectionID
			for _, ch := range []string{"order-updates", "order:1", "order:2"} {
				c.mustAck("subscribe", ch, nil)
			}
			c.mustAck("subscribe", "order:1", nil) // again: no new slot taken
			wantCode(t, c.request("subscribe", "order:3", nil), "TOO_MANY_SUBSCRIPTIONS")
			wantSubscribers(t, srv, "default", "order:3")
			wantSubscribers(t, srv, "default", "order:2", id)
			c.mustAck("unsubscribe", "order:2", nil)
			c.mustAck("subscribe", "order:3", nil)
			wantSubscribers(t, srv, "default", "order:3", id)
			r.check(t)
		})
	}
}
