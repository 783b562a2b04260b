package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// lockItem is the lock item of l.
func lockItem(l store.Lock) item {
	pk := store.LockPK(l.Entity)
	it := item{
		store.AttrPK:        str(pk),
		store.AttrSK:        str(store.SKLock),
		store.AttrExpBucket: str(store.ExpBucket(store.KindLock, pk)),
		store.AttrExpiresAt: num(l.ExpiresAt.Unix()),
		attrTenant:          str(l.Entity.Tenant),
		attrEntType:         str(l.Entity.Type),
		attrEntID:           str(l.Entity.ID),
		attrLockHolder:      str(l.Holder),
		attrConnID:          str(l.ConnID),
		attrLockToken:       num(l.Token),
		attrLockAcquiredAt:  str(formatTime(l.AcquiredAt)),
	}
	if l.HolderName != "" {
		it[attrLockHolderName] = str(l.HolderName)
	}
	return it
}

// lockFrom decodes a lock item.
func lockFrom(it item) store.Lock {
	return store.Lock{
		Entity:     store.EntityKey{Tenant: getS(it, attrTenant), Type: getS(it, attrEntType), ID: getS(it, attrEntID)},
		Holder:     getS(it, attrLockHolder),
		HolderName: getS(it, attrLockHolderName),
		ConnID:     getS(it, attrConnID),
		AcquiredAt: parseTime(getS(it, attrLockAcquiredAt)),
		ExpiresAt:  time.Unix(getN(it, store.AttrExpiresAt), 0).UTC(),
		Token:      getN(it, attrLockToken),
	}
}

// revLockItem is the reverse item that leads from l's connection to l.
func revLockItem(l store.Lock) item {
	return item{
		store.AttrPK:        str(store.ConnPK(l.ConnID)),
		store.AttrSK:        str(store.LockPK(l.Entity)),
		store.AttrExpiresAt: num(l.ExpiresAt.Unix()),
		attrTenant:          str(l.Entity.Tenant),
		attrEntType:         str(l.Entity.Type),
		attrEntID:           str(l.Entity.ID),
	}
}

// sameGrant is the condition that the stored lock is the grant cur, still
// live.
func sameGrant(cur store.Lock, now int64) (string, item) {
	return "attribute_exists(pk) AND holder = :h AND fencingToken = :t AND expiresAt > :now",
		item{":h": str(cur.Holder), ":t": num(cur.Token), ":now": num(now)}
}

// putLockActions writes l over cur (nil when no lock item is stored) with
// its reverse item, and deletes cur's reverse item when the connection
// changed.
func (s *Store) putLockActions(l store.Lock, cond string, vals item, cur *store.Lock) []types.TransactWriteItem {
	put := s.putAction(lockItem(l), cond, vals)
	actions := []types.TransactWriteItem{put, s.putAction(revLockItem(l), "", nil)}
	if cur != nil && cur.ConnID != l.ConnID {
		actions = append(actions, s.deleteAction(keyOf(store.ConnPK(cur.ConnID), store.LockPK(l.Entity)), "", nil))
	}
	return actions
}

// connCheck is the condition check that connID's connection item is
// live, for a write that gives a lock to that connection; meta is the
// item as read (nil when absent). A connection not live when read is
// ErrNotFound.
//
// $disconnect deletes the connection item before it releases the
// connection's locks (ReleaseConnectionLocks reads the reverse items
// after that): a lock write with this check either commits before the
// delete, and the release finds it, or fails the check. Without it, a
// frame that read its connection before a $disconnect ran would write
// the lock after the release, for a connection gone, held until its TTL.
func (s *Store) connCheck(op, connID string, meta item, now int64) (types.TransactWriteItem, error) {
	if meta == nil || !live(meta, now) {
		return types.TransactWriteItem{}, fmt.Errorf("dynamo: %s: connection %q: %w", op, connID, store.ErrNotFound)
	}
	return s.checkAction(keyOf(store.ConnPK(connID), store.SKMeta), condLive, item{":now": num(now)}), nil
}

// AcquireLock grants or renews a lock. See store.Locks.AcquireLock.
//
// A grant is one transaction: the fencing counter moves from the value
// read to the next one, and the lock item is written on the condition
// that it is absent or is the expired grant that was read. A grant and a
// renewal check that l.ConnID's connection item is live (connCheck).
// That is at most seven actions: the check, the counter, the lock, its
// reverse item, the delete of the previous connection's reverse item
// and two outbox items.
func (s *Store) AcquireLock(ctx context.Context, l store.Lock) (store.Lock, error) {
	const op = "acquire lock"
	if err := checkEntityKey(op, l.Entity, l.Holder, l.ConnID); err != nil {
		return store.Lock{}, err
	}
	if err := store.CheckLockExpiry("dynamo", op, l.Entity, l.ExpiresAt); err != nil {
		return store.Lock{}, err
	}
	l.AcquiredAt = l.AcquiredAt.UTC()
	l.ExpiresAt = time.Unix(l.ExpiresAt.Unix(), 0).UTC()
	pk := store.LockPK(l.Entity)
	lockKey, fenceKey, connKey := keyOf(pk, store.SKLock), keyOf(pk, store.SKFence), keyOf(store.ConnPK(l.ConnID), store.SKMeta)
	for range attempts {
		got, err := s.batchGet(ctx, op, l.Entity.String(), []item{lockKey, fenceKey, connKey})
		if err != nil {
			return store.Lock{}, err
		}
		at := s.clock.Now() // after the read: the grant's GrantedAt
		now := at.Unix()
		var cur *store.Lock
		if it := got[keyID(lockKey)]; it != nil {
			c := lockFrom(it)
			cur = &c
		}
		if cur != nil && cur.ExpiresAt.Unix() > now && cur.Holder != l.Holder {
			return *cur, fmt.Errorf("dynamo: %s %q: held by %q: %w", op, l.Entity, cur.Holder, store.ErrLockHeld)
		}
		check, err := s.connCheck(op, l.ConnID, got[keyID(connKey)], now)
		if err != nil {
			return store.Lock{}, err
		}
		actions := []types.TransactWriteItem{check}
		want := l
		if cur != nil && cur.ExpiresAt.Unix() > now {
			want.Token, want.AcquiredAt = cur.Token, cur.AcquiredAt
			cond, vals := sameGrant(*cur, now)
			actions = append(actions, s.putLockActions(want, cond, vals, cur)...)
		} else {
			fence := got[keyID(fenceKey)]
			fenceCond, fenceVals := "attribute_not_exists(pk)", item{}
			if fence != nil {
				fenceCond, fenceVals = "fencingToken = :f", item{":f": fence[attrLockToken]}
			}
			want.Token = getN(fence, attrLockToken) + 1
			fenceSet := fenceUpdate(want, at, fenceVals)
			upd := s.updateAction(fenceKey, fenceSet, fenceCond, fenceVals)
			lockCond, lockVals := "attribute_not_exists(pk)", item(nil)
			if cur != nil {
				lockCond, lockVals = "fencingToken = :old AND expiresAt <= :now", item{":old": num(cur.Token), ":now": num(now)}
			}
			actions = append(append(actions, upd), s.putLockActions(want, lockCond, lockVals, cur)...)
			if cur != nil {
				actions = append(actions, s.outboxAction(store.LockOutboxItem(*cur, store.LockExpired, at)))
			}
			actions = append(actions, s.outboxAction(store.LockOutboxItem(want, store.LockAcquired, at)))
		}
		err = s.transact(ctx, op, l.Entity.String(), actions)
		if err == nil {
			return want, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return store.Lock{}, err
		}
	}
	return store.Lock{}, contention(op, l.Entity.String())
}

// fenceUpdate is the update of an entity's fencing counter to the grant
// l, written at the store's time at: its token, who it went to and when
// (see LastGrant), with their values added to vals.
func fenceUpdate(l store.Lock, at time.Time, vals item) string {
	vals[":t"], vals[":h"], vals[":a"], vals[":g"] = num(l.Token), str(l.Holder), str(formatTime(l.AcquiredAt)), str(formatTime(at))
	set := "SET fencingToken = :t, holder = :h, acquiredAt = :a, grantedAt = :g"
	if l.HolderName == "" {
		return set + " REMOVE holderName"
	}
	vals[":n"] = str(l.HolderName)
	return set + ", holderName = :n"
}

// getLiveLock reads e's lock; it returns nil when it is absent or
// expired.
func (s *Store) getLiveLock(ctx context.Context, op string, e store.EntityKey) (*store.Lock, error) {
	it, err := s.get(ctx, op, e.String(), store.LockPK(e), store.SKLock)
	if err != nil || it == nil || !live(it, s.now()) {
		return nil, err
	}
	l := lockFrom(it)
	return &l, nil
}

// RenewLock extends the holder's live lock. See store.Locks.RenewLock.
func (s *Store) RenewLock(ctx context.Context, e store.EntityKey, holder, connID string, expiresAt time.Time) (store.Lock, error) {
	const op = "renew lock"
	if err := checkEntityKey(op, e, holder, connID); err != nil {
		return store.Lock{}, err
	}
	if err := store.CheckLockExpiry("dynamo", op, e, expiresAt); err != nil {
		return store.Lock{}, err
	}
	return s.holderWrite(ctx, op, e, holder, connID, func(cur store.Lock, cond string, vals item) (store.Lock, []types.TransactWriteItem) {
		want := cur
		want.ConnID = connID
		want.ExpiresAt = time.Unix(expiresAt.Unix(), 0).UTC()
		return want, s.putLockActions(want, cond, vals, &cur)
	})
}

// holderWrite is the optimistic write of a lock's holder: it reads e's
// live lock, refuses anyone but holder (store.ErrNotHolder, with the lock
// item read, live or expired, when there is one), and commits
// the actions write builds from the grant under the condition that the
// grant is unchanged, reading it again when it changed meanwhile. It
// returns the lock write returned. With a connID, the lock goes to that
// connection: it is read with the lock, and checked live in the
// transaction (connCheck).
func (s *Store) holderWrite(ctx context.Context, op string, e store.EntityKey, holder, connID string,
	write func(cur store.Lock, cond string, vals item) (store.Lock, []types.TransactWriteItem)) (store.Lock, error) {
	lockKey, connKey := keyOf(store.LockPK(e), store.SKLock), keyOf(store.ConnPK(connID), store.SKMeta)
	for range attempts {
		var it, meta item
		if connID == "" {
			var err error
			if it, err = s.get(ctx, op, e.String(), store.LockPK(e), store.SKLock); err != nil {
				return store.Lock{}, err
			}
		} else {
			got, err := s.batchGet(ctx, op, e.String(), []item{lockKey, connKey})
			if err != nil {
				return store.Lock{}, err
			}
			it, meta = got[keyID(lockKey)], got[keyID(connKey)]
		}
		now := s.now()
		if it == nil {
			return store.Lock{}, fmt.Errorf("dynamo: %s %q by %q: %w", op, e, holder, store.ErrNotHolder)
		}
		cur := lockFrom(it)
		if !live(it, now) || cur.Holder != holder {
			return cur, fmt.Errorf("dynamo: %s %q by %q: %w", op, e, holder, store.ErrNotHolder)
		}
		var actions []types.TransactWriteItem
		if connID != "" {
			check, err := s.connCheck(op, connID, meta, now)
			if err != nil {
				return store.Lock{}, err
			}
			actions = append(actions, check)
		}
		cond, vals := sameGrant(cur, now)
		out, more := write(cur, cond, vals)
		err := s.transact(ctx, op, e.String(), append(actions, more...))
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return store.Lock{}, err
		}
	}
	return store.Lock{}, contention(op, e.String())
}

// deleteLockActions deletes the grant cur and its reverse item, and puts
// the outbox item of event (store.LockReleased or store.LockExpired);
// cond guards the lock item.
func (s *Store) deleteLockActions(cur store.Lock, event, cond string, vals item) []types.TransactWriteItem {
	del := s.deleteAction(keyOf(store.LockPK(cur.Entity), store.SKLock), cond, vals)
	return []types.TransactWriteItem{del, s.deleteAction(keyOf(store.ConnPK(cur.ConnID), store.LockPK(cur.Entity)), "", nil),
		s.outboxAction(store.LockOutboxItem(cur, event, s.clock.Now()))}
}

// ReleaseLock deletes the holder's live lock. See store.Locks.ReleaseLock.
func (s *Store) ReleaseLock(ctx context.Context, e store.EntityKey, holder string) (store.Lock, error) {
	const op = "release lock"
	if err := checkEntityKey(op, e, holder); err != nil {
		return store.Lock{}, err
	}
	return s.holderWrite(ctx, op, e, holder, "", func(cur store.Lock, cond string, vals item) (store.Lock, []types.TransactWriteItem) {
		return cur, s.deleteLockActions(cur, store.LockReleased, cond, vals)
	})
}

// GetLock returns the live lock on e.
func (s *Store) GetLock(ctx context.Context, e store.EntityKey) (store.Lock, error) {
	const op = "get lock"
	if err := checkEntityKey(op, e); err != nil {
		return store.Lock{}, err
	}
	cur, err := s.getLiveLock(ctx, op, e)
	if err != nil {
		return store.Lock{}, err
	}
	if cur == nil {
		return store.Lock{}, fmt.Errorf("dynamo: %s %q: %w", op, e, store.ErrNotFound)
	}
	return *cur, nil
}

// ReleaseConnectionLocks deletes the locks held through connID: one Query
// of the connection's reverse lock items, then, per lock, a transaction
// conditioned on the lock still being that connection's grant.
func (s *Store) ReleaseConnectionLocks(ctx context.Context, connID string) ([]store.Lock, error) {
	const op = "release connection locks"
	if err := checkParts(op, connID, connID); err != nil {
		return nil, err
	}
	connPK := store.ConnPK(connID)
	var revs []item
	if err := s.query(ctx, op, connID, connPK, store.PrefixLock, func(it item) { revs = append(revs, it) }); err != nil {
		return nil, err
	}
	var out []store.Lock
	for _, rev := range revs {
		lockPK := getS(rev, store.AttrSK)
		released := false
		for range attempts {
			it, err := s.get(ctx, op, connID, lockPK, store.SKLock)
			if err != nil {
				return out, err
			}
			if it == nil || getS(it, attrConnID) != connID {
				break
			}
			cur := lockFrom(it)
			event := store.LockReleased
			if !live(it, s.now()) {
				event = store.LockExpired // it lapsed before its connection went
			}
			err = s.transact(ctx, op, connID, s.deleteLockActions(cur, event, "connId = :c AND fencingToken = :t",
				item{":c": str(connID), ":t": num(cur.Token)}))
			if err == nil {
				out = append(out, cur)
				released = true
				break
			}
			if !errors.Is(err, store.ErrConditionFailed) {
				return out, err
			}
		}
		if !released {
			if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName: aws.String(s.table), Key: keyOf(connPK, lockPK),
			}); err != nil {
				return out, mapErr(op, connID, err)
			}
		}
	}
	return out, nil
}

// CountConnectionLocks counts connID's live reverse lock items: one
// consistent Query of the connection's partition. A reverse item is
// written and deleted in the same transaction as its lock and carries
// its expiry, so the live ones are the connection's live locks.
func (s *Store) CountConnectionLocks(ctx context.Context, connID string) (int, error) {
	const op = "count connection locks"
	if err := checkParts(op, connID, connID); err != nil {
		return 0, err
	}
	now, n := s.now(), 0
	err := s.query(ctx, op, connID, store.ConnPK(connID), store.PrefixLock, func(it item) {
		if live(it, now) {
			n++
		}
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ExpiredLocks queries every shard of the expiry index for lock items
// expired at now and returns the oldest limit of them.
func (s *Store) ExpiredLocks(ctx context.Context, now time.Time, limit int) ([]store.Lock, error) {
	const op = "expired locks"
	if limit <= 0 {
		limit = defaultPageSize
	}
	var out []store.Lock
	for _, bucket := range store.ExpBuckets(store.KindLock) {
		pages := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(store.IndexExpiry),
			KeyConditionExpression:    aws.String("expBucket = :b AND expiresAt <= :now"),
			ExpressionAttributeValues: item{":b": str(bucket), ":now": num(now.Unix())},
			Limit:                     queryLimit(limit),
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		n := 0
		for pages.HasMorePages() && n < limit {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, mapErr(op, bucket, err)
			}
			for _, it := range page.Items {
				if getS(it, store.AttrSK) == store.SKLock {
					out = append(out, lockFrom(it))
					n++
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b store.Lock) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeleteExpiredLock deletes l's lock while it is the same grant and
// expired, with its reverse item.
func (s *Store) DeleteExpiredLock(ctx context.Context, l store.Lock) (bool, error) {
	const op = "delete expired lock"
	if err := checkEntityKey(op, l.Entity); err != nil {
		return false, err
	}
	for range attempts {
		it, err := s.get(ctx, op, l.Entity.String(), store.LockPK(l.Entity), store.SKLock)
		if err != nil {
			return false, err
		}
		now := s.now()
		if it == nil || live(it, now) || getN(it, attrLockToken) != l.Token {
			return false, nil
		}
		cur := lockFrom(it)
		err = s.transact(ctx, op, l.Entity.String(), s.deleteLockActions(cur, store.LockExpired, "fencingToken = :t AND expiresAt <= :now",
			item{":t": num(cur.Token), ":now": num(now)}))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return false, err
		}
	}
	return false, contention(op, l.Entity.String())
}

// LastGrant reads e's fencing counter, then e's lock: two consistent
// GetItems, in that order. A BatchGetItem is only read-committed against
// a transaction: it could see the counter of a grant whose
// TransactWriteItems is under way and not yet its lock item, and report
// a live grant as gone. A GetItem is serializable with a transaction, so
// a grant the counter shows already has its lock item when the second
// read comes. See store.Locks.LastGrant.
func (s *Store) LastGrant(ctx context.Context, e store.EntityKey) (store.Lock, bool, error) {
	const op = "last grant"
	if err := checkEntityKey(op, e); err != nil {
		return store.Lock{}, false, err
	}
	pk := store.LockPK(e)
	fence, err := s.get(ctx, op, e.String(), pk, store.SKFence)
	if err != nil || fence == nil {
		return store.Lock{}, false, err
	}
	lock, err := s.get(ctx, op, e.String(), pk, store.SKLock)
	if err != nil || lock != nil {
		return store.Lock{}, false, err
	}
	return store.Lock{Entity: e, Token: getN(fence, attrLockToken), Holder: getS(fence, attrLockHolder),
		HolderName: getS(fence, attrLockHolderName), AcquiredAt: parseTime(getS(fence, attrLockAcquiredAt)),
		GrantedAt: parseTime(getS(fence, attrLockGrantedAt))}, true, nil
}

// ExpiredByTTL writes the outbox item of the expiry of l, whose lock item
// TTL removed, as deleteLockActions writes it for DeleteExpiredLock. See
// store.Locks.ExpiredByTTL.
func (s *Store) ExpiredByTTL(ctx context.Context, l store.Lock) error {
	const op = "lock expired by TTL"
	if err := checkEntityKey(op, l.Entity); err != nil {
		return err
	}
	return s.transact(ctx, op, l.Entity.String(),
		[]types.TransactWriteItem{s.outboxAction(store.LockOutboxItem(l, store.LockExpired, s.clock.Now()))})
}
