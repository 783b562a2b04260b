// Command message is the $default Lambda: every client frame, dispatched on
// its type; the reply returns as the route response. A fan-out to more
// subscribers than FANOUT_SHARD_SIZE is split into shards, and every shard
// after the first is handed to the fan-out function (FANOUT_FUNCTION_NAME).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	h, err := coldStart(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(app.ReplyBeforeDeadline(h, app.MessageReplyMargin))
}

// coldStart reads the settings and builds the sharding Management API
// posters and the handler, once per execution environment.
func coldStart(ctx context.Context) (func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error), error) {
	cfg, err := app.LambdaFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	posters, err := cfg.ShardingPosters(os.Getenv)
	if err != nil {
		return nil, err
	}
	b, err := app.Build(ctx, cfg.Settings, &app.Options{Auth: app.NoAuth{}, AWS: &cfg.AWS, Metrics: os.Stdout, Posters: posters})
	if err != nil {
		return nil, err
	}
	return b.Handler.Message, nil
}
