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
	if c.Hidden {
		it[attrHidden] = boolAttr(true)
	}
	if c.RoomsKnown {
		// An empty list too: it says the session was in no room, where
		// a missing attribute says the rooms are not known.
		it[attrConnRooms] = strList(c.Rooms)
	}
	if c.HiddenBefore {
		it[attrHiddenPrior] = boolAttr(true)
	}
	if c.HiddenRoomsKnown {
		it[attrHiddenRooms] = strList(c.HiddenRooms)
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
	c.Hidden = getBoolAttr(it, attrHidden)
	c.Rooms, c.RoomsKnown = getStrList(it, attrConnRooms)
	c.HiddenBefore = getBoolAttr(it, attrHiddenPrior)
	c.HiddenRooms, c.HiddenRoomsKnown = getStrList(it, attrHiddenRooms)
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
