package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// Presence and activity items (see store/schema_presence.go). A session
// write is one TransactWriteItems: the session, conditioned on the version
// that was read, an entry per room, deletions of the rooms left, the away
// alarm and, when it creates the session, a check of its connection. A
// session therefore holds at most maxSessionRooms rooms.
//
// Attribute names besides those of dynamo.go.
const (
	attrRoom       = "room"
	attrRooms      = "rooms"
	attrStatus     = "status"
	attrPage       = "page"
	attrSection    = "section"
	attrActivity   = "activity"
	attrLastSeen   = "lastSeen"
	attrLastActive = "lastActive"
	attrVersion    = "ver"
	attrAction     = "action"
	attrEntityType = "entityType"
	attrEntityID   = "entityId"
	attrEntityName = "entityName"
	attrChanges    = "changes"
	attrMetadata   = "metadata"
	attrAt         = "at"
	attrClaim      = "claim" // the token of the ClearAway that claimed an away alarm
)

// maxSessionRooms bounds the rooms of one session write: the session, the
// alarm, the connection check and the room entries kept or left share one
// transaction.
const maxSessionRooms = maxTxActions - 3

// PutSession writes a session, its room entries and its alarm in one
// transaction. See store.Presences.PutSession. A write that creates the
// session (Version 0) also holds a ConditionCheck that the connection's
// item is live and belongs to the session's tenant and user: $disconnect
// deletes that item before it reads and deletes the session, so a frame
// that read its connection before the $disconnect either commits first
// (and the session's removal takes its write along) or fails the check.
// A write over an existing session needs no check: its version condition
// fails once the session is removed. When a creating write is cancelled,
// PutSession reads the connection to tell ErrNotFound (the check failed)
// from ErrConditionFailed (a live session appeared). A write that sets
// the connection's hidden flag (SetHidden), rooms (SetRooms),
// HiddenBefore or rooms of hidden sessions (SetHiddenRooms) updates the
// connection's item under the same condition instead of checking it, in
// one action, and is decided the same way.
func (s *Store) PutSession(ctx context.Context, w store.SessionWrite) (store.Session, error) {
	const op = "put session"
	ses := store.NormalizeSession(w.Session)
	key := ses.Tenant + "/" + ses.UserID + "/" + ses.ConnID
	if err := checkSession(op, key, ses, w.Leave); err != nil {
		return store.Session{}, err
	}
	sk := store.PresenceSK(ses.UserID, ses.ConnID)
	now := s.clock.Now()
	var (
		cond string
		vals = item{":now": num(now.Unix())}
	)
	if ses.Version == 0 {
		cond = "attribute_not_exists(pk) OR expiresAt <= :now"
	} else {
		cond = "ver = :v AND expiresAt > :now"
		vals[":v"] = num(ses.Version)
	}
	creates := ses.Version == 0
	ses.Version = max(ses.Version+1, now.UnixMicro())
	actions := []types.TransactWriteItem{s.putAction(sessionItem(ses), cond, vals)}
	connKey := keyOf(store.ConnPK(ses.ConnID), store.SKMeta)
	connVals := item{":now": num(now.Unix()), ":t": str(ses.Tenant), ":u": str(ses.UserID)}
	var set, remove []string
	switch {
	case w.SetHidden && ses.Hidden():
		connVals[":h"] = boolAttr(true)
		set = append(set, attrHidden+" = :h")
	case w.SetHidden:
		remove = append(remove, attrHidden)
	}
	if w.SetRooms {
		// An empty list when the session is in no room, never a removal:
		// a record without the attribute is one whose rooms are not known
		// (written by an earlier version).
		connVals[":r"] = strList(ses.Rooms)
		set = append(set, attrConnRooms+" = :r")
	}
	if w.HiddenBefore {
		connVals[":h"] = boolAttr(true)
		set = append(set, attrHiddenPrior+" = :h")
	}
	switch {
	case w.SetHiddenRooms && w.HiddenRoomsKnown:
		// An empty list too, as for sessionRooms: a record with
		// hiddenBefore but without the attribute names no rooms (written
		// by an earlier version), and any entry left behind may be hidden.
		connVals[":hr"] = strList(store.HiddenRoomsOf(w))
		set = append(set, attrHiddenRooms+" = :hr")
	case w.SetHiddenRooms:
		remove = append(remove, attrHiddenRooms)
	}
	switch {
	case len(set) > 0 || len(remove) > 0:
		// On a creating write the update takes the place of the check, at
		// the same cost.
		var upd []string
		if len(set) > 0 {
			upd = append(upd, "SET "+strings.Join(set, ", "))
		}
		if len(remove) > 0 {
			upd = append(upd, "REMOVE "+strings.Join(remove, ", "))
		}
		actions = append(actions, s.updateAction(connKey, strings.Join(upd, " "), condOwnConn, connVals))
	case creates:
		actions = append(actions, s.checkAction(connKey, condOwnConn, connVals))
	}
	for _, room := range ses.Rooms {
		e := ses.Presence
		e.Room = room
		actions = append(actions, s.putAction(presenceItem(store.RoomPK(ses.Tenant, room), sk, e), "", nil))
	}
	for _, room := range w.Leave {
		actions = append(actions, s.deleteAction(keyOf(store.RoomPK(ses.Tenant, room), sk), "", nil))
	}
	if !w.AwayAt.IsZero() {
		actions = append(actions, s.putAction(alarmItem(store.AwayAlarm{
			Tenant: ses.Tenant, UserID: ses.UserID, ConnID: ses.ConnID, At: time.Unix(w.AwayAt.Unix(), 0).UTC(),
		}), "", nil))
	}
	err := s.transact(ctx, op, key, actions)
	if (creates || w.SetHidden || w.SetRooms || w.HiddenBefore || w.SetHiddenRooms) && errors.Is(err, store.ErrConditionFailed) {
		return store.Session{}, s.sessionConnGone(ctx, op, key, ses, err)
	}
	if err != nil {
		return store.Session{}, err
	}
	return ses, nil
}

// condOwnConn holds for a live connection item of tenant :t and user :u.
const condOwnConn = condLive + " AND tenant = :t AND userId = :u"

// sessionConnGone decides a cancelled write that would have created ses
// or set its connection's hidden flag:
// store.ErrNotFound when ses's connection is not live at the store's
// clock or is another user's, otherwise failed (a live session
// appeared).
func (s *Store) sessionConnGone(ctx context.Context, op, key string, ses store.Session, failed error) error {
	it, err := s.get(ctx, op, key, store.ConnPK(ses.ConnID), store.SKMeta)
	if err != nil {
		return err
	}
	if it == nil || !live(it, s.now()) || getS(it, attrTenant) != ses.Tenant || getS(it, attrUserID) != ses.UserID {
		return fmt.Errorf("dynamo: %s %q: connection %q: %w", op, key, ses.ConnID, store.ErrNotFound)
	}
	return failed
}

// UserSessions lists the live sessions of one user: one Query of the
// tenant's presence partition.
func (s *Store) UserSessions(ctx context.Context, tenant, userID string) ([]store.Session, error) {
	out, _, err := s.UserSessionsWithExpired(ctx, tenant, userID)
	return out, err
}

// UserSessionsWithExpired lists a user's sessions, live and expired
// apart: one Query. See store.Presences.UserSessionsWithExpired.
func (s *Store) UserSessionsWithExpired(ctx context.Context, tenant, userID string) ([]store.Session, []store.Session, error) {
	const op = "user sessions"
	key := tenant + "/" + userID
	if err := checkParts(op, key, tenant, userID); err != nil {
		return nil, nil, err
	}
	now := s.now()
	var on, expired []store.Session
	err := s.query(ctx, op, key, store.PresencePK(tenant), store.UserPresencePrefix(userID), func(it item) {
		if live(it, now) {
			on = append(on, sessionFrom(it))
		} else {
			expired = append(expired, sessionFrom(it))
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return on, expired, nil
}

// DeleteSession removes a session, its room entries and its alarm: a read
// of the session, then one transaction conditioned on the version read.
//
// Unlike ClearAway's UpdateItem, the transaction needs no claim token of
// its own to tell "this call removed it" from "another did" after a lost
// answer: the SDK fills in its ClientRequestToken once per call and sends
// the same one on every retry, and DynamoDB answers a retry of a
// transaction it applied with success, without applying it again (see
// TestTransactionRetryAfterLostResponse and TestDeleteSessionReplyLost).
// A failed condition therefore means another writer changed or removed
// the session, and the loop reads it again.
func (s *Store) DeleteSession(ctx context.Context, tenant, userID, connID string) (store.Session, bool, error) {
	const op = "delete session"
	key := tenant + "/" + userID + "/" + connID
	if err := checkParts(op, key, tenant, userID, connID); err != nil {
		return store.Session{}, false, err
	}
	pk, sk := store.PresencePK(tenant), store.PresenceSK(userID, connID)
	for range attempts {
		it, err := s.get(ctx, op, key, pk, sk)
		if err != nil {
			return store.Session{}, false, err
		}
		if it == nil {
			return store.Session{}, false, nil
		}
		ses := sessionFrom(it)
		err = s.transact(ctx, op, key, s.removeActions(ses, "ver = :v", item{":v": num(ses.Version)}))
		if errors.Is(err, store.ErrConditionFailed) {
			continue
		}
		if err != nil {
			return store.Session{}, false, err
		}
		return ses, live(it, s.now()), nil
	}
	return store.Session{}, false, contention(op, key)
}

// removeActions deletes a session under cond, its room entries and its
// alarm (when the alarm belongs to the session's user).
func (s *Store) removeActions(ses store.Session, cond string, vals item) []types.TransactWriteItem {
	sk := store.PresenceSK(ses.UserID, ses.ConnID)
	actions := []types.TransactWriteItem{s.deleteAction(keyOf(store.PresencePK(ses.Tenant), sk), cond, vals)}
	for _, room := range ses.Rooms {
		actions = append(actions, s.deleteAction(keyOf(store.RoomPK(ses.Tenant, room), sk), "", nil))
	}
	return append(actions, s.deleteAction(keyOf(store.ConnPK(ses.ConnID), store.SKAway),
		"attribute_not_exists(pk) OR (tenant = :t AND userId = :u)",
		item{":t": str(ses.Tenant), ":u": str(ses.UserID)}))
}

// ExpiredSessions lists expired sessions: a Query of each shard of the
// expiry index.
func (s *Store) ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]store.Session, error) {
	var out []store.Session
	err := s.queryDue(ctx, "expired sessions", store.ExpKindPresence, now, limit, func(it item) {
		out = append(out, sessionFrom(it))
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b store.Session) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeleteExpiredSession removes a session that is unchanged and still
// expired, with its room entries and alarm, in one transaction.
func (s *Store) DeleteExpiredSession(ctx context.Context, ses store.Session, now time.Time) (bool, error) {
	const op = "delete expired session"
	key := ses.Tenant + "/" + ses.UserID + "/" + ses.ConnID
	if err := checkParts(op, key, ses.Tenant, ses.UserID, ses.ConnID); err != nil {
		return false, err
	}
	err := s.transact(ctx, op, key, s.removeActions(ses, "ver = :v AND expiresAt <= :now",
		item{":v": num(ses.Version), ":now": num(now.Unix())}))
	if errors.Is(err, store.ErrConditionFailed) {
		return false, nil
	}
	return err == nil, err
}

// RoomEntriesOf reads a connection's entries in rooms, live or expired:
// one consistent BatchGetItem. See store.Presences.RoomEntriesOf.
func (s *Store) RoomEntriesOf(ctx context.Context, tenant, userID, connID string, rooms []string) ([]store.Presence, error) {
	const op = "room entries of"
	key, rooms, err := store.RoomEntriesArgs("dynamo", op, tenant, userID, connID, rooms)
	if err != nil || len(rooms) == 0 {
		return nil, err
	}
	sk := store.PresenceSK(userID, connID)
	keys := make([]item, len(rooms))
	for i, room := range rooms {
		keys[i] = keyOf(store.RoomPK(tenant, room), sk)
	}
	got, err := s.batchGet(ctx, op, key, keys)
	if err != nil {
		return nil, err
	}
	var out []store.Presence
	for _, k := range keys {
		if it := got[keyID(k)]; it != nil {
			out = append(out, presenceFrom(it))
		}
	}
	return out, nil
}

// ListPresence returns one page of a room's live, visible entries. See
// store.Presences.ListPresence.
func (s *Store) ListPresence(ctx context.Context, tenant, room string, p store.Page) ([]store.Presence, string, error) {
	const op = "list presence"
	pk, key, err := presencePartition(op, tenant, room)
	if err != nil {
		return nil, "", err
	}
	after, err := store.DecodeCursor(p.Cursor, store.PrefixUser)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s %q: %w", op, key, err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	var start item
	if after != "" {
		start = keyOf(pk, after)
	}
	now := s.now()
	var (
		out    []store.Presence
		users  int
		lastSK string
	)
	for {
		page, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
			ExpressionAttributeValues: item{":pk": str(pk), ":prefix": str(store.PrefixUser)},
			ExclusiveStartKey:         start,
			Limit:                     queryLimit(2*min(limit, queryPageMax/2) + 1),
			ConsistentRead:            aws.Bool(true),
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, "", mapErr(op, key, err)
		}
		for _, it := range page.Items {
			e := presenceFrom(it)
			if !live(it, now) || e.Status == store.StatusOffline {
				continue
			}
			if len(out) == 0 || out[len(out)-1].UserID != e.UserID {
				if users == limit {
					return out, encodeCursor(lastSK), nil
				}
				users++
			}
			out = append(out, e)
			lastSK = getS(it, store.AttrSK)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		start = page.LastEvaluatedKey
	}
}

// CountPresence counts the users with a live, visible entry in a room,
// reading only the keys, user, status and expiry of its entries.
func (s *Store) CountPresence(ctx context.Context, tenant, room string) (int, error) {
	const op = "count presence"
	pk, key, err := presencePartition(op, tenant, room)
	if err != nil {
		return 0, err
	}
	pages := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: item{":pk": str(pk), ":prefix": str(store.PrefixUser)},
		ProjectionExpression:      aws.String("sk, userId, expiresAt, #st"),
		ExpressionAttributeNames:  map[string]string{"#st": attrStatus},
		ConsistentRead:            aws.Bool(true),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	now := s.now()
	n, last := 0, ""
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, mapErr(op, key, err)
		}
		for _, it := range page.Items {
			u := getS(it, attrUserID)
			if !live(it, now) || getS(it, attrStatus) == store.StatusOffline || u == last {
				continue
			}
			n, last = n+1, u
		}
	}
	return n, nil
}

// ExpiredAway lists due away alarms: a Query of each shard of the expiry
// index.
func (s *Store) ExpiredAway(ctx context.Context, now time.Time, limit int) ([]store.AwayAlarm, error) {
	var out []store.AwayAlarm
	err := s.queryDue(ctx, "expired away", store.ExpKindAway, now, limit, func(it item) {
		out = append(out, alarmFrom(it))
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b store.AwayAlarm) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ClearAway claims an alarm that is unchanged and still due: one
// conditional UpdateItem that marks it with a claim token drawn for this
// call and takes it out of the expiry index; then, the claim known, a
// DeleteItem conditioned on the mark removes it. DynamoDB's TTL would
// remove it otherwise (its expiresAt has passed), and the sweeper
// announces TTL's removals of alarms from the table's stream: it must
// not find there the alarms it claimed. When that deletion fails, the
// claim stands all the same (true): the item stays, listed nowhere, until
// the next PutSession with AwayAt replaces it, DeleteSession removes it,
// or TTL does (and the away is announced again, which clients take as
// once).
//
// The token makes the outcome provable when the request is sent twice:
// DynamoDB may apply a write and answer 500, and the SDK's retryer then
// sends the same request, whose condition fails on the claim it just
// made. On a failed condition ClearAway reads the alarm back and reports
// true when it carries this call's token: the first attempt landed.
// Another sweep's claim carries another token, and an alarm re-armed
// meanwhile none, so both still report false. (A plain conditional
// DeleteItem would leave nothing to tell "this call removed it" from
// "another sweep did", and the sweeper would skip the announcement.)
func (s *Store) ClearAway(ctx context.Context, a store.AwayAlarm, now time.Time) (bool, error) {
	const op = "clear away"
	if err := checkParts(op, a.ConnID, a.ConnID); err != nil {
		return false, err
	}
	pk, token := store.ConnPK(a.ConnID), store.NewEpoch()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(pk, store.SKAway),
		UpdateExpression:          aws.String("SET claim = :c REMOVE expBucket"),
		ConditionExpression:       aws.String("expiresAt = :at AND expiresAt <= :now AND attribute_not_exists(claim)"),
		ExpressionAttributeValues: item{":at": num(a.At.Unix()), ":now": num(now.Unix()), ":c": str(token)},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	err = mapErr(op, a.ConnID, err)
	if errors.Is(err, store.ErrConditionFailed) {
		it, rerr := s.get(ctx, op, a.ConnID, pk, store.SKAway)
		if rerr != nil || getS(it, attrClaim) != token {
			return false, rerr
		}
		err = nil // the first attempt landed
	}
	if err != nil {
		return false, err
	}
	// The outcome no longer depends on this: a failure leaves the item to
	// TTL (see above), and an answer lost after the deletion landed fails
	// the retry's condition.
	_, _ = s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(pk, store.SKAway),
		ConditionExpression:       aws.String("claim = :c"),
		ExpressionAttributeValues: item{":c": str(token)},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	return true, nil
}

// queryDue calls fn for up to limit items of every shard of kind in the
// expiry index that are due at now. Index reads are eventually consistent.
func (s *Store) queryDue(ctx context.Context, op, kind string, now time.Time, limit int, fn func(item)) error {
	for _, bucket := range store.ExpBuckets(kind) {
		input := &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(store.IndexExpiry),
			KeyConditionExpression:    aws.String("expBucket = :b AND expiresAt <= :now"),
			ExpressionAttributeValues: item{":b": str(bucket), ":now": num(now.Unix())},
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		}
		if limit > 0 {
			input.Limit = queryLimit(limit)
		}
		n := 0
		pages := dynamodb.NewQueryPaginator(s.client, input)
		for pages.HasMorePages() && (limit <= 0 || n < limit) {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return mapErr(op, bucket, err)
			}
			for _, it := range page.Items {
				if limit > 0 && n == limit {
					break
				}
				fn(it)
				n++
			}
		}
	}
	return nil
}

// sessionItem is the item of a session: its presence, rooms, version and
// expiry-index entry.
func sessionItem(ses store.Session) item {
	it := presenceItem(store.PresencePK(ses.Tenant), store.PresenceSK(ses.UserID, ses.ConnID), ses.Presence)
	it[attrVersion] = num(ses.Version)
	it[store.AttrExpBucket] = str(store.SessionBucket(ses.ConnID))
	if len(ses.Rooms) > 0 {
		it[attrRooms] = strList(ses.Rooms)
	}
	return it
}

// presenceItem is the item of a presence entry at (pk, sk). Empty strings
// and zero times are left out.
func presenceItem(pk, sk string, p store.Presence) item {
	it := item{
		store.AttrPK: str(pk),
		store.AttrSK: str(sk),
		attrTenant:   str(p.Tenant),
		attrUserID:   str(p.UserID),
		attrConnID:   str(p.ConnID),
	}
	setStrings(it, map[string]string{
		attrRoom:     p.Room,
		attrUsername: p.Username,
		attrAvatar:   p.Avatar,
		attrStatus:   p.Status,
		attrPage:     p.Page,
		attrSection:  p.Section,
		attrActivity: p.Activity,
	})
	setTime(it, attrLastSeen, p.LastSeen)
	setTime(it, attrLastActive, p.LastActive)
	setExpiry(it, p.ExpiresAt)
	return it
}

// presenceFrom decodes a session or room entry item.
func presenceFrom(it item) store.Presence {
	p := store.Presence{
		Tenant:     getS(it, attrTenant),
		Room:       getS(it, attrRoom),
		UserID:     getS(it, attrUserID),
		ConnID:     getS(it, attrConnID),
		Username:   getS(it, attrUsername),
		Avatar:     getS(it, attrAvatar),
		Status:     getS(it, attrStatus),
		Page:       getS(it, attrPage),
		Section:    getS(it, attrSection),
		Activity:   getS(it, attrActivity),
		LastSeen:   parseTime(getS(it, attrLastSeen)),
		LastActive: parseTime(getS(it, attrLastActive)),
	}
	if _, ok := it[store.AttrExpiresAt]; ok {
		p.ExpiresAt = time.Unix(getN(it, store.AttrExpiresAt), 0).UTC()
	}
	return p
}

// sessionFrom decodes a session item.
func sessionFrom(it item) store.Session {
	ses := store.Session{Presence: presenceFrom(it), Version: getN(it, attrVersion)}
	if l, ok := it[attrRooms].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			if r, ok := v.(*types.AttributeValueMemberS); ok {
				ses.Rooms = append(ses.Rooms, r.Value)
			}
		}
	}
	return ses
}

// alarmItem is the item of an away alarm, indexed at its due time.
func alarmItem(a store.AwayAlarm) item {
	return item{
		store.AttrPK:        str(store.ConnPK(a.ConnID)),
		store.AttrSK:        str(store.SKAway),
		attrTenant:          str(a.Tenant),
		attrUserID:          str(a.UserID),
		attrConnID:          str(a.ConnID),
		store.AttrExpiresAt: num(a.At.Unix()),
		store.AttrExpBucket: str(store.AwayBucket(a.ConnID)),
	}
}

func alarmFrom(it item) store.AwayAlarm {
	return store.AwayAlarm{
		Tenant: getS(it, attrTenant),
		UserID: getS(it, attrUserID),
		ConnID: getS(it, attrConnID),
		At:     time.Unix(getN(it, store.AttrExpiresAt), 0).UTC(),
	}
}

// presencePartition returns the partition key of a room's entries, or of
// the tenant's sessions for an empty room.
func presencePartition(op, tenant, room string) (pk, key string, err error) {
	key = tenant + "/" + room
	if room == "" {
		return store.PresencePK(tenant), key, checkParts(op, key, tenant)
	}
	return store.RoomPK(tenant, room), key, checkParts(op, key, tenant, room)
}

// checkSession validates a session write (store.CheckSessionWrite) and
// bounds its rooms to what one transaction can hold.
func checkSession(op, key string, ses store.Session, leave []string) error {
	if len(ses.Rooms)+len(leave) > maxSessionRooms {
		return fmt.Errorf("dynamo: %s %q: %d rooms kept and left, at most %d", op, key, len(ses.Rooms)+len(leave), maxSessionRooms)
	}
	return store.CheckSessionWrite("dynamo", op, key, ses, leave)
}
