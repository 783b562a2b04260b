// Command message is the $default Lambda: every client frame, dispatched on
// its type; the reply returns as the route response.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	b, err := app.ForLambda(context.Background(), app.Message, os.Getenv, os.Stdout)
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(b.Handler.Message)
}
