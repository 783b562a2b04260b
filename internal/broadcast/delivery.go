package broadcast

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// delivery posts one frame to recipients as they are added, at most
// Config.Concurrency at a time, and counts the outcomes. It is the one
// posting loop of the package: Fanout, the coordinator of a sharded
// fan-out and DeliverShard all post through it.
type delivery struct {
	b                       *Broadcaster
	ctx                     context.Context
	send                    func(ctx context.Context, connectionID string) error
	inline                  bool // post in the caller's goroutine (an InlinePoster)
	sem                     chan struct{}
	wg                      sync.WaitGroup
	delivered, gone, failed atomic.Int64
}

func (b *Broadcaster) newDelivery(ctx context.Context, frame []byte) *delivery {
	return &delivery{b: b, ctx: ctx, send: prepare(b.poster, frame), inline: postsInline(b.poster),
		sem: make(chan struct{}, b.cfg.Concurrency)}
}

// post starts the post to id, waiting for a free slot first, or posts
// at once when the Poster posts inline.
func (d *delivery) post(id string) {
	if d.inline {
		d.postNow(id)
		return
	}
	d.sem <- struct{}{}
	d.wg.Add(1)
	go func() {
		defer func() { <-d.sem; d.wg.Done() }()
		d.postNow(id)
	}()
}

// postNow posts to id and counts the outcome.
func (d *delivery) postNow(id string) {
	switch err := d.b.settle(d.ctx, id, d.send(d.ctx, id)); {
	case err == nil:
		d.delivered.Add(1)
	case errors.Is(err, ErrGone):
		d.gone.Add(1)
	default:
		d.failed.Add(1)
	}
}

func (d *delivery) wait() { d.wg.Wait() }

func (d *delivery) counts() (delivered, gone, failed int) {
	return int(d.delivered.Load()), int(d.gone.Load()), int(d.failed.Load())
}
