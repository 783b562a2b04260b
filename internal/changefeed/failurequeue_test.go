package changefeed_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/store"
)

// sqsCall makes one SQS call (AWS JSON 1.0) of action at moto and decodes
// its answer into out.
func sqsCall(t *testing.T, client *awsrest.Client, ep, action string, in, out any) {
	t.Helper()
	body, _ := json.Marshal(in)
	b, _, err := client.Do(t.Context(), awsrest.Request{Method: "POST", URL: ep + "/", Body: body,
		Header: map[string][]string{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Target": {"AmazonSQS." + action}}})
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v: %s", action, err, b)
	}
}

// TestFailureQueueMoto: an event the bus refuses for good (a PutEvents
// stand-in answers MalformedDetail for it) is logged with its id and
// described on moto's SQS queue, the change feed's failure queue: its id,
// bus, detail-type, the entry's error and the detail as put, characters
// SQS does not take (U+FFFF) included; a detail too large for a message is
// left out and said to be. The stream batch is then done. When the queue
// cannot be written, the batch is sent again from the refused event's
// record.
func TestFailureQueueMoto(t *testing.T) {
	ep := motoEndpoint(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	sqs := awsrest.New(changefeed.QueueService, cfg, nil)
	var created struct{ QueueUrl string }
	sqsCall(t, sqs, ep, "CreateQueue", map[string]string{"QueueName": strings.ReplaceAll(t.Name(), "/", "-")}, &created)

	refused := map[string]bool{"SO-0": true, "SO-2": true}
	puts := map[string]int{}
	bus := putEventsStandIn(t, func(_, _ int, detail string) string {
		var ev changefeed.Event
		_ = json.Unmarshal([]byte(detail), &ev)
		if refused[ev.EntityID] {
			return "MalformedDetail"
		}
		puts[ev.ID]++
		return ""
	})
	var logged bytes.Buffer
	queue := changefeed.NewFailureQueue(sqs, ep, created.QueueUrl, slog.New(slog.NewJSONHandler(&logged, nil)))
	h := changefeed.StreamHandler(bus.RefusalsTo(queue), nil)

	texts := []string{"100000000000000000000 \uffff \u00e9 \U0001F600 \"<&>\"", strings.Repeat("\u00e9", 50_000)}
	var batch events.DynamoDBEvent
	for i := range 4 {
		rec := outboxRecord(i+1, fmt.Sprintf("SO-%d", i), 1)
		change, _ := json.Marshal(map[string]any{"change": map[string]any{"version": 1, "after": texts[min(i/2, 1)]}})
		rec.Change.NewImage[store.AttrOutboxData] = events.NewBinaryAttribute(change)
		batch.Records = append(batch.Records, rec)
	}
	if resp, err := h(t.Context(), batch); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("answer %+v, %v; want the batch done", resp, err)
	}
	if puts["acme/order/SO-1/1"] != 1 || puts["acme/order/SO-3/1"] != 1 {
		t.Errorf("puts %v, want SO-1 and SO-3 once each", puts)
	}
	for _, id := range []string{"acme/order/SO-0/1", "acme/order/SO-2/1"} {
		if !strings.Contains(logged.String(), `"msg":"change feed: event refused by the bus","id":"`+id+`"`) {
			t.Errorf("log %s: no line names %s", logged.String(), id)
		}
	}

	var got struct{ Messages []struct{ Body string } }
	sqsCall(t, sqs, ep, "ReceiveMessage", map[string]any{"QueueUrl": created.QueueUrl, "MaxNumberOfMessages": 10}, &got)
	if len(got.Messages) != 2 {
		t.Fatalf("%d messages on the queue, want the two refused events described", len(got.Messages))
	}
	for i, m := range got.Messages {
		var d struct {
			Condition, EventID, EventBusName, DetailType, ErrorCode, ErrorMessage string
			Detail                                                                any
			DetailOmitted                                                         bool
		}
		if strings.ContainsRune(m.Body, '\uffff') {
			t.Errorf("message %d holds U+FFFF, which SQS refuses in a message", i)
		}
		if err := json.Unmarshal([]byte(m.Body), &d); err != nil {
			t.Fatalf("message %s: %v", m.Body, err)
		}
		id := fmt.Sprintf("acme/order/SO-%d/1", 2*i)
		if d.Condition != changefeed.RefusedCondition || d.EventID != id || d.EventBusName != "default" || d.DetailType != changefeed.DetailType ||
			d.ErrorCode != "MalformedDetail" || d.ErrorMessage != "refused by the stand-in" {
			t.Errorf("message %d: %+v", i, d)
		}
		if i == 1 {
			if d.Detail != nil || !d.DetailOmitted || len(m.Body) > 256<<10 {
				t.Errorf("a detail over a queue message: message of %d bytes, detail omitted %v", len(m.Body), d.DetailOmitted)
			}
			continue
		}
		want := map[string]any{"id": id, "tenant": "acme", "entityType": "order", "entityId": "SO-0", "version": float64(1),
			"change": map[string]any{"version": float64(1), "after": texts[0]}}
		if !reflect.DeepEqual(d.Detail, want) || d.DetailOmitted {
			t.Errorf("detail %#v, want %#v", d.Detail, want)
		}
	}

	// A queue that cannot be written: the refused event is not taken.
	gone := changefeed.NewFailureQueue(sqs, ep, created.QueueUrl+"-gone", slog.New(slog.DiscardHandler))
	h = changefeed.StreamHandler(putEventsStandIn(t, func(_, i int, _ string) string {
		if i == 1 {
			return "InvalidArgument"
		}
		return ""
	}).RefusalsTo(gone), nil)
	if resp, err := h(t.Context(), events.DynamoDBEvent{Records: batch.Records[:3]}); err != nil || len(resp.BatchItemFailures) != 1 ||
		resp.BatchItemFailures[0].ItemIdentifier != batch.Records[1].Change.SequenceNumber {
		t.Errorf("answer %+v, %v; want the record of the event refused and not described named", resp, err)
	}
}
