package loadtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/tools/cost"
	"github.com/omnisales/rtcollab/tools/loadtest"
)

// scanDesign is one row of the comparison.
type scanDesign struct {
	Design       string  `json:"design"`
	Items        int     `json:"items"`
	TableBytes   int     `json:"tableBytes"`
	Requests     int64   `json:"requests"`
	ReadUnits    float64 `json:"readUnits"`
	MotoUnits    float64 `json:"motoCapacityUnits"`
	VersusQuery  float64 `json:"timesOurPublish"`
	Consistency  string  `json:"consistency"`
	Explanation  string  `json:"explanation"`
	Connections  int     `json:"connections"`
	Channels     int     `json:"channels"`
	PerChannel   int     `json:"subscribersPerChannel"`
	ItemSizeNote string  `json:"itemSizes"`
}

// TestScanDesignComparison puts the read cost of one publish side by side
// with the design of the AWS sample chat app, which Scans the whole
// connections table for every message, on the same data: 10,000
// connections over 100 channels. It only measures and reports (the
// figures are in docs/BENCHMARKS.md); being slow, it runs only when
// RTCOLLAB_SCAN_COMPARE=1 and a DynamoDB endpoint is set (make
// bench-scan). Test code may Scan; the backend never does.
func TestScanDesignComparison(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" || os.Getenv("RTCOLLAB_SCAN_COMPARE") != "1" {
		t.Skip("set DYNAMODB_TEST_ENDPOINT and RTCOLLAB_SCAN_COMPARE=1 (make bench-scan) to run the Scan comparison")
	}
	const conns, channels = 10000, 100
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var counter dynamo.Counter
	plain, measured, units, table := meteredTable(t, ctx, ep, "scan-compare", counter.Options())

	// One real connection with one subscription, written by the store,
	// is the template of the other 9,999.
	st := dynamo.New(plain, table, nil)
	now := time.Now()
	tmpl := store.Connection{ID: "QQQQxxxxxxxxxxx=", UserID: "user-UUUU", Username: "User UUUU", Tenant: "default",
		ConnectedAt: now, LastSeenAt: now, ExpiresAt: now.Add(2*time.Hour + 5*time.Minute),
		Endpoint: "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod", SourceIP: "203.0.113.10"}
	if err := st.PutConnection(ctx, tmpl); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscribe(ctx, "default", "order:CCCC", tmpl.ID, 100); err != nil {
		t.Fatal(err)
	}
	var templates []map[string]types.AttributeValue
	for _, pk := range []string{store.ConnPK(tmpl.ID), store.UserPK("default", tmpl.UserID), store.ChanPK("default", "order:CCCC")} {
		out, err := plain.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatal(err)
		}
		templates = append(templates, out.Items...)
	}
	if len(templates) != 4 {
		t.Fatalf("template items = %d, want 4 (connection, user index, subscription both ways)", len(templates))
	}
	var writes []types.WriteRequest
	var tableBytes int
	var connSizes []int // the connection items alone
	var ids []string
	for i := range conns {
		id := fmt.Sprintf("C%014d=", i)
		ids = append(ids, id)
		r := strings.NewReplacer(tmpl.ID, id, "UUUU", fmt.Sprint(i), "CCCC", fmt.Sprint(i%channels))
		for _, it := range templates {
			c := cloneItem(it, r)
			tableBytes += cost.ItemSize(c)
			if sk, _ := c[store.AttrSK].(*types.AttributeValueMemberS); sk != nil && sk.Value == store.SKMeta {
				connSizes = append(connSizes, cost.ItemSize(c))
			}
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: c}})
		}
	}
	batchWrite(ctx, t, plain, table, writes)
	_, _, err := st.DeleteConnection(ctx, tmpl.ID)
	if err != nil {
		t.Fatal(err)
	}
	items := conns * len(templates)

	// Our publish to one of the 100 channels: the handler reads the
	// publisher's connection, then Queries the channel's subscriptions.
	ours := dynamo.New(measured, table, nil)
	counter.Reset()
	before := units.Snapshot()
	if _, err := ours.GetConnection(ctx, ids[7]); err != nil {
		t.Fatal(err)
	}
	subs, _, err := ours.Subscribers(ctx, "default", "order:7", store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != conns/channels {
		t.Fatalf("subscribers of order:7 = %d, want %d", len(subs), conns/channels)
	}
	publish := delta(before, units.Snapshot())
	publishReq, publishMoto := totals(&counter)

	// The sample's design on the same data: Scan the whole table
	// (eventually consistent, as its SDK call defaults to) and filter the
	// channel's connections in the client.
	counter.Reset()
	before = units.Snapshot()
	scanned := scanAll(ctx, t, measured, table)
	if scanned != items {
		t.Fatalf("scan read %d items, want %d", scanned, items)
	}
	scanSame := delta(before, units.Snapshot())
	scanSameReq, scanSameMoto := totals(&counter)

	// The sample's own table: one item per connection holding only its
	// id, scanned for every message.
	sample := fmt.Sprintf("scan-sample-%d", time.Now().UnixNano())
	if _, err := plain.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(sample), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("connectionId"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("connectionId"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = plain.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(sample)})
	})
	writes = writes[:0]
	sampleBytes := 0
	for _, id := range ids {
		it := map[string]types.AttributeValue{"connectionId": &types.AttributeValueMemberS{Value: id}}
		sampleBytes += cost.ItemSize(it)
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	batchWrite(ctx, t, plain, sample, writes)
	counter.Reset()
	before = units.Snapshot()
	if n := scanAll(ctx, t, measured, sample); n != conns {
		t.Fatalf("sample scan read %d items, want %d", n, conns)
	}
	scanSample := delta(before, units.Snapshot())
	scanSampleReq, scanSampleMoto := totals(&counter)

	// A Scan design that keeps each connection's channels in its
	// connection item would scan the 10,000 connection items: computed
	// from their sizes in 1 MB pages, eventually consistent.
	var connBytes int
	var connScan float64
	page := 0
	for _, n := range connSizes {
		connBytes += n
		if page+n > 1<<20 {
			connScan += cost.ReadUnits(page, cost.Eventual)
			page = 0
		}
		page += n
	}
	connScan += cost.ReadUnits(page, cost.Eventual)

	rows := []scanDesign{
		{Design: "this backend: GetItem + Query of the channel", Items: items, TableBytes: tableBytes, Requests: publishReq,
			ReadUnits: publish, MotoUnits: publishMoto, VersusQuery: 1, Consistency: "strong",
			Explanation: "reads the publisher's connection item and the channel's 100 subscription items"},
		{Design: "sample app's Scan, on this backend's table", Items: items, TableBytes: tableBytes, Requests: scanSameReq,
			ReadUnits: scanSame, MotoUnits: scanSameMoto, VersusQuery: scanSame / publish, Consistency: "eventual",
			Explanation: "a Scan reads every item of the table, whatever the filter"},
		{Design: "sample app's Scan, on its own id-only table", Items: conns, TableBytes: sampleBytes, Requests: scanSampleReq,
			ReadUnits: scanSample, MotoUnits: scanSampleMoto, VersusQuery: scanSample / publish, Consistency: "eventual",
			Explanation: "10,000 items holding only connectionId; the sample broadcasts to everyone, so it has no channels"},
		{Design: "Scan of the connection items alone (computed)", Items: len(connSizes), TableBytes: connBytes,
			ReadUnits: connScan, VersusQuery: connScan / publish, Consistency: "eventual",
			Explanation: "a connections table whose items carry this backend's connection data and channels: computed from the item sizes, not scanned"},
	}
	for i := range rows {
		rows[i].Connections, rows[i].Channels, rows[i].PerChannel = conns, channels, conns/channels
		rows[i].ItemSizeNote = fmt.Sprintf("%d items, %d bytes", rows[i].Items, rows[i].TableBytes)
		t.Logf("%-48s %6d items %9d B %4d requests %8.1f RRU (moto %6.1f) %7.1fx",
			rows[i].Design, rows[i].Items, rows[i].TableBytes, rows[i].Requests, rows[i].ReadUnits, rows[i].MotoUnits, rows[i].VersusQuery)
	}
	if out := os.Getenv("RTCOLLAB_SCAN_OUT"); out != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// cloneItem copies it with r applied to every string value.
func cloneItem(it map[string]types.AttributeValue, r *strings.Replacer) map[string]types.AttributeValue {
	c := make(map[string]types.AttributeValue, len(it))
	for k, v := range it {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			c[k] = &types.AttributeValueMemberS{Value: r.Replace(s.Value)}
			continue
		}
		c[k] = v
	}
	return c
}

func batchWrite(ctx context.Context, t *testing.T, c *dynamodb.Client, table string, writes []types.WriteRequest) {
	t.Helper()
	for start := 0; start < len(writes); start += 25 {
		pending := map[string][]types.WriteRequest{table: writes[start:min(start+25, len(writes))]}
		for try := 0; len(pending) > 0; try++ {
			if try == 10 {
				t.Fatalf("batch write: unprocessed items after %d attempts", try)
			}
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				t.Fatalf("batch write: %v", err)
			}
			pending = out.UnprocessedItems
		}
	}
}

// scanAll Scans the whole table page by page and returns the items read.
func scanAll(ctx context.Context, t *testing.T, c *dynamodb.Client, table string) int {
	t.Helper()
	n := 0
	pages := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("scan %q: %v", table, err)
		}
		n += len(out.Items)
	}
	return n
}

func delta(before, after map[string]loadtest.UnitStats) float64 {
	var d float64
	for k, v := range after {
		d += v.ReadUnits - before[k].ReadUnits
	}
	return d
}

func totals(c *dynamo.Counter) (requests int64, moto float64) {
	for _, st := range c.Snapshot() {
		requests += st.Requests
		moto += st.CapacityUnits
	}
	return requests, moto
}
