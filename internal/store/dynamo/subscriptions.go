package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// Subscribe adds connID to the channel of tenant. See
// store.Subscriptions.Subscribe.
//
// It reads the connection and both subscription items, then writes both
// subscription items in one transaction with the connection item: an
// update that adds one to subCount under the limit for a new
// subscription, a condition check for a refreshed leftover. Each write is
// conditioned on the state that was read; when one fails, it reads again.
func (s *Store) Subscribe(ctx context.Context, tenant, channel, connID string, max int) (bool, error) {
	const op = "subscribe"
	key := subKey(tenant, channel, connID)
	if err := checkParts(op, key, tenant, channel, connID); err != nil {
		return false, err
	}
	connPK, chanPK, subSK := store.ConnPK(connID), store.ChanPK(tenant, channel), store.SubSK(tenant, channel)
	metaKey, fwdKey, revKey := keyOf(connPK, store.SKMeta), keyOf(chanPK, connPK), keyOf(connPK, subSK)
	for range attempts {
		got, err := s.batchGet(ctx, op, key, []item{metaKey, fwdKey, revKey})
		if err != nil {
			return false, err
		}
		now := s.now()
		meta, fwd, rev := got[keyID(metaKey)], got[keyID(fwdKey)], got[keyID(revKey)]
		if meta == nil || !live(meta, now) {
			return false, fmt.Errorf("dynamo: %s %q: connection: %w", op, key, store.ErrNotFound)
		}
		if fwd != nil && rev != nil && live(fwd, now) && live(rev, now) {
			return false, nil
		}
		expCond, vals := sameExpiry(meta)
		vals[":now"] = num(now)
		metaCond := condLive + " AND " + expCond
		var metaAction types.TransactWriteItem
		if fwd == nil && rev == nil {
			// A new subscription takes one of the connection's slots.
			// Leftovers still physically present were counted when they
			// were written, so refreshing them does not.
			if n := getN(meta, attrSubCount); max > 0 && n >= int64(max) {
				return false, fmt.Errorf("dynamo: %s %q: %d subscriptions: %w", op, key, n, store.ErrConditionFailed)
			}
			vals[":one"] = num(1)
			if max > 0 {
				metaCond += " AND (attribute_not_exists(subCount) OR subCount < :max)"
				vals[":max"] = num(int64(max))
			}
			metaAction = s.updateAction(metaKey, "ADD subCount :one", metaCond, vals)
		} else {
			metaAction = s.checkAction(metaKey, metaCond, vals)
		}
		sub := subItem(tenant, channel, connID, meta[store.AttrExpiresAt])
		fwdCond, fwdVals := unchanged(fwd)
		revCond, revVals := unchanged(rev)
		err = s.transact(ctx, op, key, []types.TransactWriteItem{
			metaAction,
			s.putAction(withKey(sub, chanPK, connPK), fwdCond, fwdVals),
			s.putAction(withKey(sub, connPK, subSK), revCond, revVals),
		})
		if !errors.Is(err, store.ErrConditionFailed) {
			return err == nil, err
		}
	}
	return false, contention(op, key)
}

// Unsubscribe removes both subscription items, and takes one off the
// connection's subCount, in one transaction. It reports whether the
// subscription was live.
func (s *Store) Unsubscribe(ctx context.Context, tenant, channel, connID string) (bool, error) {
	const op = "unsubscribe"
	key := subKey(tenant, channel, connID)
	if err := checkParts(op, key, tenant, channel, connID); err != nil {
		return false, err
	}
	connPK, chanPK, subSK := store.ConnPK(connID), store.ChanPK(tenant, channel), store.SubSK(tenant, channel)
	metaKey, fwdKey, revKey := keyOf(connPK, store.SKMeta), keyOf(chanPK, connPK), keyOf(connPK, subSK)
	for range attempts {
		got, err := s.batchGet(ctx, op, key, []item{metaKey, fwdKey, revKey})
		if err != nil {
			return false, err
		}
		meta, fwd, rev := got[keyID(metaKey)], got[keyID(fwdKey)], got[keyID(revKey)]
		if fwd == nil && rev == nil {
			return false, nil
		}
		existed := fwd != nil && live(fwd, s.now())
		fwdCond, fwdVals := unchanged(fwd)
		revCond, revVals := unchanged(rev)
		actions := []types.TransactWriteItem{
			s.deleteAction(fwdKey, fwdCond, fwdVals),
			s.deleteAction(revKey, revCond, revVals),
		}
		if meta != nil {
			actions = append(actions, s.updateAction(metaKey, "ADD subCount :minus", "attribute_exists(pk)", item{":minus": num(-1)}))
		}
		err = s.transact(ctx, op, key, actions)
		if err == nil {
			return existed, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return false, err
		}
	}
	return false, contention(op, key)
}

// Subscribers returns one page of the live subscribers of a channel in
// ascending connection id order, and the cursor of the next page. The
// cursor is the sort key of the last returned item; a page is full and
// has a next cursor only when a further live subscriber exists.
func (s *Store) Subscribers(ctx context.Context, tenant, channel string, p store.Page) ([]string, string, error) {
	const op = "subscribers"
	key := tenant + "/" + channel
	if err := checkParts(op, key, tenant, channel); err != nil {
		return nil, "", err
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s %q: %w", op, key, err)
	}
	items, lastSK, err := s.livePage(ctx, op, key, store.ChanPK(tenant, channel), store.PrefixConn, after, p.Limit, 0, false, nil, subscriberProjection)
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		if id, ok := strings.CutPrefix(getS(it, store.AttrSK), store.PrefixConn); ok && id != "" {
			ids = append(ids, id)
		}
	}
	if lastSK == "" {
		return ids, "", nil
	}
	return ids, encodeCursor(lastSK), nil
}

// subscriberProjection is what Subscribers reads of a forward
// subscription item: the sort key, which is the connection's key
// (store.ConnPK), and the expiry. A fan-out reads a page of these for every
// 500 recipients; leaving out the rest (the connection id again, tenant,
// channel) halves the bytes DynamoDB sends and the CPU the SDK spends
// decoding them (see docs/BENCHMARKS.md, "Subscriber pages").
var subscriberProjection = store.AttrSK + ", " + store.AttrExpiresAt

// ChannelsOf lists the channels connID is subscribed to, ordered by
// tenant and channel: one Query of the connection's partition.
func (s *Store) ChannelsOf(ctx context.Context, connID string) ([]string, error) {
	const op = "channels of"
	if err := checkParts(op, connID, connID); err != nil {
		return nil, err
	}
	now := s.now()
	var out []string
	err := s.query(ctx, op, connID, store.ConnPK(connID), store.PrefixSub, func(it item) {
		if live(it, now) {
			out = append(out, getS(it, attrChannel))
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// subItem is the body of both subscription items, without keys; exp is
// the connection's expiresAt attribute (nil for none).
func subItem(tenant, channel, connID string, exp types.AttributeValue) item {
	it := item{attrConnID: str(connID), attrTenant: str(tenant), attrChannel: str(channel)}
	if exp != nil {
		it[store.AttrExpiresAt] = exp
	}
	return it
}

func subKey(tenant, channel, connID string) string {
	return tenant + "/" + channel + "/" + connID
}

func encodeCursor(sk string) string { return store.EncodeCursor(sk) }

func decodeCursor(cursor string) (string, error) { return store.DecodeCursor(cursor, store.PrefixConn) }
