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

// Attribute names of the editing items.
const (
	attrLockHolder        = "holder"
	attrLockHolderName    = "holderName"
	attrLockAcquiredAt    = "acquiredAt"
	attrLockToken         = "fencingToken"
	attrEntType           = "entityType"
	attrEntID             = "entityId"
	attrEntVersion        = "version"
	attrEntDoc            = "doc"
	attrEntState          = "state"
	attrEntUpdatedAt      = "updatedAt"
	attrEntUpdatedBy      = "updatedBy"
	attrRecData           = "data"
	attrRecResolved       = "resolved"
	attrRecCreatedAt      = "createdAt"
	attrIdemReply         = "reply"
	attrIdemMessageID     = "messageId"
	attrIdemRequestHash   = "requestHash"
	attrCommentParent     = "parentId"
	attrCommentText       = "text"
	attrCommentResolvedBy = "resolvedBy"
	attrCommentResolvedAt = "resolvedAt"
)

// maxChangeVersion bounds change versions in key conditions (12 digits).
const maxChangeVersion = 999_999_999_999

// checkEntityKey rejects entity keys that would corrupt a key.
func checkEntityKey(op string, e store.EntityKey, more ...string) error {
	return checkParts(op, e.String(), append([]string{e.Tenant, e.Type, e.ID}, more...)...)
}

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

// AcquireLock grants or renews a lock. See store.Locks.AcquireLock.
//
// A grant is one transaction: the fencing counter moves from the value
// read to the next one, and the lock item is written on the condition
// that it is absent or is the expired grant that was read.
func (s *Store) AcquireLock(ctx context.Context, l store.Lock) (store.Lock, error) {
	const op = "acquire lock"
	if err := checkEntityKey(op, l.Entity, l.Holder, l.ConnID); err != nil {
		return store.Lock{}, err
	}
	l.AcquiredAt = l.AcquiredAt.UTC()
	l.ExpiresAt = time.Unix(l.ExpiresAt.Unix(), 0).UTC()
	pk := store.LockPK(l.Entity)
	lockKey, fenceKey := keyOf(pk, store.SKLock), keyOf(pk, store.SKFence)
	for range attempts {
		got, err := s.batchGet(ctx, op, l.Entity.String(), []item{lockKey, fenceKey})
		if err != nil {
			return store.Lock{}, err
		}
		now := s.now()
		var cur *store.Lock
		if it := got[keyID(lockKey)]; it != nil {
			c := lockFrom(it)
			cur = &c
		}
		var actions []types.TransactWriteItem
		want := l
		if cur != nil && cur.ExpiresAt.Unix() > now {
			if cur.Holder != l.Holder {
				return *cur, fmt.Errorf("dynamo: %s %q: held by %q: %w", op, l.Entity, cur.Holder, store.ErrLockHeld)
			}
			want.Token, want.AcquiredAt = cur.Token, cur.AcquiredAt
			cond, vals := sameGrant(*cur, now)
			actions = s.putLockActions(want, cond, vals, cur)
		} else {
			fence := got[keyID(fenceKey)]
			fenceCond, fenceVals := "attribute_not_exists(pk)", item{}
			if fence != nil {
				fenceCond, fenceVals = "fencingToken = :f", item{":f": fence[attrLockToken]}
			}
			want.Token = getN(fence, attrLockToken) + 1
			fenceVals[":t"] = num(want.Token)
			upd := s.updateAction(fenceKey, "SET fencingToken = :t", fenceCond, fenceVals)
			lockCond, lockVals := "attribute_not_exists(pk)", item(nil)
			if cur != nil {
				lockCond, lockVals = "fencingToken = :old AND expiresAt <= :now", item{":old": num(cur.Token), ":now": num(now)}
			}
			actions = append([]types.TransactWriteItem{upd}, s.putLockActions(want, lockCond, lockVals, cur)...)
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
	return s.holderWrite(ctx, op, e, holder, func(cur store.Lock, cond string, vals item) (store.Lock, []types.TransactWriteItem) {
		want := cur
		want.ConnID = connID
		want.ExpiresAt = time.Unix(expiresAt.Unix(), 0).UTC()
		return want, s.putLockActions(want, cond, vals, &cur)
	})
}

// holderWrite is the optimistic write of a lock's holder: it reads e's
// live lock, refuses anyone but holder (store.ErrNotHolder), and commits
// the actions write builds from the grant under the condition that the
// grant is unchanged, reading it again when it changed meanwhile. It
// returns the lock write returned.
func (s *Store) holderWrite(ctx context.Context, op string, e store.EntityKey, holder string,
	write func(cur store.Lock, cond string, vals item) (store.Lock, []types.TransactWriteItem)) (store.Lock, error) {
	for range attempts {
		cur, err := s.getLiveLock(ctx, op, e)
		if err != nil {
			return store.Lock{}, err
		}
		if cur == nil || cur.Holder != holder {
			return store.Lock{}, fmt.Errorf("dynamo: %s %q by %q: %w", op, e, holder, store.ErrNotHolder)
		}
		cond, vals := sameGrant(*cur, s.now())
		out, actions := write(*cur, cond, vals)
		err = s.transact(ctx, op, e.String(), actions)
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return store.Lock{}, err
		}
	}
	return store.Lock{}, contention(op, e.String())
}

// deleteLockActions deletes the grant cur and its reverse item; cond
// guards the lock item.
func (s *Store) deleteLockActions(cur store.Lock, cond string, vals item) []types.TransactWriteItem {
	del := s.deleteAction(keyOf(store.LockPK(cur.Entity), store.SKLock), cond, vals)
	return []types.TransactWriteItem{del, s.deleteAction(keyOf(store.ConnPK(cur.ConnID), store.LockPK(cur.Entity)), "", nil)}
}

// ReleaseLock deletes the holder's live lock. See store.Locks.ReleaseLock.
func (s *Store) ReleaseLock(ctx context.Context, e store.EntityKey, holder string) (store.Lock, error) {
	const op = "release lock"
	if err := checkEntityKey(op, e, holder); err != nil {
		return store.Lock{}, err
	}
	return s.holderWrite(ctx, op, e, holder, func(cur store.Lock, cond string, vals item) (store.Lock, []types.TransactWriteItem) {
		return cur, s.deleteLockActions(cur, cond, vals)
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
			err = s.transact(ctx, op, connID, s.deleteLockActions(cur, "connId = :c AND fencingToken = :t",
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
			Limit:                     aws.Int32(int32(limit)),
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
		err = s.transact(ctx, op, l.Entity.String(), s.deleteLockActions(cur, "fencingToken = :t AND expiresAt <= :now",
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

func binAttr(b []byte) types.AttributeValue {
	if b == nil {
		b = []byte{}
	}
	return &types.AttributeValueMemberB{Value: b}
}

func getBin(it item, name string) []byte {
	if v, ok := it[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

func boolAttr(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

func getBoolAttr(it item, name string) bool {
	v, ok := it[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

// headItem is the head item of h.
func headItem(h store.Head) item {
	it := item{
		store.AttrPK:   str(store.EntityPK(h.Entity)),
		store.AttrSK:   str(store.SKHead),
		attrTenant:     str(h.Entity.Tenant),
		attrEntType:    str(h.Entity.Type),
		attrEntID:      str(h.Entity.ID),
		attrEntVersion: num(h.Version),
		attrEntDoc:     binAttr(h.Doc),
	}
	if h.State != nil {
		it[attrEntState] = binAttr(h.State)
	}
	setTime(it, attrEntUpdatedAt, h.UpdatedAt)
	if h.UpdatedBy != "" {
		it[attrEntUpdatedBy] = str(h.UpdatedBy)
	}
	return it
}

func headFrom(e store.EntityKey, it item) store.Head {
	return store.Head{
		Entity:    e,
		Version:   getN(it, attrEntVersion),
		Doc:       getBin(it, attrEntDoc),
		State:     getBin(it, attrEntState),
		UpdatedAt: parseTime(getS(it, attrEntUpdatedAt)),
		UpdatedBy: getS(it, attrEntUpdatedBy),
	}
}

func idemItem(i store.Idempotency) item {
	it := item{
		store.AttrPK:      str(store.IdemPK(i.Tenant, i.UserID)),
		store.AttrSK:      str(i.MessageID),
		attrTenant:        str(i.Tenant),
		attrUserID:        str(i.UserID),
		attrIdemMessageID: str(i.MessageID),
		attrIdemReply:     binAttr(i.Reply),
	}
	if i.RequestHash != "" {
		it[attrIdemRequestHash] = str(i.RequestHash)
	}
	setExpiry(it, i.ExpiresAt)
	return it
}

func idemFrom(it item) store.Idempotency {
	i := store.Idempotency{
		Tenant:      getS(it, attrTenant),
		UserID:      getS(it, attrUserID),
		MessageID:   getS(it, attrIdemMessageID),
		RequestHash: getS(it, attrIdemRequestHash),
		Reply:       getBin(it, attrIdemReply),
	}
	if _, ok := it[store.AttrExpiresAt]; ok {
		i.ExpiresAt = time.Unix(getN(it, store.AttrExpiresAt), 0).UTC()
	}
	return i
}

// condIdemFree holds for an item that is absent or expired at :now.
const condIdemFree = "attribute_not_exists(pk) OR expiresAt <= :now"

func conflictItem(e store.EntityKey, c store.Conflict) item {
	it := item{
		store.AttrPK:     str(store.EntityPK(e)),
		store.AttrSK:     str(store.ConflictSK(c.ID)),
		attrID:           str(c.ID),
		attrRecResolved:  boolAttr(c.Resolved),
		attrRecCreatedAt: str(formatTime(c.CreatedAt)),
		attrRecData:      binAttr(c.Data),
	}
	setExpiry(it, c.ExpiresAt)
	return it
}

func conflictFrom(e store.EntityKey, it item) store.Conflict {
	c := store.Conflict{
		Entity:    e,
		ID:        getS(it, attrID),
		Resolved:  getBoolAttr(it, attrRecResolved),
		CreatedAt: parseTime(getS(it, attrRecCreatedAt)),
		Data:      getBin(it, attrRecData),
	}
	if _, ok := it[store.AttrExpiresAt]; ok {
		c.ExpiresAt = time.Unix(getN(it, store.AttrExpiresAt), 0).UTC()
	}
	return c
}

// LoadEntity reads e's head, lock and idempotency record with one
// consistent BatchGetItem.
func (s *Store) LoadEntity(ctx context.Context, e store.EntityKey, userID, messageID string) (store.EntityState, error) {
	const op = "load entity"
	if err := checkEntityKey(op, e); err != nil {
		return store.EntityState{}, err
	}
	headKey, lockKey := keyOf(store.EntityPK(e), store.SKHead), keyOf(store.LockPK(e), store.SKLock)
	keys := []item{headKey, lockKey}
	var idemKey item
	if messageID != "" {
		if err := checkParts(op, e.String(), userID); err != nil {
			return store.EntityState{}, err
		}
		idemKey = keyOf(store.IdemPK(e.Tenant, userID), messageID)
		keys = append(keys, idemKey)
	}
	got, err := s.batchGet(ctx, op, e.String(), keys)
	if err != nil {
		return store.EntityState{}, err
	}
	now := s.now()
	var st store.EntityState
	if it := got[keyID(headKey)]; it != nil {
		st.Head = headFrom(e, it)
	}
	if it := got[keyID(lockKey)]; it != nil && live(it, now) {
		l := lockFrom(it)
		st.Lock = &l
	}
	if idemKey != nil {
		if it := got[keyID(idemKey)]; it != nil && live(it, now) {
			i := idemFrom(it)
			st.Idempotency = &i
		}
	}
	return st, nil
}

// GetHead returns e's head.
func (s *Store) GetHead(ctx context.Context, e store.EntityKey) (store.Head, error) {
	const op = "get head"
	if err := checkEntityKey(op, e); err != nil {
		return store.Head{}, err
	}
	it, err := s.get(ctx, op, e.String(), store.EntityPK(e), store.SKHead)
	if err != nil {
		return store.Head{}, err
	}
	if it == nil {
		return store.Head{}, fmt.Errorf("dynamo: %s %q: %w", op, e, store.ErrNotFound)
	}
	return headFrom(e, it), nil
}

// Commit performs c as one TransactWriteItems: the head written (or
// checked) on its version, the change, idempotency and conflict items
// written on their conditions, and the lock checked for the fence. The
// trimmed change is deleted afterwards with a plain DeleteItem.
func (s *Store) Commit(ctx context.Context, c store.Commit) error {
	const op = "commit"
	e := c.Entity
	if err := checkEntityKey(op, e); err != nil {
		return err
	}
	key := e.String()
	pk := store.EntityPK(e)
	headCond, headVals := "attribute_not_exists(pk)", item(nil)
	if c.BaseVersion > 0 {
		headCond, headVals = "version = :base", item{":base": num(c.BaseVersion)}
	}
	var actions []types.TransactWriteItem
	if c.Head != nil {
		h := *c.Head
		h.Entity = e
		actions = append(actions, s.putAction(headItem(h), headCond, headVals))
	} else {
		actions = append(actions, s.checkAction(keyOf(pk, store.SKHead), headCond, headVals))
	}
	if ch := c.Change; ch != nil {
		actions = append(actions, s.putAction(item{
			store.AttrPK:   str(pk),
			store.AttrSK:   str(store.ChangeSK(ch.Version)),
			attrEntVersion: num(ch.Version),
			attrRecData:    binAttr(ch.Data),
		}, "attribute_not_exists(pk)", nil))
		actions = append(actions, s.outboxAction(store.OutboxItem{Entity: e, Version: ch.Version, Data: ch.Data}))
	}
	now := num(s.now())
	if i := c.Idempotency; i != nil {
		if err := checkParts(op, key, i.Tenant, i.UserID); err != nil {
			return err
		}
		actions = append(actions, s.putAction(idemItem(*i), condIdemFree, item{":now": now}))
	}
	if cf := c.Conflict; cf != nil {
		if err := checkParts(op, key, cf.ID); err != nil {
			return err
		}
		cond, vals := "attribute_not_exists(pk)", item(nil)
		if cf.Resolved {
			cond = "attribute_exists(pk) AND resolved = :false AND (attribute_not_exists(expiresAt) OR expiresAt > :now)"
			vals = item{":false": boolAttr(false), ":now": now}
		}
		actions = append(actions, s.putAction(conflictItem(e, *cf), cond, vals))
	}
	if f := c.Fence; f != nil {
		chk := s.checkAction(keyOf(store.LockPK(e), store.SKLock), "holder = :h AND fencingToken = :t AND expiresAt > :now",
			item{":h": str(f.Holder), ":t": num(f.Token), ":now": now})
		actions = append(actions, chk)
	}
	if err := s.transact(ctx, op, key, actions); err != nil {
		return err
	}
	if c.Trim > 0 {
		// Best effort: the change is outside every reader's window anyway.
		_, _ = s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(s.table), Key: keyOf(pk, store.ChangeSK(c.Trim)),
		})
	}
	return nil
}

// ListChanges queries e's changes by version range.
func (s *Store) ListChanges(ctx context.Context, e store.EntityKey, q store.ChangeQuery) ([]store.Change, error) {
	const op = "list changes"
	if err := checkEntityKey(op, e); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	hi := int64(maxChangeVersion)
	if q.Before > 0 {
		hi = q.Before - 1
	}
	lo := q.After + 1
	if lo > hi {
		return nil, nil
	}
	var (
		out   []store.Change
		start item
	)
	for len(out) < limit {
		page, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
			ExpressionAttributeValues: item{
				":pk": str(store.EntityPK(e)), ":lo": str(store.ChangeSK(lo)), ":hi": str(store.ChangeSK(hi)),
			},
			ScanIndexForward:       aws.Bool(!q.Desc),
			ExclusiveStartKey:      start,
			Limit:                  aws.Int32(int32(min(limit-len(out), 1000))),
			ConsistentRead:         aws.Bool(true),
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, mapErr(op, e.String(), err)
		}
		for _, it := range page.Items {
			out = append(out, store.Change{Entity: e, Version: getN(it, attrEntVersion), Data: getBin(it, attrRecData)})
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	return out, nil
}

// GetChange returns version v of e.
func (s *Store) GetChange(ctx context.Context, e store.EntityKey, v int64) (store.Change, error) {
	const op = "get change"
	if err := checkEntityKey(op, e); err != nil {
		return store.Change{}, err
	}
	it, err := s.get(ctx, op, e.String(), store.EntityPK(e), store.ChangeSK(v))
	if err != nil {
		return store.Change{}, err
	}
	if it == nil {
		return store.Change{}, fmt.Errorf("dynamo: %s %q version %d: %w", op, e, v, store.ErrNotFound)
	}
	return store.Change{Entity: e, Version: getN(it, attrEntVersion), Data: getBin(it, attrRecData)}, nil
}

// GetIdempotency returns a live idempotency record.
func (s *Store) GetIdempotency(ctx context.Context, tenant, userID, messageID string) (store.Idempotency, error) {
	const op = "get idempotency"
	key := tenant + "/" + userID + "/" + messageID
	if err := checkParts(op, key, tenant, userID); err != nil {
		return store.Idempotency{}, err
	}
	it, err := s.get(ctx, op, key, store.IdemPK(tenant, userID), messageID)
	if err != nil {
		return store.Idempotency{}, err
	}
	if it == nil || !live(it, s.now()) {
		return store.Idempotency{}, fmt.Errorf("dynamo: %s %q: %w", op, key, store.ErrNotFound)
	}
	return idemFrom(it), nil
}

// GetConflict returns a live conflict of e.
func (s *Store) GetConflict(ctx context.Context, e store.EntityKey, id string) (store.Conflict, error) {
	const op = "get conflict"
	if err := checkEntityKey(op, e, id); err != nil {
		return store.Conflict{}, err
	}
	it, err := s.get(ctx, op, e.String(), store.EntityPK(e), store.ConflictSK(id))
	if err != nil {
		return store.Conflict{}, err
	}
	if it == nil || !live(it, s.now()) {
		return store.Conflict{}, fmt.Errorf("dynamo: %s %q %q: %w", op, e, id, store.ErrNotFound)
	}
	return conflictFrom(e, it), nil
}

// ListConflicts returns one page of e's live conflicts in id order.
func (s *Store) ListConflicts(ctx context.Context, e store.EntityKey, unresolved bool, p store.Page) ([]store.Conflict, string, error) {
	const op = "list conflicts"
	if err := checkEntityKey(op, e); err != nil {
		return nil, "", err
	}
	var match func(item) bool
	if unresolved {
		match = func(it item) bool { return !getBoolAttr(it, attrRecResolved) }
	}
	items, next, err := s.editPage(ctx, op, e.String(), store.EntityPK(e), store.PrefixConflict, p, false, match)
	if err != nil {
		return nil, "", err
	}
	out := make([]store.Conflict, len(items))
	for i, it := range items {
		out[i] = conflictFrom(e, it)
	}
	return out, next, nil
}

// editPage reads one page of the live items of partition pk whose sort key
// starts with prefix and that match (nil: all), in sort key order
// (reversed with desc), and the cursor of the next page. A page is full,
// and has a next cursor, only when a further matching item exists.
func (s *Store) editPage(ctx context.Context, op, key, pk, prefix string, p store.Page, desc bool, match func(item) bool) ([]item, string, error) {
	after, err := store.ParseEditCursor(p.Cursor, prefix)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s %q: %w", op, key, err)
	}
	items, lastSK, err := s.livePage(ctx, op, key, pk, prefix, after, p.Limit, desc, match)
	if err != nil || lastSK == "" {
		return items, "", err
	}
	return items, store.EditCursor(lastSK), nil
}

// AddComment creates a comment and, optionally, an idempotency record, in
// one transaction.
func (s *Store) AddComment(ctx context.Context, c store.Comment, idem *store.Idempotency) error {
	const op = "add comment"
	if err := checkEntityKey(op, c.Entity, c.ID, c.UserID); err != nil {
		return err
	}
	actions := []types.TransactWriteItem{s.putAction(commentItem(c), "attribute_not_exists(pk)", nil)}
	if idem != nil {
		if err := checkParts(op, c.Entity.String(), idem.Tenant, idem.UserID); err != nil {
			return err
		}
		actions = append(actions, s.putAction(idemItem(*idem), condIdemFree, item{":now": num(s.now())}))
	}
	return s.transact(ctx, op, c.Entity.String()+"/"+c.ID, actions)
}

func commentItem(c store.Comment) item {
	it := item{
		store.AttrPK:     str(store.EntityPK(c.Entity)),
		store.AttrSK:     str(store.CommentSK(c.ID)),
		attrID:           str(c.ID),
		attrUserID:       str(c.UserID),
		attrCommentText:  str(c.Text),
		attrRecCreatedAt: str(formatTime(c.CreatedAt)),
		attrRecResolved:  boolAttr(c.Resolved),
	}
	setStrings(it, map[string]string{
		attrCommentParent: c.ParentID, attrUsername: c.Username, attrAvatar: c.Avatar, attrCommentResolvedBy: c.ResolvedBy,
	})
	setTime(it, attrCommentResolvedAt, c.ResolvedAt)
	return it
}

func commentFrom(e store.EntityKey, it item) store.Comment {
	return store.Comment{
		Entity:     e,
		ID:         getS(it, attrID),
		ParentID:   getS(it, attrCommentParent),
		UserID:     getS(it, attrUserID),
		Username:   getS(it, attrUsername),
		Avatar:     getS(it, attrAvatar),
		Text:       getS(it, attrCommentText),
		CreatedAt:  parseTime(getS(it, attrRecCreatedAt)),
		Resolved:   getBoolAttr(it, attrRecResolved),
		ResolvedBy: getS(it, attrCommentResolvedBy),
		ResolvedAt: parseTime(getS(it, attrCommentResolvedAt)),
	}
}

// GetComment returns a comment of e.
func (s *Store) GetComment(ctx context.Context, e store.EntityKey, id string) (store.Comment, error) {
	const op = "get comment"
	if err := checkEntityKey(op, e, id); err != nil {
		return store.Comment{}, err
	}
	it, err := s.get(ctx, op, e.String(), store.EntityPK(e), store.CommentSK(id))
	if err != nil {
		return store.Comment{}, err
	}
	if it == nil {
		return store.Comment{}, fmt.Errorf("dynamo: %s %q %q: %w", op, e, id, store.ErrNotFound)
	}
	return commentFrom(e, it), nil
}

// ResolveComment marks a comment resolved or unresolved with one
// conditional UpdateItem.
func (s *Store) ResolveComment(ctx context.Context, e store.EntityKey, id string, resolved bool, userID string, at time.Time) (store.Comment, error) {
	const op = "resolve comment"
	if err := checkEntityKey(op, e, id, userID); err != nil {
		return store.Comment{}, err
	}
	update, vals := "SET resolved = :r REMOVE resolvedBy, resolvedAt", item{":r": boolAttr(false)}
	if resolved {
		update = "SET resolved = :r, resolvedBy = :by, resolvedAt = :at"
		vals = item{":r": boolAttr(true), ":by": str(userID), ":at": str(formatTime(at))}
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(store.EntityPK(e), store.CommentSK(id)),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err = mapErr(op, e.String()+"/"+id, err); errors.Is(err, store.ErrConditionFailed) {
		return store.Comment{}, fmt.Errorf("dynamo: %s %q %q: %w", op, e, id, store.ErrNotFound)
	}
	if err != nil {
		return store.Comment{}, err
	}
	return commentFrom(e, out.Attributes), nil
}

// ListComments returns one page of e's comments, newest first.
func (s *Store) ListComments(ctx context.Context, e store.EntityKey, p store.Page) ([]store.Comment, string, error) {
	const op = "list comments"
	if err := checkEntityKey(op, e); err != nil {
		return nil, "", err
	}
	items, next, err := s.editPage(ctx, op, e.String(), store.EntityPK(e), store.PrefixComment, p, true, nil)
	if err != nil {
		return nil, "", err
	}
	out := make([]store.Comment, len(items))
	for i, it := range items {
		out[i] = commentFrom(e, it)
	}
	return out, next, nil
}
