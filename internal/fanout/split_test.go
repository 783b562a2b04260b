package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// flakyInvoker accepts the first asynchronous invoke (202) and fails the
// next one, as a Lambda Invoke call that times out or gets a 5xx does.
// It records the recipients of every accepted event: the fan-out
// function would post to them.
type flakyInvoker struct {
	mu       sync.Mutex
	calls    int
	failCall int // the call (1-based) that fails
	accepted []string
}

func (f *flakyInvoker) InvokeAsync(ctx context.Context, function string, payload []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == f.failCall {
		return 0, errors.New("invoke: connection reset")
	}
	var ev fanout.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return 0, err
	}
	f.accepted = append(f.accepted, ev.Shard.IDs...)
	return 202, nil
}

type countPoster struct {
	mu    sync.Mutex
	posts map[string]int
}

func (p *countPoster) PostToConnection(ctx context.Context, id string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.posts[id]++
	return nil
}

// bigRoom returns a memory store in which n connections of tenant "t"
// are subscribed to "room:big".
func bigRoom(t *testing.T, n int) *memory.Store {
	t.Helper()
	ctx := context.Background()
	st := memory.New(nil)
	for i := range n {
		id := fmt.Sprintf("conn%04d", i)
		c := store.Connection{ID: id, UserID: "u" + id, Tenant: "t", ConnectedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Subscribe(ctx, "t", "room:big", id, 0); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// TestSplitShardDeliveredOnce: a shard too large for one event is split
// in two invokes. When one of them fails, the coordinator posts the
// recipients that were not accepted (the failed part, and the second when
// the first failed) and only those: every recipient gets the frame
// exactly once, from the coordinator or from an accepted event.
func TestSplitShardDeliveredOnce(t *testing.T) {
	for _, failCall := range []int{1, 2} {
		ctx := context.Background()
		const n = 40 // shard size 20: own shard 20, one further shard of 20, split in two events of 10
		st := bigRoom(t, n)
		inv := &flakyInvoker{failCall: failCall}
		d := fanout.NewDispatcher(inv, "fanout-fn")
		d.MaxPayloadBytes = 300 // an event of 20 ids does not fit, one of 10 does
		poster := &countPoster{posts: map[string]int{}}
		raw := func(string) broadcast.Poster { return poster }
		posters := broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: 20, Dispatcher: d})
		b := broadcast.New(st, posters("https://x/prod"), broadcast.Config{Concurrency: 4})
		if _, err := b.Fanout(ctx, "t", "room:big", []byte(`{"type":"update"}`), nil); err != nil {
			t.Fatal(err)
		}
		// What each recipient receives: the coordinator's posts plus the
		// accepted events' (the fan-out function posts those).
		got := map[string]int{}
		for id, k := range poster.posts {
			got[id] += k
		}
		for _, id := range inv.accepted {
			got[id]++
		}
		if want := map[int]int{1: 0, 2: 10}[failCall]; len(inv.accepted) != want {
			t.Fatalf("invoke %d failing: %d recipients accepted, want %d", failCall, len(inv.accepted), want)
		}
		if len(got) != n {
			t.Errorf("invoke %d failing: %d of %d recipients got the frame", failCall, len(got), n)
		}
		for id, k := range got {
			if k != 1 {
				t.Errorf("invoke %d failing: %s got the frame %d times", failCall, id, k)
			}
		}
	}
}
