package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// outboxAction is the Put of an outbox item, one action of the
// transaction that stores the change, lock event or comment event. A
// change's item must be new; a lock or comment item's key names the
// event, so writing it again writes the same event.
func (s *Store) outboxAction(it store.OutboxItem) types.TransactWriteItem {
	cond := ""
	if it.IsChange() {
		cond = "attribute_not_exists(pk)"
	}
	return s.putAction(item{
		store.AttrPK:         str(store.OutboxPK(store.OutboxShard(it.Entity))),
		store.AttrSK:         str(it.SK()),
		store.AttrOutboxData: binAttr(it.Data),
		store.AttrExpiresAt:  num(s.now() + int64(store.OutboxTTL/time.Second)),
	}, cond, nil)
}

// ListOutbox queries one shard's partition in sort key order, up to limit
// live items: past expired items that the TTL has not removed yet, page by
// page (livePage), so that a run of them ahead of live items does not read
// as an empty shard (the relay stops at an empty page).
func (s *Store) ListOutbox(ctx context.Context, shard, limit int) ([]store.OutboxItem, error) {
	const op = "list outbox"
	pk := store.OutboxPK(shard)
	its, _, err := s.livePage(ctx, op, pk, pk, "", "", limit, 0, false, nil, "")
	if err != nil {
		return nil, err
	}
	items := make([]store.OutboxItem, 0, len(its))
	for _, it := range its {
		ob, err := store.ParseOutboxSK(getS(it, store.AttrSK))
		if err != nil {
			return nil, fmt.Errorf("dynamo: %s %q: %w", op, pk, err)
		}
		ob.Data = getBin(it, store.AttrOutboxData)
		items = append(items, ob)
	}
	return items, nil
}

// DeleteOutbox deletes relayed items, one DeleteItem each.
func (s *Store) DeleteOutbox(ctx context.Context, items []store.OutboxItem) error {
	const op = "delete outbox"
	for _, it := range items {
		sk := it.SK()
		_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:              aws.String(s.table),
			Key:                    keyOf(store.OutboxPK(store.OutboxShard(it.Entity)), sk),
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return mapErr(op, sk, err)
		}
	}
	return nil
}
