package changefeed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/awsrest"
)

// QueueService is the SigV4 service name and endpoint prefix of SQS.
const QueueService = "sqs"

// RefusedCondition is the condition of a refused event's description on
// the failure queue.
const RefusedCondition = "RefusedByTheBus"

// maxQueueMessage bounds a description: 256 KiB, what every SQS queue
// takes (the bound was 256 KiB before it became 1 MiB).
const maxQueueMessage = 256 << 10

// FailureQueue is the Refusals of a deployed stack: it logs each event
// the bus refused for good and describes it on an SQS queue, the change
// feed's failure queue, where Lambda also describes the stream batches it
// gives up on (and whose alarm fires). It is safe for concurrent use.
type FailureQueue struct {
	client   *awsrest.Client
	endpoint string
	queueURL string
	log      *slog.Logger
}

var _ Refusals = (*FailureQueue)(nil)

// NewFailureQueue returns Refusals that send SendMessage (AWS JSON 1.0)
// to the queue of queueURL through client, a Client for QueueService, at
// endpoint (awsrest.Endpoint), and log through log (nil:
// slog.Default()).
func NewFailureQueue(client *awsrest.Client, endpoint, queueURL string, log *slog.Logger) *FailureQueue {
	if log == nil {
		log = slog.Default()
	}
	return &FailureQueue{client: client, endpoint: strings.TrimRight(endpoint, "/"), queueURL: queueURL, log: log}
}

// refusedMessage is the description of a refused event: the event's id,
// bus and detail-type, the entry's error, and the detail as put, left
// out (DetailOmitted) when the message would exceed SQS's bound.
type refusedMessage struct {
	Condition     string          `json:"condition"`
	EventID       string          `json:"eventId"`
	EventBusName  string          `json:"eventBusName"`
	DetailType    string          `json:"detailType"`
	ErrorCode     string          `json:"errorCode"`
	ErrorMessage  string          `json:"errorMessage"`
	Detail        json.RawMessage `json:"detail,omitempty"`
	DetailOmitted bool            `json:"detailOmitted,omitempty"`
}

// Refused logs r and sends its description to the queue.
func (q *FailureQueue) Refused(ctx context.Context, r Refusal) error {
	q.log.ErrorContext(ctx, "change feed: event refused by the bus", refusalAttrs(r)...)
	m := refusedMessage{Condition: RefusedCondition, EventID: r.Event.ID, EventBusName: r.Bus, DetailType: r.DetailType,
		ErrorCode: r.Code, ErrorMessage: r.Message}
	describe := func() ([]byte, error) {
		b, err := json.Marshal(m)
		return asciiJSON(b), err
	}
	m.Detail, m.DetailOmitted = json.RawMessage(r.Detail), !json.Valid([]byte(r.Detail))
	if m.DetailOmitted {
		m.Detail = nil
	}
	msg, err := describe()
	if err == nil && len(msg) > maxQueueMessage {
		m.Detail, m.DetailOmitted = nil, true
		msg, err = describe()
	}
	if err != nil {
		return fmt.Errorf("changefeed: describe refused event %s: %w", r.Event.ID, err)
	}
	body, err := json.Marshal(map[string]string{"QueueUrl": q.queueURL, "MessageBody": string(msg)})
	if err != nil {
		return err
	}
	_, _, err = q.client.Do(ctx, awsrest.Request{
		Method: http.MethodPost,
		URL:    q.endpoint + "/",
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Target": {"AmazonSQS.SendMessage"}},
		Body:   body,
	})
	if err != nil {
		return fmt.Errorf("changefeed: SendMessage: %w", err)
	}
	return nil
}

// asciiJSON returns msg, JSON, with every character outside ASCII written
// as a \u escape (a pair of them past U+FFFF), and bytes that are not
// UTF-8 as \ufffd: the same JSON text. SQS refuses a message with some
// characters that JSON strings may hold (U+FFFE and U+FFFF, for one), and
// outside strings JSON has none.
func asciiJSON(msg []byte) []byte {
	out := make([]byte, 0, len(msg))
	for i := 0; i < len(msg); {
		if msg[i] < utf8.RuneSelf {
			out = append(out, msg[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(msg[i:])
		i += n
		if r > 0xFFFF {
			r -= 0x10000
			out = appendUnicodeEscape(out, 0xD800+(r>>10))
			r = 0xDC00 + (r & 0x3FF)
		}
		out = appendUnicodeEscape(out, r)
	}
	return out
}

// appendUnicodeEscape appends \uXXXX for r (at most 0xFFFF).
func appendUnicodeEscape(out []byte, r rune) []byte {
	out = append(out, `\u`...)
	hex := strconv.FormatInt(int64(r), 16)
	out = append(out, "0000"[len(hex):]...)
	return append(out, hex...)
}
