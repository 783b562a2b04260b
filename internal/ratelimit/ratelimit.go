// Package ratelimit limits how fast each connection may send frames, with
// token buckets kept per key (a connection id) in a bounded table.
//
// The state lives in the process: in a long-running server (the dev
// server) it covers a connection's whole life, while in Lambda each warm
// execution environment keeps its own table, so the limit there is per
// environment and a best effort rather than a global guarantee.
package ratelimit

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// Defaults for request frames and for cursor updates.
const (
	// DefaultRate is the sustained rate of request frames per second.
	DefaultRate = 20
	// DefaultBurst is how many request frames may arrive at once.
	DefaultBurst = 40
	// DefaultCursorRate is the sustained rate of cursor updates per second:
	// one per 50 ms.
	DefaultCursorRate = 20
	// DefaultCursorBurst is how many cursor updates may arrive at once.
	DefaultCursorBurst = 2
	// DefaultMaxKeys bounds the number of keys a Limiter tracks.
	DefaultMaxKeys = 10000
)

// epsilon absorbs floating-point error in token arithmetic, so that e.g.
// exactly 50 ms at 20 per second always yields a whole token.
const epsilon = 1e-9

// Bucket is a token bucket: it holds up to Burst tokens, gains Rate tokens
// per second, and each allowed event takes one. It starts full. Time comes
// only from the callers' now arguments; a now earlier than one seen before
// counts as no time passing.
//
// The zero Bucket has no capacity and refuses every event. A Bucket with
// Burst > 0 and Rate <= 0 allows Burst events and then none. A Bucket is
// not safe for concurrent use; Limiter guards its buckets.
type Bucket struct {
	Rate  float64 // tokens gained per second
	Burst int     // capacity, and the tokens a new bucket starts with

	tokens  float64
	last    time.Time
	started bool
}

// refill brings the token count up to now.
func (b *Bucket) refill(now time.Time) {
	capacity := float64(max(b.Burst, 0))
	if !b.started {
		b.tokens, b.last, b.started = capacity, now, true
		return
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		if b.Rate > 0 {
			b.tokens = math.Min(capacity, b.tokens+elapsed.Seconds()*b.Rate)
		}
		b.last = now
	}
	b.tokens = math.Min(b.tokens, capacity)
}

// Allow takes a token at now and reports whether there was one.
func (b *Bucket) Allow(now time.Time) bool {
	b.refill(now)
	if b.tokens >= 1-epsilon {
		b.tokens = max(b.tokens-1, 0)
		return true
	}
	return false
}

// RetryAfter returns how long after now the next token is due: zero when
// one is available, and math.MaxInt64 nanoseconds when none will ever be
// (no capacity, or an empty bucket with no rate). It takes no token.
func (b *Bucket) RetryAfter(now time.Time) time.Duration {
	b.refill(now)
	switch {
	case b.tokens >= 1-epsilon:
		return 0
	case b.Burst <= 0 || b.Rate <= 0:
		return time.Duration(math.MaxInt64)
	}
	wait := math.Ceil((1 - b.tokens) / b.Rate * float64(time.Second))
	if wait >= math.MaxInt64 { // a wait past a Duration's range: as "never"
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(wait)
}

// full reports whether the bucket would be full at now, i.e. forgetting it
// changes nothing.
func (b *Bucket) full(now time.Time) bool {
	if !b.started {
		return true
	}
	c := *b
	c.refill(now)
	return c.tokens >= float64(max(b.Burst, 0))-epsilon
}

// Config configures a Limiter.
type Config struct {
	// Rate is the sustained events per second for each key. Default:
	// DefaultRate (20); non-positive values take the default.
	Rate float64
	// Burst is how many events a key may send at once. Default:
	// DefaultBurst (40); non-positive values take the default.
	Burst int
	// MaxKeys bounds the keys tracked at once; past it the least recently
	// used key is forgotten. Default: DefaultMaxKeys (10000); non-positive
	// values take the default.
	MaxKeys int
}

// RequestConfig returns the default configuration for request frames:
// 20 per second with bursts of 40.
func RequestConfig() Config {
	return Config{Rate: DefaultRate, Burst: DefaultBurst, MaxKeys: DefaultMaxKeys}
}

// CursorConfig returns the default configuration for cursor updates: one
// per 50 ms with bursts of 2.
func CursorConfig() Config {
	return Config{Rate: DefaultCursorRate, Burst: DefaultCursorBurst, MaxKeys: DefaultMaxKeys}
}

// Limiter keeps a Bucket per key. It tracks at most MaxKeys keys: when a
// new key would exceed that, the least recently used key is dropped, so
// memory stays bounded at about MaxKeys buckets (under 100 bytes each plus
// the key). A dropped key that comes back starts with a full bucket, which
// only matters when more than MaxKeys keys are active at once. It is safe
// for concurrent use.
type Limiter struct {
	cfg Config

	mu    sync.Mutex
	byKey map[string]*list.Element // of *entry
	lru   *list.List               // front: most recently used
}

type entry struct {
	key    string
	bucket Bucket
}

// New returns a Limiter for cfg, filling in its defaults.
func New(cfg Config) *Limiter {
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return &Limiter{cfg: cfg, byKey: make(map[string]*list.Element), lru: list.New()}
}

// Config returns the limiter's configuration with defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// Allow takes a token from key's bucket at now and reports whether there
// was one.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(key).Allow(now)
}

// RetryAfter returns how long after now key's next token is due, zero when
// one is available. It takes no token.
func (l *Limiter) RetryAfter(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.byKey[key]
	if !ok {
		return 0
	}
	return el.Value.(*entry).bucket.RetryAfter(now)
}

// Forget drops key's bucket, e.g. when its connection closes.
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		l.lru.Remove(el)
		delete(l.byKey, key)
	}
}

// Len returns the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey)
}

// Prune drops the buckets that are full at now: keys idle long enough to
// have regained their whole burst, whose buckets a new one would equal. It
// returns the number dropped. Calling it is optional; MaxKeys bounds the
// table regardless.
func (l *Limiter) Prune(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for el := l.lru.Back(); el != nil; {
		prev := el.Prev()
		e := el.Value.(*entry)
		if e.bucket.full(now) {
			l.lru.Remove(el)
			delete(l.byKey, e.key)
			n++
		}
		el = prev
	}
	return n
}

// bucket returns key's bucket, creating it and evicting the least recently
// used key if needed. l.mu must be held.
func (l *Limiter) bucket(key string) *Bucket {
	if el, ok := l.byKey[key]; ok {
		l.lru.MoveToFront(el)
		return &el.Value.(*entry).bucket
	}
	for len(l.byKey) >= l.cfg.MaxKeys {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.byKey, oldest.Value.(*entry).key)
	}
	e := &entry{key: key, bucket: Bucket{Rate: l.cfg.Rate, Burst: l.cfg.Burst}}
	l.byKey[key] = l.lru.PushFront(e)
	return &e.bucket
}
