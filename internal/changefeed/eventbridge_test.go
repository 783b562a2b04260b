package changefeed_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/changefeed"
)

// TestStreamHandler: of a real stream event's records, only the outbox
// item an INSERT wrote becomes an Event, with the change as applied; a
// sink failure fails the batch, so that Lambda retries it.
func TestStreamHandler(t *testing.T) {
	b, err := os.ReadFile("testdata/dynamodb-stream-outbox.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	var log changefeed.Log
	if err := changefeed.StreamHandler(&log)(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	got := log.Since(0)
	if len(got) != 1 {
		t.Fatalf("%d events, want the one outbox insert: %+v", len(got), got)
	}
	e := got[0]
	if e.ID != "acme/order/SO-1042/7" || e.Tenant != "acme" || e.EntityType != "order" || e.EntityID != "SO-1042" || e.Version != 7 ||
		string(e.Change) != `{"version":7,"userId":"u1","operation":"update","path":"status","after":"shipped"}` {
		t.Fatalf("event %+v (change %s)", e, e.Change)
	}
	if err := changefeed.StreamHandler(&failingSink{})(t.Context(), ev); err == nil {
		t.Fatal("a failed send did not fail the batch")
	}
}

// TestEventBridgeMoto puts 23 events (three PutEvents calls of at most 10
// entries) on moto's default bus, and one on a bus that does not exist.
func TestEventBridgeMoto(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT") // moto's server serves EventBridge on the same port
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set (make test starts moto)")
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	client := awsrest.New(changefeed.EventsService, cfg, nil)
	var evs []changefeed.Event
	for v := range 23 {
		evs = append(evs, changefeed.Event{ID: "t/order/1/" + string(rune('a'+v)), Tenant: "t", EntityType: "order", EntityID: "1",
			Version: int64(v + 1), Change: json.RawMessage(`{"op":{"kind":"set"}}`)})
	}
	if err := changefeed.NewEventBridge(client, ep, "default").Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	err := changefeed.NewEventBridge(client, ep, "no-such-bus").Send(context.Background(), evs[:1])
	var se *awsrest.StatusError
	if err == nil || (errors.As(err, &se) && se.Status == http.StatusOK) {
		t.Fatalf("a bus that does not exist: %v", err)
	}
}
