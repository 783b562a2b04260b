// Command sweeper is the scheduled Lambda that expires presence and locks
// and removes connections API Gateway has closed. It also reads the
// table's stream, filtered to the sessions, room entries, away alarms and
// locks DynamoDB's TTL removed before a pass claimed them, and announces
// those departures, aways and expiries (handler.SweeperEvent tells the two
// sources apart).
// The presence and lock changes it announces to a channel of more
// subscribers than FANOUT_SHARD_SIZE are sharded, as the message
// function's broadcasts are (FANOUT_FUNCTION_NAME); it posts to at most
// FANOUT_INLINE_MAX recipients of each itself.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/handler"
)

func main() {
	h, err := coldStart(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cold start", "error", err)
		os.Exit(1)
	}
	// Its calls end app.SweeperReplyMargin before the invocation's
	// deadline, so that it still answers: a step that outlasts the
	// reserve a pass keeps is cut off, and a stream batch's answer names
	// the record it stopped at instead of the batch being sent again whole.
	lambda.Start(app.BeforeDeadline(h.SweeperEvent, app.SweeperReplyMargin))
}

// coldStart reads the settings and builds the sharding Management API
// posters and the handler, once per execution environment. This function
// accepts no connections (app.NoAuth).
func coldStart(ctx context.Context) (*handler.Handler, error) {
	cfg, err := app.LambdaFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	posters, err := cfg.ShardingPosters(os.Getenv) // a large channel is sharded, as the message function does
	if err != nil {
		return nil, err
	}
	b, err := app.Build(ctx, cfg.Settings, &app.Options{Auth: app.NoAuth{}, AWS: &cfg.AWS, Metrics: os.Stdout, Posters: posters})
	if err != nil {
		return nil, err
	}
	return b.Handler, nil
}
