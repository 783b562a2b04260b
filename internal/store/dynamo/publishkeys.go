package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// Attributes of the publish key item (besides pk, sk and expiresAt).
const (
	attrPubTenant = "tenant"
	attrPubKey    = "pubKey"
	attrPubHash   = "requestHash"
	attrPubReply  = "reply"
	attrPubLease  = "leaseUntil"
	attrPubClaim  = "claimId"
)

func publishKeyFrom(it item) store.PublishKey {
	k := store.PublishKey{
		Tenant:      getS(it, attrPubTenant),
		Key:         getS(it, attrPubKey),
		RequestHash: getS(it, attrPubHash),
		Reply:       getBin(it, attrPubReply),
		ClaimID:     getS(it, attrPubClaim),
	}
	if _, ok := it[attrPubLease]; ok {
		k.LeaseUntil = time.Unix(getN(it, attrPubLease), 0).UTC()
	}
	if _, ok := it[store.AttrExpiresAt]; ok {
		k.ExpiresAt = time.Unix(getN(it, store.AttrExpiresAt), 0).UTC()
	}
	return k
}

// condPubKeyFree holds for a publish key item that is absent, expired, or
// a lapsed claim (store.PublishKey.Lapsed: no reply, and its lease passed;
// an item without leaseUntil holds until expiresAt, which the second
// clause covers).
const condPubKeyFree = condIdemFree + " OR (attribute_not_exists(#reply) AND #lease <= :now)"

// ClaimPublishKey writes k with a PutItem conditional on no live record
// that has not lapsed; when the condition fails, it reads the live record
// (a consistent GetItem). Should that record be gone by then (released,
// expired or lapsed), the claim is tried again, a bounded number of times.
// Should it carry k's claim id, it is k's own claim: the PutItem was
// applied, its answer lost (DynamoDB may answer a write it applied with
// a 500), and the SDK's retry of it failed on the item it had written.
func (s *Store) ClaimPublishKey(ctx context.Context, k store.PublishKey) (store.PublishKey, error) {
	const op = "claim publish key"
	k, err := store.PrepareClaim("dynamo", op, k)
	if err != nil {
		return store.PublishKey{}, err
	}
	pk := store.PublishKeyPK(k.Tenant, k.Key)
	it := item{
		store.AttrPK:  str(pk),
		store.AttrSK:  str(store.SKPublishKey),
		attrPubTenant: str(k.Tenant),
		attrPubKey:    str(k.Key),
		attrPubHash:   str(k.RequestHash),
		attrPubClaim:  str(k.ClaimID),
	}
	if k.Reply != nil {
		it[attrPubReply] = binAttr(k.Reply)
	}
	if !k.LeaseUntil.IsZero() {
		it[attrPubLease] = num(k.LeaseUntil.Unix())
	}
	setExpiry(it, k.ExpiresAt)
	for range attempts {
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      it,
			ConditionExpression:       aws.String(condPubKeyFree),
			ExpressionAttributeNames:  map[string]string{"#reply": attrPubReply, "#lease": attrPubLease},
			ExpressionAttributeValues: item{":now": num(s.now())},
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		err = mapErr(op, k.Key, err)
		if !errors.Is(err, store.ErrConditionFailed) {
			if err != nil {
				return store.PublishKey{}, err
			}
			return k, nil
		}
		old, err := s.get(ctx, op, k.Key, pk, store.SKPublishKey)
		if err != nil {
			return store.PublishKey{}, err
		}
		if old != nil && live(old, s.now()) && !publishKeyFrom(old).Lapsed(s.now()) {
			if cur := publishKeyFrom(old); cur.OwnClaim(k.ClaimID) {
				return cur, nil // this call's PutItem, applied, then sent again
			}
			return publishKeyFrom(old), fmt.Errorf("dynamo: %s %q: %w", op, k.Key, store.ErrConditionFailed)
		}
	}
	return store.PublishKey{}, contention(op, k.Key)
}

// CompletePublishKey sets the reply with an UpdateItem conditional on the
// live record of hash; expiresAt stays as the claim wrote it.
func (s *Store) CompletePublishKey(ctx context.Context, tenant, key, hash string, reply []byte) error {
	const op = "complete publish key"
	if err := store.CheckPublishKey("dynamo", op, tenant, key); err != nil {
		return err
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(store.PublishKeyPK(tenant, key), store.SKPublishKey),
		UpdateExpression:          aws.String("SET #reply = :reply"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND #hash = :hash AND (attribute_not_exists(expiresAt) OR expiresAt > :now)"),
		ExpressionAttributeNames:  map[string]string{"#reply": attrPubReply, "#hash": attrPubHash},
		ExpressionAttributeValues: item{":reply": binAttr(reply), ":hash": str(hash), ":now": num(s.now())},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err = mapErr(op, key, err); errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("dynamo: %s %q: %w", op, key, store.ErrNotFound)
	}
	return err
}

// ReleasePublishKey deletes an unfinished claim of hash with a conditional
// DeleteItem; a failed condition (absent, completed or another request's
// record) leaves the record as it is.
func (s *Store) ReleasePublishKey(ctx context.Context, tenant, key, hash string) error {
	const op = "release publish key"
	if err := store.CheckPublishKey("dynamo", op, tenant, key); err != nil {
		return err
	}
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(store.PublishKeyPK(tenant, key), store.SKPublishKey),
		ConditionExpression:       aws.String("#hash = :hash AND attribute_not_exists(#reply)"),
		ExpressionAttributeNames:  map[string]string{"#reply": attrPubReply, "#hash": attrPubHash},
		ExpressionAttributeValues: item{":hash": str(hash)},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err = mapErr(op, key, err); errors.Is(err, store.ErrConditionFailed) {
		return nil
	}
	return err
}
