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
	s, err := app.SettingsFromEnv(os.Getenv)
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	b, err := app.ForLambda(context.Background(), app.Publish, os.Getenv, os.Stdout)
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	api := publishapi.New(publishapi.Config{}, b.Handler, b.Store, nil, s.Logger())
	lambda.Start(api.HTTPAPI)
}
