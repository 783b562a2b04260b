// Command publish is the Lambda behind the publish API, an HTTP API with
// AWS_IAM authorization: POST /publish, /notify and /presence/snapshot
// from backend services, run through the message function's routes
// (package publishapi).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/publishapi"
)

func main() {
	api, err := coldStart(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(app.BeforeDeadline(api.HTTPAPI, app.PublishReplyMargin))
}

// coldStart reads the settings and builds the publish API over the message
// function's routes, once per execution environment. This function accepts
// no connections (app.NoAuth).
func coldStart(ctx context.Context) (*publishapi.API, error) {
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
	return publishapi.New(publishapi.Config{}, b.Handler, b.Store, nil, cfg.Settings.Logger()), nil
}
