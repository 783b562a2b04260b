package cost_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/tools/cost"
)

// TestHistoryUnits checks the history units against cases computed by
// hand: items of 270 B + payload and 89 B, each a transactional write (2
// units per KB or part).
func TestHistoryUnits(t *testing.T) {
	for _, tc := range []struct {
		payload int
		want    float64
	}{
		{0, 4}, {754, 4}, {755, 6}, {1024, 6}, {32 << 10, 2*33 + 2},
	} {
		if got := cost.HistoryWriteUnits(tc.payload); got != tc.want {
			t.Errorf("HistoryWriteUnits(%d) = %v, want %v", tc.payload, got, tc.want)
		}
	}
	for _, tc := range []struct {
		payload int
		want    float64
	}{
		{0, 2}, {3826, 2}, {3827, 3}, {32 << 10, 1 + 9},
	} {
		if got := cost.HistoryReadUnits(tc.payload); got != tc.want {
			t.Errorf("HistoryReadUnits(%d) = %v, want %v", tc.payload, got, tc.want)
		}
	}
	// Fan-out 10, 1 KB: 2 RRU as without history, 6 WRU ($3.75 per
	// million publishes, $0.375 per million deliveries) on top of $1.255.
	e, err := cost.EstimatePublish(cost.PublishParams{Fanout: 10, MessageBytes: 1024, History: true, ModelLambda: true}, cost.DefaultPrices())
	if err != nil {
		t.Fatal(err)
	}
	if e.Publish.ReadUnits != 2 || e.Publish.WriteUnits != 6 || !near(e.Cost.Total, 1.63000005) {
		t.Errorf("with history: %v RRU, %v WRU, total %.10g; want 2, 6, 1.63000005", e.Publish.ReadUnits, e.Publish.WriteUnits, e.Cost.Total)
	}
	cold, _ := cost.EstimatePublish(cost.PublishParams{Fanout: 10, MessageBytes: 1024, History: true, HistoryCold: true, ModelLambda: true}, cost.DefaultPrices())
	if cold.Publish.ReadUnits != 4 {
		t.Errorf("cold instance: %v RRU, want 4", cold.Publish.ReadUnits)
	}
}

// TestHistoryItemSizes measures the items one publish with history writes
// in the DynamoDB store (on moto) and checks the model's sizes.
func TestHistoryItemSizes(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run under scripts/with-moto.sh")
	}
	ctx := context.Background()
	client, err := dynamo.NewClient(ctx, ep, "")
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("history-sizes-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	now := time.Now()
	if _, _, err := dynamo.New(client, table, nil).AppendPublication(ctx, store.Publication{
		Tenant: "default", Channel: "order-updates", UserID: "user-123", MessageID: "msg-0123456789abcdef",
		RequestHash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Data: []byte{},
		PublishedAt: now, ExpiresAt: now.Add(time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := client.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.HistoryPK("default", "order-updates")}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		store.PubSK(1): cost.DefaultPubItemBaseBytes,
		store.PubMsgSK("user-123", "msg-0123456789abcdef"): cost.DefaultResendRecordBytes,
	}
	if len(out.Items) != len(want) {
		t.Fatalf("%d items written, want %d", len(out.Items), len(want))
	}
	for _, it := range out.Items {
		sk := it[store.AttrSK].(*types.AttributeValueMemberS).Value
		// The publishedAt timestamp drops trailing zeros of its
		// nanoseconds: allow those few bytes.
		if got := cost.ItemSize(it); got > want[sk] || got < want[sk]-9 {
			t.Errorf("item %s: %d B, model %d B", sk, got, want[sk])
		}
	}
}
