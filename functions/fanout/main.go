// Command fanout delivers the shards of large channels' broadcasts: the
// message function splits a fan-out to more subscribers than
// FANOUT_SHARD_SIZE and invokes this function asynchronously with one
// {"rtcollabFanout": ...} event (fanout.Event) per further shard. It takes
// no WebSocket events: no route is integrated with it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/fanout"
)

func main() {
	h, err := coldStart(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// coldStart reads the settings and builds the store (gone recipients are
// removed from it) and the Management API pool, once per execution
// environment.
func coldStart(ctx context.Context) (func(context.Context, fanout.Event) (fanout.Delivery, error), error) {
	cfg, err := app.LambdaFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	b, err := app.Build(ctx, cfg.Settings, &app.Options{Auth: app.NoAuth{}, AWS: &cfg.AWS})
	if err != nil {
		return nil, err
	}
	mo := cfg.Settings.ManagementOptions() // one delivery budget for every post
	// Shards are posted to this deployment's Management API only.
	f := fanout.New(cfg.AWS, fanout.Config{Management: &mo, Endpoint: cfg.Settings.ManagementEndpoint}, cfg.Settings.Logger())
	f.SetMetrics(os.Stdout)
	return f.Handler(b.Store), nil
}
