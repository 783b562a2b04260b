// Package backoff is the one place that decides how long a retried
// operation waits before its next attempt, and that waits.
//
// Entry points: Jitter (a full-jitter delay for attempt n), Wait (sleep
// unless the context ends first) and Delayer (Jitter as the AWS SDK's
// retry.BackoffDelayer, for the SDK-based clients).
//
// Full jitter spreads the writers or callers that lost to the same winner
// over the whole window instead of bringing them back together.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Jitter returns a random delay in [0, ceiling), where ceiling is
// base·2^(attempt-1) for attempt 1, 2, ..., at most limit. An attempt
// below 1 counts as 1; a ceiling that is not positive gives 0. It never
// overflows, whatever attempt is.
func Jitter(attempt int, base, limit time.Duration) time.Duration {
	ceiling := limit
	if attempt < 1 {
		attempt = 1
	}
	// base·2^(attempt-1) < limit without overflow: compare limit/2^(n) instead
	// of shifting base up.
	if attempt < 63 && base > 0 && base <= limit>>(attempt-1) {
		if c := base << (attempt - 1); c > 0 && c < limit {
			ceiling = c
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// Wait sleeps for d, or until ctx is done, in which case it returns
// ctx.Err(). A d that is not positive returns at once (nil, or ctx.Err()
// when ctx is already done).
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Delayer returns Jitter(attempt, base, limit) as a retry.BackoffDelayer.
// It suits calls that a pacer already slows down as a whole, so that one
// call's retries need not wait seconds (the SDK's own exponential backoff
// starts below 2 s and doubles up to 20 s).
func Delayer(base, limit time.Duration) retry.BackoffDelayer {
	return retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
		return Jitter(attempt, base, limit), nil
	})
}
