package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omnisales/rtcollab/internal/backoff"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// livePage reads one page of the live items of partition pk whose sort key
// starts with prefix ("" for any), comes after after (in the direction read) and that
// match (nil: all), in sort key order (reversed with desc). limit <= 0
// means defaultPageSize. A page is full only when a further matching item
// exists; lastSK, the sort key of the page's last item, is set only then,
// for the caller to encode as the next cursor. With maxSkip > 0 it passes
// over at most maxSkip items that are expired or do not match: when one
// more follows, it stops before it, and lastSK is the sort key of the last
// item it read (the page may be short, or empty), so that a long run of
// items it does not return costs each call a bounded read. Each Query
// then asks for as many items as the call may still read, and one more.
// proj, when not empty, is the ProjectionExpression: the attributes to
// read, which must include the sort key and the expiry (and what match
// looks at).
func (s *Store) livePage(ctx context.Context, op, key, pk, prefix, after string, limit, maxSkip int, desc bool, match func(item) bool, proj string) (items []item, lastSK string, err error) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	var start item
	if after != "" {
		start = keyOf(pk, after)
	}
	now := s.now()
	var projection *string
	if proj != "" {
		projection = aws.String(proj)
	}
	cond, vals := "pk = :pk AND begins_with(sk, :prefix)", item{":pk": str(pk), ":prefix": str(prefix)}
	if prefix == "" { // the whole partition (DynamoDB refuses an empty key value)
		cond, vals = "pk = :pk", item{":pk": str(pk)}
	}
	skipped, lastRead := 0, ""
	for {
		want := min(limit-len(items), queryPageMax)
		if maxSkip > 0 {
			want += maxSkip - skipped
		}
		out, err := s.client.Query(ctx, &dynamodb.QueryInput{
			ProjectionExpression:      projection,
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String(cond),
			ExpressionAttributeValues: vals,
			ScanIndexForward:          aws.Bool(!desc),
			ExclusiveStartKey:         start,
			Limit:                     queryLimit(min(want, queryPageMax-1) + 1),
			ConsistentRead:            aws.Bool(true),
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, "", mapErr(op, key, err)
		}
		for _, it := range out.Items {
			ok := live(it, now) && (match == nil || match(it))
			switch {
			case ok && len(items) == limit:
				return items, getS(items[len(items)-1], store.AttrSK), nil
			case !ok && maxSkip > 0 && skipped == maxSkip:
				return items, lastRead, nil
			case ok:
				items = append(items, it)
			default:
				skipped++
			}
			lastRead = getS(it, store.AttrSK)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, "", nil
		}
		start = out.LastEvaluatedKey
	}
}

// get reads one item with a consistent read; it returns nil when the item
// is absent (expired items are returned: callers decide).
func (s *Store) get(ctx context.Context, op, key, pk, sk string) (item, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:              aws.String(s.table),
		Key:                    keyOf(pk, sk),
		ConsistentRead:         aws.Bool(true),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, mapErr(op, key, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// batchGet reads keys with consistent reads, re-sending unprocessed keys a
// bounded number of times. The result is indexed by keyID; absent items
// are missing from it.
func (s *Store) batchGet(ctx context.Context, op, key string, keys []item) (map[string]item, error) {
	got := make(map[string]item, len(keys))
	for start := 0; start < len(keys); start += maxBatchGet {
		pending := map[string]types.KeysAndAttributes{s.table: {
			Keys:           keys[start:min(start+maxBatchGet, len(keys))],
			ConsistentRead: aws.Bool(true),
		}}
		for try := 0; len(pending) > 0; try++ {
			if try == attempts {
				return nil, fmt.Errorf("dynamo: %s %q: unprocessed keys after %d attempts: %w", op, key, attempts, store.ErrUnavailable)
			}
			if try > 0 {
				if err := sleep(ctx, time.Duration(try)*50*time.Millisecond); err != nil {
					return nil, fmt.Errorf("dynamo: %s %q: %w", op, key, err)
				}
			}
			out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems:           pending,
				ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
			})
			if err != nil {
				return nil, mapErr(op, key, err)
			}
			for _, it := range out.Responses[s.table] {
				got[keyID(it)] = it
			}
			pending = out.UnprocessedKeys
		}
	}
	return got, nil
}

// query calls fn for every item of partition pk whose sort key starts with
// prefix, in sort key order, with consistent reads.
func (s *Store) query(ctx context.Context, op, key, pk, prefix string, fn func(item)) error {
	pages := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: item{":pk": str(pk), ":prefix": str(prefix)},
		ConsistentRead:            aws.Bool(true),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return mapErr(op, key, err)
		}
		for _, it := range out.Items {
			fn(it)
		}
	}
	return nil
}

// transact runs one TransactWriteItems. A cancelled transaction comes back
// as store.ErrConditionFailed unless it was throttled.
func (s *Store) transact(ctx context.Context, op, key string, actions []types.TransactWriteItem) error {
	_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:          actions,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	return mapErr(op, key, err)
}

// transactRetry runs an unconditional, idempotent transaction again when
// it is cancelled by a conflicting one.
func (s *Store) transactRetry(ctx context.Context, op, key string, actions []types.TransactWriteItem) error {
	for try := range attempts {
		if try > 0 {
			if err := sleep(ctx, time.Duration(try)*20*time.Millisecond); err != nil {
				return fmt.Errorf("dynamo: %s %q: %w", op, key, err)
			}
		}
		err := s.transact(ctx, op, key, actions)
		if !errors.Is(err, store.ErrConditionFailed) {
			return err
		}
	}
	return contention(op, key)
}

func (s *Store) putAction(it item, cond string, vals item) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                 aws.String(s.table),
		Item:                      it,
		ConditionExpression:       optional(cond),
		ExpressionAttributeValues: nonEmpty(vals),
	}}
}

func (s *Store) deleteAction(key item, cond string, vals item) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 aws.String(s.table),
		Key:                       key,
		ConditionExpression:       optional(cond),
		ExpressionAttributeValues: nonEmpty(vals),
	}}
}

func (s *Store) updateAction(key item, update, cond string, vals item) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       key,
		UpdateExpression:          aws.String(update),
		ConditionExpression:       optional(cond),
		ExpressionAttributeValues: nonEmpty(vals),
	}}
}

func (s *Store) checkAction(key item, cond string, vals item) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(s.table),
		Key:                       key,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: nonEmpty(vals),
	}}
}

// contention is the error of a read-decide-write loop that lost every
// attempt to concurrent writers.
func contention(op, key string) error {
	return fmt.Errorf("dynamo: %s %q: still contended after %d attempts: %w", op, key, attempts, store.ErrUnavailable)
}

// sleep waits for d or until ctx is done (backoff.Wait).
func sleep(ctx context.Context, d time.Duration) error { return backoff.Wait(ctx, d) }

// unchanged returns a condition that holds while a subscription item is
// as it was read: absent, or present with the same expiry.
func unchanged(it item) (string, item) {
	if it == nil {
		return "attribute_not_exists(pk)", nil
	}
	cond, vals := sameExpiry(it)
	return "attribute_exists(pk) AND " + cond, vals
}

// sameExpiry returns a condition that holds while an item's expiresAt is
// the one of it.
func sameExpiry(it item) (string, item) {
	if v, ok := it[store.AttrExpiresAt]; ok {
		return "expiresAt = :exp", item{":exp": v}
	}
	return "attribute_not_exists(expiresAt)", item{}
}
