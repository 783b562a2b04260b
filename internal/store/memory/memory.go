// Package memory is the embedded implementation of the store contracts: one
// in-process table guarded by a mutex, laid out with the same partition and
// sort keys as the DynamoDB table (see store/schema.go), so that listings
// come back in the same order and cursors page the same way.
//
// Its limits, by design:
//
//   - single process: two processes (or two Lambdas) each see their own
//     data; nothing is shared or replicated;
//   - not durable: everything is lost when the process exits;
//   - expiry is lazy: a record whose ExpiresAt is at or before the clock's
//     current time is treated as absent, but it stays in memory until it is
//     overwritten or deleted; there is no background TTL deletion;
//   - one lock for everything: fine for the local server and tests, not
//     meant for high concurrency.
//
// Expiry is second-granular, as with DynamoDB's epoch-seconds TTL
// attribute: ExpiresAt is truncated to the second when stored, and a zero
// ExpiresAt means the record never expires.
package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// defaultPageSize is the page size used when a Page has no limit.
const defaultPageSize = 100

// record is one item of the table. Which fields are set depends on the
// item kind (connection, user index, subscription, reverse subscription).
type record struct {
	expires  int64            // epoch seconds; 0 means never
	conn     store.Connection // connection item
	subCount int              // connection item: subscriptions held
	connID   string           // index and subscription items
	tenant   string           // subscription items
	channel  string           // subscription items
	item     any              // feature items (presence, locks, entities, ...): their own record types
}

// live reports whether r has not expired at now (epoch seconds).
func (r record) live(now int64) bool { return r.expires == 0 || r.expires > now }

// partition holds the items of one partition key, with their sort keys
// kept in ascending order.
type partition struct {
	sks   []string
	items map[string]record
}

// Store is the embedded store. The zero value is not usable; call New.
type Store struct {
	clock store.Clock

	mu    sync.Mutex
	parts map[string]*partition
}

var _ store.Store = (*Store)(nil)

// New returns an empty store that reads the current time from clock (nil
// means time.Now).
func New(clock store.Clock) *Store {
	return &Store{clock: clock, parts: make(map[string]*partition)}
}

func (s *Store) now() int64 { return s.clock.Now().Unix() }

// get returns the item at (pk, sk) whether live or not, and whether it is
// physically present.
func (s *Store) get(pk, sk string) (record, bool) {
	p := s.parts[pk]
	if p == nil {
		return record{}, false
	}
	r, ok := p.items[sk]
	return r, ok
}

// put creates or replaces the item at (pk, sk).
func (s *Store) put(pk, sk string, r record) {
	p := s.parts[pk]
	if p == nil {
		p = &partition{items: make(map[string]record)}
		s.parts[pk] = p
	}
	if _, ok := p.items[sk]; !ok {
		i, _ := slices.BinarySearch(p.sks, sk)
		p.sks = slices.Insert(p.sks, i, sk)
	}
	p.items[sk] = r
}

// del removes the item at (pk, sk) if present.
func (s *Store) del(pk, sk string) {
	p := s.parts[pk]
	if p == nil {
		return
	}
	if _, ok := p.items[sk]; !ok {
		return
	}
	delete(p.items, sk)
	if i, found := slices.BinarySearch(p.sks, sk); found {
		p.sks = slices.Delete(p.sks, i, i+1)
	}
	if len(p.sks) == 0 {
		delete(s.parts, pk)
	}
}

// sortKeys returns the sort keys of pk that start with prefix and sort
// strictly after after, in ascending order. The result is a copy, so the
// caller may modify the table while iterating over it.
func (s *Store) sortKeys(pk, prefix, after string) []string {
	p := s.parts[pk]
	if p == nil {
		return nil
	}
	start := prefix
	if after > start {
		start = after
	}
	i, found := slices.BinarySearch(p.sks, start)
	if found && start == after {
		i++
	}
	var out []string
	for ; i < len(p.sks) && strings.HasPrefix(p.sks[i], prefix); i++ {
		out = append(out, p.sks[i])
	}
	return out
}

// PutConnection creates or replaces the connection and its user index
// entry. Replacing keeps the connection's subscriptions and moves the user
// index entry when the user or tenant changed.
func (s *Store) PutConnection(ctx context.Context, c store.Connection) error {
	return s.OpenConnection(ctx, c, 0)
}

// OpenConnection is PutConnection that counts c against its user's limit
// of max live connections. See store.Connections.OpenConnection.
func (s *Store) OpenConnection(ctx context.Context, c store.Connection, max int) error {
	op := "put connection"
	if max > 0 {
		op = "open connection"
	}
	if err := checkParts(op, c.ID, c.ID, c.Tenant, c.UserID); err != nil {
		return err
	}
	c = normalize(c)
	exp := expSeconds(c.ExpiresAt)
	userPK := store.UserPK(c.Tenant, c.UserID)

	s.mu.Lock()
	defer s.mu.Unlock()
	var count store.ConnCount
	if max > 0 {
		now := s.now()
		var old store.ConnCount
		if r, ok := s.get(userPK, store.SKConnCount); ok && r.live(now) {
			old = r.item.(store.ConnCount)
		}
		var ok bool
		count, ok, _ = old.Counted(now, c.ID).Opens(c.ID, exp, max, func(ids []string) (map[string]bool, error) {
			open := map[string]bool{}
			for _, id := range ids {
				r, found := s.get(store.ConnPK(id), store.SKMeta)
				open[id] = found && r.live(now) && r.conn.Tenant == c.Tenant && r.conn.UserID == c.UserID
			}
			return open, nil
		})
		if !ok {
			return fmt.Errorf("memory: %s %q of %s/%s: %d open: %w", op, c.ID, c.Tenant, c.UserID, max, store.ErrTooManyConnections)
		}
	}
	rec := record{expires: exp, conn: c}
	if old, ok := s.get(store.ConnPK(c.ID), store.SKMeta); ok {
		rec.subCount = old.subCount
		if oldPK := store.UserPK(old.conn.Tenant, old.conn.UserID); oldPK != userPK {
			s.del(oldPK, store.ConnPK(c.ID))
			s.uncount(oldPK, c.ID)
		}
	}
	s.put(store.ConnPK(c.ID), store.SKMeta, rec)
	s.put(userPK, store.ConnPK(c.ID), record{expires: exp, connID: c.ID})
	if count != nil {
		s.put(userPK, store.SKConnCount, record{expires: count.Expiry(), item: count})
	}
	return nil
}

// uncount removes id from the connection count of the user partition
// userPK, if it is there. s.mu must be held.
func (s *Store) uncount(userPK, id string) {
	r, ok := s.get(userPK, store.SKConnCount)
	if !ok {
		return
	}
	old := r.item.(store.ConnCount)
	if _, counted := old[id]; !counted {
		return
	}
	next := make(store.ConnCount, len(old))
	for other, exp := range old {
		if other != id {
			next[other] = exp
		}
	}
	s.put(userPK, store.SKConnCount, record{expires: next.Expiry(), item: next})
}

// GetConnection returns the live connection with id, or store.ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	const op = "get connection"
	if err := checkParts(op, id, id); err != nil {
		return store.Connection{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.ConnPK(id), store.SKMeta)
	if !ok || !r.live(s.now()) {
		return store.Connection{}, fmt.Errorf("memory: %s %q: %w", op, id, store.ErrNotFound)
	}
	return clone(r.conn), nil
}

// TouchConnection sets LastSeenAt of a live connection; it does nothing
// for an absent one.
func (s *Store) TouchConnection(ctx context.Context, id string, at time.Time) error {
	const op = "touch connection"
	if err := checkParts(op, id, id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.ConnPK(id), store.SKMeta)
	if !ok || !r.live(s.now()) {
		return nil
	}
	r.conn.LastSeenAt = at.UTC()
	s.put(store.ConnPK(id), store.SKMeta, r)
	return nil
}

// DeleteConnection removes the connection, its user index entry and all
// its subscriptions, and returns the connection and its channels when it
// was live.
func (s *Store) DeleteConnection(ctx context.Context, id string) (store.Connection, []string, error) {
	const op = "delete connection"
	if err := checkParts(op, id, id); err != nil {
		return store.Connection{}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pk := store.ConnPK(id)
	var (
		conn   store.Connection
		report bool
	)
	if meta, ok := s.get(pk, store.SKMeta); ok {
		userPK := store.UserPK(meta.conn.Tenant, meta.conn.UserID)
		s.del(userPK, pk)
		s.uncount(userPK, id)
		s.del(pk, store.SKMeta)
		if meta.live(now) {
			conn, report = clone(meta.conn), true
		}
	}
	var channels []string
	for _, sk := range s.sortKeys(pk, store.PrefixSub, "") {
		rev, _ := s.get(pk, sk)
		s.del(store.ChanPK(rev.tenant, rev.channel), pk)
		s.del(pk, sk)
		if report && rev.live(now) {
			channels = append(channels, rev.channel)
		}
	}
	return conn, channels, nil
}

// UserConnections lists the live connections of one user of a tenant,
// ordered by connection id.
func (s *Store) UserConnections(ctx context.Context, tenant, userID string) ([]store.Connection, error) {
	const op = "user connections"
	key := tenant + "/" + userID
	if err := checkParts(op, key, tenant, userID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pk := store.UserPK(tenant, userID)
	var out []store.Connection
	for _, sk := range s.sortKeys(pk, store.PrefixConn, "") {
		idx, _ := s.get(pk, sk)
		if !idx.live(now) {
			continue
		}
		meta, ok := s.get(store.ConnPK(idx.connID), store.SKMeta)
		if !ok || !meta.live(now) || meta.conn.Tenant != tenant || meta.conn.UserID != userID {
			continue
		}
		out = append(out, clone(meta.conn))
	}
	return out, nil
}

// Subscribe adds connID to the channel of tenant. See
// store.Subscriptions.Subscribe.
func (s *Store) Subscribe(ctx context.Context, tenant, channel, connID string, max int) (bool, error) {
	const op = "subscribe"
	key := subKey(tenant, channel, connID)
	if err := checkParts(op, key, tenant, channel, connID); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	connPK, chanPK, subSK := store.ConnPK(connID), store.ChanPK(tenant, channel), store.SubSK(tenant, channel)
	meta, ok := s.get(connPK, store.SKMeta)
	if !ok || !meta.live(now) {
		return false, fmt.Errorf("memory: %s %q: connection: %w", op, key, store.ErrNotFound)
	}
	fwd, fwdOK := s.get(chanPK, connPK)
	rev, revOK := s.get(connPK, subSK)
	if fwdOK && revOK && fwd.live(now) && rev.live(now) {
		return false, nil
	}
	if !fwdOK && !revOK {
		// A new subscription: it takes one of the connection's slots.
		// Leftovers that are still physically present were counted when
		// they were written, so refreshing them does not.
		if max > 0 && meta.subCount >= max {
			return false, fmt.Errorf("memory: %s %q: %d subscriptions: %w", op, key, meta.subCount, store.ErrConditionFailed)
		}
		meta.subCount++
		s.put(connPK, store.SKMeta, meta)
	}
	item := record{expires: meta.expires, connID: connID, tenant: tenant, channel: channel}
	s.put(chanPK, connPK, item)
	s.put(connPK, subSK, item)
	return true, nil
}

// Unsubscribe removes both subscription items and reports whether the
// subscription was live.
func (s *Store) Unsubscribe(ctx context.Context, tenant, channel, connID string) (bool, error) {
	const op = "unsubscribe"
	if err := checkParts(op, subKey(tenant, channel, connID), tenant, channel, connID); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	connPK, chanPK, subSK := store.ConnPK(connID), store.ChanPK(tenant, channel), store.SubSK(tenant, channel)
	fwd, fwdOK := s.get(chanPK, connPK)
	_, revOK := s.get(connPK, subSK)
	if !fwdOK && !revOK {
		return false, nil
	}
	s.del(chanPK, connPK)
	s.del(connPK, subSK)
	if meta, ok := s.get(connPK, store.SKMeta); ok {
		meta.subCount--
		s.put(connPK, store.SKMeta, meta)
	}
	return fwdOK && fwd.live(s.now()), nil
}

// Subscribers returns one page of the live subscribers of a channel in
// ascending connection id order, and the cursor of the next page.
func (s *Store) Subscribers(ctx context.Context, tenant, channel string, p store.Page) ([]string, string, error) {
	const op = "subscribers"
	key := tenant + "/" + channel
	if err := checkParts(op, key, tenant, channel); err != nil {
		return nil, "", err
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("memory: %s %q: %w", op, key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, lastSK := s.livePage(store.ChanPK(tenant, channel), store.PrefixConn, after, p.Limit, 0, false, nil)
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.connID
	}
	if lastSK == "" {
		return ids, "", nil
	}
	return ids, encodeCursor(lastSK), nil
}

// livePage returns one page of the live records of partition pk whose sort
// key starts with prefix, comes after after in the direction read, and
// that match (nil: all), in sort key order (reversed with desc). limit <= 0
// means defaultPageSize. A page is full only when a further matching record
// exists; lastSK, the sort key of its last record, is set only then. With
// maxSkip > 0 it passes over at most maxSkip records that are expired or
// do not match: when one more follows, it stops before it, and lastSK is
// the sort key of the last record it read (as the DynamoDB store's
// livePage). The caller holds s.mu.
func (s *Store) livePage(pk, prefix, after string, limit, maxSkip int, desc bool, match func(record) bool) (recs []record, lastSK string) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	now := s.now()
	var sks []string
	if desc {
		sks = s.sortKeys(pk, prefix, "")
		slices.Reverse(sks)
	} else {
		sks = s.sortKeys(pk, prefix, after)
	}
	var last, lastRead string
	skipped := 0
	for _, sk := range sks {
		if desc && after != "" && sk >= after {
			continue
		}
		r, _ := s.get(pk, sk)
		ok := r.live(now) && (match == nil || match(r))
		switch {
		case ok && len(recs) == limit:
			return recs, last
		case !ok && maxSkip > 0 && skipped == maxSkip:
			return recs, lastRead
		case ok:
			recs = append(recs, r)
			last = sk
		default:
			skipped++
		}
		lastRead = sk
	}
	return recs, ""
}

// ChannelsOf lists the channels connID is subscribed to, ordered by
// tenant and channel.
func (s *Store) ChannelsOf(ctx context.Context, connID string) ([]string, error) {
	const op = "channels of"
	if err := checkParts(op, connID, connID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pk := store.ConnPK(connID)
	var out []string
	for _, sk := range s.sortKeys(pk, store.PrefixSub, "") {
		if r, _ := s.get(pk, sk); r.live(now) {
			out = append(out, r.channel)
		}
	}
	return out, nil
}

// normalize returns c with the representation that a round trip through
// DynamoDB yields: UTC times, ExpiresAt and TokenExpiresAt truncated to the
// second, no empty role or room list, no rooms unless RoomsKnown and no
// hidden rooms unless HiddenRoomsKnown.
func normalize(c store.Connection) store.Connection {
	c.ConnectedAt = c.ConnectedAt.UTC()
	c.LastSeenAt = c.LastSeenAt.UTC()
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = time.Time{}
	} else {
		c.ExpiresAt = time.Unix(c.ExpiresAt.Unix(), 0).UTC()
	}
	if len(c.Roles) == 0 {
		c.Roles = nil
	}
	if len(c.Rooms) == 0 || !c.RoomsKnown {
		c.Rooms = nil
	}
	if len(c.HiddenRooms) == 0 || !c.HiddenRoomsKnown {
		c.HiddenRooms = nil
	}
	if !c.TokenExpiresAt.IsZero() {
		c.TokenExpiresAt = time.Unix(c.TokenExpiresAt.Unix(), 0).UTC()
	}
	return clone(c)
}

// clone returns c with its own copy of the role and room lists.
func clone(c store.Connection) store.Connection {
	c.Roles = slices.Clone(c.Roles)
	c.Rooms = slices.Clone(c.Rooms)
	c.HiddenRooms = slices.Clone(c.HiddenRooms)
	return c
}

// expSeconds returns the epoch seconds of t, or 0 (never) for a zero t.
func expSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func subKey(tenant, channel, connID string) string {
	return tenant + "/" + channel + "/" + connID
}

func checkParts(op, key string, parts ...string) error {
	return store.CheckKeyParts("memory", op, key, parts...)
}

func encodeCursor(sk string) string { return store.EncodeCursor(sk) }

func decodeCursor(cursor string) (string, error) { return store.DecodeCursor(cursor, store.PrefixConn) }
