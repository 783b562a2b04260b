// Package deadline tells a loop of independent steps (a sweeper pass)
// when its invocation is about to be cut off, so that it stops taking new
// steps instead of being killed in the middle of one.
package deadline

import (
	"context"
	"time"
)

// SweepReserve is what a sweeper pass keeps of its invocation's time for
// the step under way to finish: claiming an item and announcing it take a
// few DynamoDB and Management API calls, each bounded by its own timeout
// of a few seconds. The largest step, an expired session in 20 rooms (the
// most a connection joins) holding a lock, makes 23 broadcasts: a leave
// per room, offline, the release on two channels. The sweeper posts to at
// most FANOUT_INLINE_MAX recipients of each itself (the template's 20:
// 460 posts, under half a second at the delivery budget's 1,000/s once
// earlier steps spent the burst) and hands the rest to the fan-out
// function, which costs a Query per 500 subscribers and an invoke per
// shard, tens of milliseconds each: 10 s covers rooms of a few thousand
// subscribers. (Posting the first shard of each broadcast itself, one
// step in 20 rooms of 1,000 took 19 s.)
const SweepReserve = 10 * time.Second

// Near reports whether ctx's deadline, if it has one, is less than reserve
// away (or past). A context without a deadline is never near.
func Near(ctx context.Context, reserve time.Duration) bool {
	d, ok := ctx.Deadline()
	return ok && time.Until(d) < reserve
}
