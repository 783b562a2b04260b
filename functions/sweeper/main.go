// Command sweeper is the scheduled Lambda that expires presence and locks
// and removes connections API Gateway has closed.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	b, err := app.ForLambda(context.Background(), app.Sweeper, os.Getenv, os.Stdout)
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(b.Handler.Sweep)
}
