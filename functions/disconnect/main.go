// Command disconnect is the $disconnect Lambda: it removes the connection,
// its subscriptions, presence and locks.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	lambda.Start(app.LambdaEntry(app.Disconnect))
}
