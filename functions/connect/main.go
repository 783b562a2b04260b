// Command connect is the $connect Lambda: it authenticates the handshake and
// records the connection.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	lambda.Start(app.LambdaEntry(app.Connect))
}
