package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// activityQueryPage is the Query page size of ListActivity.
const activityQueryPage = 100

// PutActivity records an activity entry: one PutItem.
func (s *Store) PutActivity(ctx context.Context, a store.Activity) error {
	return s.putActivity(ctx, "put activity", a, "")
}

// AddActivity records an activity entry unless its item exists: one
// PutItem on attribute_not_exists(pk). When the entry is there, the
// failed condition costs what a put over it would (DynamoDB charges a
// failed conditional write by the size of the item it found) and is not
// an error.
func (s *Store) AddActivity(ctx context.Context, a store.Activity) error {
	err := s.putActivity(ctx, "add activity", a, "attribute_not_exists(pk)")
	if errors.Is(err, store.ErrConditionFailed) {
		return nil
	}
	return err
}

// putActivity puts the item of a, on the condition cond unless it is "".
func (s *Store) putActivity(ctx context.Context, op string, a store.Activity, cond string) error {
	key := a.Tenant + "/" + a.ID
	if err := checkParts(op, key, a.Tenant, a.ID); err != nil {
		return err
	}
	it, err := activityItem(a)
	if err != nil {
		return fmt.Errorf("dynamo: %s %q: %w", op, key, err)
	}
	in := &dynamodb.PutItemInput{
		TableName:              aws.String(s.table),
		Item:                   it,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
	}
	_, err = s.client.PutItem(ctx, in)
	return mapErr(op, key, err)
}

// ListActivity returns a page of a tenant's feed, newest first: Queries of
// the feed partition in descending order, filtered here, reading at most
// store.MaxActivityRead entries.
//
// It returns a cursor only once it has seen an entry after the last one it
// read: a LastEvaluatedKey does not prove that one exists (DynamoDB sets it
// on a Query that stopped at its Limit or at 1 MB even when nothing
// follows). So each Query asks for one entry more than the call may still
// read, and that entry, when present, is the proof; when a Query ends on
// the entry that fills the page or reaches the bound, with a
// LastEvaluatedKey, one more Query of a single entry settles it.
func (s *Store) ListActivity(ctx context.Context, tenant string, f store.ActivityFilter, p store.Page) ([]store.Activity, string, error) {
	const op = "list activity"
	if err := checkParts(op, tenant, tenant); err != nil {
		return nil, "", err
	}
	before, err := store.DecodeActivityCursor(p.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s %q: %w", op, tenant, err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	pk := store.ActivityPK(tenant)
	var start item
	if before != "" {
		start = keyOf(pk, before)
	}
	now := s.now()
	var (
		out    []store.Activity
		read   int    // entries read, at most store.MaxActivityRead
		lastSK string // sort key of the last entry read
	)
	done := func() bool { return len(out) == limit || read == store.MaxActivityRead }
	for {
		want := 1 // only whether an entry follows
		if !done() {
			want = min(activityQueryPage, store.MaxActivityRead-read) + 1
		}
		page, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: item{":pk": str(pk)},
			ExclusiveStartKey:         start,
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(int32(want)),
			ConsistentRead:            aws.Bool(true),
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, "", mapErr(op, tenant, err)
		}
		for _, it := range page.Items {
			if done() { // it follows the last entry read
				return out, encodeCursor(lastSK), nil
			}
			read++
			lastSK = getS(it, store.AttrSK)
			if a := activityFrom(it); live(it, now) && f.Match(a) {
				out = append(out, a)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		start = page.LastEvaluatedKey
	}
}

// activityItem is the item of an activity entry. Changes and metadata are
// kept as JSON text.
func activityItem(a store.Activity) (item, error) {
	it := item{
		store.AttrPK: str(store.ActivityPK(a.Tenant)),
		store.AttrSK: str(store.ActivitySK(a.At, a.ID)),
		attrID:       str(a.ID),
		attrTenant:   str(a.Tenant),
		attrAt:       str(formatTime(a.At)),
	}
	setStrings(it, map[string]string{
		attrUserID:     a.UserID,
		attrUsername:   a.Username,
		attrAvatar:     a.Avatar,
		attrAction:     a.Action,
		attrEntityType: a.EntityType,
		attrEntityID:   a.EntityID,
		attrEntityName: a.EntityName,
	})
	if len(a.Changes) > 0 {
		b, err := json.Marshal(a.Changes)
		if err != nil {
			return nil, fmt.Errorf("encode changes: %w", err)
		}
		it[attrChanges] = str(string(b))
	}
	if len(a.Metadata) > 0 {
		if !json.Valid(a.Metadata) {
			return nil, errors.New("metadata is not valid JSON")
		}
		it[attrMetadata] = str(string(a.Metadata))
	}
	setExpiry(it, a.ExpiresAt)
	return it, nil
}

// activityFrom decodes an activity item. Undecodable changes are dropped.
func activityFrom(it item) store.Activity {
	a := store.Activity{
		ID:         getS(it, attrID),
		Tenant:     getS(it, attrTenant),
		UserID:     getS(it, attrUserID),
		Username:   getS(it, attrUsername),
		Avatar:     getS(it, attrAvatar),
		Action:     getS(it, attrAction),
		EntityType: getS(it, attrEntityType),
		EntityID:   getS(it, attrEntityID),
		EntityName: getS(it, attrEntityName),
		At:         parseTime(getS(it, attrAt)),
	}
	if c := getS(it, attrChanges); c != "" {
		_ = json.Unmarshal([]byte(c), &a.Changes)
	}
	if m := getS(it, attrMetadata); m != "" {
		a.Metadata = json.RawMessage(m)
	}
	if _, ok := it[store.AttrExpiresAt]; ok {
		a.ExpiresAt = time.Unix(getN(it, store.AttrExpiresAt), 0).UTC()
	}
	return a
}
