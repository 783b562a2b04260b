package handler

import (
	"slices"
	"sync"
	"time"

	"github.com/omnisales/rtcollab/internal/presence"
	"github.com/omnisales/rtcollab/internal/store"
)

// connTracker remembers, in the warm environment, what this instance last
// wrote of each connection's session and when the connection was last
// active. It decides when a frame must reach the store: presence is
// written when it changes, when the connection comes back from idle, and
// otherwise at most once per refresh interval. In Lambda each environment
// keeps its own table, so a connection served by two environments is
// written by both, at worst twice per interval. It is safe for concurrent
// use.
type connTracker struct {
	max int

	mu sync.Mutex
	m  map[string]*tracked
}

// tracked is one connection's entry.
type tracked struct {
	written  time.Time     // when this instance last wrote or read the session
	activeAt time.Time     // the latest client activity this instance saw
	session  store.Session // the session as last written or read
	known    bool          // session holds a stored session
}

func newConnTracker(max int) *connTracker {
	return &connTracker{max: max, m: make(map[string]*tracked)}
}

// entry returns the entry of id, creating it; the caller holds mu.
func (t *connTracker) entry(id string, now time.Time, stale time.Duration) *tracked {
	e, ok := t.m[id]
	if ok {
		return e
	}
	if len(t.m) >= t.max {
		t.prune(now, stale)
	}
	e = &tracked{}
	t.m[id] = e
	return e
}

// prune drops entries not written for stale, and then arbitrary ones until
// the table has room; the caller holds mu.
func (t *connTracker) prune(now time.Time, stale time.Duration) {
	for id, e := range t.m {
		if now.Sub(e.written) >= stale {
			delete(t.m, id)
		}
	}
	for id := range t.m {
		if len(t.m) < t.max {
			break
		}
		delete(t.m, id)
	}
}

// observe records a frame of connection id at now (active: a frame that is
// client activity) and reports whether its session is due to be written:
// never written by this instance, not written for the refresh interval,
// idle-away and active again, or active a refresh interval after the last
// activity this instance stored.
//
// The entry is this instance's copy only: other instances serving the
// same connection write the session too, and know nothing of the activity
// this one saw without writing. So activity is not left for this
// instance's next refresh, which may never come (the connection's next
// frames may all reach another instance), once it is a refresh interval
// newer than the stored one: the away alarm, armed from the stored
// activity, then fires at most that long early. The copy's status is not
// trusted for it either: another instance may have changed it.
func (t *connTracker) observe(id string, now time.Time, active bool, cfg PresenceConfig) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(id, now, 2*cfg.OfflineTimeout)
	if active && now.After(e.activeAt) {
		e.activeAt = now
	}
	switch {
	case !e.known, now.Sub(e.written) >= cfg.RefreshInterval:
		return true
	case e.session.Status == store.StatusOnline && e.activeAt.After(e.session.LastActive) &&
		presence.Status(e.session.Presence, now, cfg.AwayTimeout) == store.StatusAway:
		return true
	case active && e.session.Status == store.StatusOnline && e.activeAt.After(e.session.LastActive) &&
		!e.session.LastActive.Add(cfg.AwayTimeout).After(e.written.Add(cfg.RefreshInterval)):
		// The stored session turns away before this instance's next
		// write would move it: write the activity now, or the away alarm
		// fires on the stale time and announces a user who is active.
		return true
	case active && e.activeAt.Sub(e.session.LastActive) >= cfg.RefreshInterval:
		return true
	}
	return false
}

// markActive records client activity that writes nothing by itself (a
// cursor frame): it is stored with the connection's next write.
func (t *connTracker) markActive(id string, now time.Time, cfg PresenceConfig) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entry(id, now, 2*cfg.OfflineTimeout); now.After(e.activeAt) {
		e.activeAt = now
	}
}

// activeAt returns the latest activity seen for id (zero if none).
func (t *connTracker) activeAt(id string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.m[id]; ok {
		return e.activeAt
	}
	return time.Time{}
}

// stored records the session as written or read at now.
func (t *connTracker) stored(id string, s store.Session, now time.Time, cfg PresenceConfig) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(id, now, 2*cfg.OfflineTimeout)
	s.Rooms = slices.Clone(s.Rooms)
	e.session, e.known, e.written = s, true, now
}

// cached returns the session last written or read by this instance.
func (t *connTracker) cached(id string) (store.Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[id]
	if !ok || !e.known {
		return store.Session{}, false
	}
	s := e.session
	s.Rooms = slices.Clone(s.Rooms)
	return s, true
}

// forget drops id.
func (t *connTracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// roomCache keeps, in the warm environment, the subscriber list of room
// channels for cursor fan-out, so that a cursor frame costs no store read.
// An entry is reused for the cache TTL (default 2 s): a connection that
// joined the room through another instance may miss cursors for that
// long, and one that left may receive a few more, which is harmless. Joins
// and leaves served by this instance refresh the entry at once, and a
// recipient found gone (410) is dropped from it. It is safe for concurrent
// use.
type roomCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]roomMembers
}

// roomMembers is one cached subscriber list.
type roomMembers struct {
	ids []string
	at  time.Time
}

func newRoomCache(ttl time.Duration, max int) *roomCache {
	return &roomCache{ttl: ttl, max: max, m: make(map[string]roomMembers)}
}

func roomKey(tenant, channel string) string { return tenant + "\x00" + channel }

// get returns the cached members of key and when they were read, if the
// entry is younger than the TTL.
func (c *roomCache) get(key string, now time.Time) ([]string, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return nil, time.Time{}, false
	}
	return e.ids, e.at, true
}

// set stores the members of key read at now.
func (c *roomCache) set(key string, ids []string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if now.Sub(e.at) >= c.ttl || len(c.m) >= c.max {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = roomMembers{ids: ids, at: now}
}

// invalidate forgets key.
func (c *roomCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// remove drops one member from key's entry.
func (c *roomCache) remove(key, connID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		e.ids = slices.DeleteFunc(slices.Clone(e.ids), func(id string) bool { return id == connID })
		c.m[key] = e
	}
}
