package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// countingHTTP counts the requests a DynamoDB client sends.
type countingHTTP struct {
	n      atomic.Int32
	client *http.Client
}

func (c *countingHTTP) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.client.Do(r)
}

// TestOversizeItemInTransaction: on moto, a transaction writing an item
// over DynamoDB's 400 KB limit fails validation (moto answers with a
// ValidationException rather than a cancellation with a ValidationError
// reason; TestMapErrCancellationReasons covers that form). The store
// reports it as an error that is neither a failed condition nor
// unavailability, a transaction retried on conflicts sends it once, and
// the transaction's other item is not written.
func TestOversizeItemInTransaction(t *testing.T) {
	ctx := t.Context()
	counter := &countingHTTP{client: &http.Client{}}
	client, table := motoTable(t, "t-oversize", counter)
	s := New(client, table, nil)
	small := item{store.AttrPK: str("TEST#small"), store.AttrSK: str(store.SKMeta)}
	big := item{store.AttrPK: str("TEST#big"), store.AttrSK: str(store.SKMeta), "v": str(strings.Repeat("x", 410<<10))}

	before := counter.n.Load()
	err := s.transactRetry(ctx, "oversize", "TEST#big", []types.TransactWriteItem{
		s.putAction(small, "attribute_not_exists(pk)", nil),
		s.putAction(big, "", nil),
	})
	if err == nil {
		t.Fatal("a transaction with a 410 KB item succeeded")
	}
	if errors.Is(err, store.ErrConditionFailed) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v: a validation failure taken for a failed condition or unavailability", err)
	}
	if sent := counter.n.Load() - before; sent != 1 {
		t.Errorf("%d requests sent, want 1 (a validation failure is not retried)", sent)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: keyOf("TEST#small", store.SKMeta), ConsistentRead: aws.Bool(true)})
	if err != nil || len(out.Item) != 0 {
		t.Fatalf("the transaction's small item = %v, %v; want nothing written", out.Item, err)
	}
}

// motoTable creates a fresh table on the test endpoint (skipping t when
// none is set) with a client that sends through httpClient, and deletes
// the table when t ends.
func motoTable(t *testing.T, prefix string, httpClient dynamodb.HTTPClient) (*dynamodb.Client, string) {
	t.Helper()
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run `make test` or scripts/with-moto.sh go test ./internal/store/...")
	}
	client, err := NewClient(t.Context(), ep, "", func(o *dynamodb.Options) { o.HTTPClient = httpClient })
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if err := CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return client, table
}
