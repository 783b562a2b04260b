package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// t0 is the fake clock's origin.
func t0() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }

// event is one Allow call at an offset from t0 with its expected answer.
type event struct {
	at   time.Duration
	want bool
}

// repeat returns n events at the same offset with the same answer.
func repeat(n int, at time.Duration, want bool) []event {
	out := make([]event, n)
	for i := range out {
		out[i] = event{at, want}
	}
	return out
}

func concat(parts ...[]event) []event {
	var out []event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestBucket(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		bucket Bucket
		events []event
	}{
		{"zero value refuses", Bucket{}, repeat(3, 0, false)},
		{"zero value refuses later too", Bucket{}, []event{{0, false}, {time.Hour, false}}},
		{"burst without rate", Bucket{Burst: 2}, concat(repeat(2, 0, true), []event{{0, false}, {time.Hour, false}})},
		{"rate without burst refuses", Bucket{Rate: 100}, []event{{0, false}, {time.Second, false}}},
		{"starts full", Bucket{Rate: 1, Burst: 3}, concat(repeat(3, 0, true), repeat(1, 0, false))},
		{"cursor: one per 50ms", Bucket{Rate: 20, Burst: 1}, []event{
			{0, true}, {10 * ms, false}, {49 * ms, false}, {50 * ms, true}, {60 * ms, false}, {100 * ms, true}, {150 * ms, true},
		}},
		{"exact 50ms steps never drift", Bucket{Rate: 20, Burst: 1}, func() []event {
			var ev []event
			for i := range 1000 {
				ev = append(ev, event{time.Duration(i) * 50 * ms, true})
			}
			return ev
		}()},
		{"refill capped at burst", Bucket{Rate: 10, Burst: 2}, concat(
			repeat(2, 0, true), repeat(2, time.Hour, true), repeat(1, time.Hour, false),
		)},
		{"partial refill", Bucket{Rate: 10, Burst: 5}, concat(
			repeat(5, 0, true), []event{{0, false}, {250 * ms, true}, {250 * ms, true}, {250 * ms, false}},
		)},
		{"time going backwards adds nothing", Bucket{Rate: 1, Burst: 1}, []event{
			{time.Second, true}, {0, false}, {time.Second, false}, {2 * time.Second, true},
		}},
		{"request defaults: 40 at once then 20/s", Bucket{Rate: DefaultRate, Burst: DefaultBurst}, concat(
			repeat(40, 0, true), repeat(1, 0, false), repeat(20, time.Second, true), repeat(1, time.Second, false),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.bucket
			for i, e := range tt.events {
				if got := b.Allow(t0().Add(e.at)); got != e.want {
					t.Fatalf("event %d at %v: Allow = %v, want %v", i, e.at, got, e.want)
				}
			}
		})
	}
}

func TestBucketRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		b     Bucket
		taken int
		at    time.Duration
		want  time.Duration
	}{
		{"token available", Bucket{Rate: 20, Burst: 2}, 1, 0, 0},
		{"empty cursor bucket", Bucket{Rate: 20, Burst: 1}, 1, 0, 50 * time.Millisecond},
		{"partly refilled", Bucket{Rate: 20, Burst: 1}, 1, 20 * time.Millisecond, 30 * time.Millisecond},
		{"no rate", Bucket{Burst: 1}, 1, 0, time.Duration(math.MaxInt64)},
		{"zero value", Bucket{}, 0, 0, time.Duration(math.MaxInt64)},
		{"a wait past a Duration", Bucket{Rate: 1e-12, Burst: 1}, 1, 0, time.Duration(math.MaxInt64)},
		{"the smallest rate", Bucket{Rate: math.SmallestNonzeroFloat64, Burst: 1}, 1, 0, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			for range tt.taken {
				b.Allow(t0())
			}
			got := b.RetryAfter(t0().Add(tt.at))
			if diff := got - tt.want; got < 0 || diff < -time.Microsecond || diff > time.Microsecond {
				t.Fatalf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLimiterDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want Config
	}{
		{"zero", Config{}, Config{Rate: DefaultRate, Burst: DefaultBurst, MaxKeys: DefaultMaxKeys}},
		{"negative", Config{Rate: -1, Burst: -1, MaxKeys: -1}, Config{Rate: DefaultRate, Burst: DefaultBurst, MaxKeys: DefaultMaxKeys}},
		{"requests", RequestConfig(), Config{Rate: 20, Burst: 40, MaxKeys: DefaultMaxKeys}},
		{"cursors", CursorConfig(), Config{Rate: 20, Burst: 2, MaxKeys: DefaultMaxKeys}},
		{"custom", Config{Rate: 5, Burst: 1, MaxKeys: 3}, Config{Rate: 5, Burst: 1, MaxKeys: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(tt.cfg).Config(); got != tt.want {
				t.Fatalf("Config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	// Each step calls Allow (or Forget/Prune) and checks the answer and the
	// number of keys tracked afterwards.
	type step struct {
		op      string // "allow", "forget" or "prune"
		key     string
		at      time.Duration
		want    bool // for allow
		pruned  int  // for prune
		wantLen int
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"keys are independent", Config{Rate: 1, Burst: 1, MaxKeys: 10}, []step{
			{"allow", "a", 0, true, 0, 1},
			{"allow", "a", 0, false, 0, 1},
			{"allow", "b", 0, true, 0, 2},
			{"allow", "a", time.Second, true, 0, 2},
		}},
		{"bounded: least recently used is evicted", Config{Rate: 1, Burst: 1, MaxKeys: 2}, []step{
			{"allow", "a", 0, true, 0, 1},
			{"allow", "b", 0, true, 0, 2},
			{"allow", "a", 0, false, 0, 2}, // a is now most recent
			{"allow", "c", 0, true, 0, 2},  // evicts b
			{"allow", "a", 0, false, 0, 2}, // a kept its empty bucket
			{"allow", "b", 0, true, 0, 2},  // b starts afresh, evicting c
			{"allow", "c", 0, true, 0, 2},  // c afresh, evicting a
		}},
		{"forget resets a key", Config{Rate: 1, Burst: 1, MaxKeys: 10}, []step{
			{"allow", "a", 0, true, 0, 1},
			{"allow", "a", 0, false, 0, 1},
			{"forget", "a", 0, false, 0, 0},
			{"forget", "missing", 0, false, 0, 0},
			{"allow", "a", 0, true, 0, 1},
		}},
		{"prune drops only refilled keys", Config{Rate: 1, Burst: 2, MaxKeys: 10}, []step{
			{"allow", "a", 0, true, 0, 1},
			{"allow", "b", 0, true, 0, 2},
			{"allow", "b", 0, true, 0, 2},
			{"prune", "", time.Second, false, 1, 1}, // a refilled, b has 1 of 2
			{"allow", "b", time.Second, true, 0, 1},
			{"prune", "", 3 * time.Second, false, 1, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.cfg)
			for i, s := range tt.steps {
				now := t0().Add(s.at)
				switch s.op {
				case "allow":
					if got := l.Allow(s.key, now); got != s.want {
						t.Fatalf("step %d: Allow(%q) = %v, want %v", i, s.key, got, s.want)
					}
				case "forget":
					l.Forget(s.key)
				case "prune":
					if got := l.Prune(now); got != s.pruned {
						t.Fatalf("step %d: Prune = %d, want %d", i, got, s.pruned)
					}
				}
				if got := l.Len(); got != s.wantLen {
					t.Fatalf("step %d: Len = %d, want %d", i, got, s.wantLen)
				}
			}
		})
	}
}

func TestLimiterRetryAfter(t *testing.T) {
	l := New(CursorConfig())
	if got := l.RetryAfter("new", t0()); got != 0 {
		t.Fatalf("RetryAfter for an unknown key = %v, want 0", got)
	}
	l.Allow("k", t0())
	l.Allow("k", t0())
	if got := l.RetryAfter("k", t0()); got != 50*time.Millisecond {
		t.Fatalf("RetryAfter = %v, want 50ms", got)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	const (
		keys    = 8
		workers = 4
		calls   = 100
		burst   = 50
	)
	l := New(Config{Rate: 1, Burst: burst, MaxKeys: keys})
	now := t0()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed = map[string]int{}
	)
	for k := range keys {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("conn-%d", k)
				n := 0
				for range calls {
					if l.Allow(key, now) {
						n++
					}
				}
				mu.Lock()
				allowed[key] += n
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for k := range keys {
		key := fmt.Sprintf("conn-%d", k)
		if allowed[key] != burst {
			t.Errorf("%s: %d allowed, want exactly the burst %d", key, allowed[key], burst)
		}
	}
}
