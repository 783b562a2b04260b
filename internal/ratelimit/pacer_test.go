package ratelimit

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// TestPacerBound: calls started at the times Reserve hands out never
// exceed Burst + Budget·T in any interval of length T.
func TestPacerBound(t *testing.T) {
	clk := storetest.NewFakeClock(time.Unix(1_700_000_000, 0))
	p := NewPacer(200, clk.Now)
	if p.Burst() != 20 {
		t.Fatalf("Burst() = %d, want 20 (a tenth of a second's budget)", p.Burst())
	}
	var starts []time.Time
	// 1,000 callers arrive over half a second, all wanting to call at once.
	for i := range 1000 {
		if i%100 == 0 {
			clk.Advance(50 * time.Millisecond)
		}
		starts = append(starts, clk.Now().Add(p.Reserve()))
	}
	for _, window := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second, 3 * time.Second} {
		limit := float64(p.Burst()) + p.Budget()*window.Seconds()
		if got := maxInWindow(starts, window); float64(got) > limit+1e-9 {
			t.Errorf("%d calls within %v, want at most %.0f", got, window, limit)
		}
	}
	// 1,000 calls at 200 per second after a burst of 20 end 4.9 s in.
	last := starts[len(starts)-1].Sub(time.Unix(1_700_000_000, 0))
	if last < 4800*time.Millisecond || last > 5100*time.Millisecond {
		t.Errorf("last call starts %v after the first caller, want about 4.9 s", last)
	}
}

// maxInWindow returns the most times of ts (in any order) that fall in
// one half-open interval of length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best := 0
	for _, a := range ts {
		n := 0
		for _, b := range ts {
			if !b.Before(a) && b.Sub(a) < w {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// TestPacerThrottled: a 429 halves the rate (once per burst of answers)
// down to a floor, drops the burst, and the rate climbs back linearly.
func TestPacerThrottled(t *testing.T) {
	clk := storetest.NewFakeClock(time.Unix(1_700_000_000, 0))
	p := NewPacer(1000, clk.Now)
	p.Reserve()
	p.Throttled()
	p.Throttled() // same burst of answers: no second cut
	if got := p.Rate(); got != 500 {
		t.Fatalf("rate after one 429 = %v, want 500", got)
	}
	// One token at 500/s: 2 ms, a little less as the rate climbs meanwhile.
	if d := p.Reserve(); d < 1990*time.Microsecond || d > 2*time.Millisecond {
		t.Errorf("first call after a 429 waits %v, want about 2ms (no burst at 500/s)", d)
	}
	for range 10 {
		clk.Advance(pacerCutInterval)
		p.Throttled()
	}
	if got, want := p.Rate(), 1000*pacerFloorFraction; math.Abs(got-want) > 1e-6 {
		t.Errorf("rate after many 429s = %v, want the floor %v", got, want)
	}
	clk.Advance(PacerRecovery / 2)
	if got, want := p.Rate(), 1000*pacerFloorFraction+500; math.Abs(got-want) > 1e-6 {
		t.Errorf("rate half a recovery later = %v, want %v", got, want)
	}
	clk.Advance(PacerRecovery)
	if got := p.Rate(); got != 1000 {
		t.Errorf("rate after a full recovery = %v, want the budget 1000", got)
	}
}

// TestPacerWaitFollowsRecovery: a call reserved while the rate is cut
// waits for the tokens the rate earns as it climbs back, not for as many
// at the cut rate; and the tokens credited since then are that climb's
// too. Before, 250 calls reserved at the floor (62.5/s) were booked 4 s
// ahead, although the rate was back at the budget within 5 s, and after
// the 1.3 s the climbing rate takes to earn them the pacer still counted
// 169 calls owed.
func TestPacerWaitFollowsRecovery(t *testing.T) {
	clk := storetest.NewFakeClock(time.Unix(1_700_000_000, 0))
	p := NewPacerBurst(1000, 1000, clk.Now)
	for range p.Burst() {
		p.Reserve()
	}
	for range 5 { // 1,000 -> 500 -> 260 -> 140 -> 80 -> the floor, 62.5 (+20/s between cuts)
		clk.Advance(pacerCutInterval)
		p.Throttled()
	}
	floor := p.Rate()
	if floor != 1000*pacerFloorFraction {
		t.Fatalf("rate after five cuts = %v, want the floor %v", floor, 1000*pacerFloorFraction)
	}
	// The rate climbs by climb per second: the tokens earned t seconds
	// after the cut are floor·t + climb·t²/2 while it is under the budget.
	climb := 1000 / PacerRecovery.Seconds()
	earnedBy := func(n float64) time.Duration { // solve floor·t + climb·t²/2 = n
		sec := (math.Sqrt(floor*floor+2*climb*n) - floor) / climb
		return time.Duration(sec * float64(time.Second))
	}
	var waits []time.Duration
	for range 250 {
		waits = append(waits, p.Reserve())
	}
	for i, d := range waits {
		want := earnedBy(float64(i + 1))
		if d < want-time.Microsecond || d > want+time.Microsecond {
			t.Errorf("call %d reserved at the floor waits %v, want %v (the climbing rate's tokens); the 250th waits %v, want %v",
				i+1, d, want, waits[len(waits)-1], earnedBy(250))
			break
		}
	}
	// Once those 250 tokens are earned, the next call waits only for its
	// own token at the rate reached by then.
	clk.Advance(earnedBy(250))
	rate := p.Rate()
	if d, want := p.Reserve(), time.Duration(float64(time.Second)/rate); d > want+time.Microsecond {
		t.Errorf("call reserved when the 250 before it are due waits %v, want at most %v (one token at %.0f/s)", d, want, rate)
	}
}

func TestPacerNil(t *testing.T) {
	for _, budget := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if p := NewPacer(budget, nil); p != nil {
			t.Errorf("NewPacer(%v) = %v, want nil", budget, p)
		}
	}
	var p *Pacer
	p.Throttled()
	if err := p.Wait(context.Background()); err != nil {
		t.Errorf("nil Pacer Wait = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := NewPacer(1, nil)
	slow.Reserve() // the only token
	if err := slow.Wait(ctx); err != context.Canceled {
		t.Errorf("Wait on a done context = %v, want context.Canceled", err)
	}
}

// TestPacerWaitPastDurationRange: at a budget so small that the wait for
// the next token is past a Duration's range, Reserve answers the longest
// wait, not a negative one (which Wait took as "go now", unpacing every
// call).
func TestPacerWaitPastDurationRange(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	p := NewPacerBurst(1e-12, 1, func() time.Time { return now })
	if d := p.Reserve(); d != 0 {
		t.Fatalf("first call waits %v, want 0 (the burst)", d)
	}
	for i := 2; i <= 3; i++ {
		if d := p.Reserve(); d != time.Duration(math.MaxInt64) {
			t.Errorf("call %d: wait %v at a budget of 1e-12/s, want the longest Duration", i, d)
		}
	}
}

// TestPacerHugeBudget: a budget of 1e308 (positive and finite) made the
// tokens earned while the rate climbs overflow to +Inf, then NaN, and
// every call waited for ever. Such a budget counts as MaxPacerBudget, and
// the pacer hands out tokens at hand at once, also while it recovers from
// a cut.
func TestPacerHugeBudget(t *testing.T) {
	clk := storetest.NewFakeClock(time.Unix(1_700_000_000, 0))
	p := NewPacer(1e308, clk.Now)
	if p.Budget() != MaxPacerBudget {
		t.Errorf("budget %v, want %v", p.Budget(), MaxPacerBudget)
	}
	for i := 0; i < 3; i++ {
		clk.Advance(time.Second)
		if d := p.Reserve(); d != 0 {
			t.Fatalf("reserve %d: wait %v, want 0 (tokens at hand)", i, d)
		}
	}
	p.Throttled()
	clk.Advance(time.Second)
	if d := p.Reserve(); d != 0 {
		t.Errorf("reserve after a cut and a second: wait %v, want 0", d)
	}
	if r := p.Rate(); math.IsNaN(r) || r <= 0 || r > MaxPacerBudget {
		t.Errorf("rate %v, want within (0, %v]", r, MaxPacerBudget)
	}
}
