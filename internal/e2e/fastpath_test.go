package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/tools/loadtest"
)

// TestFastPathExactlyOnce is a short load run of the deployed delivery
// path at its production settings: every frame is a signed POST to the
// local Management API, fan-outs are split into shards delivered in
// parallel, each delivery has broadcast.DefaultConcurrency posts in
// flight, and the posts of a frame share one prepared payload hash. It
// checks correctness only, never timing: every subscriber gets every
// frame exactly once. In the throttled run the local gateway answers a
// share of the posts with 429, as API Gateway's account throttle does;
// the frames still arrive exactly once, and the posts that reach the
// gateway, retries included, stay within the delivery budget.
func TestFastPathExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a load run of several seconds; skipped with -short")
	}
	if _, err := loadtest.RaiseFileLimit(4096); err != nil {
		t.Logf("open-file limit: %v", err)
	}
	const (
		conns     = 300
		shardSize = 64
	)
	tests := []struct {
		name      string
		budget    float64 // delivery rate, posts per second
		burst     int
		account   float64 // posts per second the gateway accepts; 0: all
		publishes int
	}{
		// The account's budget as the deployed functions share it.
		{"paced", 10000, 5000, 0, 12},
		// The gateway accepts less than the budget: 429s slow the sender.
		{"throttled", 2000, 200, 1000, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			publishes := int64(tt.publishes)
			st := memory.New(nil)
			var local *broadcast.Local
			var gw *throttlingGateway
			fault := func(*http.Request) (int, time.Duration) { return 0, 2 * time.Millisecond }
			if tt.account > 0 {
				gw = newThrottlingGateway(tt.account)
				fault = func(r *http.Request) (int, time.Duration) {
					if code, _ := gw.hook(r); code != 0 {
						return code, 0
					}
					return 0, 2 * time.Millisecond
				}
			}
			srv, err := devserver.Start(context.Background(), devserver.Options{
				Addr:           "127.0.0.1:0",
				Settings:       app.Settings{DevIdentity: true, LogLevel: "error", DeliveryRate: tt.budget, DeliveryBurst: tt.burst},
				App:            &app.Options{Store: st},
				Gateway:        gateway.Config{ManagementFault: fault},
				ManagementHTTP: true,
				SweepInterval:  -1,
				WrapPosters: func(p func(string) broadcast.Poster) func(string) broadcast.Poster {
					d := broadcast.NewDeliverer(st, p, broadcast.Config{IsGone: mgmtapi.IsGone})
					local = broadcast.NewLocal(d.Deliver, nil)
					return broadcast.ShardedPosters(p, broadcast.Sharding{ShardSize: shardSize, Dispatcher: local})
				},
			})
			if err != nil {
				t.Fatalf("start server: %v", err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := srv.Close(ctx); err != nil {
					t.Logf("close server: %v", err)
				}
			})
			if srv.DirectDelivery() {
				t.Fatal("the server delivers in process; the test needs the HTTP Management API")
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now()
			rep, err := loadtest.Run(ctx, loadtest.Config{
				URL:         srv.WebSocketURL(),
				Conns:       conns,
				Channels:    1,
				Fanout:      conns,
				Rate:        4,
				Duration:    time.Duration(publishes) * time.Second / 4,
				MaxMessages: tt.publishes,
				Settle:      60 * time.Second,
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			local.Wait()
			t.Logf("published %d, delivered %d of %d, %d shards dispatched, latency to last subscriber p50 %.1f ms p99 %.1f ms",
				rep.Published, rep.Delivered, rep.Expected, local.Dispatched(), rep.Completion.P50, rep.Completion.P99)
			if rep.Published != publishes || rep.Expected != publishes*conns {
				t.Errorf("published %d for %d deliveries, want %d for %d", rep.Published, rep.Expected, publishes, publishes*conns)
			}
			if err := rep.ExactlyOnce(); err != nil {
				t.Errorf("exactly-once delivery: %v", err)
			}
			if want := int64(publishes * (conns/shardSize + min(conns%shardSize, 1) - 1)); local.Dispatched() != want {
				t.Errorf("%d shards dispatched, want %d", local.Dispatched(), want)
			}
			if gw == nil {
				return
			}
			gw.mu.Lock()
			posts, throttled := len(gw.arrivals), gw.throttled
			gw.mu.Unlock()
			if throttled == 0 {
				t.Fatalf("none of %d posts was throttled: the run exercises nothing", posts)
			}
			if want := tt.publishes*conns + throttled; posts != want {
				t.Errorf("gateway saw %d posts, want %d deliveries plus %d throttled", posts, tt.publishes*conns, throttled)
			}
			// The pacer allows burst + budget·T posts in any interval T;
			// 50 ms of slack covers the time between a post's token and
			// its arrival at the gateway.
			for _, w := range []time.Duration{250 * time.Millisecond, time.Second} {
				limit := float64(tt.burst) + tt.budget*(w+50*time.Millisecond).Seconds()
				if got := gw.busiest(w); float64(got) > limit {
					t.Errorf("%d posts arrived within %v, over the budget's %.0f", got, w, limit)
				}
			}
			t.Logf("%d posts (%d answered 429) in %v", posts, throttled, time.Since(start).Round(time.Millisecond))
		})
	}
}
