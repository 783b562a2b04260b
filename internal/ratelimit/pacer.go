package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"
)

// Pacer defaults and bounds.
const (
	// PacerBurstFraction is the part of a second's budget a Pacer may send
	// at once: a budget of 1,000 per second allows bursts of 100.
	PacerBurstFraction = 0.1
	// PacerRecovery is how long a Pacer takes to climb back from its
	// floor to the full budget after throttling stops (linearly).
	PacerRecovery = 5 * time.Second
	// pacerCutInterval is the least time between two cuts of the rate, so
	// that the 429s of one burst of concurrent calls count as one signal.
	pacerCutInterval = 100 * time.Millisecond
	// pacerFloorFraction is the lowest rate throttling cuts to, as a part
	// of the budget.
	pacerFloorFraction = 1.0 / 16
	// MaxPacerBudget is the largest budget a Pacer keeps, in calls per
	// second: far above what one instance can send, and far enough from
	// float64's range that its sums and squares stay finite. NewPacerBurst
	// lowers a larger budget to it; configuration refuses one (see
	// internal/app).
	MaxPacerBudget = 1e6
)

// Pacer spreads calls that share one budget, such as every Management API
// call of a function instance, over time: a token bucket of Budget tokens
// per second that holds at most Burst, and starts full. Any interval of
// length T thus holds at most Burst + Budget·T calls.
//
// Throttling answers are back-pressure: Throttled halves the current rate
// (not below a sixteenth of the budget, and at most once per 100 ms), and
// the rate then climbs back to the budget linearly over PacerRecovery.
// Tokens accrue at that climbing rate, and a call reserved while the rate
// is low waits until the climbing rate has earned its token, not as long
// as the low rate would take: a queue built up at the floor drains as the
// rate recovers. A cut does not change the waits already handed out; the
// calls reserved after it wait behind them.
// Callers report a throttled call once, not once per throttled retry of it
// (awsrest.Client.Do), so that one connection answered 429 again and again
// cuts the rate once.
//
// A Pacer is safe for concurrent use. The zero value is not usable; call
// NewPacer.
type Pacer struct {
	budget float64 // tokens per second at full speed
	burst  float64
	floor  float64
	now    func() time.Time

	mu      sync.Mutex
	rate    float64   // current rate, floor ≤ rate ≤ budget
	tokens  float64   // may go negative: calls reserved ahead
	last    time.Time // when tokens and rate were last brought up to date
	lastCut time.Time
	started bool
}

// NewPacer returns a Pacer allowing budget calls per second with bursts of
// PacerBurstFraction of a second's budget (at least 1). now is the clock;
// nil means time.Now. It returns nil when budget is not positive: a nil
// *Pacer does not pace.
func NewPacer(budget float64, now func() time.Time) *Pacer {
	return NewPacerBurst(budget, 0, now)
}

// NewPacerBurst is NewPacer with bursts of burst calls; a burst of 0 or
// less means NewPacer's. A finite budget above MaxPacerBudget counts as
// MaxPacerBudget.
func NewPacerBurst(budget float64, burst int, now func() time.Time) *Pacer {
	if !(budget > 0) || math.IsInf(budget, 0) {
		return nil
	}
	budget = math.Min(budget, MaxPacerBudget)
	if now == nil {
		now = time.Now
	}
	b := float64(burst)
	if burst <= 0 {
		b = math.Max(1, math.Floor(budget*PacerBurstFraction))
	}
	return &Pacer{
		budget: budget,
		burst:  b,
		floor:  budget * pacerFloorFraction,
		rate:   budget,
		now:    now,
	}
}

func (p *Pacer) Budget() float64 { return p.budget }

// Burst returns how many calls may start at once.
func (p *Pacer) Burst() int { return int(p.burst) }

// Rate returns the current rate, which throttling lowers below Budget.
func (p *Pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advance(p.now())
	return p.rate
}

// advance brings the tokens and the rate up to now. p.mu must be held.
func (p *Pacer) advance(now time.Time) {
	if !p.started {
		p.tokens, p.last, p.started = p.burst, now, true
		return
	}
	dt := now.Sub(p.last).Seconds()
	if dt <= 0 {
		return
	}
	p.tokens = math.Min(p.burst, p.tokens+p.earned(dt))
	p.rate = math.Min(p.budget, p.rate+dt*p.climb())
	p.last = now
}

// climb is how fast the rate recovers, in tokens per second per second.
func (p *Pacer) climb() float64 { return p.budget / PacerRecovery.Seconds() }

// earned returns the tokens the rate earns over the next dt seconds as it
// climbs from p.rate to the budget: the area under the rate, not dt at
// the current rate, which undercounts while the rate climbs. p.mu must be
// held.
func (p *Pacer) earned(dt float64) float64 {
	toFull := (p.budget - p.rate) / p.climb() // seconds until the budget
	if dt <= toFull {
		return dt * (p.rate + p.climb()*dt/2)
	}
	return toFull*(p.rate/2+p.budget/2) + (dt-toFull)*p.budget
}

// until returns how many seconds the rate takes to earn n > 0 tokens from
// now (the inverse of earned). p.mu must be held.
func (p *Pacer) until(n float64) float64 {
	toFull := (p.budget - p.rate) / p.climb()
	if climbing := toFull * (p.rate/2 + p.budget/2); n > climbing {
		return toFull + (n-climbing)/p.budget
	}
	// The root of climb·t²/2 + rate·t = n, written so that it does not
	// lose precision when climb·n is small beside rate².
	return 2 * n / (p.rate + math.Sqrt(p.rate*p.rate+2*p.climb()*n))
}

// Reserve takes one call's token at now and returns how long the caller
// must wait before making the call: zero when a token is at hand, else
// until the rate, climbing back after throttling, has earned the tokens
// owed.
func (p *Pacer) Reserve() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advance(p.now())
	p.tokens--
	if p.tokens >= -epsilon {
		return 0
	}
	wait := math.Ceil(p.until(-p.tokens) * float64(time.Second))
	if wait >= math.MaxInt64 || math.IsNaN(wait) { // past a Duration's range: the longest wait, not a negative one
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(wait)
}

// Wait blocks until the caller may make one call, or until ctx ends (then
// it returns ctx's error; the token stays spent). A nil Pacer returns at
// once.
func (p *Pacer) Wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	d := p.Reserve()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Throttled reports a throttled call (429), once per call: the rate is
// halved, at most once per 100 ms and not below a sixteenth of the budget,
// and the tokens at hand are dropped so that no burst follows. A nil Pacer
// ignores it.
func (p *Pacer) Throttled() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.advance(now)
	if !p.lastCut.IsZero() && now.Sub(p.lastCut) < pacerCutInterval {
		return
	}
	p.lastCut = now
	p.rate = math.Max(p.floor, p.rate/2)
	p.tokens = math.Min(p.tokens, 0)
}
