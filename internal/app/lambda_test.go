package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/publishapi"
)

// lambdaEnv is the environment of a deployed function, minus what a test
// changes: TABLE_NAME, a region and credentials, nothing that reaches AWS
// at cold start.
func lambdaEnv(overrides map[string]string) func(string) string {
	env := map[string]string{
		"TABLE_NAME":            "rtcollab-test",
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
		"MANAGEMENT_ENDPOINT":   "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/prod",
	}
	for k, v := range overrides {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return func(k string) string { return env[k] }
}

// TestLambdaFromEnvNeedsTheTable: the settings every Lambda main reads
// (LambdaFromEnv) refuse a function without TABLE_NAME with ErrNoTable
// instead of letting it run on a memory store of its own; with TABLE_NAME
// every function's handler builds. (That each bootstrap fails its cold
// start this way is internal/deploy's TestForLambdaNeedsTheTable.)
func TestLambdaFromEnvNeedsTheTable(t *testing.T) {
	if cfg, err := LambdaFromEnv(lambdaEnv(map[string]string{"TABLE_NAME": ""})); !errors.Is(err, ErrNoTable) {
		t.Errorf("without TABLE_NAME: LambdaFromEnv = %+v, %v; want ErrNoTable", cfg, err)
	}
	cfg, err := LambdaFromEnv(lambdaEnv(nil))
	if err != nil || cfg.Settings.TableName != "rtcollab-test" || cfg.AWS.Region != "eu-west-1" || cfg.AWS.Credentials == nil {
		t.Fatalf("with TABLE_NAME: LambdaFromEnv = %+v, %v; want the table, the region and credentials", cfg, err)
	}
	for _, authn := range []handler.Authenticator{NoAuth{}, auth.DevAuth()} {
		if b, err := Build(context.Background(), cfg.Settings, &Options{Auth: authn, AWS: &cfg.AWS, Metrics: io.Discard}); err != nil || b == nil {
			t.Errorf("Build with %T: %v, %v; want a handler", authn, b, err)
		}
	}
	for name, env := range map[string]map[string]string{
		"no credentials": {"AWS_ACCESS_KEY_ID": ""},
		"bad value":      {"MAX_SUBSCRIPTIONS": "many"},
		"bad lock bound": {"MAX_LOCKS_PER_CONNECTION": "0"},
	} {
		if _, err := LambdaFromEnv(lambdaEnv(env)); err == nil {
			t.Errorf("%s: LambdaFromEnv accepted %v", name, env)
		}
	}
	// The local server keeps its memory store: Build still takes an empty
	// table name.
	b, err := Build(context.Background(), Settings{DevIdentity: true}, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil || b.Store == nil {
		t.Fatalf("Build without a table: %v", err)
	}
}

// sampleEvent reads a WebSocket event of events/ at the repository root.
func sampleEvent(t *testing.T, name string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// TestManagementEndpointOfAnEvent: without MANAGEMENT_ENDPOINT, an event
// of the execute-api host keeps its domain, and an event received on a
// custom domain name gets the API's execute-api host, where the Management
// API is (not the custom domain, whose path need not be the stage); with
// MANAGEMENT_ENDPOINT, that wins.
func TestManagementEndpointOfAnEvent(t *testing.T) {
	executeAPI := sampleEvent(t, "connect.json").RequestContext
	custom := executeAPI
	custom.DomainName = "ws.example.com"

	derive, err := Build(context.Background(), Settings{DevIdentity: true, Region: "eu-west-1"}, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const configured = "https://configured.execute-api.eu-west-1.amazonaws.com/prod"
	fixed, err := Build(context.Background(), Settings{DevIdentity: true, Region: "eu-west-1", ManagementEndpoint: configured},
		&Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    *Built
		rc   events.APIGatewayWebsocketProxyRequestContext
		want string
	}{
		{"execute-api event", derive, executeAPI, "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod"},
		{"custom domain event", derive, custom, "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/prod"},
		{"execute-api event, configured", fixed, executeAPI, configured},
		{"custom domain event, configured", fixed, custom, configured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Handler.Endpoint(tt.rc); got != tt.want {
				t.Errorf("Endpoint(%s, api %s) = %q, want %q", tt.rc.DomainName, tt.rc.APIID, got, tt.want)
			}
		})
	}
}

// hangingServer accepts TCP connections on loopback and never answers, as
// a DynamoDB endpoint that stopped responding; it closes them at cleanup.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// invoke calls h with req as the Lambda runtime does, with the
// invocation's deadline timeout away, and returns its answer. It fails the
// test when h returns after that deadline or with an error: either way its
// answer would be lost, and lost says what follows.
func invoke[Req, Resp any](t *testing.T, h func(context.Context, Req) (Resp, error), req Req, timeout time.Duration, lost string) Resp {
	t.Helper()
	invocation, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := h(invocation, req)
	if invocation.Err() != nil {
		t.Fatalf("the handler returned after its invocation's deadline (%v): %s", invocation.Err(), lost)
	}
	if err != nil {
		t.Fatalf("handler error %v: %s", err, lost)
	}
	return resp
}

// TestMessageAnswersUnavailableBeforeItsDeadline: when DynamoDB does not
// answer, the message function (its wiring in functions/message: the real
// DynamoDB client, Handler.Message within ReplyBeforeDeadline) stops
// MessageReplyMargin before its invocation's deadline and answers the
// frame with an UNAVAILABLE error, while the invocation is still alive to
// deliver it.
func TestMessageAnswersUnavailableBeforeItsDeadline(t *testing.T) {
	cfg, err := LambdaFromEnv(lambdaEnv(map[string]string{"DYNAMODB_ENDPOINT": hangingServer(t)}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), cfg.Settings, &Options{Auth: NoAuth{}, AWS: &cfg.AWS, Metrics: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	h := ReplyBeforeDeadline(b.Handler.Message, MessageReplyMargin)
	resp := invoke(t, h, sampleEvent(t, "message-publish.json"), MessageReplyMargin+500*time.Millisecond,
		"the client would get no frame")
	var frame struct {
		Type    string `json:"type"`
		ReplyTo string `json:"replyTo"`
		Payload struct {
			Code      protocol.Code `json:"code"`
			Retryable bool          `json:"retryable"`
		} `json:"payload"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &frame); err != nil {
		t.Fatalf("reply %q: %v", resp.Body, err)
	}
	if frame.Type != protocol.TypeError || frame.Payload.Code != protocol.CodeUnavailable || !frame.Payload.Retryable {
		t.Fatalf("reply %s, want a retryable %s error", resp.Body, protocol.CodeUnavailable)
	}
	if frame.ReplyTo != "sample-publish-1" {
		t.Errorf("reply answers %q, want the frame's messageId sample-publish-1", frame.ReplyTo)
	}
}

// TestPublishAnswersUnavailableBeforeItsDeadline: when DynamoDB does not
// answer, the publish function (its wiring in functions/publish: the real
// DynamoDB client, publishapi.API.HTTPAPI within BeforeDeadline) stops
// PublishReplyMargin before its invocation's deadline and answers a
// retryable UNAVAILABLE with its code, while the invocation is still alive
// to deliver it (cut off, API Gateway would answer its own 500 without a
// code).
func TestPublishAnswersUnavailableBeforeItsDeadline(t *testing.T) {
	cfg, err := LambdaFromEnv(lambdaEnv(map[string]string{"DYNAMODB_ENDPOINT": hangingServer(t)}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), cfg.Settings, &Options{Auth: NoAuth{}, AWS: &cfg.AWS, Metrics: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	api := publishapi.New(publishapi.Config{}, b.Handler, b.Store, nil, slog.New(slog.DiscardHandler))
	h := BeforeDeadline(api.HTTPAPI, PublishReplyMargin)
	req := events.APIGatewayV2HTTPRequest{RouteKey: "POST /publish", RawPath: "/publish",
		Body: `{"tenant":"acme","channel":"order-updates","payload":{"id":1},"idempotencyKey":"so-1"}`}
	resp := invoke(t, h, req, PublishReplyMargin+500*time.Millisecond, "API Gateway would answer its own 500")
	var body struct {
		Code      protocol.Code `json:"code"`
		Retryable bool          `json:"retryable"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("answer %q: %v", resp.Body, err)
	}
	if resp.StatusCode != 503 || body.Code != protocol.CodeUnavailable || !body.Retryable {
		t.Fatalf("answer %d %s, want a retryable 503 %s", resp.StatusCode, resp.Body, protocol.CodeUnavailable)
	}
}

// streamBatch reads a batch of the table's stream from file, a fixture in
// the testdata folder of package pkg.
func streamBatch(t *testing.T, pkg, file string) events.DynamoDBEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", pkg, "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var batch events.DynamoDBEvent
	if err := json.Unmarshal(raw, &batch); err != nil {
		t.Fatal(err)
	}
	return batch
}

// TestSweeperAnswersBeforeItsDeadline: when DynamoDB does not answer, the
// sweeper function (its wiring in functions/sweeper: the real DynamoDB
// client, Handler.SweeperEvent within BeforeDeadline) answers a batch of
// the table's stream while its invocation is still alive, naming the
// record it did not carry out, so that Lambda sends the batch again from
// there. The invocation's deadline is SweepReserve and half the margin
// away: the handler's own deadline, the margin before it, is inside the
// reserve, so the handler takes no step. Without the margin it would begin
// the step, whose reads of the table wait for the invocation's deadline,
// and be cut off: Lambda would send the whole batch again. (A step begun
// earlier is cut off by the same deadline, the margin before the
// invocation's.)
func TestSweeperAnswersBeforeItsDeadline(t *testing.T) {
	cfg, err := LambdaFromEnv(lambdaEnv(map[string]string{"DYNAMODB_ENDPOINT": hangingServer(t)}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), cfg.Settings, &Options{Auth: NoAuth{}, AWS: &cfg.AWS, Metrics: io.Discard,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := BeforeDeadline(b.Handler.SweeperEvent, SweeperReplyMargin)
	// TTL's removal of a session, as the table's stream delivers it.
	batch := streamBatch(t, "handler", "dynamodb-stream-ttl.json")
	batch.Records = batch.Records[:1]
	first := batch.Records[0].Change.SequenceNumber
	raw, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	resp := invoke(t, h, raw, deadline.SweepReserve+SweeperReplyMargin/2, "Lambda would send the whole batch again")
	if resp == nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != first {
		t.Fatalf("answer %+v, want the batch's record %s named, to be sent again", resp, first)
	}
}

// TestChangeFeedAnswersBeforeItsDeadline: when EventBridge does not
// answer, the change-feed function (its wiring in functions/changefeed:
// the signed EventBridge client, changefeed.StreamHandler within
// BeforeDeadline) answers its stream batch while its invocation is still
// alive, naming the record whose event it did not put, so that Lambda
// sends the batch again from there. Cut off by the invocation's deadline
// instead, the invocation would time out and Lambda would send the whole
// batch again, events already put included.
func TestChangeFeedAnswersBeforeItsDeadline(t *testing.T) {
	cfg, err := awsrest.FromEnv(lambdaEnv(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	sink := changefeed.NewEventBridge(awsrest.New(changefeed.EventsService, cfg, nil), hangingServer(t), "default")
	h := BeforeDeadline(changefeed.StreamHandler(sink, slog.New(slog.DiscardHandler)), ChangeFeedReplyMargin)
	// An outbox item's insert, as the table's stream delivers it.
	batch := streamBatch(t, "changefeed", "dynamodb-stream-outbox.json")
	first := batch.Records[0].Change.SequenceNumber
	resp := invoke(t, h, batch, ChangeFeedReplyMargin+500*time.Millisecond, "Lambda would send the whole batch again")
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != first {
		t.Fatalf("answer %+v, want the batch's record %s named, to be sent again", resp, first)
	}
}
