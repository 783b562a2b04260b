// Command disconnect is the $disconnect Lambda: it removes the connection,
// its subscriptions, presence and locks.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	b, err := app.ForLambda(context.Background(), app.Disconnect, os.Getenv, os.Stdout)
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(b.Handler.Disconnect)
}
