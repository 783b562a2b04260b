package broadcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/store"
)

// Sharded fan-out: a channel with more subscribers than one invocation
// should post to is split into shards of at most Sharding.ShardSize
// recipients. The invocation that handles the publish (the coordinator)
// reads the subscriber list, posts to the first shard itself, and hands
// every further shard to a Dispatcher, which has it delivered in parallel
// by other invocations (an asynchronous Lambda invoke in AWS, a goroutine
// in the local server). A channel that fits in one shard is delivered
// exactly as by an unsharded Fanout.
//
// Sharding.InlineMax makes the coordinator's own part smaller than a
// shard: it posts to at most InlineMax recipients of each broadcast and
// hands the rest, in shards of ShardSize, to the Dispatcher. It is for
// functions that make many broadcasts in one step (the clean-up of a
// connection announces a leave in each of its rooms, then offline and
// its lock releases), whose own posts must stay far below a shard per
// broadcast to fit their time.
//
// Sharding is enabled per Poster: a Poster that implements Sharder (see
// ShardedPosters) makes every Broadcaster built on it shard.

// DefaultShardSize is the default for Sharding.ShardSize: the delivery
// burst the deployment template gives each function instance
// (DELIVERY_BURST), so that a shard is posted in one burst rather than
// waiting for the instance's rate (a shard of 2,000 at 1,000 posts a
// second with bursts of 1,000 takes a second longer), in two rounds of
// DefaultConcurrency posts.
const DefaultShardSize = 1000

// DefaultDispatchConcurrency is the default of
// Sharding.DispatchConcurrency. An asynchronous Lambda invoke takes tens
// of milliseconds; a fan-out to 50,000 in shards of 1,000 makes 49 of
// them, which one after another hold the last shard back by one or two
// seconds. Eight at a time cut that eightfold while keeping the invoke
// calls of one fan-out well under Lambda's request rate.
const DefaultDispatchConcurrency = 8

// metricShards counts the shards a fan-out handed to other invocations.
const metricShards = "FanoutShards"

// Shard is one part of a large fan-out: a frame and the recipients one
// invocation delivers it to. It is the payload of a fan-out invocation, so
// it marshals to JSON (Frame as base64).
type Shard struct {
	// Endpoint is the Management API endpoint that reaches the recipients.
	Endpoint string `json:"endpoint"`
	// Tenant and Channel name the fan-out, for logs and metrics.
	Tenant  string `json:"tenant"`
	Channel string `json:"channel"`
	// Index numbers the shards of one fan-out from 1; the coordinator's
	// own shard is 0.
	Index int `json:"index"`
	// Frame is the frame to post.
	Frame []byte `json:"frame"`
	// IDs are the recipients' connection ids.
	IDs []string `json:"ids"`
}

// Dispatcher hands shards to parallel invocations.
type Dispatcher interface {
	// Dispatch arranges for s to be delivered by another invocation and
	// returns once the shard was accepted, before it is delivered. An
	// error means the shard may not have been accepted, or (an
	// *UndispatchedError) only part of it was; the coordinator then
	// delivers what was not accepted itself. An error that leaves it
	// unknown (an invoke that timed out after it was sent may have been
	// queued) is reported as not accepted: the recipients may then get
	// the frame twice rather than not at all, as they may when Lambda
	// hands an asynchronous event to the function twice (docs/DEPLOY.md,
	// "No duplicates from 429").
	Dispatch(ctx context.Context, s Shard) error
}

// UndispatchedError is a Dispatch error for a shard of which only part
// was accepted (a dispatcher that splits a shard into several
// invocations): IDs are the recipients that were not, which the
// coordinator delivers; the others will get the frame from the
// invocations that accepted them.
type UndispatchedError struct {
	IDs []string
	Err error
}

func (e *UndispatchedError) Error() string {
	return fmt.Sprintf("%d recipients not dispatched: %v", len(e.IDs), e.Err)
}

func (e *UndispatchedError) Unwrap() error { return e.Err }

// Sharding configures sharded fan-out.
type Sharding struct {
	// ShardSize is the most recipients one invocation posts to. Default
	// 1000 (DefaultShardSize).
	ShardSize int
	// InlineMax is the most recipients of one broadcast the coordinator
	// posts to itself: a channel of at most InlineMax is delivered by the
	// coordinator alone, a larger one has its first InlineMax recipients
	// posted by the coordinator and the rest dispatched in shards of
	// ShardSize. Default 0: ShardSize (the coordinator posts the first
	// shard). A value above ShardSize counts as ShardSize. (Not to be
	// confused with InlinePoster, which is about how a post is made.)
	InlineMax int
	// Dispatcher delivers the shards beyond the first. Required.
	Dispatcher Dispatcher
	// DispatchConcurrency bounds the Dispatch calls of one fan-out in
	// flight at once. Default 8 (DefaultDispatchConcurrency).
	DispatchConcurrency int
	// Endpoint is the Management API endpoint written into each shard.
	// ShardedPosters fills it in.
	Endpoint string
}

// Sharder is implemented by a Poster whose fan-outs are sharded.
type Sharder interface {
	Poster
	// Sharding returns the shard size, dispatcher and endpoint to use.
	Sharding() Sharding
}

// shardedPoster is a Poster with a sharding configuration.
type shardedPoster struct {
	Poster
	sharding Sharding
}

var (
	_ Sharder     = shardedPoster{}
	_ FramePoster = shardedPoster{}
)

func (p shardedPoster) Sharding() Sharding { return p.sharding }

// PrepareFrame prepares with the wrapped Poster when it is a FramePoster.
func (p shardedPoster) PrepareFrame(data []byte) func(ctx context.Context, connectionID string) error {
	return prepare(p.Poster, data)
}

// PostsInline reports whether the wrapped Poster posts inline.
func (p shardedPoster) PostsInline() bool { return postsInline(p.Poster) }

// Unwrap returns the wrapped Poster.
func (p shardedPoster) Unwrap() Poster { return p.Poster }

// Unwrap returns the Poster under the sharding of ShardedPosters, or p
// when it is not sharded: the Management API client itself, for its calls
// other than posts (GetConnection, DeleteConnection), which sharding does
// not concern and its wrapper does not offer.
func Unwrap(p Poster) Poster {
	for {
		u, ok := p.(interface{ Unwrap() Poster })
		if !ok {
			return p
		}
		p = u.Unwrap()
	}
}

// ShardedPosters wraps a function that returns the Poster of a Management
// API endpoint so that every Broadcaster built on its Posters shards large
// fan-outs with s (its Endpoint is set per Poster). A nil s.Dispatcher
// returns posters unchanged.
func ShardedPosters(posters func(endpoint string) Poster, s Sharding) func(endpoint string) Poster {
	if s.Dispatcher == nil {
		return posters
	}
	if s.ShardSize <= 0 {
		s.ShardSize = DefaultShardSize
	}
	s.InlineMax = s.inline()
	return func(endpoint string) Poster {
		sh := s
		sh.Endpoint = endpoint
		return shardedPoster{Poster: posters(endpoint), sharding: sh}
	}
}

// shardSize is ShardSize, or its default.
func (s Sharding) shardSize() int {
	if s.ShardSize <= 0 {
		return DefaultShardSize
	}
	return s.ShardSize
}

// dispatchConcurrency is DispatchConcurrency, or its default.
func (s Sharding) dispatchConcurrency() int {
	if s.DispatchConcurrency <= 0 {
		return DefaultDispatchConcurrency
	}
	return s.DispatchConcurrency
}

// inline is the most recipients of a broadcast the coordinator posts to:
// InlineMax, at most a shard; 0 (or less) means a shard.
func (s Sharding) inline() int {
	if s.InlineMax <= 0 {
		return s.shardSize()
	}
	return min(s.InlineMax, s.shardSize())
}

// fanoutSharded is Fanout for a Poster that implements Sharder. The first
// recipients, up to a shard or InlineMax, are posted to as their pages
// arrive, as Fanout does, but without holding up the reading of further
// pages; the rest are grouped into shards of ShardSize and dispatched as
// soon as each is full. Result counts every recipient, but Delivered,
// Gone and Failed only the coordinator's own posts (and those of shards
// it had to deliver itself because the dispatcher refused them).
func (b *Broadcaster) fanoutSharded(ctx context.Context, sh Sharding, tenant, channel string, frame []byte, skip func(connID string) bool) (Result, error) {
	size := sh.shardSize()
	var (
		res     Result
		own     = b.newDelivery(ctx, frame)
		pending []string
		shards  int
		ownLeft = sh.inline()
		cursor  string
	)
	// The coordinator's own recipients are posted by a feeder goroutine,
	// so that reading the list and dispatching the other shards never
	// waits for the coordinator's posts: the shards start at once.
	ownIDs := make(chan string, ownLeft)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for id := range ownIDs {
			own.post(id)
		}
	}()
	// Shards are dispatched on goroutines, DispatchConcurrency at a time,
	// so that reading the list never waits for an invoke either.
	var dispatching sync.WaitGroup
	slots := make(chan struct{}, sh.dispatchConcurrency())
	finishOwn := func() {
		dispatching.Wait() // a refused shard is posted through own
		close(ownIDs)
		<-fed
		own.wait()
	}
	dispatch := func(ids []string) {
		shards++
		s := Shard{Endpoint: sh.Endpoint, Tenant: tenant, Channel: channel, Index: shards, Frame: frame, IDs: ids}
		slots <- struct{}{}
		dispatching.Add(1)
		go func() {
			defer func() { <-slots; dispatching.Done() }()
			err := sh.Dispatcher.Dispatch(ctx, s)
			if err == nil {
				return
			}
			ids := s.IDs
			var part *UndispatchedError
			if errors.As(err, &part) {
				ids = part.IDs // the rest went out: posting it here too would deliver it twice
			}
			b.cfg.Logger.WarnContext(ctx, "fan-out shard not dispatched; delivering it here",
				"channel", channel, "shard", s.Index, "recipients", len(ids), "error", err)
			for _, id := range ids {
				own.post(id)
			}
		}()
	}
	for {
		ids, next, err := b.store.Subscribers(ctx, tenant, channel, store.Page{Cursor: cursor, Limit: b.cfg.PageSize})
		if err != nil {
			finishOwn()
			return res, fmt.Errorf("fanout %q: list subscribers: %w", channel, err)
		}
		for _, id := range ids {
			if skip != nil && skip(id) {
				res.Skipped++
				continue
			}
			res.Recipients++
			if ownLeft > 0 {
				ownLeft--
				ownIDs <- id // never blocks: the buffer holds every recipient the coordinator posts to
				continue
			}
			pending = append(pending, id)
			if len(pending) == size {
				dispatch(pending)
				pending = nil
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(pending) > 0 {
		dispatch(pending)
	}
	finishOwn()
	res.Delivered, res.Gone, res.Failed = own.counts()
	m := metrics.From(ctx)
	m.Add(metrics.FanoutSize, float64(res.Recipients), metrics.Count)
	m.Add(metrics.FramesOut, float64(res.Delivered), metrics.Count)
	m.Add(metrics.GoneConnections, float64(res.Gone), metrics.Count)
	m.Add(metrics.FanoutDeliveryErrors, float64(res.Failed), metrics.Count)
	m.Add(metricShards, float64(shards), metrics.Count)
	return res, nil
}

// DeliverShard posts s.Frame to every recipient of s with the
// Broadcaster's bounded concurrency, removing recipients that are gone, as
// Fanout does for the subscribers it reads itself.
func (b *Broadcaster) DeliverShard(ctx context.Context, s Shard) Result {
	d := b.newDelivery(ctx, s.Frame)
	for _, id := range s.IDs {
		d.post(id)
	}
	d.wait()
	var res Result
	res.Recipients = len(s.IDs)
	res.Delivered, res.Gone, res.Failed = d.counts()
	m := metrics.From(ctx)
	m.Add(metrics.FramesOut, float64(res.Delivered), metrics.Count)
	m.Add(metrics.GoneConnections, float64(res.Gone), metrics.Count)
	return res
}

// Deliverer delivers shards that an invocation received: it keeps one
// Broadcaster per Management API endpoint. It is safe for concurrent use.
type Deliverer struct {
	store   Store
	posters func(endpoint string) Poster
	cfg     Config

	mu sync.Mutex
	bs map[string]*Broadcaster
}

// NewDeliverer returns a Deliverer posting through posters(endpoint) (not
// sharded posters: a shard is never split again) and removing gone
// recipients from s. cfg configures each Broadcaster as in New.
func NewDeliverer(s Store, posters func(endpoint string) Poster, cfg Config) *Deliverer {
	return &Deliverer{store: s, posters: posters, cfg: cfg, bs: map[string]*Broadcaster{}}
}

// MaxShardIDs bounds the recipients of a shard a Deliverer accepts; it is
// far above any sensible ShardSize and only stops a malformed event.
const MaxShardIDs = 100_000

// Deliver delivers one shard and reports the outcome.
func (d *Deliverer) Deliver(ctx context.Context, s Shard) (Result, error) {
	if s.Endpoint == "" {
		return Result{}, fmt.Errorf("deliver shard %d of %q: no endpoint", s.Index, s.Channel)
	}
	if len(s.IDs) > MaxShardIDs {
		return Result{}, fmt.Errorf("deliver shard %d of %q: %d recipients, at most %d", s.Index, s.Channel, len(s.IDs), MaxShardIDs)
	}
	d.mu.Lock()
	b, ok := d.bs[s.Endpoint]
	if !ok {
		b = New(d.store, d.posters(s.Endpoint), d.cfg)
		d.bs[s.Endpoint] = b
	}
	d.mu.Unlock()
	return b.DeliverShard(ctx, s), nil
}

// Local is a Dispatcher that delivers each shard on a goroutine of this
// process: a stand-in for parallel invocations in the local server and in
// tests. Shards outlive the request that dispatched them, as asynchronous
// invocations do. The zero value is not usable; call NewLocal.
type Local struct {
	deliver func(ctx context.Context, s Shard) (Result, error)
	log     *slog.Logger
	wg      sync.WaitGroup
	shards  atomic.Int64
}

var _ Dispatcher = (*Local)(nil)

// NewLocal returns a Local dispatcher that delivers shards with deliver
// (typically a Deliverer's Deliver). A nil logger means slog.Default().
func NewLocal(deliver func(ctx context.Context, s Shard) (Result, error), logger *slog.Logger) *Local {
	if logger == nil {
		logger = slog.Default()
	}
	return &Local{deliver: deliver, log: logger}
}

// Dispatch starts delivering s and returns at once.
func (l *Local) Dispatch(ctx context.Context, s Shard) error {
	l.shards.Add(1)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if _, err := l.deliver(context.WithoutCancel(ctx), s); err != nil {
			l.log.Warn("deliver fan-out shard", "channel", s.Channel, "shard", s.Index, "error", err)
		}
	}()
	return nil
}

// Wait blocks until every dispatched shard has been delivered.
func (l *Local) Wait() { l.wg.Wait() }

// Dispatched returns the number of shards dispatched so far.
func (l *Local) Dispatched() int64 { return l.shards.Load() }
