package changefeed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestStreamHandler: of a real stream event's records, only the outbox
// item an INSERT wrote becomes an Event, with the change as applied; a
// sink failure names that record in the answer, so that Lambda sends the
// batch again from it, as does an outbox record that cannot be read.
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
	if resp, err := changefeed.StreamHandler(&log, nil)(t.Context(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatal(resp, err)
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
	outbox := ev.Records[0].Change.SequenceNumber
	resp, err := changefeed.StreamHandler(&failingSink{}, nil)(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != outbox {
		t.Fatalf("a failed send answered %+v, %v; want the outbox record %s named", resp, err, outbox)
	}
	bad := outboxRecord(9, "SO-1", 1)
	bad.Change.NewImage[store.AttrSK] = events.NewStringAttribute("acme#order#SO-1#seven")
	ev.Records = append(ev.Records, bad)
	log = changefeed.Log{}
	resp, err = changefeed.StreamHandler(&log, nil)(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != bad.Change.SequenceNumber || len(log.Since(0)) != 1 {
		t.Fatalf("a record that cannot be read answered %+v, %v, with %d events sent; want the event before it sent and it named",
			resp, err, len(log.Since(0)))
	}
}

// TestEventBridgeMoto puts 23 events (three PutEvents calls of at most 10
// entries) on moto's default bus, and one on a bus that does not exist.
func TestEventBridgeMoto(t *testing.T) {
	ep := motoEndpoint(t)
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

// motoEndpoint returns the endpoint of moto's server, which serves
// EventBridge and SQS on the port it serves DynamoDB on; without one it
// skips t.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set (make test starts moto)")
	}
	return ep
}

// outboxRecord is the stream record of the outbox item of version v of
// entity id, as DynamoDB writes it to the table's stream.
func outboxRecord(seq int, id string, v int64) events.DynamoDBEventRecord {
	sk := fmt.Sprintf("acme#order#%s#%012d", id, v)
	img := map[string]events.DynamoDBAttributeValue{
		store.AttrPK:         events.NewStringAttribute(store.PrefixOutbox + "1"),
		store.AttrSK:         events.NewStringAttribute(sk),
		store.AttrOutboxData: events.NewBinaryAttribute(fmt.Appendf(nil, `{"change":{"version":%d}}`, v)),
	}
	return events.DynamoDBEventRecord{EventID: strconv.Itoa(seq), EventName: string(events.DynamoDBOperationTypeInsert),
		Change: events.DynamoDBStreamRecord{Keys: map[string]events.DynamoDBAttributeValue{store.AttrPK: img[store.AttrPK], store.AttrSK: img[store.AttrSK]},
			NewImage: img, SequenceNumber: fmt.Sprintf("%028d", seq), StreamViewType: "NEW_IMAGE"}}
}

// putEventsStandIn returns an EventBridge sink (the real client, signing)
// whose PutEvents calls a local stand-in answers: each entry with the
// error code that refuse returns for it, or accepted when that is "".
// call counts the calls from 1; i is the entry's index in its call.
func putEventsStandIn(t *testing.T, refuse func(call, i int, detail string) string) *changefeed.EventBridge {
	t.Helper()
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		body, _ := io.ReadAll(r.Body)
		var req struct{ Entries []struct{ Detail string } }
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body: %v", err)
		}
		var res []string
		failed := 0
		for i, e := range req.Entries {
			if code := refuse(calls, i, e.Detail); code != "" {
				failed++
				res = append(res, fmt.Sprintf(`{"ErrorCode":%q,"ErrorMessage":"refused by the stand-in"}`, code))
				continue
			}
			res = append(res, `{"EventId":"x"}`)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"FailedEntryCount":%d,"Entries":[%s]}`, failed, strings.Join(res, ","))
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return changefeed.NewEventBridge(awsrest.New(changefeed.EventsService, cfg, nil), srv.URL, "default")
}

// TestStreamHandlerResendsFromTheFirstEventNotPut: a stream batch whose
// events PutEvents takes only in part (the second call's third entry
// fails) is sent again from the record of that event, not whole: the
// twelve events the bus took before it are not put on it again. The
// batch holds 15 outbox items of different entities (two calls: 10, then
// 5) and, among them, a record that is not one.
func TestStreamHandlerResendsFromTheFirstEventNotPut(t *testing.T) {
	puts := map[string]int{} // event id: times put on the bus
	h := changefeed.StreamHandler(putEventsStandIn(t, func(call, i int, detail string) string {
		if call == 2 && i == 2 {
			return "InternalFailure"
		}
		var ev changefeed.Event
		_ = json.Unmarshal([]byte(detail), &ev)
		puts[ev.ID]++
		return ""
	}), nil)

	var batch events.DynamoDBEvent
	for i := range 15 {
		batch.Records = append(batch.Records, outboxRecord(len(batch.Records)+1, fmt.Sprintf("SO-%d", i), 1))
		if i == 4 { // a record that is no outbox item's insert
			rec := outboxRecord(len(batch.Records)+1, "SO-x", 1)
			rec.EventName = string(events.DynamoDBOperationTypeRemove)
			batch.Records = append(batch.Records, rec)
		}
	}
	resp, err := h(t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("answer %+v, %v; want one record named, to be sent again from", resp, err)
	}
	// Lambda sends the batch again from the record named.
	from := slices.IndexFunc(batch.Records, func(r events.DynamoDBEventRecord) bool {
		return r.Change.SequenceNumber == resp.BatchItemFailures[0].ItemIdentifier
	})
	if from < 0 {
		t.Fatalf("answer names %s, not a record of the batch", resp.BatchItemFailures[0].ItemIdentifier)
	}
	batch.Records = batch.Records[from:]
	if resp, err := h(t.Context(), batch); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("the batch sent again: %+v, %v", resp, err)
	}
	for i := range 15 {
		id := fmt.Sprintf("acme/order/SO-%d/1", i)
		switch n := puts[id]; {
		case n == 0:
			t.Errorf("%s never put on the bus", id)
		case i < 12 && n != 1:
			t.Errorf("%s put %d times: the bus took it before the failed entry, and the batch was sent again from before it", id, n)
		}
	}
}

// int64Only reports the first integer literal of detail (a number with
// neither fraction nor exponent, at any depth) outside int64, which
// PutEvents does not take; "" when there is none. Strings are not
// numbers, keys included.
func int64Only(detail string) string {
	dec := json.NewDecoder(strings.NewReader(detail))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if n, ok := tok.(json.Number); ok && !strings.ContainsAny(string(n), ".eE") {
			if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
				return string(n)
			}
		}
	}
}

// sameNumbers reports whether a and b are the same JSON text but for the
// way numbers are written: each number of one has the same value as the
// other's at its place.
func sameNumbers(a, b string) bool {
	da, db := json.NewDecoder(strings.NewReader(a)), json.NewDecoder(strings.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	for {
		ta, ea := da.Token()
		tb, eb := db.Token()
		if ea != nil || eb != nil {
			return ea == io.EOF && eb == io.EOF
		}
		na, oka := ta.(json.Number)
		nb, okb := tb.(json.Number)
		if oka != okb {
			return false
		}
		if oka {
			ra, _ := new(big.Rat).SetString(string(na))
			rb, _ := new(big.Rat).SetString(string(nb))
			if ra == nil || rb == nil || ra.Cmp(rb) != 0 {
				return false
			}
			continue
		}
		if ta != tb {
			return false
		}
	}
}

// TestEventBridgeIntegersOutsideInt64: PutEvents takes JSON integers
// within int64 only, and a change keeps its numbers as the client wrote
// them (100000000000000000000 is JSON.stringify(1e20)), so the detail of
// its event writes an integer outside int64 in exponent form, the same
// number; integers within int64 (its bounds included), other numbers and
// strings that hold digits are put as they are. A PutEvents stand-in
// refuses an entry as the bus does.
func TestEventBridgeIntegersOutsideInt64(t *testing.T) {
	big299 := "1" + strings.Repeat("0", 298)
	cases := []struct{ after, want string }{
		{`9223372036854775807`, `9223372036854775807`},
		{`-9223372036854775808`, `-9223372036854775808`},
		{`9223372036854775808`, `9.223372036854775808e18`},
		{`-9223372036854775809`, `-9.223372036854775809e18`},
		{`100000000000000000000`, `1e20`},
		{`-100000000000000000000`, `-1e20`},
		{`1234567890123456789012345678901234567890`, `1.23456789012345678901234567890123456789e39`},
		{`-1000000000000000000000000000000000000001`, `-1.000000000000000000000000000000000000001e39`},
		{big299, `1e298`},
		{`[0,-0,1,[99999999999999999999,{"n":-99999999999999999999,"m":[18446744073709551616]}]]`,
			`[0,-0,1,[9.9999999999999999999e19,{"n":-9.9999999999999999999e19,"m":[1.8446744073709551616e19]}]]`},
		{`{"100000000000000000000":"100000000000000000000","s":"a \"99999999999999999999\" \\","t":100000000000000000000}`,
			`{"100000000000000000000":"100000000000000000000","s":"a \"99999999999999999999\" \\","t":1e20}`},
		{`[12345678901234567890.5,1e300,123456789012345678901e5,-1.5E-7,true,null]`,
			`[12345678901234567890.5,1e300,123456789012345678901e5,-1.5E-7,true,null]`},
	}
	var details []string
	bus := putEventsStandIn(t, func(_, _ int, detail string) string {
		details = append(details, detail)
		if int64Only(detail) != "" || !json.Valid([]byte(detail)) {
			return "MalformedDetail"
		}
		return ""
	})
	var evs []changefeed.Event
	for i, c := range cases {
		evs = append(evs, changefeed.Event{ID: fmt.Sprintf("t/order/%d/1", i), Tenant: "t", EntityType: "order", EntityID: strconv.Itoa(i),
			Version: 1, Change: json.RawMessage(`{"path":"n","after":` + c.after + `,"userId":"1234567890123456789012"}`)})
	}
	if err := bus.Send(t.Context(), evs); err != nil {
		t.Errorf("Send: %v", err)
	}
	if len(details) != len(cases) {
		t.Fatalf("%d entries put, want %d", len(details), len(cases))
	}
	for i, c := range cases {
		want, _ := json.Marshal(changefeed.Event{ID: evs[i].ID, Tenant: "t", EntityType: "order", EntityID: strconv.Itoa(i), Version: 1,
			Change: json.RawMessage(`{"path":"n","after":` + c.want + `,"userId":"1234567890123456789012"}`)})
		if details[i] != string(want) {
			t.Errorf("after %.60s: detail\n%s\nwant\n%s", c.after, details[i], want)
		}
		orig, _ := json.Marshal(evs[i])
		if !sameNumbers(details[i], string(orig)) {
			t.Errorf("after %.60s: detail %s is not the event %s", c.after, details[i], orig)
		}
	}
}

// TestStreamHandlerGoesPastAnEventTheBusRefusesForGood: PutEvents refuses
// an entry for good with MalformedDetail or InvalidArgument ("non-retryable
// errors" of PutEventsResultEntry): the same entry is refused again. The
// stream handler does not ask for the batch again from its record, which
// would hold back every event of the shard behind it, the events after it
// put again on every try, until the record is a day old; the events of
// the batch are each put once. An entry refused for a reason that can
// pass (throttling, a failure of the bus, a permission the stack lacks
// until it is fixed) is still sent again from its record.
func TestStreamHandlerGoesPastAnEventTheBusRefusesForGood(t *testing.T) {
	puts := map[string]int{} // event id: times put on the bus
	tries := map[string]int{}
	bus := putEventsStandIn(t, func(_, _ int, detail string) string {
		var ev changefeed.Event
		_ = json.Unmarshal([]byte(detail), &ev)
		tries[ev.EntityID]++
		switch {
		case ev.EntityID == "SO-0":
			return "MalformedDetail"
		case ev.EntityID == "SO-3":
			return "InvalidArgument"
		case ev.EntityID == "SO-7" && tries[ev.EntityID] == 1:
			return "AccessDeniedException"
		}
		puts[ev.ID]++
		return ""
	})
	h := changefeed.StreamHandler(bus, nil)
	var batch events.DynamoDBEvent
	for i := range 12 { // two calls: 10, then 2
		batch.Records = append(batch.Records, outboxRecord(i+1, fmt.Sprintf("SO-%d", i), 1))
	}
	resp, err := h(t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != batch.Records[7].Change.SequenceNumber {
		t.Fatalf("answer %+v, %v; want the record of SO-7 named, the first event refused for a reason that can pass", resp, err)
	}
	if resp, err := h(t.Context(), events.DynamoDBEvent{Records: batch.Records[7:]}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("the batch sent again from SO-7: %+v, %v; want it done", resp, err)
	}
	for i := range 12 {
		// Before SO-7 each is put once; SO-8 and SO-9, in SO-7's call,
		// are put again with the batch sent again from SO-7.
		id := fmt.Sprintf("acme/order/SO-%d/1", i)
		switch n := puts[id]; {
		case i == 0 || i == 3:
			if n != 0 {
				t.Errorf("%s put %d times: the stand-in refuses it", id, n)
			}
		case n == 0:
			t.Errorf("%s never put on the bus", id)
		case i < 7 && n != 1:
			t.Errorf("%s put %d times, want once: the batch was sent again from before it", id, n)
		}
	}
	if tries["SO-0"] != 1 || tries["SO-3"] != 1 {
		t.Errorf("the events refused for good were put %d and %d times, want once each", tries["SO-0"], tries["SO-3"])
	}
}
