// Package broadcast delivers one frame to every subscriber of a channel: a
// paginated Query of the channel's subscriptions, then PostToConnection to
// each with bounded concurrency. A recipient whose connection is gone (410)
// is removed from the store together with its subscriptions; the sender is
// never removed for a recipient's failure.
//
// Entry point: Broadcaster.Fanout.
package broadcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/store"
)

// Poster sends one frame to one connection through the API Gateway
// Management API. Implementations retry throttling and 5xx answers
// themselves; an error that reports Gone (see Config.IsGone) means the
// connection no longer exists.
type Poster interface {
	PostToConnection(ctx context.Context, connectionID string, data []byte) error
}

// FramePoster is a Poster that does the work common to every recipient of
// one frame once, such as hashing the payload a signed request carries
// (mgmtapi.Client implements it). Every delivery of a Broadcaster uses it
// when its Poster offers it.
type FramePoster interface {
	Poster
	// PrepareFrame returns a function that posts data to one connection
	// with PostToConnection's outcomes. It is safe for concurrent use while
	// data does not change.
	PrepareFrame(data []byte) func(ctx context.Context, connectionID string) error
}

// InlinePoster is a Poster whose posts wait neither on the network nor on
// a client: the local server hands frames to its connections' write
// queues in process. A delivery posts through one in its own loop, where
// for any other Poster it runs each post in a goroutine of its own.
type InlinePoster interface {
	Poster
	PostsInline() bool
}

// postsInline reports whether p is an InlinePoster that says so.
func postsInline(p Poster) bool {
	ip, ok := p.(InlinePoster)
	return ok && ip.PostsInline()
}

// prepare returns the function that posts frame through p, prepared once
// when p is a FramePoster.
func prepare(p Poster, frame []byte) func(ctx context.Context, connectionID string) error {
	if fp, ok := p.(FramePoster); ok {
		return fp.PrepareFrame(frame)
	}
	return func(ctx context.Context, connectionID string) error {
		return p.PostToConnection(ctx, connectionID, frame)
	}
}

// Store is the part of the store a broadcaster needs.
type Store interface {
	Subscribers(ctx context.Context, tenant, channel string, p store.Page) ([]string, string, error)
	DeleteConnection(ctx context.Context, id string) (store.Connection, []string, error)
}

// DefaultConcurrency is the default of Config.Concurrency. A post to the
// Management API waits on the network (tens of milliseconds in AWS), not
// on CPU, so a publish to 1,000 subscribers at 20 ms per post takes two
// waves of 512 (about 40 ms) where it took 32 waves of 32. It stays well
// under a Lambda function's 1,024 file descriptors (one connection per
// post in flight, over HTTP/1.1). The HTTP client keeps as many idle
// connections (awsrest.Options), and the instance's delivery budget
// (app.Settings.DeliveryBurst) must allow the burst.
const DefaultConcurrency = 512

// Config tunes a Broadcaster. The zero value is usable.
type Config struct {
	// Concurrency bounds the posts in flight for one Fanout. Default 512
	// (DefaultConcurrency).
	Concurrency int
	// PageSize is the number of subscriptions read per Query. Default 500.
	PageSize int
	// IsGone reports whether a post error means the recipient is gone
	// (410). Required.
	IsGone func(error) bool
	// OnGone, if set, is called after a gone recipient was removed, with
	// the connection record and the channels it had; later features use it
	// to clear presence and locks. Default nil.
	OnGone func(ctx context.Context, c store.Connection, channels []string)
	// Logger receives failures. Default slog.Default().
	Logger *slog.Logger
}

// Result summarises one Fanout.
type Result struct {
	Recipients int // subscriptions found
	Delivered  int // posts that succeeded
	Gone       int // recipients removed because their connection was gone
	Failed     int // posts that failed for another reason (logged)
	Skipped    int // recipients excluded by the caller
}

// Broadcaster fans frames out to channel subscribers. It is safe for
// concurrent use.
type Broadcaster struct {
	store  Store
	poster Poster
	cfg    Config
}

// New returns a Broadcaster posting through p.
func New(s Store, p Poster, cfg Config) *Broadcaster {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IsGone == nil {
		cfg.IsGone = func(error) bool { return false }
	}
	return &Broadcaster{store: s, poster: p, cfg: cfg}
}

// Fanout posts frame to every subscriber of channel in tenant, except the
// connection ids for which skip returns true (skip may be nil). It returns
// an error only when the subscriber list could not be read; individual post
// failures are counted and logged.
func (b *Broadcaster) Fanout(ctx context.Context, tenant, channel string, frame []byte, skip func(connID string) bool) (Result, error) {
	// Hook for sharded fan-out (shard.go): a Poster that implements Sharder
	// splits large channels over parallel invocations.
	if sh, ok := b.poster.(Sharder); ok {
		return b.fanoutSharded(ctx, sh.Sharding(), tenant, channel, frame, skip)
	}
	var res Result
	d := b.newDelivery(ctx, frame)
	cursor := ""
	for {
		ids, next, err := b.store.Subscribers(ctx, tenant, channel, store.Page{Cursor: cursor, Limit: b.cfg.PageSize})
		if err != nil {
			d.wait()
			return res, fmt.Errorf("fanout %q: list subscribers: %w", channel, err)
		}
		for _, id := range ids {
			if skip != nil && skip(id) {
				res.Skipped++
				continue
			}
			res.Recipients++
			d.post(id)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	d.wait()
	res.Delivered, res.Gone, res.Failed = d.counts()
	m := metrics.From(ctx)
	m.Add(metrics.FanoutSize, float64(res.Recipients), metrics.Count)
	m.Add(metrics.FramesOut, float64(res.Delivered), metrics.Count)
	m.Add(metrics.GoneConnections, float64(res.Gone), metrics.Count)
	m.Add(metrics.FanoutDeliveryErrors, float64(res.Failed), metrics.Count)
	return res, nil
}

// ErrGone is returned by Post when the recipient's connection was gone and
// has been removed.
var ErrGone = errors.New("recipient gone")

// Post sends frame to one connection. When the Management API reports the
// connection gone, Post deletes that connection and its subscriptions and
// returns ErrGone. It counts the post in the context's metrics, as Fanout
// counts its own (FramesOut, GoneConnections, FanoutDeliveryErrors).
func (b *Broadcaster) Post(ctx context.Context, connID string, frame []byte) error {
	err := b.settle(ctx, connID, b.poster.PostToConnection(ctx, connID, frame))
	m := metrics.From(ctx)
	switch {
	case err == nil:
		m.Add(metrics.FramesOut, 1, metrics.Count)
	case errors.Is(err, ErrGone):
		m.Add(metrics.GoneConnections, 1, metrics.Count)
	default:
		m.Add(metrics.FanoutDeliveryErrors, 1, metrics.Count)
	}
	return err
}

// settle handles the outcome err of a post to connID as Post describes.
func (b *Broadcaster) settle(ctx context.Context, connID string, err error) error {
	if err == nil {
		return nil
	}
	if b.cfg.IsGone(err) {
		c, chans, derr := b.store.DeleteConnection(ctx, connID)
		if derr != nil {
			b.cfg.Logger.WarnContext(ctx, "remove gone connection", "connectionId", connID, "error", derr)
		} else if b.cfg.OnGone != nil && c.ID != "" {
			b.cfg.OnGone(ctx, c, chans)
		}
		return ErrGone
	}
	b.cfg.Logger.WarnContext(ctx, "post to connection failed", "connectionId", connID, "error", err)
	return fmt.Errorf("post to %q: %w", connID, err)
}
