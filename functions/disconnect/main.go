// Command disconnect is the $disconnect Lambda: it removes the connection,
// its subscriptions, presence and locks.
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
	lambda.Start(h.Disconnect)
}

// coldStart reads the settings and builds the handler, once per execution
// environment. This function accepts no connections (app.NoAuth).
func coldStart(ctx context.Context) (*handler.Handler, error) {
	cfg, err := app.LambdaFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	b, err := app.Build(ctx, cfg.Settings, &app.Options{Auth: app.NoAuth{}, AWS: &cfg.AWS, Metrics: os.Stdout})
	if err != nil {
		return nil, err
	}
	return b.Handler, nil
}
