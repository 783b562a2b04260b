// Command connect is the $connect Lambda: it authenticates the handshake and
// records the connection.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	ctx := context.Background()
	s, err := app.SettingsFromEnv(os.Getenv)
	if err != nil {
		slog.Error("configuration", "error", err)
		os.Exit(1)
	}
	authn, err := app.TokenAuthFromEnv(ctx, s, os.Getenv)
	if err != nil {
		slog.Error("authenticator", "error", err)
		os.Exit(1)
	}
	b, err := app.Build(ctx, s, &app.Options{Auth: authn, Metrics: os.Stdout})
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(b.Handler.Connect)
}
