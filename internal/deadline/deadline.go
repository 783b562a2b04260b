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
// of a few seconds.
const SweepReserve = 10 * time.Second

// Near reports whether ctx's deadline, if it has one, is less than reserve
// away (or past). A context without a deadline is never near.
func Near(ctx context.Context, reserve time.Duration) bool {
	d, ok := ctx.Deadline()
	return ok && time.Until(d) < reserve
}
