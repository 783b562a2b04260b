package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/fanout"
)

// Lambda is what every Lambda function reads at cold start.
type Lambda struct {
	// Settings are the deployment's settings (SettingsFromEnv), with a
	// table name.
	Settings Settings
	// AWS holds the region and the execution role's credentials
	// (awsrest.FromEnv); pass it to Build as Options.AWS.
	AWS aws.Config
}

// LambdaFromEnv reads the settings and the AWS configuration of a Lambda
// function through getenv (os.Getenv, passed in by main). It makes no
// network call. It refuses a function without TABLE_NAME (ErrNoTable) or
// without credentials, and every value SettingsFromEnv refuses.
func LambdaFromEnv(getenv func(string) string) (Lambda, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return Lambda{}, fmt.Errorf("configuration: %w", err)
	}
	if s.TableName == "" {
		// The memory store would give every instance of the function its
		// own state: connections, subscriptions and documents would vanish
		// between invocations.
		return Lambda{}, fmt.Errorf("configuration: %w", ErrNoTable)
	}
	cfg, err := awsrest.FromEnv(getenv, false)
	if err != nil {
		return Lambda{}, fmt.Errorf("configuration: %w", err)
	}
	if s.Region != "" {
		cfg.Region = s.Region
	}
	return Lambda{Settings: s, AWS: cfg}, nil
}

// ShardingPosters returns the Management API posters of a function that
// broadcasts (message, publish, publish-events, and connect, disconnect
// and the sweeper, which announce what a removed connection leaves), for
// Options.Posters: a fan-out to more subscribers than FANOUT_SHARD_SIZE is
// split into shards, the first posted by the invocation itself and every
// further one handed to the fan-out function (FANOUT_FUNCTION_NAME; unset:
// no sharding). FANOUT_INLINE_MAX, when set, bounds the recipients of one
// broadcast the invocation posts itself far below a shard, for the
// clean-up functions, which make dozens of broadcasts in one step. All
// posts share the settings' delivery budget.
func (l Lambda) ShardingPosters(getenv func(string) string) (func(endpoint string) broadcast.Poster, error) {
	fc, err := fanout.ConfigFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	mo := l.Settings.ManagementOptions() // one delivery budget for every post
	fc.Management = &mo
	return fanout.New(l.AWS, fc, l.Settings.Logger()).Posters, nil
}

// ErrNoTable is the cold-start error of a Lambda function without
// TABLE_NAME.
var ErrNoTable = errors.New("TABLE_NAME is not set: a Lambda function keeps its state in the DynamoDB table" +
	" (the embedded memory store is for the local server only)")

// MessageReplyMargin is how long before its Lambda deadline the message
// function stops working on a frame, so that it still answers (UNAVAILABLE,
// which clients retry) instead of being cut off with no reply.
const MessageReplyMargin = time.Second

// PublishReplyMargin is how long before their Lambda deadline the publish
// functions (functions/publish, functions/publishevents) stop working on a
// request, so that they still answer (UNAVAILABLE, retryable, and with the
// request's idempotency key released) instead of being cut off: API
// Gateway would answer its own 500 without a code, and the key's claim
// would hold until its lease lapsed.
const PublishReplyMargin = time.Second

// SweeperReplyMargin is how long before its Lambda deadline the sweeper
// function's calls are cut off, so that it still answers: to a batch of
// the table's stream, with the record it stopped at named
// (ReportBatchItemFailures), and to a scheduled pass, with its errors and
// after writing its metrics. A step the pass or the batch began more than
// deadline.SweepReserve before the end can outlast the reserve (its
// DynamoDB and Management API calls are retried, a Retry-After waited for,
// as long as the context allows); cut off by the deadline itself, the
// invocation would time out, and Lambda would send the whole batch again.
const SweeperReplyMargin = time.Second

// ChangeFeedReplyMargin is how long before its Lambda deadline the
// change-feed function's calls are cut off, so that it still answers its
// batch of the table's stream, with the record of the first event it did
// not put named (ReportBatchItemFailures). A batch of 100 records takes
// ten PutEvents calls or more, each of up to three attempts bounded by
// their own timeout and the context; cut off by the deadline itself, the
// invocation would time out, and Lambda would send the whole batch again,
// the events already put included.
const ChangeFeedReplyMargin = time.Second

// BeforeDeadline returns f with a context whose deadline is margin before
// the caller's, when the caller's has one, so that f answers while its
// invocation is still alive to deliver the answer.
func BeforeDeadline[Req, Resp any](f func(context.Context, Req) (Resp, error), margin time.Duration) func(context.Context, Req) (Resp, error) {
	return func(ctx context.Context, req Req) (Resp, error) {
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-margin))
			defer cancel()
		}
		return f(ctx, req)
	}
}

// ReplyBeforeDeadline returns message with a context whose deadline is
// margin before the caller's, when the caller's has one (BeforeDeadline).
// The message function starts handler.Handler.Message wrapped with
// MessageReplyMargin.
func ReplyBeforeDeadline(
	message func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error),
	margin time.Duration,
) func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return BeforeDeadline(message, margin)
}
