// Command changefeed is the target of the table's DynamoDB stream: every
// outbox item the store inserted goes to EventBridge on CHANGE_EVENT_BUS,
// as an rtcollab.Change, rtcollab.Lock or rtcollab.Comment event (package
// changefeed). A batch it cannot put on the bus whole is sent again from
// the first record not put, which its answer names; an event the bus
// refuses for good is logged and described on CHANGE_FEED_FAILURE_QUEUE
// instead.
package main

import (
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/changefeed"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := awsrest.FromEnv(os.Getenv, false)
	bus, queue := os.Getenv("CHANGE_EVENT_BUS"), os.Getenv("CHANGE_FEED_FAILURE_QUEUE")
	switch {
	case err != nil:
	case bus == "":
		err = errors.New("CHANGE_EVENT_BUS is not set")
	case queue == "":
		err = errors.New("CHANGE_FEED_FAILURE_QUEUE is not set")
	}
	if err != nil {
		log.Error("cold start", "error", err)
		os.Exit(1)
	}
	client := awsrest.New(changefeed.EventsService, cfg, nil)
	failures := changefeed.NewFailureQueue(awsrest.New(changefeed.QueueService, cfg, nil),
		awsrest.Endpoint(os.Getenv, changefeed.QueueService, cfg.Region), queue, log)
	sink := changefeed.NewEventBridge(client, awsrest.Endpoint(os.Getenv, changefeed.EventsService, cfg.Region), bus).RefusalsTo(failures)
	// Its calls end app.ChangeFeedReplyMargin before the invocation's
	// deadline, so that it still answers, naming the record to send the
	// batch again from, instead of timing out and having it sent whole.
	lambda.Start(app.BeforeDeadline(changefeed.StreamHandler(sink, log), app.ChangeFeedReplyMargin))
}
