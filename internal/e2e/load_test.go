package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/tools/loadtest"
)

// TestLoadExactlyOnce is a short load run on the embedded store: 500 real
// connections, 20 channels of 50 subscribers each (every connection holds
// two subscriptions), 40 publishes a second for 10 s. It checks
// correctness only, never timing: every publish is acknowledged and
// reaches every subscriber of its channel exactly once. make load runs
// longer and larger; docs/BENCHMARKS.md has the figures.
func TestLoadExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s load run; skipped with -short")
	}
	if _, err := loadtest.RaiseFileLimit(4096); err != nil {
		t.Logf("open-file limit: %v", err)
	}
	srv, err := devserver.Start(context.Background(), devserver.Options{
		Addr: "127.0.0.1:0", Settings: app.Settings{DevIdentity: true, LogLevel: "error"}, SweepInterval: -1,
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

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		URL:      srv.WebSocketURL(),
		Conns:    500,
		Channels: 20,
		Fanout:   50,
		Rate:     40,
		Duration: 10 * time.Second,
		Settle:   30 * time.Second,
		Warmup:   20,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("published %d, delivered %d of %d (%.0f/s), latency p50 %.1f ms p99 %.1f ms",
		rep.Published, rep.Delivered, rep.Expected, rep.DeliveredPerSecond, rep.Latency.P50, rep.Latency.P99)
	if rep.Published != 400 {
		t.Errorf("published %d, want 400", rep.Published)
	}
	if rep.Expected != 400*50 {
		t.Errorf("expected deliveries %d, want %d", rep.Expected, 400*50)
	}
	if err := rep.ExactlyOnce(); err != nil {
		t.Errorf("exactly-once delivery: %v", err)
	}
	// The warm-up publishes are delivered and checked like the rest but
	// left out of the latency figures.
	if len(rep.WarmupCompletion) != 20 || rep.Completion.Count != 380 || rep.Latency.Count != 380*50 {
		t.Errorf("warm-up: %d publishes apart, %d publishes and %d deliveries timed; want 20, 380 and %d",
			len(rep.WarmupCompletion), rep.Completion.Count, rep.Latency.Count, 380*50)
	}
	for i, ms := range rep.WarmupCompletion {
		if ms <= 0 {
			t.Errorf("warm-up publish %d: last delivery %.1f ms after the send", i, ms)
		}
	}
	// Each publish's first delivery comes after its send and no later
	// than its last.
	if rep.FirstDelivery.Count != 380 || len(rep.PublishFirst) != 400 {
		t.Errorf("first deliveries: %d timed, %d listed; want 380 and 400", rep.FirstDelivery.Count, len(rep.PublishFirst))
	}
	for i := range min(len(rep.PublishFirst), len(rep.PublishCompletion)) {
		if first, last := rep.PublishFirst[i], rep.PublishCompletion[i]; first <= 0 || first > last {
			t.Errorf("publish %d: first delivery %.2f ms, last %.2f ms after the send", i, first, last)
		}
	}
}
