package broadcast_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// countingPoster records how often each connection was posted to. Posts
// to ids in gone fail as gone.
type countingPoster struct {
	delay          time.Duration
	inFlight, peak atomic.Int64
	mu             sync.Mutex
	posts          map[string]int
	gone           map[string]bool
}

var errGone = errors.New("gone")

func newCountingPoster() *countingPoster {
	return &countingPoster{posts: map[string]int{}, gone: map[string]bool{}}
}

func (p *countingPoster) PostToConnection(ctx context.Context, id string, data []byte) error {
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for {
		peak := p.peak.Load()
		if n <= peak || p.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone[id] {
		return errGone
	}
	p.posts[id]++
	return nil
}

// channelStore returns a memory store holding n live connections
// subscribed to channel "room:big" of tenant "t", and their ids.
func channelStore(tb testing.TB, n int) (*memory.Store, []string) {
	tb.Helper()
	ctx := context.Background()
	st := memory.New(nil)
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("c%06d", i)
		ids[i] = id
		c := store.Connection{ID: id, UserID: "u" + id, Tenant: "t", ConnectedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.PutConnection(ctx, c); err != nil {
			tb.Fatalf("PutConnection(%q): %v", id, err)
		}
		if _, err := st.Subscribe(ctx, "t", "room:big", id, 0); err != nil {
			tb.Fatalf("Subscribe(%q): %v", id, err)
		}
	}
	return st, ids
}

// refusingDispatcher refuses every shard.
type refusingDispatcher struct{}

func (refusingDispatcher) Dispatch(context.Context, broadcast.Shard) error {
	return errors.New("queue full")
}

func TestShardedFanout(t *testing.T) {
	tests := []struct {
		name        string
		subscribers int
		shardSize   int
		gone        int
		refuse      bool
		wantShards  int64
	}{
		{"fits in one shard", 150, 200, 0, false, 0},
		{"exactly one shard", 200, 200, 0, false, 0},
		{"one more than a shard", 201, 200, 0, false, 1},
		{"many shards", 1050, 100, 0, false, 10},
		{"gone recipients in shards", 500, 100, 7, false, 4},
		{"dispatcher refuses", 450, 100, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, ids := channelStore(t, tt.subscribers)
			poster := newCountingPoster()
			for _, id := range ids[len(ids)-tt.gone:] {
				poster.gone[id] = true
			}
			isGone := func(err error) bool { return errors.Is(err, errGone) }
			cfg := broadcast.Config{Concurrency: 8, PageSize: 64, IsGone: isGone}
			raw := func(string) broadcast.Poster { return poster }
			deliverer := broadcast.NewDeliverer(st, raw, cfg)
			local := broadcast.NewLocal(deliverer.Deliver, nil)
			var d broadcast.Dispatcher = local
			if tt.refuse {
				d = refusingDispatcher{}
			}
			posters := broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: tt.shardSize, Dispatcher: d})
			b := broadcast.New(st, posters("http://local/ws"), cfg)

			res, err := b.Fanout(ctx, "t", "room:big", []byte(`{"type":"update"}`), nil)
			if err != nil {
				t.Fatalf("Fanout: %v", err)
			}
			local.Wait()
			if res.Recipients != tt.subscribers {
				t.Errorf("Recipients = %d, want %d", res.Recipients, tt.subscribers)
			}
			if got := local.Dispatched(); got != tt.wantShards {
				t.Errorf("shards dispatched = %d, want %d", got, tt.wantShards)
			}
			own := min(tt.subscribers, tt.shardSize)
			if tt.refuse {
				own = tt.subscribers
			}
			if res.Delivered+res.Gone != own {
				t.Errorf("coordinator delivered %d + gone %d, want %d", res.Delivered, res.Gone, own)
			}
			for i, id := range ids {
				want := 1
				if i >= len(ids)-tt.gone {
					want = 0
				}
				if got := poster.posts[id]; got != want {
					t.Fatalf("posts to %s = %d, want %d", id, got, want)
				}
			}
			// Gone recipients were removed by whichever invocation met them.
			left, _, err := st.Subscribers(ctx, "t", "room:big", store.Page{Limit: 100000})
			if err != nil {
				t.Fatalf("Subscribers: %v", err)
			}
			if want := tt.subscribers - tt.gone; len(left) != want {
				t.Errorf("subscribers left = %d, want %d", len(left), want)
			}
		})
	}
}

// TestShardedFanoutParallel checks that shards are delivered in
// parallel: more posts are in flight at once than one invocation allows.
func TestShardedFanoutParallel(t *testing.T) {
	ctx := context.Background()
	st, _ := channelStore(t, 1000)
	poster := newCountingPoster()
	poster.delay = 5 * time.Millisecond
	cfg := broadcast.Config{Concurrency: 10}
	raw := func(string) broadcast.Poster { return poster }
	local := broadcast.NewLocal(broadcast.NewDeliverer(st, raw, cfg).Deliver, nil)
	b := broadcast.New(st, broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: 100, Dispatcher: local})("http://local/ws"), cfg)
	if _, err := b.Fanout(ctx, "t", "room:big", []byte("x"), nil); err != nil {
		t.Fatalf("Fanout: %v", err)
	}
	local.Wait()
	if peak := poster.peak.Load(); peak <= int64(cfg.Concurrency) {
		t.Errorf("at most %d posts were in flight at once; want more than one invocation's %d", peak, cfg.Concurrency)
	}
}

func TestDelivererRejects(t *testing.T) {
	d := broadcast.NewDeliverer(memory.New(nil), func(string) broadcast.Poster { return newCountingPoster() }, broadcast.Config{})
	tests := []struct {
		name  string
		shard broadcast.Shard
	}{
		{"no endpoint", broadcast.Shard{Channel: "c", IDs: []string{"a"}}},
		{"too many ids", broadcast.Shard{Endpoint: "http://x/ws", IDs: make([]string, broadcast.MaxShardIDs+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.Deliver(context.Background(), tt.shard); err == nil {
				t.Error("Deliver: no error")
			}
		})
	}
}

// preparingPoster is a countingPoster that is also a FramePoster and
// counts the frames it prepared.
type preparingPoster struct {
	*countingPoster
	prepared atomic.Int64
}

func (p *preparingPoster) PrepareFrame(data []byte) func(ctx context.Context, id string) error {
	p.prepared.Add(1)
	return func(ctx context.Context, id string) error { return p.PostToConnection(ctx, id, data) }
}

// TestFramePreparedOncePerDelivery checks that a fan-out prepares its
// frame once per delivery (the coordinator's, and each shard's), not once
// per recipient, and still reaches every recipient once.
func TestFramePreparedOncePerDelivery(t *testing.T) {
	tests := []struct {
		name         string
		shardSize    int
		wantPrepared int64
	}{
		{"unsharded", 0, 1},
		{"sharded", 100, 5}, // the coordinator's shard and 4 dispatched ones
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ids := channelStore(t, 500)
			poster := &preparingPoster{countingPoster: newCountingPoster()}
			raw := func(string) broadcast.Poster { return poster }
			cfg := broadcast.Config{Concurrency: 16, PageSize: 64}
			p := raw("http://local/ws")
			var local *broadcast.Local
			if tt.shardSize > 0 {
				local = broadcast.NewLocal(broadcast.NewDeliverer(st, raw, cfg).Deliver, nil)
				p = broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: tt.shardSize, Dispatcher: local})("http://local/ws")
			}
			res, err := broadcast.New(st, p, cfg).Fanout(context.Background(), "t", "room:big", []byte(`{"type":"update"}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			if local != nil {
				local.Wait()
			}
			if res.Recipients != len(ids) {
				t.Fatalf("recipients %d, want %d", res.Recipients, len(ids))
			}
			if got := poster.prepared.Load(); got != tt.wantPrepared {
				t.Errorf("frames prepared %d times, want %d", got, tt.wantPrepared)
			}
			poster.mu.Lock()
			defer poster.mu.Unlock()
			for _, id := range ids {
				if n := poster.posts[id]; n != 1 {
					t.Errorf("%s got %d posts, want 1", id, n)
				}
			}
		})
	}
}

// recordingDispatcher records the shards it is handed and delivers them
// through next.
type recordingDispatcher struct {
	next   broadcast.Dispatcher
	mu     sync.Mutex
	shards []broadcast.Shard
}

func (d *recordingDispatcher) Dispatch(ctx context.Context, s broadcast.Shard) error {
	d.mu.Lock()
	d.shards = append(d.shards, s)
	d.mu.Unlock()
	return d.next.Dispatch(ctx, s)
}

// TestShardedFanoutInlineMax: with Sharding.InlineMax the coordinator
// posts to at most InlineMax recipients of a broadcast itself: a channel
// at the bound is posted by the coordinator alone, a larger one has the
// rest dispatched in shards of ShardSize. InlineMax 0 posts the first
// shard (the default), and a bound above the shard size counts as the
// shard size. Every recipient gets the frame once, from the coordinator
// or from a shard.
func TestShardedFanoutInlineMax(t *testing.T) {
	tests := []struct {
		name               string
		subscribers, bound int
		wantOwn            int
		wantShardSizes     []int
	}{
		{"at the bound", 10, 10, 10, nil},
		{"below the bound", 3, 10, 3, nil},
		{"one above the bound", 11, 10, 10, []int{1}},
		{"past a shard", 250, 10, 10, []int{100, 100, 40}},
		{"no bound: the first shard", 250, 0, 100, []int{100, 50}},
		{"a bound past the shard size", 250, 500, 100, []int{100, 50}},
	}
	const shardSize = 100
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, ids := channelStore(t, tt.subscribers)
			own, shards := newCountingPoster(), newCountingPoster()
			cfg := broadcast.Config{Concurrency: 8, PageSize: 7}
			local := broadcast.NewLocal(broadcast.NewDeliverer(st, func(string) broadcast.Poster { return shards }, cfg).Deliver, nil)
			d := &recordingDispatcher{next: local}
			posters := broadcast.ShardedPosters(func(string) broadcast.Poster { return own },
				broadcast.Sharding{ShardSize: shardSize, InlineMax: tt.bound, Dispatcher: d})
			res, err := broadcast.New(st, posters("http://local/ws"), cfg).Fanout(ctx, "t", "room:big", []byte(`{"type":"leave"}`), nil)
			if err != nil {
				t.Fatalf("Fanout: %v", err)
			}
			local.Wait()
			if res.Recipients != tt.subscribers || res.Delivered != tt.wantOwn || len(own.posts) != tt.wantOwn {
				t.Errorf("recipients %d, the coordinator delivered %d (posted to %d); want %d and %d",
					res.Recipients, res.Delivered, len(own.posts), tt.subscribers, tt.wantOwn)
			}
			sizes := make([]int, len(d.shards)) // by shard index: shards are dispatched in parallel
			for _, s := range d.shards {
				if s.Index < 1 || s.Index > len(sizes) {
					t.Fatalf("shard index %d of %d shards", s.Index, len(sizes))
				}
				sizes[s.Index-1] = len(s.IDs)
			}
			if len(sizes) == 0 {
				sizes = nil
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tt.wantShardSizes) {
				t.Errorf("shards of %v recipients dispatched, want %v", sizes, tt.wantShardSizes)
			}
			for _, id := range ids {
				if n := own.posts[id] + shards.posts[id]; n != 1 {
					t.Errorf("%s got the frame %d times (%d from the coordinator), want once", id, n, own.posts[id])
				}
			}
			if n := len(own.posts) + len(shards.posts); n != len(ids) {
				t.Errorf("%d recipients posted to, want %d", n, len(ids))
			}
		})
	}
}

// barrierDispatcher holds every Dispatch until want calls are in flight
// at once (or its context ends), then accepts them all.
type barrierDispatcher struct {
	want    int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
	ctx     context.Context
}

func (d *barrierDispatcher) Dispatch(_ context.Context, s broadcast.Shard) error {
	d.mu.Lock()
	d.arrived++
	if d.arrived == d.want {
		close(d.all)
	}
	d.mu.Unlock()
	select {
	case <-d.all:
		return nil
	case <-d.ctx.Done():
		return errors.New("the other dispatches never came while this one was in flight")
	}
}

// TestShardsAreDispatchedInParallel: the coordinator has several shards'
// Dispatch calls (an asynchronous invoke each, tens of milliseconds in
// AWS) in flight at once, rather than one after another, which held the
// last shard of a large fan-out back by a second or more. The dispatcher
// lets no call return until four are in flight; one after another, the
// first would wait for a second that never comes (until the guard's
// deadline, after which the shards are posted by the coordinator).
func TestShardsAreDispatchedInParallel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a guard against a hang, not a measure
	defer cancel()
	st, _ := channelStore(t, 500)
	own := newCountingPoster()
	d := &barrierDispatcher{want: 4, all: make(chan struct{}), ctx: ctx}
	posters := broadcast.ShardedPosters(func(string) broadcast.Poster { return own },
		broadcast.Sharding{ShardSize: 100, Dispatcher: d, DispatchConcurrency: 4})
	res, err := broadcast.New(st, posters("http://local/ws"), broadcast.Config{Concurrency: 8, PageSize: 50}).
		Fanout(context.Background(), "t", "room:big", []byte(`{"type":"update"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recipients != 500 || res.Delivered != 100 || len(own.posts) != 100 {
		t.Fatalf("recipients %d, the coordinator delivered %d to %d; want 500 with 100 posted by the coordinator and four shards dispatched",
			res.Recipients, res.Delivered, len(own.posts))
	}
}
