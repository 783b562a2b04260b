package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/ratelimit"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// throttlingGateway is a ManagementFault hook that stands for API
// Gateway's account throttle: a token bucket of limit requests per second
// (burst limit/10) over the Management API POSTs, which answers a POST
// with 429 LimitExceededException, without delivering it, when the bucket
// is empty. It records when each POST arrived.
type throttlingGateway struct {
	mu        sync.Mutex
	account   ratelimit.Bucket
	arrivals  []time.Time
	throttled int
}

func newThrottlingGateway(limit float64) *throttlingGateway {
	return &throttlingGateway{account: ratelimit.Bucket{Rate: limit, Burst: int(limit / 10)}}
}

func (g *throttlingGateway) hook(r *http.Request) (int, time.Duration) {
	if r.Method != http.MethodPost {
		return 0, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.arrivals = append(g.arrivals, now)
	if !g.account.Allow(now) {
		g.throttled++
		return http.StatusTooManyRequests, 0
	}
	return 0, 0
}

// busiest returns the most POSTs that arrived within one interval of
// length w.
func (g *throttlingGateway) busiest(w time.Duration) int {
	g.mu.Lock()
	ts := append([]time.Time(nil), g.arrivals...)
	g.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestFanoutThrottle: the local gateway throttles the Management API at 60
// posts per second while the delivery-rate budget is 100, so it answers a
// share of the posts with 429. A fan-out over the signed HTTP path still
// reaches every subscriber with every frame exactly once (a 429 is
// back-pressure, retried; never a dropped or a duplicate delivery), and
// the posts arriving at the gateway, retries included, stay within the
// budget: at most burst + budget·T in any interval T. It runs unsharded and
// with the fan-out split into shards delivered in parallel, which share
// the one budget.
func TestFanoutThrottle(t *testing.T) {
	const (
		budget      = 100 // posts per second
		account     = 60  // posts per second the gateway accepts
		subscribers = 24
		frames      = 5
		channel     = "order:throttled"
	)
	for _, sharded := range []bool{false, true} {
		name := map[bool]string{false: "unsharded", true: "sharded"}[sharded]
		t.Run(name, func(t *testing.T) {
			gw := newThrottlingGateway(account)
			st := memory.New(nil)
			var local *broadcast.Local
			o := devserver.Options{
				Settings:       app.Settings{DevIdentity: true, DeliveryRate: budget},
				App:            &app.Options{Store: st},
				Gateway:        gateway.Config{ManagementFault: gw.hook},
				ManagementHTTP: true,
			}
			if sharded {
				o.WrapPosters = func(p func(string) broadcast.Poster) func(string) broadcast.Poster {
					d := broadcast.NewDeliverer(st, p, broadcast.Config{IsGone: mgmtapi.IsGone})
					local = broadcast.NewLocal(d.Deliver, nil)
					return broadcast.ShardedPosters(p, broadcast.Sharding{ShardSize: 7, Dispatcher: local})
				}
			}
			srv := startOptions(t, o)
			if srv.DirectDelivery() {
				t.Fatal("the server delivers in process; the test needs the HTTP Management API")
			}
			subs := make([]*client, subscribers)
			for i := range subs {
				subs[i] = dial(t, srv, fmt.Sprintf("sub-%d", i))
				subs[i].mustAck("subscribe", channel, nil)
			}
			pub := dial(t, srv, "publisher")
			start := time.Now()
			var ids []string
			for k := range frames {
				pid := pub.send("publish", channel, map[string]any{"k": k}, nil)
				ack := pub.call2(pid)
				var res struct{ Recipients, Delivered int }
				if err := json.Unmarshal(ack.Payload, &res); err != nil || ack.Type != "ack" {
					t.Fatalf("publish %d reply = %+v", k, ack)
				}
				if res.Recipients != subscribers || (!sharded && res.Delivered != subscribers) {
					t.Fatalf("publish %d result = %s, want %d recipients, all delivered", k, ack.Payload, subscribers)
				}
				ids = append(ids, pid)
			}
			for i, c := range subs {
				got := map[string]int{}
				for range frames {
					f := c.next()
					if f.Type != "update" {
						t.Fatalf("subscriber %d got %+v, want an update", i, f)
					}
					got[f.MessageID]++
				}
				for _, id := range ids {
					if got[id] != 1 {
						t.Fatalf("subscriber %d got frame %s %d times, want exactly once (all: %v)", i, id, got[id], got)
					}
				}
			}
			if local != nil {
				local.Wait()
				if local.Dispatched() == 0 {
					t.Fatal("no shard was dispatched")
				}
			}
			for _, c := range subs {
				c.quiet() // no duplicate is still on its way
			}
			elapsed := time.Since(start)

			gw.mu.Lock()
			posts, throttled := len(gw.arrivals), gw.throttled
			gw.mu.Unlock()
			if want := subscribers*frames + throttled; posts != want {
				t.Errorf("gateway saw %d posts, want %d deliveries plus %d throttled", posts, subscribers*frames, throttled)
			}
			if throttled == 0 {
				t.Fatalf("none of %d posts was throttled: the test exercises nothing", posts)
			}
			// The token bucket allows burst + budget·T posts in any interval
			// T; 50 ms of slack covers the time between a post's token and
			// its arrival at the gateway.
			burst := ratelimit.NewPacer(budget, nil).Burst()
			for _, w := range []time.Duration{250 * time.Millisecond, time.Second, 2 * time.Second} {
				limit := float64(burst) + budget*(w+50*time.Millisecond).Seconds()
				if got := gw.busiest(w); float64(got) > limit {
					t.Errorf("%d posts arrived within %v, over the budget's %.0f", got, w, limit)
				}
			}
			t.Logf("%d posts (%d answered 429) in %v: %.0f per second on average, budget %d",
				posts, throttled, elapsed.Round(time.Millisecond), float64(posts)/elapsed.Seconds(), budget)
		})
	}
}

// call2 waits for the reply to the request with id, failing on any other
// frame in between.
func (c *client) call2(id string) frame {
	c.t.Helper()
	f := c.next()
	if f.ReplyTo != id {
		c.t.Fatalf("%s: got %+v while waiting for the reply to %s", c.name, f, id)
	}
	return f
}
