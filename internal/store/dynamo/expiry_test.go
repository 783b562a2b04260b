package dynamo_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// oldExpiryShards is the shard count of the expiry index before it became
// store.ExpiryShards.
const oldExpiryShards = 4

// TestExpiryIndexOldShards: items written when the expiry index had 4
// shards per kind still reach the sweeper. The old bucket of an item was
// its key's hash modulo 4, which is the new suffix modulo 4 (4 divides
// store.ExpiryShards); the test moves every indexed item back to that
// bucket, as an old writer left it, and lists and removes them.
func TestExpiryIndexOldShards(t *testing.T) {
	if store.ExpiryShards%oldExpiryShards != 0 {
		t.Fatalf("ExpiryShards %d is not a multiple of %d", store.ExpiryShards, oldExpiryShards)
	}
	ep := endpoint(t)
	client, table := newTable(t, ep, dynamo.SerialHTTP())
	start := time.Unix(1_800_000_000, 0).UTC()
	now := start
	s := dynamo.New(client, table, func() time.Time { return now })
	ctx := t.Context()

	const conns = 24
	for i := range conns {
		id := fmt.Sprintf("conn-%02d", i)
		// A lock goes only to a live connection.
		if err := s.PutConnection(ctx, store.Connection{ID: id, UserID: "u" + strconv.Itoa(i), Tenant: "acme",
			ConnectedAt: now, LastSeenAt: now, ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
			t.Fatalf("PutConnection %s: %v", id, err)
		}
		ses := store.Session{Presence: store.Presence{
			Tenant: "acme", UserID: "u" + strconv.Itoa(i), ConnID: id, Status: store.StatusOnline,
			LastSeen: now, LastActive: now, ExpiresAt: now.Add(90 * time.Second),
		}}
		if err := s.PutConnection(ctx, store.Connection{ID: id, Tenant: "acme", UserID: "u" + strconv.Itoa(i), ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
			t.Fatalf("PutConnection %s: %v", id, err)
		}
		if _, err := s.PutSession(ctx, store.SessionWrite{Session: ses, AwayAt: now.Add(5 * time.Minute)}); err != nil {
			t.Fatalf("PutSession %s: %v", id, err)
		}
		e := store.EntityKey{Tenant: "acme", Type: "order", ID: strconv.Itoa(i)}
		if _, err := s.AcquireLock(ctx, store.Lock{Entity: e, Holder: "u" + strconv.Itoa(i), ConnID: id, AcquiredAt: now, ExpiresAt: now.Add(30 * time.Second)}); err != nil {
			t.Fatalf("AcquireLock %s: %v", e.ID, err)
		}
	}

	// Move every indexed item to its old bucket.
	moved := map[string]int{}
	pages := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(table), FilterExpression: aws.String("attribute_exists(expBucket)")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			bucket := it[store.AttrExpBucket].(*types.AttributeValueMemberS).Value
			kind, suffix, _ := strings.Cut(bucket, "#")
			n, err := strconv.Atoi(suffix)
			if err != nil || n < 0 || n >= store.ExpiryShards {
				t.Fatalf("bucket %q: suffix is not a shard below %d", bucket, store.ExpiryShards)
			}
			if n < oldExpiryShards {
				continue
			}
			old := kind + "#" + strconv.Itoa(n%oldExpiryShards)
			if _, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(table),
				Key:                       map[string]types.AttributeValue{store.AttrPK: it[store.AttrPK], store.AttrSK: it[store.AttrSK]},
				UpdateExpression:          aws.String("SET expBucket = :b"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":b": &types.AttributeValueMemberS{Value: old}},
			}); err != nil {
				t.Fatal(err)
			}
			moved[kind]++
		}
	}
	for _, kind := range []string{store.ExpKindPresence, store.ExpKindAway, store.KindLock} {
		if moved[kind] == 0 {
			t.Fatalf("no %s item sat in a bucket above %d: the test moves nothing (moved %v)", kind, oldExpiryShards-1, moved)
		}
	}

	now = start.Add(time.Hour)
	sessions, err := s.ExpiredSessions(ctx, now, 100)
	if err != nil || len(sessions) != conns {
		t.Fatalf("ExpiredSessions = %d sessions, %v; want %d", len(sessions), err, conns)
	}
	alarms, err := s.ExpiredAway(ctx, now, 100)
	if err != nil || len(alarms) != conns {
		t.Fatalf("ExpiredAway = %d alarms, %v; want %d", len(alarms), err, conns)
	}
	locks, err := s.ExpiredLocks(ctx, now, 100)
	if err != nil || len(locks) != conns {
		t.Fatalf("ExpiredLocks = %d locks, %v; want %d", len(locks), err, conns)
	}
	for _, ses := range sessions {
		if ok, err := s.DeleteExpiredSession(ctx, ses, now); !ok || err != nil {
			t.Fatalf("DeleteExpiredSession %s = %v, %v", ses.ConnID, ok, err)
		}
	}
	for _, l := range locks {
		if ok, err := s.DeleteExpiredLock(ctx, l); !ok || err != nil {
			t.Fatalf("DeleteExpiredLock %v = %v, %v", l.Entity, ok, err)
		}
	}
	if left, err := s.ExpiredSessions(ctx, now, 100); err != nil || len(left) != 0 {
		t.Fatalf("after the sweep ExpiredSessions = %d, %v", len(left), err)
	}
	if left, err := s.ExpiredLocks(ctx, now, 100); err != nil || len(left) != 0 {
		t.Fatalf("after the sweep ExpiredLocks = %d, %v", len(left), err)
	}
}
