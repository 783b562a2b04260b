package memory

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// lockIndexPK is the partition that stands in for the expiry index of
// lock items: one item per lock, sorted by expiry, so that ExpiredLocks
// reads expired locks in order without looking at anything else.
const lockIndexPK = "IDX#" + store.IndexExpiry + "#" + store.KindLock

// Feature items kept in record.item.
type (
	lockItem    struct{ lock store.Lock }
	fenceItem   struct{ grant store.Lock } // the last grant: Entity, Token, Holder, HolderName, AcquiredAt, GrantedAt
	revLockItem struct{ entity store.EntityKey }
	lockIdxItem struct{ lockPK string }
)

// lockIndexSK is the sort key of a lock in lockIndexPK: its expiry, then
// its key.
func lockIndexSK(exp int64, lockPK string) string { return fmt.Sprintf("%020d#%s", exp, lockPK) }

// checkEntityKey rejects entity keys that would corrupt a key.
func checkEntityKey(op string, e store.EntityKey, more ...string) error {
	return checkParts(op, e.String(), append([]string{e.Tenant, e.Type, e.ID}, more...)...)
}

// liveLock returns the live lock stored at pk, if any.
func (s *Store) liveLock(pk string, now int64) (store.Lock, bool) {
	r, ok := s.get(pk, store.SKLock)
	if !ok || !r.live(now) {
		return store.Lock{}, false
	}
	return r.item.(lockItem).lock, true
}

// writeLock stores l with its reverse item and index entry, replacing
// those of old (the lock previously stored, if any).
func (s *Store) writeLock(l store.Lock, old *store.Lock) {
	pk := store.LockPK(l.Entity)
	if old != nil {
		s.unindexLock(*old)
	}
	exp := expSeconds(l.ExpiresAt)
	s.put(pk, store.SKLock, record{expires: exp, item: lockItem{lock: l}})
	s.put(store.ConnPK(l.ConnID), pk, record{expires: exp, item: revLockItem{entity: l.Entity}})
	s.put(lockIndexPK, lockIndexSK(exp, pk), record{item: lockIdxItem{lockPK: pk}})
}

// unindexLock removes the reverse item and index entry of l.
func (s *Store) unindexLock(l store.Lock) {
	pk := store.LockPK(l.Entity)
	s.del(store.ConnPK(l.ConnID), pk)
	s.del(lockIndexPK, lockIndexSK(expSeconds(l.ExpiresAt), pk))
}

// deleteLock removes the lock l and its reverse item and index entry.
func (s *Store) deleteLock(l store.Lock) {
	s.unindexLock(l)
	s.del(store.LockPK(l.Entity), store.SKLock)
}

// checkLockConn refuses a lock write for connID unless its connection is
// live (see store.Locks): the caller holds s.mu, under which
// DeleteConnection removes the connection before ReleaseConnectionLocks
// runs, so the write either comes first and is released, or is refused.
func (s *Store) checkLockConn(op, connID string, now int64) error {
	if r, ok := s.get(store.ConnPK(connID), store.SKMeta); !ok || !r.live(now) {
		return fmt.Errorf("memory: %s: connection %q: %w", op, connID, store.ErrNotFound)
	}
	return nil
}

// normalizeLock gives l the representation a round trip through DynamoDB
// yields.
func normalizeLock(l store.Lock) store.Lock {
	l.AcquiredAt = l.AcquiredAt.UTC()
	l.ExpiresAt = time.Unix(l.ExpiresAt.Unix(), 0).UTC()
	return l
}

// AcquireLock grants or renews a lock. See store.Locks.AcquireLock.
func (s *Store) AcquireLock(ctx context.Context, l store.Lock) (store.Lock, error) {
	const op = "acquire lock"
	if err := checkEntityKey(op, l.Entity, l.Holder, l.ConnID); err != nil {
		return store.Lock{}, err
	}
	if err := store.CheckLockExpiry("memory", op, l.Entity, l.ExpiresAt); err != nil {
		return store.Lock{}, err
	}
	l = normalizeLock(l)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pk := store.LockPK(l.Entity)
	var old *store.Lock
	held := false // old is live: l renews it
	if r, ok := s.get(pk, store.SKLock); ok {
		cur := r.item.(lockItem).lock
		old, held = &cur, r.live(now)
		if held && cur.Holder != l.Holder {
			return cur, fmt.Errorf("memory: %s %q: held by %q: %w", op, l.Entity, cur.Holder, store.ErrLockHeld)
		}
	}
	if err := s.checkLockConn(op, l.ConnID, now); err != nil {
		return store.Lock{}, err
	}
	if held {
		l.Token, l.AcquiredAt = old.Token, old.AcquiredAt
		s.writeLock(l, old)
		return l, nil
	}
	fence, _ := s.get(pk, store.SKFence)
	var token int64 = 1
	if fence.item != nil {
		token = fence.item.(fenceItem).grant.Token + 1
	}
	l.Token = token
	s.put(pk, store.SKFence, record{item: fenceItem{grant: store.Lock{Entity: l.Entity, Token: token,
		Holder: l.Holder, HolderName: l.HolderName, AcquiredAt: l.AcquiredAt, GrantedAt: s.clock.Now()}}})
	at := s.clock.Now()
	if old != nil {
		s.putOutbox(store.LockOutboxItem(*old, store.LockExpired, at))
	}
	s.writeLock(l, old)
	s.putOutbox(store.LockOutboxItem(l, store.LockAcquired, at))
	return l, nil
}

// RenewLock extends the holder's live lock. See store.Locks.RenewLock.
func (s *Store) RenewLock(ctx context.Context, e store.EntityKey, holder, connID string, expiresAt time.Time) (store.Lock, error) {
	const op = "renew lock"
	if err := checkEntityKey(op, e, holder, connID); err != nil {
		return store.Lock{}, err
	}
	if err := store.CheckLockExpiry("memory", op, e, expiresAt); err != nil {
		return store.Lock{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.liveLock(store.LockPK(e), s.now())
	if !ok || cur.Holder != holder {
		return store.Lock{}, fmt.Errorf("memory: %s %q by %q: %w", op, e, holder, store.ErrNotHolder)
	}
	if err := s.checkLockConn(op, connID, s.now()); err != nil {
		return store.Lock{}, err
	}
	l := cur
	l.ConnID = connID
	l.ExpiresAt = expiresAt
	l = normalizeLock(l)
	s.writeLock(l, &cur)
	return l, nil
}

// ReleaseLock deletes the holder's live lock. See store.Locks.ReleaseLock.
func (s *Store) ReleaseLock(ctx context.Context, e store.EntityKey, holder string) (store.Lock, error) {
	const op = "release lock"
	if err := checkEntityKey(op, e, holder); err != nil {
		return store.Lock{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.LockPK(e), store.SKLock)
	if !ok {
		return store.Lock{}, fmt.Errorf("memory: %s %q by %q: %w", op, e, holder, store.ErrNotHolder)
	}
	cur := r.item.(lockItem).lock
	if !r.live(s.now()) || cur.Holder != holder {
		return cur, fmt.Errorf("memory: %s %q by %q: %w", op, e, holder, store.ErrNotHolder)
	}
	s.deleteLock(cur)
	s.putOutbox(store.LockOutboxItem(cur, store.LockReleased, s.clock.Now()))
	return cur, nil
}

// GetLock returns the live lock on e.
func (s *Store) GetLock(ctx context.Context, e store.EntityKey) (store.Lock, error) {
	const op = "get lock"
	if err := checkEntityKey(op, e); err != nil {
		return store.Lock{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.liveLock(store.LockPK(e), s.now())
	if !ok {
		return store.Lock{}, fmt.Errorf("memory: %s %q: %w", op, e, store.ErrNotFound)
	}
	return l, nil
}

// ReleaseConnectionLocks deletes the locks held through connID.
func (s *Store) ReleaseConnectionLocks(ctx context.Context, connID string) ([]store.Lock, error) {
	const op = "release connection locks"
	if err := checkParts(op, connID, connID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	connPK := store.ConnPK(connID)
	var out []store.Lock
	for _, sk := range s.sortKeys(connPK, store.PrefixLock, "") {
		rev, _ := s.get(connPK, sk)
		s.del(connPK, sk)
		r, ok := s.get(store.LockPK(rev.item.(revLockItem).entity), store.SKLock)
		if !ok {
			continue
		}
		l := r.item.(lockItem).lock
		if l.ConnID != connID {
			continue
		}
		event := store.LockReleased
		if !r.live(s.now()) {
			event = store.LockExpired // it lapsed before its connection went
		}
		s.deleteLock(l)
		s.putOutbox(store.LockOutboxItem(l, event, s.clock.Now()))
		out = append(out, l)
	}
	return out, nil
}

// CountConnectionLocks counts connID's live reverse lock items.
func (s *Store) CountConnectionLocks(ctx context.Context, connID string) (int, error) {
	const op = "count connection locks"
	if err := checkParts(op, connID, connID); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	connPK, now, n := store.ConnPK(connID), s.now(), 0
	for _, sk := range s.sortKeys(connPK, store.PrefixLock, "") {
		if rev, ok := s.get(connPK, sk); ok && rev.live(now) {
			n++
		}
	}
	return n, nil
}

// ExpiredLocks lists expired locks, oldest expiry first, from the lock
// index partition.
func (s *Store) ExpiredLocks(ctx context.Context, now time.Time, limit int) ([]store.Lock, error) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := now.Unix()
	var out []store.Lock
	for _, sk := range s.sortKeys(lockIndexPK, "", "") {
		if len(out) == limit {
			break
		}
		idx, _ := s.get(lockIndexPK, sk)
		r, ok := s.get(idx.item.(lockIdxItem).lockPK, store.SKLock)
		if !ok {
			continue
		}
		if r.expires > cutoff {
			break
		}
		out = append(out, r.item.(lockItem).lock)
	}
	return out, nil
}

// DeleteExpiredLock deletes l's lock while it is the same grant and
// expired.
func (s *Store) DeleteExpiredLock(ctx context.Context, l store.Lock) (bool, error) {
	const op = "delete expired lock"
	if err := checkEntityKey(op, l.Entity); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.LockPK(l.Entity), store.SKLock)
	if !ok || r.live(s.now()) {
		return false, nil
	}
	cur := r.item.(lockItem).lock
	if cur.Token != l.Token {
		return false, nil
	}
	s.deleteLock(cur)
	s.putOutbox(store.LockOutboxItem(cur, store.LockExpired, s.clock.Now()))
	return true, nil
}

// LastGrant returns the grant the fencing counter of e recorded last,
// when e has no lock item. See store.Locks.LastGrant.
func (s *Store) LastGrant(ctx context.Context, e store.EntityKey) (store.Lock, bool, error) {
	const op = "last grant"
	if err := checkEntityKey(op, e); err != nil {
		return store.Lock{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := store.LockPK(e)
	fence, ok := s.get(pk, store.SKFence)
	if _, held := s.get(pk, store.SKLock); held || !ok {
		return store.Lock{}, false, nil
	}
	return fence.item.(fenceItem).grant, true, nil
}

// ExpiredByTTL writes the outbox item of the expiry of l, as
// DeleteExpiredLock does. See store.Locks.ExpiredByTTL.
func (s *Store) ExpiredByTTL(ctx context.Context, l store.Lock) error {
	const op = "lock expired by TTL"
	if err := checkEntityKey(op, l.Entity); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putOutbox(store.LockOutboxItem(l, store.LockExpired, s.clock.Now()))
	return nil
}

// Entity records kept in record.item.
type (
	headItem     struct{ head store.Head }
	changeItem   struct{ change store.Change }
	conflictItem struct{ conflict store.Conflict }
	idemItem     struct{ idem store.Idempotency }
	commentItem  struct{ comment store.Comment }
)

func cloneHead(h store.Head) store.Head {
	h.Doc, h.State = bytes.Clone(h.Doc), bytes.Clone(h.State)
	h.UpdatedAt = h.UpdatedAt.UTC()
	return h
}

func cloneConflict(c store.Conflict) store.Conflict {
	c.Data = bytes.Clone(c.Data)
	c.CreatedAt = c.CreatedAt.UTC()
	if !c.ExpiresAt.IsZero() {
		c.ExpiresAt = time.Unix(c.ExpiresAt.Unix(), 0).UTC()
	}
	return c
}

func cloneIdem(i store.Idempotency) store.Idempotency {
	i.Reply = bytes.Clone(i.Reply)
	if !i.ExpiresAt.IsZero() {
		i.ExpiresAt = time.Unix(i.ExpiresAt.Unix(), 0).UTC()
	}
	return i
}

// LoadEntity reads e's head and lock and, optionally, an idempotency
// record.
func (s *Store) LoadEntity(ctx context.Context, e store.EntityKey, userID, messageID string) (store.EntityState, error) {
	const op = "load entity"
	if err := checkEntityKey(op, e); err != nil {
		return store.EntityState{}, err
	}
	if messageID != "" {
		if err := checkParts(op, e.String(), userID); err != nil {
			return store.EntityState{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var st store.EntityState
	if r, ok := s.get(store.EntityPK(e), store.SKHead); ok {
		st.Head = cloneHead(r.item.(headItem).head)
	}
	if l, ok := s.liveLock(store.LockPK(e), now); ok {
		st.Lock = &l
	}
	if messageID != "" {
		if r, ok := s.get(store.IdemPK(e.Tenant, userID), messageID); ok && r.live(now) {
			i := cloneIdem(r.item.(idemItem).idem)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.EntityPK(e), store.SKHead)
	if !ok {
		return store.Head{}, fmt.Errorf("memory: %s %q: %w", op, e, store.ErrNotFound)
	}
	return cloneHead(r.item.(headItem).head), nil
}

// Commit performs c atomically. See store.Entities.Commit.
func (s *Store) Commit(ctx context.Context, c store.Commit) error {
	const op = "commit"
	e := c.Entity
	if err := checkEntityKey(op, e); err != nil {
		return err
	}
	if c.Idempotency != nil {
		if err := checkParts(op, e.String(), c.Idempotency.Tenant, c.Idempotency.UserID); err != nil {
			return err
		}
	}
	if c.Conflict != nil {
		if err := checkParts(op, e.String(), c.Conflict.ID); err != nil {
			return err
		}
	}
	if a := c.Activity; a != nil {
		if err := checkParts(op, e.String(), a.ID); err != nil {
			return err
		}
		if a.Tenant != e.Tenant {
			return fmt.Errorf("memory: %s %q: activity entry of tenant %q", op, e, a.Tenant)
		}
	}
	fail := func(why string) error {
		return fmt.Errorf("memory: %s %q at version %d: %s: %w", op, e, c.BaseVersion, why, store.ErrConditionFailed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pk := store.EntityPK(e)
	var version, revision int64
	if r, ok := s.get(pk, store.SKHead); ok {
		version, revision = r.item.(headItem).head.Version, r.item.(headItem).head.Revision
	}
	if version != c.BaseVersion || revision != c.BaseRevision {
		return fail(fmt.Sprintf("head is at version %d revision %d", version, revision))
	}
	if c.Change != nil {
		if _, ok := s.get(pk, store.ChangeSK(c.Change.Version)); ok {
			return fail(fmt.Sprintf("version %d exists", c.Change.Version))
		}
	}
	if i := c.Idempotency; i != nil {
		if r, ok := s.get(store.IdemPK(i.Tenant, i.UserID), i.MessageID); ok && r.live(now) {
			return fail("idempotency record exists")
		}
	}
	if cf := c.Conflict; cf != nil {
		r, ok := s.get(pk, store.ConflictSK(cf.ID))
		switch {
		case !cf.Resolved && ok:
			return fail("conflict exists")
		case cf.Resolved && (!ok || !r.live(now) || r.item.(conflictItem).conflict.Resolved):
			return fail("conflict is not open")
		}
	}
	if f := c.Fence; f != nil {
		l, ok := s.liveLock(store.LockPK(e), now)
		if !ok || l.Holder != f.Holder || l.Token != f.Token {
			return fail("fence does not hold")
		}
	}
	if c.Head != nil {
		h := cloneHead(*c.Head)
		h.Entity, h.Revision = e, c.HeadRevision()
		s.put(pk, store.SKHead, record{item: headItem{head: h}})
	}
	if ch := c.Change; ch != nil {
		cp := store.Change{Entity: e, Version: ch.Version, Data: bytes.Clone(ch.Data)}
		s.put(pk, store.ChangeSK(ch.Version), record{item: changeItem{change: cp}})
		s.putOutbox(store.OutboxItem{Entity: e, Version: ch.Version, Data: bytes.Clone(ch.Data)})
	}
	if i := c.Idempotency; i != nil {
		cp := cloneIdem(*i)
		s.put(store.IdemPK(i.Tenant, i.UserID), i.MessageID, record{expires: expSeconds(cp.ExpiresAt), item: idemItem{idem: cp}})
	}
	if cf := c.Conflict; cf != nil {
		cp := cloneConflict(*cf)
		cp.Entity = e
		s.put(pk, store.ConflictSK(cf.ID), record{expires: expSeconds(cp.ExpiresAt), item: conflictItem{conflict: cp}})
	}
	if a := c.Activity; a != nil {
		s.putActivity(*a)
	}
	if c.Trim > 0 {
		s.del(pk, store.ChangeSK(c.Trim))
	}
	return nil
}

// ListChanges returns e's changes selected by q.
func (s *Store) ListChanges(ctx context.Context, e store.EntityKey, q store.ChangeQuery) ([]store.Change, error) {
	const op = "list changes"
	if err := checkEntityKey(op, e); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := store.EntityPK(e)
	sks := s.sortKeys(pk, store.PrefixChange, store.ChangeSK(q.After))
	if q.Before > 0 {
		end := len(sks)
		for end > 0 && sks[end-1] >= store.ChangeSK(q.Before) {
			end--
		}
		sks = sks[:end]
	}
	if q.Desc {
		for i, j := 0, len(sks)-1; i < j; i, j = i+1, j-1 {
			sks[i], sks[j] = sks[j], sks[i]
		}
	}
	var out []store.Change
	for _, sk := range sks {
		if len(out) == limit {
			break
		}
		r, _ := s.get(pk, sk)
		ch := r.item.(changeItem).change
		ch.Data = bytes.Clone(ch.Data)
		out = append(out, ch)
	}
	return out, nil
}

// GetChange returns version v of e.
func (s *Store) GetChange(ctx context.Context, e store.EntityKey, v int64) (store.Change, error) {
	const op = "get change"
	if err := checkEntityKey(op, e); err != nil {
		return store.Change{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.EntityPK(e), store.ChangeSK(v))
	if !ok {
		return store.Change{}, fmt.Errorf("memory: %s %q version %d: %w", op, e, v, store.ErrNotFound)
	}
	ch := r.item.(changeItem).change
	ch.Data = bytes.Clone(ch.Data)
	return ch, nil
}

// GetIdempotency returns a live idempotency record.
func (s *Store) GetIdempotency(ctx context.Context, tenant, userID, messageID string) (store.Idempotency, error) {
	const op = "get idempotency"
	key := tenant + "/" + userID + "/" + messageID
	if err := checkParts(op, key, tenant, userID); err != nil {
		return store.Idempotency{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.IdemPK(tenant, userID), messageID)
	if !ok || !r.live(s.now()) {
		return store.Idempotency{}, fmt.Errorf("memory: %s %q: %w", op, key, store.ErrNotFound)
	}
	return cloneIdem(r.item.(idemItem).idem), nil
}

// GetConflict returns a live conflict of e.
func (s *Store) GetConflict(ctx context.Context, e store.EntityKey, id string) (store.Conflict, error) {
	const op = "get conflict"
	if err := checkEntityKey(op, e, id); err != nil {
		return store.Conflict{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.EntityPK(e), store.ConflictSK(id))
	if !ok || !r.live(s.now()) {
		return store.Conflict{}, fmt.Errorf("memory: %s %q %q: %w", op, e, id, store.ErrNotFound)
	}
	return cloneConflict(r.item.(conflictItem).conflict), nil
}

// ListConflicts returns one page of e's live conflicts in id order,
// passing over at most store.MaxConflictSkip others.
func (s *Store) ListConflicts(ctx context.Context, e store.EntityKey, unresolved bool, p store.Page) ([]store.Conflict, string, error) {
	const op = "list conflicts"
	if err := checkEntityKey(op, e); err != nil {
		return nil, "", err
	}
	after, err := store.DecodeCursor(p.Cursor, store.PrefixConflict)
	if err != nil {
		return nil, "", fmt.Errorf("memory: %s %q: %w", op, e, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, lastSK := s.livePage(store.EntityPK(e), store.PrefixConflict, after, p.Limit, store.MaxConflictSkip, false, func(r record) bool {
		return !unresolved || !r.item.(conflictItem).conflict.Resolved
	})
	out := make([]store.Conflict, len(recs))
	for i, r := range recs {
		out[i] = cloneConflict(r.item.(conflictItem).conflict)
	}
	if lastSK == "" {
		return out, "", nil
	}
	return out, store.EncodeCursor(lastSK), nil
}

func normalizeComment(c store.Comment) store.Comment {
	c.CreatedAt = c.CreatedAt.UTC()
	c.ResolvedAt = c.ResolvedAt.UTC()
	return c
}

// AddComment creates a comment and, optionally, an idempotency record.
func (s *Store) AddComment(ctx context.Context, c store.Comment, idem *store.Idempotency) error {
	const op = "add comment"
	if err := checkEntityKey(op, c.Entity, c.ID, c.UserID); err != nil {
		return err
	}
	if idem != nil {
		if err := checkParts(op, c.Entity.String(), idem.Tenant, idem.UserID); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := store.EntityPK(c.Entity)
	if _, ok := s.get(pk, store.CommentSK(c.ID)); ok {
		return fmt.Errorf("memory: %s %q %q: exists: %w", op, c.Entity, c.ID, store.ErrConditionFailed)
	}
	if idem != nil {
		if r, ok := s.get(store.IdemPK(idem.Tenant, idem.UserID), idem.MessageID); ok && r.live(s.now()) {
			return fmt.Errorf("memory: %s %q %q: idempotency record exists: %w", op, c.Entity, c.ID, store.ErrConditionFailed)
		}
		cp := cloneIdem(*idem)
		s.put(store.IdemPK(idem.Tenant, idem.UserID), idem.MessageID, record{expires: expSeconds(cp.ExpiresAt), item: idemItem{idem: cp}})
	}
	c = normalizeComment(c)
	c.Version = store.FirstCommentVersion
	s.put(pk, store.CommentSK(c.ID), record{item: commentItem{comment: c}})
	s.putOutbox(store.CommentOutboxItem(c, store.CommentAdded, c.UserID, c.CreatedAt))
	return nil
}

// GetComment returns a comment of e.
func (s *Store) GetComment(ctx context.Context, e store.EntityKey, id string) (store.Comment, error) {
	const op = "get comment"
	if err := checkEntityKey(op, e, id); err != nil {
		return store.Comment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.EntityPK(e), store.CommentSK(id))
	if !ok {
		return store.Comment{}, fmt.Errorf("memory: %s %q %q: %w", op, e, id, store.ErrNotFound)
	}
	return r.item.(commentItem).comment, nil
}

// ResolveComment marks a comment resolved or unresolved, at its next
// version.
func (s *Store) ResolveComment(ctx context.Context, e store.EntityKey, id string, resolved bool, userID string, at time.Time) (store.Comment, error) {
	const op = "resolve comment"
	if err := checkEntityKey(op, e, id, userID); err != nil {
		return store.Comment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := store.EntityPK(e)
	r, ok := s.get(pk, store.CommentSK(id))
	if !ok {
		return store.Comment{}, fmt.Errorf("memory: %s %q %q: %w", op, e, id, store.ErrNotFound)
	}
	c := r.item.(commentItem).comment
	c.Version = store.CommentVersion(c.Version) + 1
	c.Resolved = resolved
	if resolved {
		c.ResolvedBy, c.ResolvedAt = userID, at
	} else {
		c.ResolvedBy, c.ResolvedAt = "", time.Time{}
	}
	c = normalizeComment(c)
	s.put(pk, store.CommentSK(id), record{item: commentItem{comment: c}})
	s.putOutbox(store.CommentOutboxItem(c, store.CommentResolveEvent(resolved), userID, at))
	return c, nil
}

// ListComments returns one page of e's comments, newest first.
func (s *Store) ListComments(ctx context.Context, e store.EntityKey, p store.Page) ([]store.Comment, string, error) {
	const op = "list comments"
	if err := checkEntityKey(op, e); err != nil {
		return nil, "", err
	}
	before, err := store.DecodeCursor(p.Cursor, store.PrefixComment)
	if err != nil {
		return nil, "", fmt.Errorf("memory: %s %q: %w", op, e, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, lastSK := s.livePage(store.EntityPK(e), store.PrefixComment, before, p.Limit, 0, true, nil)
	out := make([]store.Comment, len(recs))
	for i, r := range recs {
		out[i] = r.item.(commentItem).comment
	}
	if lastSK == "" {
		return out, "", nil
	}
	return out, store.EncodeCursor(lastSK), nil
}
