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
	b, err := app.ForLambda(context.Background(), app.Connect, os.Getenv, os.Stdout)
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	lambda.Start(b.Handler.Connect)
}
