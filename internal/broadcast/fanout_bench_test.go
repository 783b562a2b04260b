package broadcast_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
)

// BenchmarkFanout measures one Fanout over the memory store: the
// paginated subscriber listing and the bounded-concurrency posting. With
// post=0 the Poster returns at once, so the figure is the broadcaster's
// own cost per fan-out; with a simulated post latency it is the wall time
// a publish spends posting, unsharded and sharded (shards delivered by
// goroutines standing in for parallel invocations).
func BenchmarkFanout(b *testing.B) {
	benches := []struct {
		subscribers int
		post        time.Duration
		shardSize   int
		concurrency int // 0: broadcast.DefaultConcurrency
	}{
		{10, 0, 0, 32},
		{100, 0, 0, 32},
		{1000, 0, 0, 32},
		{10000, 0, 0, 32},
		{10000, 0, 2000, 32},
		{2000, time.Millisecond, 0, 32},
		{20000, time.Millisecond, 0, 32},
		{20000, time.Millisecond, 2000, 32},
		// A publish to 1,000 at the 20 ms a post takes in AWS: 32 waves of
		// 32 posts before, 4 waves of 256 with the default concurrency.
		{1000, 20 * time.Millisecond, 0, 32},
		{1000, 20 * time.Millisecond, 0, 0},
		{10000, 20 * time.Millisecond, 1000, 0},
	}
	for _, bb := range benches {
		name := fmt.Sprintf("subscribers=%d/post=%v/shard=%d/conc=%d", bb.subscribers, bb.post, bb.shardSize, bb.concurrency)
		b.Run(name, func(b *testing.B) {
			st, _ := channelStore(b, bb.subscribers)
			poster := newCountingPoster()
			poster.delay = bb.post
			cfg := broadcast.Config{Concurrency: bb.concurrency}
			raw := func(string) broadcast.Poster { return poster }
			var local *broadcast.Local
			p := raw("http://local/ws")
			if bb.shardSize > 0 {
				local = broadcast.NewLocal(broadcast.NewDeliverer(st, raw, cfg).Deliver, nil)
				p = broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: bb.shardSize, Dispatcher: local})("http://local/ws")
			}
			bc := broadcast.New(st, p, cfg)
			frame := []byte(`{"type":"update","channel":"room:big","payload":{"status":"paid"}}`)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				res, err := bc.Fanout(ctx, "t", "room:big", frame, nil)
				if err != nil {
					b.Fatal(err)
				}
				if local != nil {
					local.Wait()
				}
				if res.Recipients != bb.subscribers {
					b.Fatalf("recipients %d, want %d", res.Recipients, bb.subscribers)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bb.subscribers), "ns/recipient")
		})
	}
}
