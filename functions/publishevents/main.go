// Command publishevents is the target of the EventBridge rule for the
// detail-types rtcollab.Publish and rtcollab.Notify: each event is a
// publish or notify of the publish API (package publishapi), carried out
// once per event id.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
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
	// An EventBridge target's response is discarded: Event answers an
	// error only, which Lambda retries.
	event := func(ctx context.Context, ev events.EventBridgeEvent) (struct{}, error) {
		return struct{}{}, api.Event(ctx, ev)
	}
	lambda.Start(app.BeforeDeadline(event, app.PublishReplyMargin))
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
