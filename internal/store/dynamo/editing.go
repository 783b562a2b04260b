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

// Attribute names of the editing items.
const (
	attrLockHolder        = "holder"
	attrLockHolderName    = "holderName"
	attrLockAcquiredAt    = "acquiredAt"
	attrLockGrantedAt     = "grantedAt"
	attrLockToken         = "fencingToken"
	attrEntType           = "entityType"
	attrEntID             = "entityId"
	attrEntVersion        = "version"
	attrEntRevision       = "revision" // absent from heads stored before heads had revisions
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
	attrCommentVersion    = "version" // absent from comments stored before comments had versions
)

// maxChangeVersion bounds change versions in key conditions (12 digits).
const maxChangeVersion = 999_999_999_999

// checkEntityKey rejects entity keys that would corrupt a key.
func checkEntityKey(op string, e store.EntityKey, more ...string) error {
	return checkParts(op, e.String(), append([]string{e.Tenant, e.Type, e.ID}, more...)...)
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
	if h.Revision > 0 {
		it[attrEntRevision] = num(h.Revision)
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
		Revision:  getN(it, attrEntRevision),
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
// checked) on its version and revision (base 0 and 0: absent too), the
// change, idempotency and conflict items written on their conditions, the
// lock checked for the fence, and the activity entry put. The trimmed change is deleted afterwards with a
// plain DeleteItem.
func (s *Store) Commit(ctx context.Context, c store.Commit) error {
	const op = "commit"
	e := c.Entity
	if err := checkEntityKey(op, e); err != nil {
		return err
	}
	key := e.String()
	pk := store.EntityPK(e)
	// A head at revision 0 has no revision attribute, as a head stored
	// before heads had revisions. At base 0 and 0 the head may be absent
	// too (an entity never written), or at version 0 without a revision (a
	// crdt merge state alone, written by an earlier version), as the
	// memory store, which compares numbers, has it.
	headCond, headVals := "version = :base AND attribute_not_exists(revision)", item{":base": num(c.BaseVersion)}
	if c.BaseRevision > 0 {
		headCond, headVals[":rev"] = "version = :base AND revision = :rev", num(c.BaseRevision)
	}
	if c.BaseVersion == 0 && c.BaseRevision == 0 {
		headCond = "attribute_not_exists(pk) OR (" + headCond + ")"
	}
	var actions []types.TransactWriteItem
	if c.Head != nil {
		h := *c.Head
		h.Entity, h.Revision = e, c.HeadRevision()
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
	if a := c.Activity; a != nil {
		if err := checkParts(op, key, a.ID); err != nil {
			return err
		}
		if a.Tenant != e.Tenant {
			return fmt.Errorf("dynamo: %s %q: activity entry of tenant %q", op, key, a.Tenant)
		}
		it, err := activityItem(*a)
		if err != nil {
			return fmt.Errorf("dynamo: %s %q: activity: %w", op, key, err)
		}
		actions = append(actions, s.putAction(it, "", nil))
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
		hi = min(q.Before-1, maxChangeVersion)
	}
	if q.After >= hi { // nothing between (After+1 would wrap at MaxInt64)
		return nil, nil
	}
	lo := max(q.After+1, 0)
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
			Limit:                  queryLimit(limit - len(out)),
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

// ListConflicts returns one page of e's live conflicts in id order,
// passing over at most store.MaxConflictSkip others (see livePage).
func (s *Store) ListConflicts(ctx context.Context, e store.EntityKey, unresolved bool, p store.Page) ([]store.Conflict, string, error) {
	const op = "list conflicts"
	if err := checkEntityKey(op, e); err != nil {
		return nil, "", err
	}
	after, err := store.DecodeCursor(p.Cursor, store.PrefixConflict)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s %q: %w", op, e, err)
	}
	var match func(item) bool
	if unresolved {
		match = func(it item) bool { return !getBoolAttr(it, attrRecResolved) }
	}
	items, lastSK, err := s.livePage(ctx, op, e.String(), store.EntityPK(e), store.PrefixConflict, after, p.Limit, store.MaxConflictSkip, false, match, "")
	if err != nil {
		return nil, "", err
	}
	out := make([]store.Conflict, len(items))
	for i, it := range items {
		out[i] = conflictFrom(e, it)
	}
	if lastSK == "" {
		return out, "", nil
	}
	return out, store.EncodeCursor(lastSK), nil
}

// editPage reads one page of the live items of partition pk whose sort key
// starts with prefix and that match (nil: all), in sort key order
// (reversed with desc), and the cursor of the next page. A page is full,
// and has a next cursor, only when a further matching item exists.
func (s *Store) editPage(ctx context.Context, op, key, pk, prefix string, p store.Page, desc bool, match func(item) bool) ([]item, string, error) {
	after, err := store.DecodeCursor(p.Cursor, prefix)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s %q: %w", op, key, err)
	}
	items, lastSK, err := s.livePage(ctx, op, key, pk, prefix, after, p.Limit, 0, desc, match, "")
	if err != nil || lastSK == "" {
		return items, "", err
	}
	return items, store.EncodeCursor(lastSK), nil
}

// AddComment creates a comment and, optionally, an idempotency record, in
// one transaction.
func (s *Store) AddComment(ctx context.Context, c store.Comment, idem *store.Idempotency) error {
	const op = "add comment"
	if err := checkEntityKey(op, c.Entity, c.ID, c.UserID); err != nil {
		return err
	}
	c.Version = store.FirstCommentVersion
	actions := []types.TransactWriteItem{s.putAction(commentItem(c), "attribute_not_exists(pk)", nil),
		s.outboxAction(store.CommentOutboxItem(c, store.CommentAdded, c.UserID, c.CreatedAt))}
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
		store.AttrPK:       str(store.EntityPK(c.Entity)),
		store.AttrSK:       str(store.CommentSK(c.ID)),
		attrID:             str(c.ID),
		attrUserID:         str(c.UserID),
		attrCommentText:    str(c.Text),
		attrRecCreatedAt:   str(formatTime(c.CreatedAt)),
		attrRecResolved:    boolAttr(c.Resolved),
		attrCommentVersion: num(c.Version),
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
		Version:    store.CommentVersion(getN(it, attrCommentVersion)),
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

// ResolveComment marks a comment resolved or unresolved at its next
// version: it reads the comment, then updates it on the condition that
// its version is still the one read (or still absent, for a comment
// stored before comments had versions), with the outbox item of the
// event, in one transaction. A concurrent resolve that wrote first fails
// the condition, and the comment is read again, so no two writes store
// the same version and the comment returned is the one written.
func (s *Store) ResolveComment(ctx context.Context, e store.EntityKey, id string, resolved bool, userID string, at time.Time) (store.Comment, error) {
	const op = "resolve comment"
	if err := checkEntityKey(op, e, id, userID); err != nil {
		return store.Comment{}, err
	}
	key, pk, sk := e.String()+"/"+id, store.EntityPK(e), store.CommentSK(id)
	// A transaction cancelled by a conflicting one, or by the comment
	// vanishing, is read again: the read then tells which.
	for range attempts {
		it, err := s.get(ctx, op, key, pk, sk)
		if err != nil {
			return store.Comment{}, err
		}
		if it == nil {
			return store.Comment{}, fmt.Errorf("dynamo: %s %q %q: %w", op, e, id, store.ErrNotFound)
		}
		c := commentFrom(e, it)
		c.Version++
		c.Resolved, c.ResolvedBy, c.ResolvedAt = resolved, "", time.Time{}
		update, vals := "SET resolved = :r, version = :nv REMOVE resolvedBy, resolvedAt", item{":r": boolAttr(false)}
		if resolved {
			c.ResolvedBy, c.ResolvedAt = userID, parseTime(formatTime(at))
			update = "SET resolved = :r, resolvedBy = :by, resolvedAt = :at, version = :nv"
			vals = item{":r": boolAttr(true), ":by": str(userID), ":at": str(formatTime(at))}
		}
		vals[":nv"] = num(c.Version)
		cond := "attribute_exists(pk) AND attribute_not_exists(version)"
		if v, ok := it[attrCommentVersion]; ok {
			cond, vals[":v"] = "version = :v", v
		}
		err = s.transact(ctx, op, key, []types.TransactWriteItem{
			s.updateAction(keyOf(pk, sk), update, cond, vals),
			s.outboxAction(store.CommentOutboxItem(c, store.CommentResolveEvent(resolved), userID, at)),
		})
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return store.Comment{}, err
		}
	}
	return store.Comment{}, contention(op, key)
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
