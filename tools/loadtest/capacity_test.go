package loadtest_test

import (
	"context"
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

// TestMeasureCapacity runs the capacity scenario of make cost at a small
// fan-out and checks what the design promises: nothing Scans, and a
// publish is one GetItem and one Query, with no write.
func TestMeasureCapacity(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run `make test` or scripts/with-moto.sh go test ./tools/loadtest")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := loadtest.MeasureCapacity(ctx, loadtest.CapacityConfig{Endpoint: ep, Fanouts: []int{3}, Logf: t.Logf})
	if err != nil {
		t.Fatalf("MeasureCapacity: %v", err)
	}
	for _, s := range rep.Steps {
		if n := s.Calls["Scan"]; n > 0 {
			t.Errorf("%s: %d Scans", s.Name, n)
		}
	}
	tests := []struct {
		step              string
		calls             map[string]int64
		minRead, minWrite float64
		maxWrite          float64
	}{
		{"connect", nil, 1, 2, 100},
		{"subscribe", nil, 1, 2, 100},
		{loadtest.PublishStepName(3), map[string]int64{"GetItem": 1, "Query": 1}, 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			s, ok := rep.Step(tt.step)
			if !ok {
				t.Fatalf("no step %q", tt.step)
			}
			if tt.calls != nil && s.FormatCalls() != (loadtest.CapacityStep{Calls: tt.calls}).FormatCalls() {
				t.Errorf("calls = %s, want %s", s.FormatCalls(), (loadtest.CapacityStep{Calls: tt.calls}).FormatCalls())
			}
			if s.ReadUnits < tt.minRead || s.WriteUnits < tt.minWrite || s.WriteUnits > tt.maxWrite {
				t.Errorf("units = %.1f RRU, %.1f WRU; want at least %.1f RRU and %.1f..%.1f WRU",
					s.ReadUnits, s.WriteUnits, tt.minRead, tt.minWrite, tt.maxWrite)
			}
		})
	}
	if rep.ConnItemBytes == 0 || rep.SubItemBytes == 0 {
		t.Errorf("item sizes %d and %d B, want both measured", rep.ConnItemBytes, rep.SubItemBytes)
	}
}

// TestUnitsProjectedQuery checks that a Query with a projection is
// charged, as DynamoDB charges it, by the size of the whole items read,
// not of the attributes returned.
func TestUnitsProjectedQuery(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run `make test` or scripts/with-moto.sh go test ./tools/loadtest")
	}
	ctx := t.Context()
	plain, measured, units, table := meteredTable(t, ctx, ep, "units-projection")
	// 40 items of about 500 bytes: 20 KB read, 5 units with a strongly
	// consistent read; their sort keys alone fit in one unit.
	whole := 0
	for i := range 40 {
		it := map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: "CHAN#t#c"},
			store.AttrSK: &types.AttributeValueMemberS{Value: fmt.Sprintf("CONN#%03d", i)},
			"filler":     &types.AttributeValueMemberS{Value: strings.Repeat("x", 480)},
		}
		whole += cost.ItemSize(it)
		if _, err := plain.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := measured.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "CHAN#t#c"}},
		ProjectionExpression:      aws.String(store.AttrSK),
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 40 || len(out.Items[0]) != 1 {
		t.Fatalf("Query returned %d items of %d attributes, want 40 of 1", len(out.Items), len(out.Items[0]))
	}
	got := units.Snapshot()["Query"].ReadUnits
	if want := cost.ReadUnits(whole, cost.Strong); got != want || want < 5 {
		t.Errorf("projected Query: %.1f read units, want %.1f (the whole items' %d bytes)", got, want, whole)
	}
}

// meteredTable creates a table of its own for t on the DynamoDB endpoint ep,
// deleted when t ends, and returns a plain client, a client whose calls
// units meters (with extra options, such as a dynamo.Counter's), the
// Units and the table's name.
func meteredTable(t *testing.T, ctx context.Context, ep, prefix string, opts ...func(*dynamodb.Options)) (plain, measured *dynamodb.Client, units *loadtest.Units, table string) {
	t.Helper()
	plain, err := dynamo.NewClient(ctx, ep, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	units = &loadtest.Units{Oracle: plain}
	measured, err = dynamo.NewClient(ctx, ep, "us-east-1", append(opts, units.Options())...)
	if err != nil {
		t.Fatal(err)
	}
	table = fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, plain, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = plain.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return plain, measured, units, table
}
