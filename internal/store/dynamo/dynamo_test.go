package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// endpoint returns the DynamoDB endpoint of the tests, or skips t.
func endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run `make test` or scripts/with-moto.sh go test ./internal/store/...")
	}
	return ep
}

// newTable creates a table of its own for t on the test endpoint, deleted
// when t ends, and returns a client and the table name.
func newTable(t testing.TB, ep string, opts ...func(*dynamodb.Options)) (*dynamodb.Client, string) {
	t.Helper()
	client, err := dynamo.NewClient(t.Context(), ep, "", opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 180 {
		name = name[len(name)-180:]
	}
	table := fmt.Sprintf("t-%s-%d", name, time.Now().UnixNano())
	if err := dynamo.CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("CreateTable(%q): %v", table, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Logf("DeleteTable(%q): %v", table, err)
		}
	})
	return client, table
}

func TestConformance(t *testing.T) {
	ep := endpoint(t)
	storetest.Run(t, "dynamo", func(t *testing.T, clock store.Clock) store.Store {
		t.Helper()
		client, table := newTable(t, ep, dynamo.SerialHTTP())
		return dynamo.New(client, table, clock)
	})
}

func TestCreateTableTwice(t *testing.T) {
	ep := endpoint(t)
	client, table := newTable(t, ep)
	if err := dynamo.CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	out, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	if n := len(out.Table.GlobalSecondaryIndexes); n != 1 || aws.ToString(out.Table.GlobalSecondaryIndexes[0].IndexName) != store.IndexExpiry {
		t.Errorf("indexes = %+v, want one named %q", out.Table.GlobalSecondaryIndexes, store.IndexExpiry)
	}
	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTimeToLive: %v", err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != store.AttrExpiresAt {
		t.Errorf("TTL = %+v, want on %q", d, store.AttrExpiresAt)
	}
}

func TestCounter(t *testing.T) {
	ep := endpoint(t)
	var counter dynamo.Counter
	client, table := newTable(t, ep, counter.Options())
	counter.Reset()

	_, err := client.PutItem(t.Context(), &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: "TEST#1"},
			store.AttrSK: &types.AttributeValueMemberS{Value: "A"},
		},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	_, err = client.Query(t.Context(), &dynamodb.QueryInput{
		TableName:              aws.String(table),
		KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: "TEST#1"},
		},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}

	snap := counter.Snapshot()
	tests := []struct {
		op   string
		want int64
	}{
		{"PutItem", 1},
		{"Query", 1},
		{"Scan", 0},
		{"GetItem", 0},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			st := snap[tt.op]
			if st.Requests != tt.want || st.Attempts != tt.want || st.Errors != 0 {
				t.Errorf("%s = %+v, want %d requests and attempts, no error", tt.op, st, tt.want)
			}
		})
	}
	if w := counter.Writes(); w != 1 {
		t.Errorf("Writes() = %d, want 1", w)
	}
	t.Logf("consumed capacity: put %+v, query %+v", snap["PutItem"], snap["Query"])

	counter.Reset()
	if snap := counter.Snapshot(); len(snap) != 0 {
		t.Errorf("Snapshot after Reset = %v, want empty", snap)
	}
}

func TestStoreCountsNoScan(t *testing.T) {
	ep := endpoint(t)
	var counter dynamo.Counter
	client, table := newTable(t, ep, counter.Options())
	s := dynamo.New(client, table, nil)
	ctx := t.Context()
	c := store.Connection{ID: "c1", UserID: "u1", Tenant: "acme", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.PutConnection(ctx, c); err != nil {
		t.Fatalf("PutConnection: %v", err)
	}
	if _, err := s.Subscribe(ctx, "acme", "orders", "c1", 10); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	counter.Reset()
	for range 3 {
		if _, _, err := s.Subscribers(ctx, "acme", "orders", store.Page{}); err != nil {
			t.Fatalf("Subscribers: %v", err)
		}
	}
	snap := counter.Snapshot()
	if snap["Query"].Requests != 3 || counter.Writes() != 0 || snap["Scan"].Requests != 0 {
		t.Errorf("three Subscribers pages: %+v, want three Queries and no write or scan", snap)
	}
	if _, _, err := s.DeleteConnection(ctx, "c1"); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	if n := counter.Snapshot()["Scan"].Requests; n != 0 {
		t.Errorf("%d Scans", n)
	}
}

// TestUnavailable checks that a server failing every attempt yields
// store.ErrUnavailable after the bounded retries. It needs no emulator.
func TestUnavailable(t *testing.T) {
	tests := []struct {
		name   string
		status int
		kind   string
	}{
		{"throttled", http.StatusBadRequest, "ProvisionedThroughputExceededException"},
		{"server error", http.StatusInternalServerError, "InternalServerError"},
		{"unavailable", http.StatusServiceUnavailable, "ServiceUnavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"try later"}`, tt.kind)
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
				w.WriteHeader(tt.status)
				io.WriteString(w, body)
			}))
			defer srv.Close()
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
			t.Setenv("AWS_PROFILE", "")
			client, err := dynamo.NewClient(t.Context(), srv.URL, "us-east-1", func(o *dynamodb.Options) {
				// Same bound as NewClient's retryer, with short delays.
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
					so.MaxAttempts = dynamo.MaxAttempts
					so.MaxBackoff = 10 * time.Millisecond
					so.RateLimiter = noRateLimit{}
				})
			})
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			s := dynamo.New(client, "any", nil)
			_, err = s.GetConnection(t.Context(), "c1")
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("GetConnection = %v, want ErrUnavailable", err)
			}
			if n := hits.Load(); n != dynamo.MaxAttempts {
				t.Errorf("server saw %d attempts, want %d", n, dynamo.MaxAttempts)
			}
		})
	}
}

// noRateLimit lets every retry through, so that the test sees all
// attempts however many ran before.
type noRateLimit struct{}

func (noRateLimit) GetToken(context.Context, uint) (func() error, error) {
	return func() error { return nil }, nil
}

func (noRateLimit) AddTokens(uint) error { return nil }
