package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// The memory store keeps its own copy of the expiry index in the same
// table: partition idxPrefix+bucket, one item per indexed record, with a
// sort key that starts with the zero-padded expiry, so that "expired at
// now" is a prefix of a sorted partition, as with the Query on DynamoDB's
// index.
const idxPrefix = "IDX#"

// idxRef is an expiry-index item: it points at the indexed record.
type idxRef struct{ pk, sk string }

// idxSK is the sort key of an index item.
func idxSK(exp int64, pk, sk string) string {
	return fmt.Sprintf("%020d#%s#%s", exp, pk, sk)
}

// putIndexed creates or replaces the record at (pk, sk) and moves its
// expiry-index item to bucket at the record's expiry.
func (s *Store) putIndexed(pk, sk, bucket string, r record) {
	s.unindex(pk, sk, bucket)
	s.put(pk, sk, r)
	s.put(idxPrefix+bucket, idxSK(r.expires, pk, sk), record{item: idxRef{pk, sk}})
}

// delIndexed removes the record at (pk, sk) and its index item.
func (s *Store) delIndexed(pk, sk, bucket string) {
	s.unindex(pk, sk, bucket)
	s.del(pk, sk)
}

func (s *Store) unindex(pk, sk, bucket string) {
	if old, ok := s.get(pk, sk); ok {
		s.del(idxPrefix+bucket, idxSK(old.expires, pk, sk))
	}
}

// due returns the records indexed under the buckets of kind whose expiry
// is at or before now, earliest first.
func (s *Store) due(kind string, now int64) []record {
	type hit struct {
		exp int64
		r   record
	}
	var hits []hit
	for _, bucket := range store.ExpBuckets(kind) {
		pk := idxPrefix + bucket
		for _, sk := range s.sortKeys(pk, "", "") {
			exp, err := strconv.ParseInt(sk[:20], 10, 64)
			if err != nil || exp > now {
				break
			}
			ix, _ := s.get(pk, sk)
			ref := ix.item.(idxRef)
			if r, ok := s.get(ref.pk, ref.sk); ok {
				hits = append(hits, hit{exp, r})
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(a.exp, b.exp) })
	out := make([]record, len(hits))
	for i, h := range hits {
		out[i] = h.r
	}
	return out
}

// PutSession writes a session, its room entries and its alarm; creating
// one needs its live connection. See store.Presences.PutSession.
func (s *Store) PutSession(ctx context.Context, w store.SessionWrite) (store.Session, error) {
	const op = "put session"
	ses := w.Session
	key := ses.Tenant + "/" + ses.UserID + "/" + ses.ConnID
	if err := store.CheckSessionWrite("memory", op, key, ses, w.Leave); err != nil {
		return store.Session{}, err
	}
	ses = store.NormalizeSession(ses)
	pk, sk := store.PresencePK(ses.Tenant), store.PresenceSK(ses.UserID, ses.ConnID)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	conn, connOK := s.get(store.ConnPK(ses.ConnID), store.SKMeta)
	if ses.Version == 0 || w.SetHidden || w.SetRooms || w.HiddenBefore || w.SetHiddenRooms {
		// Creating a session, or setting its connection's hidden flag,
		// rooms, HiddenBefore or HiddenRooms, needs its live connection
		// (see the DynamoDB store's ConditionCheck).
		if !connOK || !conn.live(now) || conn.conn.Tenant != ses.Tenant || conn.conn.UserID != ses.UserID {
			return store.Session{}, fmt.Errorf("memory: %s %q: connection %q: %w", op, key, ses.ConnID, store.ErrNotFound)
		}
	}
	old, ok := s.get(pk, sk)
	switch {
	case ses.Version == 0 && ok && old.live(now),
		ses.Version != 0 && (!ok || !old.live(now) || old.item.(store.Session).Version != ses.Version):
		return store.Session{}, fmt.Errorf("memory: %s %q: %w", op, key, store.ErrConditionFailed)
	}
	var prev int64
	if ok {
		stale := old.item.(store.Session)
		prev = stale.Version
		for _, room := range stale.Rooms {
			if !slices.Contains(ses.Rooms, room) {
				s.del(store.RoomPK(ses.Tenant, room), sk)
			}
		}
	}
	if w.SetHidden {
		conn.conn.Hidden = ses.Hidden()
	}
	if w.SetRooms {
		conn.conn.Rooms = slices.Clone(ses.Rooms)
		if len(conn.conn.Rooms) == 0 {
			conn.conn.Rooms = nil
		}
		conn.conn.RoomsKnown = true
	}
	if w.HiddenBefore {
		conn.conn.HiddenBefore = true
	}
	if w.SetHiddenRooms {
		conn.conn.HiddenRooms, conn.conn.HiddenRoomsKnown = store.HiddenRoomsOf(w), w.HiddenRoomsKnown
	}
	if w.SetHidden || w.SetRooms || w.HiddenBefore || w.SetHiddenRooms {
		s.put(store.ConnPK(ses.ConnID), store.SKMeta, conn)
	}
	ses.Version = nextVersion(prev, s.clock.Now())
	exp := expSeconds(ses.ExpiresAt)
	s.putIndexed(pk, sk, store.SessionBucket(ses.ConnID), record{expires: exp, item: cloneSession(ses)})
	for _, room := range ses.Rooms {
		e := ses.Presence
		e.Room = room
		s.put(store.RoomPK(ses.Tenant, room), sk, record{expires: exp, item: e})
	}
	for _, room := range w.Leave {
		s.del(store.RoomPK(ses.Tenant, room), sk)
	}
	if !w.AwayAt.IsZero() {
		a := store.AwayAlarm{Tenant: ses.Tenant, UserID: ses.UserID, ConnID: ses.ConnID, At: time.Unix(w.AwayAt.Unix(), 0).UTC()}
		s.putIndexed(store.ConnPK(ses.ConnID), store.SKAway, store.AwayBucket(ses.ConnID), record{expires: a.At.Unix(), item: a})
	}
	return cloneSession(ses), nil
}

// UserSessions lists the live sessions of one user, ordered by connection
// id.
func (s *Store) UserSessions(ctx context.Context, tenant, userID string) ([]store.Session, error) {
	out, _, err := s.UserSessionsWithExpired(ctx, tenant, userID)
	return out, err
}

// UserSessionsWithExpired lists a user's sessions, live and expired
// apart. See store.Presences.UserSessionsWithExpired.
func (s *Store) UserSessionsWithExpired(ctx context.Context, tenant, userID string) ([]store.Session, []store.Session, error) {
	const op = "user sessions"
	key := tenant + "/" + userID
	if err := checkParts(op, key, tenant, userID); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pk := store.PresencePK(tenant)
	var live, expired []store.Session
	for _, sk := range s.sortKeys(pk, store.UserPresencePrefix(userID), "") {
		r, ok := s.get(pk, sk)
		switch {
		case !ok:
		case r.live(now):
			live = append(live, cloneSession(r.item.(store.Session)))
		default:
			expired = append(expired, cloneSession(r.item.(store.Session)))
		}
	}
	return live, expired, nil
}

// DeleteSession removes a session with its room entries and alarm. See
// store.Presences.DeleteSession.
func (s *Store) DeleteSession(ctx context.Context, tenant, userID, connID string) (store.Session, bool, error) {
	const op = "delete session"
	key := tenant + "/" + userID + "/" + connID
	if err := checkParts(op, key, tenant, userID, connID); err != nil {
		return store.Session{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.PresencePK(tenant), store.PresenceSK(userID, connID))
	if !ok {
		return store.Session{}, false, nil
	}
	ses := r.item.(store.Session)
	s.removeSession(ses)
	return cloneSession(ses), r.live(s.now()), nil
}

// removeSession deletes a stored session, its room entries and its alarm.
func (s *Store) removeSession(ses store.Session) {
	sk := store.PresenceSK(ses.UserID, ses.ConnID)
	s.delIndexed(store.PresencePK(ses.Tenant), sk, store.SessionBucket(ses.ConnID))
	for _, room := range ses.Rooms {
		s.del(store.RoomPK(ses.Tenant, room), sk)
	}
	if a, ok := s.get(store.ConnPK(ses.ConnID), store.SKAway); ok {
		if al, isAlarm := a.item.(store.AwayAlarm); isAlarm && al.Tenant == ses.Tenant && al.UserID == ses.UserID {
			s.delIndexed(store.ConnPK(ses.ConnID), store.SKAway, store.AwayBucket(ses.ConnID))
		}
	}
}

// ExpiredSessions lists sessions expired at now through the index.
func (s *Store) ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Session
	for _, r := range s.due(store.ExpKindPresence, now.Unix()) {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, cloneSession(r.item.(store.Session)))
	}
	return out, nil
}

// DeleteExpiredSession removes s if it is unchanged and still expired.
func (s *Store) DeleteExpiredSession(ctx context.Context, ses store.Session, now time.Time) (bool, error) {
	const op = "delete expired session"
	key := ses.Tenant + "/" + ses.UserID + "/" + ses.ConnID
	if err := checkParts(op, key, ses.Tenant, ses.UserID, ses.ConnID); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.PresencePK(ses.Tenant), store.PresenceSK(ses.UserID, ses.ConnID))
	if !ok || r.live(now.Unix()) || r.item.(store.Session).Version != ses.Version {
		return false, nil
	}
	s.removeSession(r.item.(store.Session))
	return true, nil
}

// RoomEntriesOf returns a connection's entries in rooms, live or expired.
// See store.Presences.RoomEntriesOf.
func (s *Store) RoomEntriesOf(ctx context.Context, tenant, userID, connID string, rooms []string) ([]store.Presence, error) {
	_, rooms, err := store.RoomEntriesArgs("memory", "room entries of", tenant, userID, connID, rooms)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Presence
	for _, room := range rooms {
		if r, ok := s.get(store.RoomPK(tenant, room), store.PresenceSK(userID, connID)); ok {
			out = append(out, r.item.(store.Presence))
		}
	}
	return out, nil
}

// ListPresence returns one page of a room's live, visible entries.
func (s *Store) ListPresence(ctx context.Context, tenant, room string, p store.Page) ([]store.Presence, string, error) {
	const op = "list presence"
	pk, key, err := presencePartition(op, tenant, room)
	if err != nil {
		return nil, "", err
	}
	after, err := store.DecodeCursor(p.Cursor, store.PrefixUser)
	if err != nil {
		return nil, "", fmt.Errorf("memory: %s %q: %w", op, key, err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var (
		out    []store.Presence
		users  int
		lastSK string
	)
	for _, sk := range s.sortKeys(pk, store.PrefixUser, after) {
		r, _ := s.get(pk, sk)
		e := presenceOf(r)
		if !r.live(now) || e.Status == store.StatusOffline {
			continue
		}
		if len(out) == 0 || out[len(out)-1].UserID != e.UserID {
			if users == limit {
				return out, encodeCursor(lastSK), nil
			}
			users++
		}
		out = append(out, e)
		lastSK = sk
	}
	return out, "", nil
}

// CountPresence counts the users with a live, visible entry in a room.
func (s *Store) CountPresence(ctx context.Context, tenant, room string) (int, error) {
	const op = "count presence"
	pk, _, err := presencePartition(op, tenant, room)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n, last := 0, ""
	for _, sk := range s.sortKeys(pk, store.PrefixUser, "") {
		r, _ := s.get(pk, sk)
		e := presenceOf(r)
		if !r.live(now) || e.Status == store.StatusOffline || e.UserID == last {
			continue
		}
		n, last = n+1, e.UserID
	}
	return n, nil
}

// ExpiredAway lists away alarms due at now through the index.
func (s *Store) ExpiredAway(ctx context.Context, now time.Time, limit int) ([]store.AwayAlarm, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.AwayAlarm
	for _, r := range s.due(store.ExpKindAway, now.Unix()) {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, r.item.(store.AwayAlarm))
	}
	return out, nil
}

// ClearAway claims an alarm that is unchanged and still due by deleting
// it: under the mutex, with no request that could be sent twice, a
// deleted alarm is the whole claim.
func (s *Store) ClearAway(ctx context.Context, a store.AwayAlarm, now time.Time) (bool, error) {
	const op = "clear away"
	if err := checkParts(op, a.ConnID, a.ConnID); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(store.ConnPK(a.ConnID), store.SKAway)
	if !ok || r.expires != a.At.Unix() || r.live(now.Unix()) {
		return false, nil
	}
	s.delIndexed(store.ConnPK(a.ConnID), store.SKAway, store.AwayBucket(a.ConnID))
	return true, nil
}

// PutActivity records an activity entry.
func (s *Store) PutActivity(ctx context.Context, a store.Activity) error {
	return s.writeActivity("put activity", a, true)
}

// AddActivity records an activity entry unless one with its key is
// stored.
func (s *Store) AddActivity(ctx context.Context, a store.Activity) error {
	return s.writeActivity("add activity", a, false)
}

// writeActivity stores a, over an entry with its key only when replace
// is true.
func (s *Store) writeActivity(op string, a store.Activity, replace bool) error {
	if err := checkParts(op, a.Tenant+"/"+a.ID, a.Tenant, a.ID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.get(store.ActivityPK(a.Tenant), store.ActivitySK(a.At, a.ID)); replace || !ok {
		s.putActivity(a)
	}
	return nil
}

// putActivity stores a copy of a; s.mu is held.
func (s *Store) putActivity(a store.Activity) {
	a = cloneActivity(a)
	a.At = a.At.UTC()
	if !a.ExpiresAt.IsZero() {
		a.ExpiresAt = time.Unix(a.ExpiresAt.Unix(), 0).UTC()
	}
	s.put(store.ActivityPK(a.Tenant), store.ActivitySK(a.At, a.ID), record{expires: expSeconds(a.ExpiresAt), item: a})
}

// ListActivity returns a page of a tenant's feed, newest first.
func (s *Store) ListActivity(ctx context.Context, tenant string, f store.ActivityFilter, p store.Page) ([]store.Activity, string, error) {
	const op = "list activity"
	if err := checkParts(op, tenant, tenant); err != nil {
		return nil, "", err
	}
	before, err := store.DecodeActivityCursor(p.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("memory: %s %q: %w", op, tenant, err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pk := store.ActivityPK(tenant)
	sks := s.sortKeys(pk, "", "")
	i := len(sks)
	if before != "" {
		i, _ = slices.BinarySearch(sks, before)
	}
	var out []store.Activity
	for read := 0; i > 0; read++ {
		if read == store.MaxActivityRead {
			return out, encodeCursor(sks[i]), nil
		}
		i--
		r, _ := s.get(pk, sks[i])
		a := r.item.(store.Activity)
		if !r.live(now) || !f.Match(a) {
			continue
		}
		out = append(out, cloneActivity(a))
		if len(out) == limit {
			if i == 0 {
				return out, "", nil
			}
			return out, encodeCursor(sks[i]), nil
		}
	}
	return out, "", nil
}

// nextVersion returns a version later than prev, taken from the clock so
// that a session written again after it was removed does not reuse an old
// version.
func nextVersion(prev int64, now time.Time) int64 {
	return max(prev+1, now.UnixMicro())
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

// presenceOf returns the presence of a session or room entry record.
func presenceOf(r record) store.Presence {
	switch v := r.item.(type) {
	case store.Session:
		return v.Presence
	case store.Presence:
		return v
	}
	return store.Presence{}
}

func cloneSession(ses store.Session) store.Session {
	ses.Rooms = slices.Clone(ses.Rooms)
	return ses
}

func cloneActivity(a store.Activity) store.Activity {
	a.Changes = slices.Clone(a.Changes)
	for i, c := range a.Changes {
		a.Changes[i].Before = slices.Clone(c.Before)
		a.Changes[i].After = slices.Clone(c.After)
	}
	a.Metadata = slices.Clone(a.Metadata)
	return a
}
