// Package dynamo implements the store contracts on the single DynamoDB
// table described in store/schema.go, with aws-sdk-go-v2.
//
// Every access is a key lookup or a Query; nothing scans the table. Items
// that must change together (a connection and its user index entry, a
// subscription and its reverse item) are written in one
// TransactWriteItems. Read-then-write operations condition their writes on
// what they read and, when a condition fails, read again and decide anew,
// so that they never rely on the values an emulator may or may not return
// with a cancelled transaction.
//
// Expiry: expiresAt is an epoch-seconds number (the table's TTL attribute).
// TTL deletes items late, so every read drops items whose expiresAt is at
// or before the clock's current time, and every condition on a connection
// requires expiresAt > now. A zero ExpiresAt writes no expiresAt: the item
// never expires, as with DynamoDB's TTL.
//
// Subscription items carry the expiresAt of their connection, so that
// they expire with it even when $disconnect never ran. The connection item
// keeps subCount, the number of its subscriptions, which Subscribe checks
// against the limit in the same transaction that adds one.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

const (
	// defaultPageSize is the page size of a Page without a limit.
	defaultPageSize = 100
	// maxTxActions is the most actions one TransactWriteItems may hold.
	maxTxActions = 100
	// maxBatchGet is the most keys one BatchGetItem may hold.
	maxBatchGet = 100
	// attempts bounds the read-decide-write loops that lose a condition
	// to a concurrent writer, and the re-sends of unprocessed batch keys.
	attempts = 5
)

// Attribute names of the items, besides the key and expiry attributes of
// schema.go.
const (
	attrID          = "id"
	attrUserID      = "userId"
	attrUsername    = "username"
	attrAvatar      = "avatar"
	attrTenant      = "tenant"
	attrRoles       = "roles"
	attrConnectedAt = "connectedAt"
	attrLastSeenAt  = "lastSeenAt"
	attrEndpoint    = "endpoint"
	attrSourceIP    = "sourceIp"
	attrSubCount    = "subCount"
	attrConnID      = "connId"
	attrChannel     = "channel"
	attrConns       = "conns"
)

// condLive holds for a present item that has not expired at :now.
const condLive = "attribute_exists(pk) AND (attribute_not_exists(expiresAt) OR expiresAt > :now)"

// item is one DynamoDB item.
type item = map[string]types.AttributeValue

// Store is the DynamoDB implementation of store.Store.
type Store struct {
	client  *dynamodb.Client
	table   string
	clock   store.Clock
	streams streamCache // stream heads appended by this process (history.go)
}

var _ store.Store = (*Store)(nil)

// New returns a store on table, reading the current time from clock (nil
// means time.Now). The table must exist (see CreateTable). Build client
// with NewClient to get bounded retries.
func New(client *dynamodb.Client, table string, clock store.Clock) *Store {
	return &Store{client: client, table: table, clock: clock}
}

func (s *Store) now() int64 { return s.clock.Now().Unix() }

// PutConnection creates or replaces the connection and its user index
// entry in one transaction. Replacing keeps the connection's subscription
// count and moves the user index entry when the user or tenant changed.
func (s *Store) PutConnection(ctx context.Context, c store.Connection) error {
	return s.OpenConnection(ctx, c, 0)
}

// OpenConnection is PutConnection that also counts c against its user's
// limit of max live connections, in the same transaction: the user's
// count item (USER#<tenant>#<userId>, CONNS) holds the counted connection
// ids with their expiry and a version that every write of it checks. See
// store.Connections.OpenConnection.
func (s *Store) OpenConnection(ctx context.Context, c store.Connection, max int) error {
	op := "put connection"
	if max > 0 {
		op = "open connection"
	}
	if err := checkParts(op, c.ID, c.ID, c.Tenant, c.UserID); err != nil {
		return err
	}
	connPK := store.ConnPK(c.ID)
	userPK := store.UserPK(c.Tenant, c.UserID)
	for range attempts {
		old, err := s.get(ctx, op, c.ID, connPK, store.SKMeta)
		if err != nil {
			return err
		}
		var (
			cond     string
			vals     item
			subCount int64
		)
		if old == nil {
			cond = "attribute_not_exists(pk)"
		} else {
			cond, vals = "userId = :u AND tenant = :t", item{":u": str(getS(old, attrUserID)), ":t": str(getS(old, attrTenant))}
			if v, ok := old[attrSubCount]; ok {
				subCount = getN(old, attrSubCount)
				cond += " AND subCount = :n"
				vals[":n"] = v
			} else {
				cond += " AND attribute_not_exists(subCount)"
			}
		}
		actions := []types.TransactWriteItem{
			s.putAction(connItem(c, subCount), cond, vals),
			s.putAction(indexItem(userPK, c), "", nil),
		}
		if old != nil {
			if oldPK := store.UserPK(getS(old, attrTenant), getS(old, attrUserID)); oldPK != userPK {
				actions = append(actions, s.deleteAction(keyOf(oldPK, connPK), "", nil))
				uncount, err := s.uncountAction(ctx, op, oldPK, c.ID)
				if err != nil {
					return err
				}
				actions = append(actions, uncount...)
			}
		}
		if max > 0 {
			count, err := s.countAction(ctx, op, c, max)
			if err != nil {
				return err
			}
			actions = append(actions, count)
		}
		err = s.transact(ctx, op, c.ID, actions)
		if !errors.Is(err, store.ErrConditionFailed) {
			return err
		}
	}
	return contention(op, c.ID)
}

// countAction reads c's user's connection count and returns the write
// that adds c to it, conditioned on the count being unchanged, or
// store.ErrTooManyConnections when max connections other than c still
// count. At the limit it checks the counted connections' records first
// (one BatchGetItem) and drops those that are gone, expired or another
// user's: the count heals itself when $disconnect was missed.
func (s *Store) countAction(ctx context.Context, op string, c store.Connection, max int) (types.TransactWriteItem, error) {
	userPK := store.UserPK(c.Tenant, c.UserID)
	it, err := s.get(ctx, op, c.ID, userPK, store.SKConnCount)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	now := s.now()
	var exp int64
	if !c.ExpiresAt.IsZero() {
		exp = c.ExpiresAt.Unix()
	}
	count, ok, err := countFrom(it).Counted(now, c.ID).Opens(c.ID, exp, max, func(ids []string) (map[string]bool, error) {
		keys := make([]item, len(ids))
		for i, id := range ids {
			keys[i] = keyOf(store.ConnPK(id), store.SKMeta)
		}
		got, err := s.batchGet(ctx, op, c.ID, keys)
		if err != nil {
			return nil, err
		}
		open := make(map[string]bool, len(ids))
		for i, id := range ids {
			rec, found := got[keyID(keys[i])]
			open[id] = found && live(rec, now) && getS(rec, attrTenant) == c.Tenant && getS(rec, attrUserID) == c.UserID
		}
		return open, nil
	})
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	if !ok {
		return types.TransactWriteItem{}, fmt.Errorf("dynamo: %s %q of %s/%s: %d open: %w", op, c.ID, c.Tenant, c.UserID, max, store.ErrTooManyConnections)
	}
	cond, vals := versioned(it)
	return s.putAction(countItem(userPK, count, getN(it, attrVersion)+1), cond, vals), nil
}

// uncountAction reads the connection count of the user partition userPK
// and returns the write that removes id from it, conditioned on the count
// being unchanged; none when id is not counted there.
func (s *Store) uncountAction(ctx context.Context, op, userPK, id string) ([]types.TransactWriteItem, error) {
	it, err := s.get(ctx, op, id, userPK, store.SKConnCount)
	if err != nil {
		return nil, err
	}
	count := countFrom(it)
	if _, counted := count[id]; !counted {
		return nil, nil
	}
	delete(count, id)
	cond, vals := versioned(it)
	return []types.TransactWriteItem{s.putAction(countItem(userPK, count, getN(it, attrVersion)+1), cond, vals)}, nil
}

// versioned returns the condition that an item read as it (nil: absent)
// is unchanged.
func versioned(it item) (string, item) {
	if it == nil {
		return "attribute_not_exists(pk)", nil
	}
	return "ver = :v", item{":v": num(getN(it, attrVersion))}
}

// countItem is the item of a user's connection count; its expiresAt is the
// last entry's, so that TTL removes a count nothing is left in.
func countItem(userPK string, count store.ConnCount, version int64) item {
	conns := make(map[string]types.AttributeValue, len(count))
	for id, exp := range count {
		conns[id] = num(exp)
	}
	it := item{
		store.AttrPK: str(userPK),
		store.AttrSK: str(store.SKConnCount),
		attrConns:    &types.AttributeValueMemberM{Value: conns},
		attrVersion:  num(version),
	}
	if exp := count.Expiry(); exp > 0 {
		it[store.AttrExpiresAt] = num(exp)
	}
	return it
}

// countFrom decodes a connection count item (nil: an empty count).
func countFrom(it item) store.ConnCount {
	count := store.ConnCount{}
	m, ok := it[attrConns].(*types.AttributeValueMemberM)
	if !ok {
		return count
	}
	for id, v := range m.Value {
		if n, ok := v.(*types.AttributeValueMemberN); ok {
			exp, _ := strconv.ParseInt(n.Value, 10, 64)
			count[id] = exp
		}
	}
	return count
}

// GetConnection returns the live connection with id, or store.ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	const op = "get connection"
	if err := checkParts(op, id, id); err != nil {
		return store.Connection{}, err
	}
	it, err := s.get(ctx, op, id, store.ConnPK(id), store.SKMeta)
	if err != nil {
		return store.Connection{}, err
	}
	if it == nil || !live(it, s.now()) {
		return store.Connection{}, fmt.Errorf("dynamo: %s %q: %w", op, id, store.ErrNotFound)
	}
	return connFrom(it), nil
}

// TouchConnection sets LastSeenAt of a live connection; it does nothing
// for an absent one.
func (s *Store) TouchConnection(ctx context.Context, id string, at time.Time) error {
	const op = "touch connection"
	if err := checkParts(op, id, id); err != nil {
		return err
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(store.ConnPK(id), store.SKMeta),
		UpdateExpression:          aws.String("SET lastSeenAt = :at"),
		ConditionExpression:       aws.String(condLive),
		ExpressionAttributeValues: item{":at": str(formatTime(at)), ":now": num(s.now())},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err = mapErr(op, id, err); errors.Is(err, store.ErrConditionFailed) {
		return nil
	}
	return err
}

// DeleteConnection removes the connection, its user index entry and all
// its subscriptions, and returns the connection and its channels when it
// was live.
//
// The connection item goes first: from then on Subscribe fails its
// condition, so the Query of the connection's partition that follows sees
// every subscription that will ever exist for it, and no pair is left
// behind by a concurrent Subscribe. The pairs are then deleted in
// transactions of at most 50 pairs. Every step is idempotent, so a second
// or concurrent delete finishes the work of the first (it may report the
// same channels when both read the live connection).
func (s *Store) DeleteConnection(ctx context.Context, id string) (store.Connection, []string, error) {
	const op = "delete connection"
	if err := checkParts(op, id, id); err != nil {
		return store.Connection{}, nil, err
	}
	connPK := store.ConnPK(id)
	var (
		conn   store.Connection
		report bool
		done   bool
	)
	for range attempts {
		meta, err := s.get(ctx, op, id, connPK, store.SKMeta)
		if err != nil {
			return store.Connection{}, nil, err
		}
		if meta == nil {
			done = true
			break
		}
		userPK := store.UserPK(getS(meta, attrTenant), getS(meta, attrUserID))
		uncount, err := s.uncountAction(ctx, op, userPK, id)
		if err != nil {
			return store.Connection{}, nil, err
		}
		err = s.transact(ctx, op, id, append([]types.TransactWriteItem{
			s.deleteAction(keyOf(connPK, store.SKMeta), "attribute_exists(pk) AND userId = :u AND tenant = :t",
				item{":u": str(getS(meta, attrUserID)), ":t": str(getS(meta, attrTenant))}),
			s.deleteAction(keyOf(userPK, connPK), "", nil),
		}, uncount...))
		if errors.Is(err, store.ErrConditionFailed) {
			continue
		}
		if err != nil {
			return store.Connection{}, nil, err
		}
		if live(meta, s.now()) {
			conn, report = connFrom(meta), true
		}
		done = true
		break
	}
	if !done {
		return store.Connection{}, nil, contention(op, id)
	}

	var revs []item
	err := s.query(ctx, op, id, connPK, store.PrefixSub, func(it item) { revs = append(revs, it) })
	if err != nil {
		return store.Connection{}, nil, err
	}
	now := s.now()
	var channels []string
	for start := 0; start < len(revs); start += maxTxActions / 2 {
		end := min(start+maxTxActions/2, len(revs))
		actions := make([]types.TransactWriteItem, 0, 2*(end-start))
		for _, rev := range revs[start:end] {
			chanPK := store.ChanPK(getS(rev, attrTenant), getS(rev, attrChannel))
			actions = append(actions,
				s.deleteAction(keyOf(chanPK, connPK), "", nil),
				s.deleteAction(keyOf(connPK, getS(rev, store.AttrSK)), "", nil))
		}
		if err := s.transactRetry(ctx, op, id, actions); err != nil {
			return store.Connection{}, nil, err
		}
	}
	if report {
		for _, rev := range revs {
			if live(rev, now) {
				channels = append(channels, getS(rev, attrChannel))
			}
		}
	}
	return conn, channels, nil
}

// UserConnections lists the live connections of one user of a tenant,
// ordered by connection id: one Query of the user's index partition and
// one consistent BatchGetItem of the connection items.
func (s *Store) UserConnections(ctx context.Context, tenant, userID string) ([]store.Connection, error) {
	const op = "user connections"
	key := tenant + "/" + userID
	if err := checkParts(op, key, tenant, userID); err != nil {
		return nil, err
	}
	now := s.now()
	var keys []item
	err := s.query(ctx, op, key, store.UserPK(tenant, userID), store.PrefixConn, func(it item) {
		if live(it, now) {
			keys = append(keys, keyOf(store.ConnPK(getS(it, attrConnID)), store.SKMeta))
		}
	})
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	got, err := s.batchGet(ctx, op, key, keys)
	if err != nil {
		return nil, err
	}
	var out []store.Connection
	for _, k := range keys {
		it := got[keyID(k)]
		if it == nil || !live(it, now) || getS(it, attrTenant) != tenant || getS(it, attrUserID) != userID {
			continue
		}
		out = append(out, connFrom(it))
	}
	return out, nil
}

// Subscribe adds connID to the channel of tenant. See
// store.Subscriptions.Subscribe.
//
// It reads the connection and both subscription items, then writes both
// subscription items in one transaction with the connection item: an
// update that adds one to subCount under the limit for a new
// subscription, a condition check for a refreshed leftover. Each write is
// conditioned on the state that was read; when one fails, it reads again.
func (s *Store) Subscribe(ctx context.Context, tenant, channel, connID string, max int) error {
	const op = "subscribe"
	key := subKey(tenant, channel, connID)
	if err := checkParts(op, key, tenant, channel, connID); err != nil {
		return err
	}
	connPK, chanPK, subSK := store.ConnPK(connID), store.ChanPK(tenant, channel), store.SubSK(tenant, channel)
	metaKey, fwdKey, revKey := keyOf(connPK, store.SKMeta), keyOf(chanPK, connPK), keyOf(connPK, subSK)
	for range attempts {
		got, err := s.batchGet(ctx, op, key, []item{metaKey, fwdKey, revKey})
		if err != nil {
			return err
		}
		now := s.now()
		meta, fwd, rev := got[keyID(metaKey)], got[keyID(fwdKey)], got[keyID(revKey)]
		if meta == nil || !live(meta, now) {
			return fmt.Errorf("dynamo: %s %q: connection: %w", op, key, store.ErrNotFound)
		}
		if fwd != nil && rev != nil && live(fwd, now) && live(rev, now) {
			return nil
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
				return fmt.Errorf("dynamo: %s %q: %d subscriptions: %w", op, key, n, store.ErrConditionFailed)
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
			return err
		}
	}
	return contention(op, key)
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
	items, lastSK, err := s.livePage(ctx, op, key, store.ChanPK(tenant, channel), store.PrefixConn, after, p.Limit, false, nil)
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = getS(it, attrConnID)
	}
	if lastSK == "" {
		return ids, "", nil
	}
	return ids, encodeCursor(lastSK), nil
}

// livePage reads one page of the live items of partition pk whose sort key
// starts with prefix, comes after after (in the direction read) and that
// match (nil: all), in sort key order (reversed with desc). limit <= 0
// means defaultPageSize. A page is full only when a further matching item
// exists; lastSK, the sort key of the page's last item, is set only then,
// for the caller to encode as the next cursor.
func (s *Store) livePage(ctx context.Context, op, key, pk, prefix, after string, limit int, desc bool, match func(item) bool) (items []item, lastSK string, err error) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	var start item
	if after != "" {
		start = keyOf(pk, after)
	}
	now := s.now()
	for {
		out, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
			ExpressionAttributeValues: item{":pk": str(pk), ":prefix": str(prefix)},
			ScanIndexForward:          aws.Bool(!desc),
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(int32(min(limit-len(items)+1, 1000))),
			ConsistentRead:            aws.Bool(true),
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, "", mapErr(op, key, err)
		}
		for _, it := range out.Items {
			if !live(it, now) || (match != nil && !match(it)) {
				continue
			}
			if len(items) == limit {
				return items, getS(items[len(items)-1], store.AttrSK), nil
			}
			items = append(items, it)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, "", nil
		}
		start = out.LastEvaluatedKey
	}
}

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

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

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

// connItem is the connection item of c. Empty strings, an empty role
// list and zero times are left out.
func connItem(c store.Connection, subCount int64) item {
	it := item{
		store.AttrPK: str(store.ConnPK(c.ID)),
		store.AttrSK: str(store.SKMeta),
		attrID:       str(c.ID),
		attrUserID:   str(c.UserID),
		attrTenant:   str(c.Tenant),
		attrSubCount: num(subCount),
	}
	setStrings(it, map[string]string{
		attrUsername: c.Username,
		attrAvatar:   c.Avatar,
		attrEndpoint: c.Endpoint,
		attrSourceIP: c.SourceIP,
	})
	if len(c.Roles) > 0 {
		roles := make([]types.AttributeValue, len(c.Roles))
		for i, r := range c.Roles {
			roles[i] = str(r)
		}
		it[attrRoles] = &types.AttributeValueMemberL{Value: roles}
	}
	setTime(it, attrConnectedAt, c.ConnectedAt)
	setTime(it, attrLastSeenAt, c.LastSeenAt)
	setExpiry(it, c.ExpiresAt)
	if !c.TokenExpiresAt.IsZero() {
		it[attrTokenExp] = num(c.TokenExpiresAt.Unix())
	}
	return it
}

// connFrom decodes a connection item.
func connFrom(it item) store.Connection {
	c := store.Connection{
		ID:          getS(it, attrID),
		UserID:      getS(it, attrUserID),
		Username:    getS(it, attrUsername),
		Avatar:      getS(it, attrAvatar),
		Tenant:      getS(it, attrTenant),
		ConnectedAt: parseTime(getS(it, attrConnectedAt)),
		LastSeenAt:  parseTime(getS(it, attrLastSeenAt)),
		Endpoint:    getS(it, attrEndpoint),
		SourceIP:    getS(it, attrSourceIP),
	}
	if l, ok := it[attrRoles].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				c.Roles = append(c.Roles, s.Value)
			}
		}
	}
	if _, ok := it[store.AttrExpiresAt]; ok {
		c.ExpiresAt = time.Unix(getN(it, store.AttrExpiresAt), 0).UTC()
	}
	if _, ok := it[attrTokenExp]; ok {
		c.TokenExpiresAt = time.Unix(getN(it, attrTokenExp), 0).UTC()
	}
	return c
}

// indexItem is the user index item of c under userPK.
func indexItem(userPK string, c store.Connection) item {
	it := item{
		store.AttrPK: str(userPK),
		store.AttrSK: str(store.ConnPK(c.ID)),
		attrConnID:   str(c.ID),
	}
	setExpiry(it, c.ExpiresAt)
	return it
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

// withKey returns a copy of it with the given keys.
func withKey(it item, pk, sk string) item {
	out := make(item, len(it)+2)
	for k, v := range it {
		out[k] = v
	}
	out[store.AttrPK], out[store.AttrSK] = str(pk), str(sk)
	return out
}

func keyOf(pk, sk string) item {
	return item{store.AttrPK: str(pk), store.AttrSK: str(sk)}
}

// keyID identifies an item by its keys in maps.
func keyID(it item) string { return getS(it, store.AttrPK) + "\x00" + getS(it, store.AttrSK) }

// live reports whether it has not expired at now (epoch seconds).
func live(it item, now int64) bool {
	if _, ok := it[store.AttrExpiresAt]; !ok {
		return true
	}
	return getN(it, store.AttrExpiresAt) > now
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// setStrings sets each attribute of attrs whose value is not empty.
func setStrings(it item, attrs map[string]string) {
	for name, v := range attrs {
		if v != "" {
			it[name] = str(v)
		}
	}
}

// setTime sets the attribute name to t (formatTime) unless t is zero.
func setTime(it item, name string, t time.Time) {
	if !t.IsZero() {
		it[name] = str(formatTime(t))
	}
}

// setExpiry sets the TTL attribute to t in epoch seconds unless t is zero.
func setExpiry(it item, t time.Time) {
	if !t.IsZero() {
		it[store.AttrExpiresAt] = num(t.Unix())
	}
}

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// getN returns a whole number attribute, or 0 when it is absent. A
// fractional number (which the store never writes) is truncated.
func getN(it item, name string) int64 {
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
		return n
	}
	f, _ := strconv.ParseFloat(v.Value, 64)
	return int64(f)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func nonEmpty(vals item) item {
	if len(vals) == 0 {
		return nil
	}
	return vals
}

func subKey(tenant, channel, connID string) string {
	return tenant + "/" + channel + "/" + connID
}

func checkParts(op, key string, parts ...string) error {
	return store.CheckKeyParts("dynamo", op, key, parts...)
}

func encodeCursor(sk string) string { return store.EncodeCursor(sk) }

func decodeCursor(cursor string) (string, error) { return store.DecodeCursor(cursor, store.PrefixConn) }
