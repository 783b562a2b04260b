package backoff

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestJitterBounds(t *testing.T) {
	const base, limit = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{math.MinInt, base},
		{0, base},
		{1, base},
		{2, 2 * base},
		{5, 16 * base},
		{6, limit}, // 3.2 s capped
		{31, limit},
		{32, limit},
		{math.MaxInt, limit},
	}
	for _, tc := range tests {
		for range 200 {
			if d := Jitter(tc.attempt, base, limit); d < 0 || d >= tc.ceiling {
				t.Fatalf("Jitter(%d) = %v, want in [0, %v)", tc.attempt, d, tc.ceiling)
			}
		}
	}
	// A base whose doubling would pass a Duration's range: the ceiling is
	// the limit, not a wrapped-around shift.
	var most time.Duration
	for range 200 {
		most = max(most, Jitter(31, 1<<34+1, time.Hour))
	}
	if most < 30*time.Minute {
		t.Errorf("Jitter(31, 2^34+1 ns, 1 h): largest of 200 draws %v, want the 1 h ceiling (the shift wrapped)", most)
	}
	if d := Jitter(3, 0, 0); d != 0 {
		t.Errorf("Jitter with no window = %v, want 0", d)
	}
	if d, err := Delayer(base, limit).BackoffDelay(40, nil); err != nil || d < 0 || d >= limit {
		t.Errorf("Delayer(40) = %v, %v", d, err)
	}
}

func TestWait(t *testing.T) {
	if err := Wait(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a done context = %v, want context.Canceled", err)
	}
	if err := Wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(0) on a done context = %v, want context.Canceled", err)
	}
}

// TestDelayer: the SDK-facing delayer keeps every delay under its attempt's
// ceiling (moved from awsrest's FullJitterBackoff test).
func TestDelayer(t *testing.T) {
	b := Delayer(100*time.Millisecond, 2*time.Second)
	for attempt, ceiling := range map[int]time.Duration{
		0: 2 * time.Second, 1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 5: 1600 * time.Millisecond,
		6: 2 * time.Second, 40: 2 * time.Second, 1 << 30: 2 * time.Second,
	} {
		for range 200 {
			d, err := b.BackoffDelay(attempt, nil)
			if err != nil || d < 0 || d >= ceiling {
				t.Fatalf("attempt %d: delay %v, %v; want in [0, %v)", attempt, d, err, ceiling)
			}
		}
	}
}
