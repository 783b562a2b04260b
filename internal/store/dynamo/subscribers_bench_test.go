package dynamo_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/tools/benchcpu"
)

// BenchmarkSubscribers reads the 1,000 subscribers of a channel in pages
// of 500, as a fan-out does, from the DynamoDB server of the tests (moto;
// skipped without one). cpu-ns/op, B/op and allocs/op are this process's:
// the SDK's request, the decoding of both pages and Subscribers' own work.
// ns/op is mostly the server's.
func BenchmarkSubscribers(b *testing.B) {
	client, table := newTable(b, endpoint(b))
	ctx := b.Context()
	// The forward subscription items as Subscribe writes them, written
	// directly: Subscribe's transactions would take minutes on moto.
	const subscribers = 1000
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	for i := range subscribers {
		id := fmt.Sprintf("R1kmxc2VNjMCF%04d=", i)
		_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			store.AttrPK:        &types.AttributeValueMemberS{Value: store.ChanPK("acme", "orders")},
			store.AttrSK:        &types.AttributeValueMemberS{Value: store.ConnPK(id)},
			"connId":            &types.AttributeValueMemberS{Value: id},
			"tenant":            &types.AttributeValueMemberS{Value: "acme"},
			"channel":           &types.AttributeValueMemberS{Value: "orders"},
			store.AttrExpiresAt: &types.AttributeValueMemberN{Value: exp},
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	s := dynamo.New(client, table, nil)
	b.ReportAllocs()
	stop := benchcpu.Start(b)
	for b.Loop() {
		cursor, n := "", 0
		for {
			ids, next, err := s.Subscribers(ctx, "acme", "orders", store.Page{Cursor: cursor, Limit: 500})
			if err != nil {
				b.Fatal(err)
			}
			n += len(ids)
			if next == "" {
				break
			}
			cursor = next
		}
		if n != subscribers {
			b.Fatalf("read %d subscribers, want %d", n, subscribers)
		}
	}
	stop()
}
