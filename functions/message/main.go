// Command message is the $default Lambda: every client frame, dispatched on
// its type; the reply returns as the route response. Deployed a second time
// as the fan-out function, it delivers the shards of large channels that
// the message function hands it (FANOUT_FUNCTION_NAME).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	lambda.Start(app.LambdaEntry(app.Message))
}
