package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/handler"
)

// Function names one of the Lambda functions.
type Function int

// The functions of the template.
const (
	Connect Function = iota
	Disconnect
	Message
	Sweeper
	// Fanout delivers the shards of large channels' broadcasts; it is the
	// message function's code (see Built.MessageLambda).
	Fanout
	// Publish serves backend services' publishes (package publishapi):
	// the publish API's function and the EventBridge rule's function.
	Publish
)

// LambdaEntry is the whole cold start of a Lambda main: ForLambda with the
// process environment and EMF metrics on stdout, then the function's
// handler for lambda.Start. A failed cold start is logged and exits the
// process, which Lambda reports as an init error.
func LambdaEntry(fn Function) any {
	b, err := ForLambda(context.Background(), fn, os.Getenv, os.Stdout)
	if err != nil {
		slog.Error("cold start", "error", err)
		os.Exit(1)
	}
	switch fn {
	case Connect:
		return b.Handler.Connect
	case Disconnect:
		return b.Handler.Disconnect
	case Sweeper:
		return b.Handler.Sweep
	}
	return b.MessageLambda()
}

// ForLambda is the cold start shared by the Lambda mains: it reads the
// settings and the AWS configuration (awsrest.FromEnv: the execution
// role's credentials) through getenv, builds the authenticator (only
// $connect authenticates; the others refuse handshakes they never receive)
// and wires the handler with EMF metrics written to metrics.
//
// For Message and Fanout it also wires sharded fan-out
// (fanout.ConfigFromEnv: FANOUT_FUNCTION_NAME, FANOUT_SHARD_SIZE); start
// the function with Built.MessageLambda. Every function's Management API
// calls are paced by one budget (Settings.ManagementOptions).
func ForLambda(ctx context.Context, fn Function, getenv func(string) string, metrics io.Writer) (*Built, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if s.TableName == "" {
		// The memory store would give every instance of the function its
		// own state: connections, subscriptions and documents would vanish
		// between invocations.
		return nil, fmt.Errorf("configuration: %w", ErrNoTable)
	}
	awsCfg, err := awsrest.FromEnv(getenv, false)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if s.Region != "" {
		awsCfg.Region = s.Region
	}
	var authn handler.Authenticator = NoAuth{}
	if fn == Connect {
		if authn, err = TokenAuthFromEnv(ctx, s, getenv); err != nil {
			return nil, fmt.Errorf("authenticator: %w", err)
		}
	}
	o := &Options{Auth: authn, Metrics: metrics, AWS: &awsCfg}
	var fo *fanout.Fanout
	if fn == Message || fn == Fanout {
		fc, err := fanout.ConfigFromEnv(getenv)
		if err != nil {
			return nil, fmt.Errorf("configuration: %w", err)
		}
		mo := s.ManagementOptions()
		fc.Management = &mo
		fo = fanout.New(awsCfg, fc, s.Logger())
		fo.SetMetrics(metrics)
		o.Posters = fo.Posters
	}
	b, err := Build(ctx, s, o)
	if err != nil {
		return nil, err
	}
	b.fanout = fo
	return b, nil
}

// ErrNoTable is the cold-start error of a Lambda function without
// TABLE_NAME.
var ErrNoTable = errors.New("TABLE_NAME is not set: a Lambda function keeps its state in the DynamoDB table" +
	" (the embedded memory store is for the local server only)")

// MessageReplyMargin is how long before its Lambda deadline the message
// function stops working on a frame, so that it still answers (UNAVAILABLE,
// which clients retry) instead of being cut off with no reply.
const MessageReplyMargin = time.Second

// MessageLambda returns the message function's Lambda handler: API Gateway
// WebSocket events go to the handler's Message, with a context that ends
// MessageReplyMargin before the invocation's deadline, and fan-out events
// ({"rtcollabFanout": ...}, sent by another invocation of the message
// function) are delivered. Only a Built from ForLambda(Message) or
// ForLambda(Fanout) has one; the others get nil.
func (b *Built) MessageLambda() func(context.Context, json.RawMessage) (any, error) {
	if b.fanout == nil {
		return nil
	}
	return b.fanout.Handler(replyBeforeDeadline(b.Handler.Message, MessageReplyMargin), b.Store)
}

// replyBeforeDeadline returns message with a context whose deadline is
// margin before the caller's, when the caller's has one.
func replyBeforeDeadline(
	message func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error),
	margin time.Duration,
) func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-margin))
			defer cancel()
		}
		return message(ctx, req)
	}
}
