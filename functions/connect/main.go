// Command connect is the $connect Lambda: it authenticates the handshake and
// records the connection.
// At the per-user connection limit it removes the user's connections that
// are gone and announces the presence and locks they leave; those
// broadcasts are sharded, as the message function's are
// (FANOUT_FUNCTION_NAME), and it posts to at most FANOUT_INLINE_MAX
// recipients of each itself.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/handler"
)

func main() {
	h, err := coldStart(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Connect)
}

// coldStart reads the settings, then builds the authenticator (reading an
// HS256 secret kept in SSM), the sharding Management API posters and the
// handler, once per execution environment.
func coldStart(ctx context.Context) (*handler.Handler, error) {
	cfg, err := app.LambdaFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	posters, err := cfg.ShardingPosters(os.Getenv) // a large channel is sharded, as the message function does
	if err != nil {
		return nil, err
	}
	ts, err := auth.TokenSettingsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	authn, err := auth.NewTokenAuth(ctx, ts, &auth.TokenOptions{Dev: cfg.Settings.DevIdentity, AWS: cfg.AWS})
	if err != nil {
		return nil, err
	}
	b, err := app.Build(ctx, cfg.Settings, &app.Options{Auth: authn, AWS: &cfg.AWS, Metrics: os.Stdout, Posters: posters})
	if err != nil {
		return nil, err
	}
	return b.Handler, nil
}
