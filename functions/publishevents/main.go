// Command publishevents is the target of the EventBridge rule for the
// detail-types rtcollab.Publish and rtcollab.Notify: each event is a
// publish or notify of the publish API (package publishapi), carried out
// once per event id.
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
	lambda.Start(api.Event)
}
