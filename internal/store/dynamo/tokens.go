package dynamo

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// attrTokenExp is the connection item's copy of the token's exp (epoch
// seconds); absent for a connection without a token.
const attrTokenExp = "tokenExp"

// PutTokenAlarm creates or replaces the token alarm of a.ConnID: one
// PutItem of the item indexed at the token's exp.
func (s *Store) PutTokenAlarm(ctx context.Context, a store.TokenAlarm) error {
	const op = "put token alarm"
	if err := checkParts(op, a.ConnID, a.ConnID, a.Tenant, a.UserID); err != nil {
		return err
	}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: item{
			store.AttrPK:        str(store.ConnPK(a.ConnID)),
			store.AttrSK:        str(store.SKToken),
			attrTenant:          str(a.Tenant),
			attrUserID:          str(a.UserID),
			attrConnID:          str(a.ConnID),
			store.AttrExpiresAt: num(a.At.Unix()),
			store.AttrExpBucket: str(store.TokenBucket(a.ConnID)),
		},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	return mapErr(op, a.ConnID, err)
}

// ExpiredTokens lists due token alarms: a Query of each shard of the
// expiry index.
func (s *Store) ExpiredTokens(ctx context.Context, now time.Time, limit int) ([]store.TokenAlarm, error) {
	var out []store.TokenAlarm
	err := s.queryDue(ctx, "expired tokens", store.ExpKindToken, now, limit, func(it item) {
		out = append(out, store.TokenAlarm{
			ConnID: getS(it, attrConnID),
			Tenant: getS(it, attrTenant),
			UserID: getS(it, attrUserID),
			At:     time.Unix(getN(it, store.AttrExpiresAt), 0).UTC(),
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b store.TokenAlarm) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeleteTokenAlarm removes the token alarm of connID: one DeleteItem.
func (s *Store) DeleteTokenAlarm(ctx context.Context, connID string) error {
	const op = "delete token alarm"
	if err := checkParts(op, connID, connID); err != nil {
		return err
	}
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:              aws.String(s.table),
		Key:                    keyOf(store.ConnPK(connID), store.SKToken),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	return mapErr(op, connID, err)
}
