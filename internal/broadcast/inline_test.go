package broadcast_test

import (
	"context"
	"testing"

	"github.com/omnisales/rtcollab/internal/broadcast"
)

// inlinePoster is a countingPoster that posts inline.
type inlinePoster struct{ *countingPoster }

func (inlinePoster) PostsInline() bool { return true }

// TestInlinePosterPostsOneAtATime: a fan-out through an InlinePoster,
// sharded or not, posts to every subscriber once, one post at a time,
// and removes the connections that are gone as any fan-out does.
func TestInlinePosterPostsOneAtATime(t *testing.T) {
	for _, shardSize := range []int{0, 100} {
		st, ids := channelStore(t, 500)
		poster := inlinePoster{newCountingPoster()}
		poster.gone[ids[7]] = true
		raw := func(string) broadcast.Poster { return poster }
		cfg := broadcast.Config{Concurrency: 64, PageSize: 64, IsGone: func(err error) bool { return err == errGone }}
		p := raw("http://local/ws")
		var local *broadcast.Local
		if shardSize > 0 {
			local = broadcast.NewLocal(broadcast.NewDeliverer(st, raw, cfg).Deliver, nil)
			p = broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: shardSize, Dispatcher: local})("http://local/ws")
		}
		res, err := broadcast.New(st, p, cfg).Fanout(context.Background(), "t", "room:big", []byte(`{"type":"update"}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if local != nil {
			local.Wait()
		} else if res.Delivered != len(ids)-1 || res.Gone != 1 {
			t.Errorf("delivered %d, gone %d; want %d and 1", res.Delivered, res.Gone, len(ids)-1)
		}
		// Shards run in parallel with each other; within one, and without
		// shards, posts are one at a time.
		if peak, want := poster.peak.Load(), int64(1); shardSize == 0 && peak != want {
			t.Errorf("%d posts in flight at once, want %d", peak, want)
		}
		for i, id := range ids {
			if n, want := poster.posts[id], 1; i != 7 && n != want {
				t.Errorf("shard size %d: %s got %d posts, want %d", shardSize, id, n, want)
			}
		}
		if _, err := st.GetConnection(context.Background(), ids[7]); err == nil {
			t.Errorf("shard size %d: gone connection %s still stored", shardSize, ids[7])
		}
	}
}
