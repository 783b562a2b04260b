package changefeed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/store"
)

// EventsService is the SigV4 service name and endpoint prefix of
// EventBridge.
const EventsService = "events"

// Source is the source of the change events.
const Source = "rtcollab"

// PutEvents limits: at most 10 entries and 256 KB per call.
const (
	maxEntries    = 10
	maxBatchBytes = 256 << 10
)

// EventBridge is the Sink of a deployed stack: PutEvents (AWS JSON 1.1)
// on a bus, one entry per Event with source Source, the Event's
// detail-type (DetailType, LockDetailType or CommentDetailType) and the
// Event as its detail (with any integer outside int64 in exponent form,
// which the bus takes), in order. A call with a failed entry fails the
// send, so that it is sent again, unless the bus refused the entry for
// good (RefusedForGood): such an event goes to the Refusals and counts as
// sent. It is safe for concurrent use.
type EventBridge struct {
	client   *awsrest.Client
	endpoint string
	bus      string
	refusals Refusals
}

var _ Sink = (*EventBridge)(nil)

// NewEventBridge returns a Sink that puts events on bus (a name or ARN;
// "default" is the account's default bus) through client, a Client for
// EventsService, at endpoint (awsrest.Endpoint). The events the bus
// refuses for good are logged (slog.Default()) until RefusalsTo names
// where they go.
func NewEventBridge(client *awsrest.Client, endpoint, bus string) *EventBridge {
	return &EventBridge{client: client, endpoint: strings.TrimRight(endpoint, "/"), bus: bus, refusals: logRefusals{}}
}

// RefusalsTo sends the events the bus refuses for good to r, and returns
// e. Call it before e is used.
func (e *EventBridge) RefusalsTo(r Refusals) *EventBridge {
	e.refusals = r
	return e
}

// Refusal is an event the bus refused for good.
type Refusal struct {
	Event Event
	// Detail is the entry's detail as put.
	Detail string
	// Bus is the bus it was put on; DetailType its detail-type.
	Bus, DetailType string
	// Code and Message are the entry's ErrorCode and ErrorMessage.
	Code, Message string
}

// Refusals takes the events the bus refused for good. Once Refused
// returns nil, the event counts as sent; an error fails the send at that
// event, so that it is sent again (and refused again).
type Refusals interface {
	Refused(ctx context.Context, r Refusal) error
}

// RefusedForGood reports whether a PutEvents entry's ErrorCode refuses
// the entry for what it holds, so that putting it again gets the same
// answer: MalformedDetail ("The JSON provided is not valid") and
// InvalidArgument ("A specified parameter is not valid"), two of the
// non-retryable errors of PutEventsResultEntry. The others
// (AccessDeniedException, InvalidAccountIdException,
// NotAuthorizedForSourceException, NotAuthorizedForDetailTypeException,
// RedactionFailure) say what the stack may do, alike for every event:
// those, the retryable InternalFailure and ThrottlingException, and any
// code not known here, are sent again, so that nothing is set aside while
// the stack's permissions are being fixed.
func RefusedForGood(code string) bool {
	return code == "MalformedDetail" || code == "InvalidArgument"
}

// logRefusals logs each refused event at Error level through
// slog.Default().
type logRefusals struct{}

func (logRefusals) Refused(ctx context.Context, r Refusal) error {
	slog.Default().ErrorContext(ctx, "change feed: event refused by the bus", refusalAttrs(r)...)
	return nil
}

// refusalAttrs are the log attributes of a refused event.
func refusalAttrs(r Refusal) []any {
	return []any{"id", r.Event.ID, "detailType", r.DetailType, "bus", r.Bus, "errorCode", r.Code, "errorMessage", r.Message}
}

type putEntry struct {
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
	EventBusName string `json:"EventBusName"`
	Resources    []string
}

// Send puts events in calls of at most 10 entries and less than 256 KB,
// with at most one event of an entity in a call. PutEvents processes the
// other entries of a call when one fails, so two events of one entity in
// a call could reach the bus out of order (the later one now, the earlier
// one with the retried batch); one per call, an entity's next event is
// only sent once its previous one was accepted or refused for good. A
// failure is a *SendError counting the events before the first that the
// bus did not take and the Refusals did not either: the entries before a
// call's first failed one were accepted.
func (e *EventBridge) Send(ctx context.Context, evs []Event) error {
	var batch []putEntry
	start, size := 0, 0 // start: the index in evs of batch[0]
	entities := map[string]bool{}
	for i, ev := range evs {
		detail, err := json.Marshal(ev)
		if err != nil {
			return &SendError{Sent: start, Err: fmt.Errorf("changefeed: encode %s: %w", ev.ID, err)}
		}
		detail = outsideInt64AsExponent(detail)
		entry := putEntry{Source: Source, DetailType: ev.DetailType(), Detail: string(detail), EventBusName: e.bus, Resources: []string{}}
		n := len(entry.Source) + len(entry.DetailType) + len(entry.Detail)
		entity := ev.Tenant + "\x00" + ev.EntityType + "\x00" + ev.EntityID
		if len(batch) == maxEntries || (len(batch) > 0 && size+n >= maxBatchBytes) || entities[entity] {
			if accepted, err := e.put(ctx, batch, evs[start:i]); err != nil {
				return &SendError{Sent: start + accepted, Err: err}
			}
			batch, start, size = nil, i, 0
			clear(entities)
		}
		batch = append(batch, entry)
		size += n
		entities[entity] = true
	}
	if len(batch) > 0 {
		if accepted, err := e.put(ctx, batch, evs[start:]); err != nil {
			return &SendError{Sent: start + accepted, Err: err}
		}
	}
	return nil
}

// outsideInt64AsExponent returns detail, JSON as json.Marshal writes it,
// with every integer literal outside int64 written in exponent form, the
// same number: 100000000000000000000 as 1e20, -12345678901234567890 as
// -1.234567890123456789e19. PutEvents takes JSON integers within int64
// only ("For the JSON number (integer) data type, the constraints are: a
// minimum value of -9,223,372,036,854,775,808 and a maximum value of
// 9,223,372,036,854,775,807"), and refuses the entry of a larger one for
// good; a change keeps its numbers as the client wrote them, and a client
// writes 1e20 as 100000000000000000000. Numbers with a fraction or an
// exponent, and strings (keys included), are left as they are. Without
// such an integer, detail itself is returned.
func outsideInt64AsExponent(detail []byte) []byte {
	var out []byte // nil until the first integer is rewritten
	copied := 0    // detail[:copied] is in out
	for i := 0; i < len(detail); {
		switch c := detail[i]; {
		case c == '"':
			for i++; i < len(detail) && detail[i] != '"'; i++ {
				if detail[i] == '\\' {
					i++ // the escaped character, a quote perhaps
				}
			}
			i++ // the closing quote
		case c == '-' || isDigit(c):
			start := i
			if c == '-' {
				i++
			}
			digits := i
			for i < len(detail) && isDigit(detail[i]) {
				i++
			}
			end := i
			for i < len(detail) && (isDigit(detail[i]) || strings.IndexByte(".eE+-", detail[i]) >= 0) {
				i++ // a fraction or an exponent: no integer literal
			}
			if i == end && end-digits >= 19 { // int64 has at most 19 digits
				if _, err := strconv.ParseInt(string(detail[start:end]), 10, 64); err != nil {
					out = append(out, detail[copied:start]...)
					out = appendExponentForm(out, detail[start:digits], detail[digits:end])
					copied = end
				}
			}
		default:
			i++
		}
	}
	if out == nil {
		return detail
	}
	return append(out, detail[copied:]...)
}

// appendExponentForm appends the integer of sign ("" or "-") and digits
// (no leading zero) in exponent form: its first digit, the others but
// trailing zeros after a point, and e with the count of the others.
func appendExponentForm(out, sign, digits []byte) []byte {
	out = append(out, sign...)
	out = append(out, digits[0])
	if frac := bytes.TrimRight(digits[1:], "0"); len(frac) > 0 {
		out = append(out, '.')
		out = append(out, frac...)
	}
	out = append(out, 'e')
	return strconv.AppendInt(out, int64(len(digits)-1), 10)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// put makes one PutEvents call of entries, those of evs. An entry refused
// for good goes to the Refusals. On failure it also returns how many
// entries before the first failed one the bus accepted or the Refusals
// took (0 when the call itself failed).
func (e *EventBridge) put(ctx context.Context, entries []putEntry, evs []Event) (int, error) {
	body, err := json.Marshal(map[string]any{"Entries": entries})
	if err != nil {
		return 0, err
	}
	out, _, err := e.client.Do(ctx, awsrest.Request{
		Method: http.MethodPost,
		URL:    e.endpoint + "/",
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"AWSEvents.PutEvents"}},
		Body:   body,
	})
	if err != nil {
		return 0, fmt.Errorf("changefeed: PutEvents: %w", err)
	}
	var resp struct {
		FailedEntryCount int `json:"FailedEntryCount"`
		Entries          []struct {
			ErrorCode    string `json:"ErrorCode"`
			ErrorMessage string `json:"ErrorMessage"`
		} `json:"Entries"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return 0, fmt.Errorf("changefeed: PutEvents: decode response: %w", err)
	}
	if resp.FailedEntryCount == 0 {
		return 0, nil
	}
	// The answer's entries are the call's, in order; without one per
	// entry, none counts as accepted.
	if len(resp.Entries) != len(entries) {
		return 0, fmt.Errorf("changefeed: PutEvents: %d of %d entries failed", resp.FailedEntryCount, len(entries))
	}
	for i, en := range resp.Entries {
		switch {
		case en.ErrorCode == "":
		case !RefusedForGood(en.ErrorCode):
			return i, fmt.Errorf("changefeed: PutEvents: %d of %d entries failed (%s)", resp.FailedEntryCount, len(entries), en.ErrorCode)
		default:
			r := Refusal{Event: evs[i], Detail: entries[i].Detail, Bus: e.bus, DetailType: entries[i].DetailType, Code: en.ErrorCode, Message: en.ErrorMessage}
			if err := e.refusals.Refused(ctx, r); err != nil {
				return i, fmt.Errorf("changefeed: event %s refused by the bus (%s), not recorded: %w", evs[i].ID, en.ErrorCode, err)
			}
		}
	}
	return 0, nil
}

// StreamHandler is the Lambda handler of the table's DynamoDB stream: the
// outbox items a record inserts (the event source mapping filters the
// others out; the handler skips any that reach it) go to sink, in the
// stream's order, which is each entity's version order. When sink does
// not take them all, or a record cannot be read, the answer names the
// first record not done (ReportBatchItemFailures) and Lambda sends the
// batch again from it: a change is never dropped, and the events the bus
// took before it are not put on it again. Items expire by their TTL. A
// nil log means slog.Default().
func StreamHandler(sink Sink, log *slog.Logger) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var out []Event
		var from []string // from[i]: the sequence number of out[i]'s record
		var unread error  // a record that cannot be read, and those after it, are not done
		unreadSeq := ""
		for _, r := range ev.Records {
			if r.EventName != string(events.DynamoDBOperationTypeInsert) {
				continue
			}
			img := r.Change.NewImage
			pk, sk := img[store.AttrPK], img[store.AttrSK]
			if pk.DataType() != events.DataTypeString || !strings.HasPrefix(pk.String(), store.PrefixOutbox) || sk.DataType() != events.DataTypeString {
				continue
			}
			it, err := store.ParseOutboxSK(sk.String())
			if err != nil {
				unread, unreadSeq = fmt.Errorf("changefeed: stream record %s: %w", r.EventID, err), r.Change.SequenceNumber
				break
			}
			if d, ok := img[store.AttrOutboxData]; ok && d.DataType() == events.DataTypeBinary {
				it.Data = d.Binary()
			}
			out = append(out, EventOf(it))
			from = append(from, r.Change.SequenceNumber)
		}
		if len(out) > 0 {
			if err := sink.Send(ctx, out); err != nil {
				sent := 0
				if se := (*SendError)(nil); errors.As(err, &se) && se.Sent > 0 && se.Sent < len(out) {
					sent = se.Sent
				}
				log.ErrorContext(ctx, "change feed: send events", "error", err, "events", len(out), "sent", sent, "resendFrom", from[sent])
				return sendAgainFrom(from[sent]), nil
			}
		}
		if unread != nil {
			log.ErrorContext(ctx, "change feed: read stream record", "error", unread, "resendFrom", unreadSeq)
			return sendAgainFrom(unreadSeq), nil
		}
		return events.DynamoDBEventResponse{}, nil
	}
}

// sendAgainFrom answers a stream batch asking Lambda to send it again from
// the record of sequence number seq.
func sendAgainFrom(seq string) events.DynamoDBEventResponse {
	return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}}
}
