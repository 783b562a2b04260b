// Command sweeper is the scheduled Lambda that expires presence and locks
// and removes connections API Gateway has closed.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	lambda.Start(app.LambdaEntry(app.Sweeper))
}
