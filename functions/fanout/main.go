// Command fanout delivers the shards of large channels' broadcasts: the
// message function splits a fan-out to more subscribers than
// FANOUT_SHARD_SIZE and invokes this function asynchronously with one
// {"rtcollabFanout": ...} event per further shard (internal/fanout). It is
// the message function's code, so it answers WebSocket events too, but no
// route is integrated with it.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
)

func main() {
	lambda.Start(app.LambdaEntry(app.Fanout))
}
