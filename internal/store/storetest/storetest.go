// Package storetest is the conformance suite of the store contracts. Each
// implementation runs it once from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, "memory", func(t *testing.T, clock store.Clock) store.Store {
//			return memory.New(clock)
//		})
//	}
//
// Every case gets a fresh store and its own FakeClock, so expiry is tested
// by moving the clock rather than by waiting.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// Factory returns a new, empty store that reads the current time from
// clock. It registers its own cleanup with t.
type Factory func(t *testing.T, clock store.Clock) store.Store

// FakeClock is a clock that only moves when told to. It is safe for
// concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a clock that reads start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is what one case works with.
type fixture struct {
	ctx   context.Context
	s     store.Store
	clock *FakeClock
}

// Run runs every case of the suite against stores from newStore, as
// subtests of t named "<backend>/<case>".
func Run(t *testing.T, backend string, newStore Factory) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"PutGetConnection", testPutGet},
		{"GetUnknownConnection", testGetUnknown},
		{"ReplaceConnection", testReplace},
		{"Expiry", testExpiry},
		{"ZeroExpiryNeverExpires", testZeroExpiry},
		{"Touch", testTouch},
		{"UserConnectionsMultiTab", testUserConnections},
		{"SubscribeIdempotent", testSubscribeIdempotent},
		{"SubscribeAbsentConnection", testSubscribeAbsent},
		{"MaxSubscriptions", testMaxSubscriptions},
		{"UnsubscribeReportsExisted", testUnsubscribe},
		{"SubscribersPagination", testPagination},
		{"ChannelsOf", testChannelsOf},
		{"DeleteConnection", testDelete},
		{"DeleteTwiceAndUnknown", testDeleteTwice},
		{"ConcurrentDoubleDelete", testConcurrentDelete},
		{"ConcurrentSubscribeDelete", testConcurrentSubscribeDelete},
		{"TenantIsolation", testTenantIsolation},
		{"InvalidNames", testInvalidNames},
	}
	cases = append(cases, connCountCases()...)
	cases = append(cases, presenceCases()...)
	cases = append(cases, editingCases()...)
	cases = append(cases, cursorCases()...)
	cases = append(cases, tokenCases()...)
	cases = append(cases, historyCases()...)
	cases = append(cases, publishKeyCases()...)
	cases = append(cases, outboxCases()...)
	cases = append(cases, boundsCases()...)
	t.Run(backend, func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				clock := NewFakeClock(time.Now().UTC().Truncate(time.Second))
				f := &fixture{ctx: t.Context(), s: newStore(t, clock.Now), clock: clock}
				tc.run(t, f)
			})
		}
	})
}

// conn returns a fully populated connection record that expires ttl from
// the fixture's current time.
func (f *fixture) conn(id, tenant, user string, ttl time.Duration) store.Connection {
	now := f.clock.Now()
	return store.Connection{
		ID:          id,
		UserID:      user,
		Username:    "name of " + user,
		Avatar:      "https://example.test/" + user + ".png",
		Tenant:      tenant,
		Roles:       []string{"sales", "viewer"},
		ConnectedAt: now.Add(123456789 * time.Nanosecond),
		LastSeenAt:  now,
		ExpiresAt:   now.Add(ttl),
		Endpoint:    "https://api.example.test/prod",
		SourceIP:    "192.0.2.1",
	}
}

func (f *fixture) put(t *testing.T, c store.Connection) {
	t.Helper()
	if err := f.s.PutConnection(f.ctx, c); err != nil {
		t.Fatalf("PutConnection(%q): %v", c.ID, err)
	}
}

// subscribe subscribes id and returns whether Subscribe reported the
// subscription added.
func (f *fixture) subscribe(t *testing.T, tenant, channel, id string, max int) bool {
	t.Helper()
	added, err := f.s.Subscribe(f.ctx, tenant, channel, id, max)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q, %q): %v", tenant, channel, id, err)
	}
	return added
}

// subscribers lists every subscriber of a channel through pages of limit,
// failing on a repeated id or an out-of-order page.
func (f *fixture) subscribers(t *testing.T, tenant, channel string, limit int) []string {
	t.Helper()
	return allSubscribers(t, f.ctx, f.s, tenant, channel, limit)
}

func allSubscribers(t *testing.T, ctx context.Context, s store.Store, tenant, channel string, limit int) []string {
	t.Helper()
	var (
		all    []string
		cursor string
	)
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("Subscribers(%q, %q): no end after %d pages", tenant, channel, pages)
		}
		ids, next, err := s.Subscribers(ctx, tenant, channel, store.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("Subscribers(%q, %q, cursor %q): %v", tenant, channel, cursor, err)
		}
		if limit > 0 && len(ids) > limit {
			t.Fatalf("Subscribers(%q, %q): page of %d ids, limit %d", tenant, channel, len(ids), limit)
		}
		all = append(all, ids...)
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.IsSorted(all) {
		t.Fatalf("Subscribers(%q, %q): not in ascending order: %v", tenant, channel, all)
	}
	if len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Fatalf("Subscribers(%q, %q): duplicates: %v", tenant, channel, all)
	}
	return all
}

func (f *fixture) channelsOf(t *testing.T, id string) []string {
	t.Helper()
	chans, err := f.s.ChannelsOf(f.ctx, id)
	if err != nil {
		t.Fatalf("ChannelsOf(%q): %v", id, err)
	}
	return chans
}

func (f *fixture) userConnIDs(t *testing.T, tenant, user string) []string {
	t.Helper()
	conns, err := f.s.UserConnections(f.ctx, tenant, user)
	if err != nil {
		t.Fatalf("UserConnections(%q, %q): %v", tenant, user, err)
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		if c.Tenant != tenant || c.UserID != user {
			t.Errorf("UserConnections(%q, %q) returned %q of %q/%q", tenant, user, c.ID, c.Tenant, c.UserID)
		}
		ids[i] = c.ID
	}
	slices.Sort(ids)
	return ids
}

func (f *fixture) wantAbsent(t *testing.T, id string) {
	t.Helper()
	if c, err := f.s.GetConnection(f.ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetConnection(%q) = %+v, %v; want ErrNotFound", id, c, err)
	}
}

// equalConn reports the differences between two connection records, with
// times compared as instants.
func equalConn(t *testing.T, got, want store.Connection) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Username != want.Username ||
		got.Avatar != want.Avatar || got.Tenant != want.Tenant || got.Endpoint != want.Endpoint ||
		got.SourceIP != want.SourceIP || !slices.Equal(got.Roles, want.Roles) ||
		!got.ConnectedAt.Equal(want.ConnectedAt) || !got.LastSeenAt.Equal(want.LastSeenAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.Hidden != want.Hidden || !slices.Equal(got.Rooms, want.Rooms) ||
		got.RoomsKnown != want.RoomsKnown || got.HiddenBefore != want.HiddenBefore ||
		!slices.Equal(got.HiddenRooms, want.HiddenRooms) || got.HiddenRoomsKnown != want.HiddenRoomsKnown {
		t.Fatalf("connection mismatch:\n got %+v\nwant %+v", got, want)
	}
}

func testPutGet(t *testing.T, f *fixture) {
	want := f.conn("c1", "acme", "u1", 2*time.Hour)
	f.put(t, want)
	got, err := f.s.GetConnection(f.ctx, "c1")
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	equalConn(t, got, want)

	// Optional fields may be empty.
	bare := store.Connection{ID: "c2", UserID: "u2", Tenant: "acme", ExpiresAt: f.clock.Now().Add(time.Hour)}
	f.put(t, bare)
	got, err = f.s.GetConnection(f.ctx, "c2")
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	equalConn(t, got, bare)
}

func testGetUnknown(t *testing.T, f *fixture) {
	f.wantAbsent(t, "nobody")
}

func testReplace(t *testing.T, f *fixture) {
	c := f.conn("c1", "acme", "u1", 2*time.Hour)
	f.put(t, c)
	f.subscribe(t, "acme", "orders", "c1", 0)

	c.UserID, c.Username = "u2", "renamed"
	f.put(t, c)
	got, err := f.s.GetConnection(f.ctx, "c1")
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	equalConn(t, got, c)
	if ids := f.userConnIDs(t, "acme", "u1"); len(ids) != 0 {
		t.Errorf("old user still lists %v", ids)
	}
	if ids := f.userConnIDs(t, "acme", "u2"); !slices.Equal(ids, []string{"c1"}) {
		t.Errorf("new user lists %v, want [c1]", ids)
	}
	if chans := f.channelsOf(t, "c1"); !slices.Equal(chans, []string{"orders"}) {
		t.Errorf("ChannelsOf after replace = %v, want [orders]", chans)
	}
}

func testExpiry(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", 10*time.Second))
	f.subscribe(t, "acme", "orders", "c1", 0)

	f.clock.Advance(9 * time.Second)
	if _, err := f.s.GetConnection(f.ctx, "c1"); err != nil {
		t.Fatalf("GetConnection one second before expiry: %v", err)
	}

	f.clock.Advance(time.Second) // ExpiresAt == now: expired
	f.wantAbsent(t, "c1")
	if ids := f.userConnIDs(t, "acme", "u1"); len(ids) != 0 {
		t.Errorf("UserConnections lists expired %v", ids)
	}
	if ids := f.subscribers(t, "acme", "orders", 0); len(ids) != 0 {
		t.Errorf("Subscribers lists expired %v", ids)
	}
	if chans := f.channelsOf(t, "c1"); len(chans) != 0 {
		t.Errorf("ChannelsOf expired = %v", chans)
	}
	if err := f.s.TouchConnection(f.ctx, "c1", f.clock.Now()); err != nil {
		t.Errorf("TouchConnection on expired: %v", err)
	}
	f.wantAbsent(t, "c1")
	if _, err := f.s.Subscribe(f.ctx, "acme", "other", "c1", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Subscribe on expired = %v, want ErrNotFound", err)
	}
	if existed, err := f.s.Unsubscribe(f.ctx, "acme", "orders", "c1"); err != nil || existed {
		t.Errorf("Unsubscribe expired = %v, %v; want false, nil", existed, err)
	}
	conn, chans, err := f.s.DeleteConnection(f.ctx, "c1")
	if err != nil || conn.ID != "" || len(chans) != 0 {
		t.Errorf("DeleteConnection expired = %+v, %v, %v; want zero, none, nil", conn, chans, err)
	}

	// A connection written again under the same id is live again.
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	if _, err := f.s.GetConnection(f.ctx, "c1"); err != nil {
		t.Fatalf("GetConnection after put again: %v", err)
	}
}

func testZeroExpiry(t *testing.T, f *fixture) {
	c := f.conn("c1", "acme", "u1", 0)
	c.ExpiresAt = time.Time{}
	f.put(t, c)
	f.subscribe(t, "acme", "orders", "c1", 0)
	f.clock.Advance(10000 * time.Hour)
	got, err := f.s.GetConnection(f.ctx, "c1")
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	equalConn(t, got, c)
	if ids := f.subscribers(t, "acme", "orders", 0); !slices.Equal(ids, []string{"c1"}) {
		t.Errorf("Subscribers = %v, want [c1]", ids)
	}
}

func testTouch(t *testing.T, f *fixture) {
	c := f.conn("c1", "acme", "u1", time.Hour)
	f.put(t, c)
	at := f.clock.Now().Add(5*time.Minute + 42*time.Millisecond)
	if err := f.s.TouchConnection(f.ctx, "c1", at); err != nil {
		t.Fatalf("TouchConnection: %v", err)
	}
	got, err := f.s.GetConnection(f.ctx, "c1")
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	c.LastSeenAt = at
	equalConn(t, got, c)

	if err := f.s.TouchConnection(f.ctx, "absent", at); err != nil {
		t.Fatalf("TouchConnection(absent) = %v, want nil", err)
	}
	f.wantAbsent(t, "absent")
}

func testUserConnections(t *testing.T, f *fixture) {
	f.put(t, f.conn("tab1", "acme", "alice", time.Hour))
	f.put(t, f.conn("tab2", "acme", "alice", time.Hour))
	f.put(t, f.conn("short", "acme", "alice", time.Minute))
	f.put(t, f.conn("bob1", "acme", "bob", time.Hour))
	f.put(t, f.conn("other", "globex", "alice", time.Hour))

	if ids := f.userConnIDs(t, "acme", "alice"); !slices.Equal(ids, []string{"short", "tab1", "tab2"}) {
		t.Fatalf("alice = %v, want [short tab1 tab2]", ids)
	}
	f.clock.Advance(time.Minute)
	if ids := f.userConnIDs(t, "acme", "alice"); !slices.Equal(ids, []string{"tab1", "tab2"}) {
		t.Fatalf("alice after expiry = %v, want [tab1 tab2]", ids)
	}
	if _, _, err := f.s.DeleteConnection(f.ctx, "tab2"); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	tests := []struct {
		tenant, user string
		want         []string
	}{
		{"acme", "alice", []string{"tab1"}},
		{"acme", "bob", []string{"bob1"}},
		{"globex", "alice", []string{"other"}},
		{"acme", "nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.tenant+"/"+tt.user, func(t *testing.T) {
			if ids := f.userConnIDs(t, tt.tenant, tt.user); !slices.Equal(ids, tt.want) {
				t.Errorf("UserConnections = %v, want %v", ids, tt.want)
			}
		})
	}
}

func testSubscribeIdempotent(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	for range 3 {
		f.subscribe(t, "acme", "orders", "c1", 1)
	}
	if ids := f.subscribers(t, "acme", "orders", 0); !slices.Equal(ids, []string{"c1"}) {
		t.Errorf("Subscribers = %v, want [c1]", ids)
	}
	if chans := f.channelsOf(t, "c1"); !slices.Equal(chans, []string{"orders"}) {
		t.Errorf("ChannelsOf = %v, want [orders]", chans)
	}
	// The repeated subscriptions did not use up slots.
	if existed, err := f.s.Unsubscribe(f.ctx, "acme", "orders", "c1"); err != nil || !existed {
		t.Fatalf("Unsubscribe = %v, %v", existed, err)
	}
	f.subscribe(t, "acme", "pricing", "c1", 1)
}

func testSubscribeAbsent(t *testing.T, f *fixture) {
	f.put(t, f.conn("short", "acme", "u1", time.Second))
	f.put(t, f.conn("gone", "acme", "u1", time.Hour))
	if _, _, err := f.s.DeleteConnection(f.ctx, "gone"); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	f.clock.Advance(time.Second)
	for _, id := range []string{"never", "short", "gone"} {
		t.Run(id, func(t *testing.T) {
			if _, err := f.s.Subscribe(f.ctx, "acme", "orders", id, 0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Subscribe(%q) = %v, want ErrNotFound", id, err)
			}
		})
	}
	if ids := f.subscribers(t, "acme", "orders", 0); len(ids) != 0 {
		t.Errorf("Subscribers = %v, want none", ids)
	}
}

func testMaxSubscriptions(t *testing.T, f *fixture) {
	const max = 3
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	for i := range max {
		if !f.subscribe(t, "acme", fmt.Sprintf("ch%d", i), "c1", max) {
			t.Fatalf("Subscribe of a new channel reported it not added")
		}
	}
	if _, err := f.s.Subscribe(f.ctx, "acme", "one-too-many", "c1", max); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("Subscribe over the limit = %v, want ErrConditionFailed", err)
	}
	// Re-subscribing at the limit is still a no-op success, which added
	// nothing.
	if f.subscribe(t, "acme", "ch0", "c1", max) {
		t.Fatalf("Subscribe of a live subscription reported it added")
	}
	if ids := f.subscribers(t, "acme", "one-too-many", 0); len(ids) != 0 {
		t.Fatalf("refused subscription was written: %v", ids)
	}
	if _, err := f.s.Unsubscribe(f.ctx, "acme", "ch1", "c1"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	f.subscribe(t, "acme", "one-too-many", "c1", max)
	// No limit.
	for i := range 5 {
		f.subscribe(t, "acme", fmt.Sprintf("more%d", i), "c1", 0)
	}
	if n := len(f.channelsOf(t, "c1")); n != max+5 {
		t.Fatalf("ChannelsOf has %d channels, want %d", n, max+5)
	}
}

func testUnsubscribe(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	f.subscribe(t, "acme", "orders", "c1", 0)
	tests := []struct {
		name, channel, conn string
		want                bool
	}{
		{"existing", "orders", "c1", true},
		{"again", "orders", "c1", false},
		{"never subscribed", "pricing", "c1", false},
		{"unknown connection", "orders", "nobody", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existed, err := f.s.Unsubscribe(f.ctx, "acme", tt.channel, tt.conn)
			if err != nil || existed != tt.want {
				t.Fatalf("Unsubscribe = %v, %v; want %v, nil", existed, err, tt.want)
			}
		})
	}
	if ids := f.subscribers(t, "acme", "orders", 0); len(ids) != 0 {
		t.Errorf("Subscribers = %v, want none", ids)
	}
	if chans := f.channelsOf(t, "c1"); len(chans) != 0 {
		t.Errorf("ChannelsOf = %v, want none", chans)
	}
}

func testPagination(t *testing.T, f *fixture) {
	const live, short = 250, 20
	var want []string
	for i := range live + short {
		id := fmt.Sprintf("conn-%04d", i)
		ttl := time.Hour
		if i%((live+short)/short) == 0 && i/((live+short)/short) < short {
			ttl = time.Minute // interleaved subscribers that expire
		} else {
			want = append(want, id)
		}
		f.put(t, f.conn(id, "acme", "u"+id, ttl))
		f.subscribe(t, "acme", "orders", id, 0)
	}
	if len(want) != live {
		t.Fatalf("fixture has %d live subscribers, want %d", len(want), live)
	}
	f.clock.Advance(time.Minute)

	var (
		sizes  []int
		cursor string
		got    []string
	)
	for {
		ids, next, err := f.s.Subscribers(f.ctx, "acme", "orders", store.Page{Cursor: cursor, Limit: 100})
		if err != nil {
			t.Fatalf("Subscribers: %v", err)
		}
		sizes = append(sizes, len(ids))
		got = append(got, ids...)
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Errorf("page sizes = %v, want [100 100 50]", sizes)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages do not list the live subscribers in order:\n got %v\nwant %v", got, want)
	}

	tests := []struct {
		name  string
		limit int
	}{
		{"default limit", 0},
		{"exact multiple", 125},
		{"small pages", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.subscribers(t, "acme", "orders", tt.limit); !slices.Equal(got, want) {
				t.Errorf("listing with limit %d differs: %d ids", tt.limit, len(got))
			}
		})
	}
	t.Run("first page default size", func(t *testing.T) {
		ids, next, err := f.s.Subscribers(f.ctx, "acme", "orders", store.Page{})
		if err != nil || len(ids) != 100 || next == "" {
			t.Errorf("Subscribers(zero page) = %d ids, next %q, %v; want 100 and a cursor", len(ids), next, err)
		}
	})
	t.Run("last page has no cursor", func(t *testing.T) {
		_, next1, err := f.s.Subscribers(f.ctx, "acme", "orders", store.Page{Limit: 125})
		if err != nil {
			t.Fatalf("Subscribers: %v", err)
		}
		ids, next2, err := f.s.Subscribers(f.ctx, "acme", "orders", store.Page{Cursor: next1, Limit: 125})
		if err != nil || len(ids) != 125 || next2 != "" {
			t.Errorf("second page = %d ids, next %q, %v; want 125 ids and no cursor", len(ids), next2, err)
		}
	})
	t.Run("invalid cursor", func(t *testing.T) {
		if _, _, err := f.s.Subscribers(f.ctx, "acme", "orders", store.Page{Cursor: "%%not a cursor%%"}); err == nil {
			t.Error("Subscribers with a garbage cursor succeeded")
		}
	})
	t.Run("empty channel", func(t *testing.T) {
		ids, next, err := f.s.Subscribers(f.ctx, "acme", "quiet", store.Page{Limit: 10})
		if err != nil || len(ids) != 0 || next != "" {
			t.Errorf("Subscribers(empty) = %v, %q, %v", ids, next, err)
		}
	})
}

func testChannelsOf(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	f.put(t, f.conn("c2", "acme", "u2", time.Hour))
	for _, ch := range []string{"pricing", "orders", "order:42"} {
		f.subscribe(t, "acme", ch, "c1", 0)
	}
	f.subscribe(t, "acme", "inventory", "c2", 0)
	tests := []struct {
		id   string
		want []string
	}{
		{"c1", []string{"order:42", "orders", "pricing"}},
		{"c2", []string{"inventory"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := f.channelsOf(t, tt.id); !slices.Equal(got, tt.want) {
				t.Errorf("ChannelsOf(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func testDelete(t *testing.T, f *fixture) {
	c := f.conn("c1", "acme", "u1", time.Hour)
	f.put(t, c)
	f.put(t, f.conn("c2", "acme", "u1", time.Hour))
	var want []string
	for i := range 60 { // more pairs than one transaction holds (50)
		ch := fmt.Sprintf("ch-%03d", i)
		want = append(want, ch)
		f.subscribe(t, "acme", ch, "c1", 0)
	}
	f.subscribe(t, "acme", "ch-000", "c2", 0)

	got, chans, err := f.s.DeleteConnection(f.ctx, "c1")
	if err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	equalConn(t, got, c)
	slices.Sort(chans)
	if !slices.Equal(chans, want) {
		t.Errorf("DeleteConnection channels = %v, want %v", chans, want)
	}
	f.wantAbsent(t, "c1")
	if ids := f.userConnIDs(t, "acme", "u1"); !slices.Equal(ids, []string{"c2"}) {
		t.Errorf("UserConnections = %v, want [c2]", ids)
	}
	if chans := f.channelsOf(t, "c1"); len(chans) != 0 {
		t.Errorf("ChannelsOf after delete = %v", chans)
	}
	for _, ch := range []string{"ch-000", "ch-001", "ch-059"} {
		wantIDs := []string(nil)
		if ch == "ch-000" {
			wantIDs = []string{"c2"}
		}
		if ids := f.subscribers(t, "acme", ch, 0); !slices.Equal(ids, wantIDs) {
			t.Errorf("Subscribers(%q) after delete = %v, want %v", ch, ids, wantIDs)
		}
	}
	CheckSubscriptions(t, f.ctx, f.s, "acme", want, []string{"c1", "c2"})
}

func testDeleteTwice(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	f.subscribe(t, "acme", "orders", "c1", 0)
	if _, chans, err := f.s.DeleteConnection(f.ctx, "c1"); err != nil || !slices.Equal(chans, []string{"orders"}) {
		t.Fatalf("first DeleteConnection = %v, %v", chans, err)
	}
	for _, id := range []string{"c1", "never"} {
		t.Run(id, func(t *testing.T) {
			conn, chans, err := f.s.DeleteConnection(f.ctx, id)
			if err != nil || conn.ID != "" || len(chans) != 0 {
				t.Errorf("DeleteConnection(%q) = %+v, %v, %v; want zero, none, nil", id, conn, chans, err)
			}
		})
	}
}

func testConcurrentDelete(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	want := []string{"a", "b", "c", "d", "e"}
	for _, ch := range want {
		f.subscribe(t, "acme", ch, "c1", 0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		union []string
		errs  []error
	)
	for range 2 {
		wg.Go(func() {
			_, chans, err := f.s.DeleteConnection(f.ctx, "c1")
			mu.Lock()
			defer mu.Unlock()
			union = append(union, chans...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent DeleteConnection: %v", errs)
	}
	slices.Sort(union)
	if got := slices.Compact(union); !slices.Equal(got, want) {
		t.Errorf("channels reported = %v, want %v", got, want)
	}
	f.wantAbsent(t, "c1")
	if ids := f.userConnIDs(t, "acme", "u1"); len(ids) != 0 {
		t.Errorf("UserConnections = %v, want none", ids)
	}
	CheckSubscriptions(t, f.ctx, f.s, "acme", want, []string{"c1"})
}

func testConcurrentSubscribeDelete(t *testing.T, f *fixture) {
	const (
		rounds   = 3
		workers  = 4
		channels = 5
	)
	var chans []string
	for i := range channels {
		chans = append(chans, fmt.Sprintf("ch%d", i))
	}
	var conns []string
	f.put(t, f.conn("stays", "acme", "u0", time.Hour))
	conns = append(conns, "stays")
	for r := range rounds {
		id := fmt.Sprintf("doomed%d", r)
		conns = append(conns, id)
		f.put(t, f.conn(id, "acme", "u1", time.Hour))
		f.subscribe(t, "acme", chans[0], id, 0)

		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		fail := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}
		for w := range workers {
			wg.Go(func() {
				for i := range channels {
					ch := chans[(w+i)%channels]
					target := id
					if i%2 == 1 {
						target = "stays"
					}
					_, err := f.s.Subscribe(f.ctx, "acme", ch, target, 0)
					if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
						fail(fmt.Errorf("Subscribe(%q, %q): %w", ch, target, err))
					}
					if target == "stays" && errors.Is(err, store.ErrNotFound) {
						fail(fmt.Errorf("Subscribe(%q, stays): %w", ch, err))
					}
				}
			})
		}
		wg.Go(func() {
			if _, _, err := f.s.DeleteConnection(f.ctx, id); err != nil {
				fail(fmt.Errorf("DeleteConnection(%q): %w", id, err))
			}
		})
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", r, errors.Join(errs...))
		}
		f.wantAbsent(t, id)
		if got := f.channelsOf(t, id); len(got) != 0 {
			t.Fatalf("round %d: deleted connection still has channels %v", r, got)
		}
		CheckSubscriptions(t, f.ctx, f.s, "acme", chans, conns)
	}
}

func testTenantIsolation(t *testing.T, f *fixture) {
	f.put(t, f.conn("a1", "acme", "u1", time.Hour))
	f.put(t, f.conn("g1", "globex", "u1", time.Hour))
	f.subscribe(t, "acme", "orders", "a1", 0)
	f.subscribe(t, "globex", "orders", "g1", 0)

	tests := []struct {
		tenant string
		want   []string
	}{
		{"acme", []string{"a1"}},
		{"globex", []string{"g1"}},
		{"initech", nil},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			if ids := f.subscribers(t, tt.tenant, "orders", 0); !slices.Equal(ids, tt.want) {
				t.Errorf("Subscribers(%q, orders) = %v, want %v", tt.tenant, ids, tt.want)
			}
			if ids := f.userConnIDs(t, tt.tenant, "u1"); !slices.Equal(ids, tt.want) {
				t.Errorf("UserConnections(%q, u1) = %v, want %v", tt.tenant, ids, tt.want)
			}
		})
	}
	if existed, err := f.s.Unsubscribe(f.ctx, "globex", "orders", "a1"); err != nil || existed {
		t.Errorf("Unsubscribe across tenants = %v, %v; want false, nil", existed, err)
	}
	if ids := f.subscribers(t, "acme", "orders", 0); !slices.Equal(ids, []string{"a1"}) {
		t.Errorf("acme subscribers after cross-tenant unsubscribe = %v", ids)
	}
}

func testInvalidNames(t *testing.T, f *fixture) {
	f.put(t, f.conn("c1", "acme", "u1", time.Hour))
	tests := []struct {
		name string
		call func() error
	}{
		{"connection id with separator", func() error {
			return f.s.PutConnection(f.ctx, f.conn("c#1", "acme", "u1", time.Hour))
		}},
		{"empty connection id", func() error {
			return f.s.PutConnection(f.ctx, f.conn("", "acme", "u1", time.Hour))
		}},
		{"tenant with separator", func() error {
			return f.s.PutConnection(f.ctx, f.conn("c2", "ac#me", "u1", time.Hour))
		}},
		{"empty user", func() error {
			return f.s.PutConnection(f.ctx, f.conn("c2", "acme", "", time.Hour))
		}},
		{"channel with separator", func() error {
			_, err := f.s.Subscribe(f.ctx, "acme", "or#ders", "c1", 0)
			return err
		}},
		{"empty channel", func() error {
			_, err := f.s.Subscribe(f.ctx, "acme", "", "c1", 0)
			return err
		}},
		{"empty tenant", func() error {
			_, _, err := f.s.Subscribers(f.ctx, "", "orders", store.Page{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Error("accepted an invalid name")
			}
		})
	}
	if chans := f.channelsOf(t, "c1"); len(chans) != 0 {
		t.Errorf("ChannelsOf = %v, want none", chans)
	}
}

// CheckSubscriptions checks, through the store interface only, that the
// subscriptions among the given channels of tenant and connection ids are
// consistent: every listed subscriber is a live connection whose
// ChannelsOf names the channel (no subscription without its reverse item),
// and every channel in ChannelsOf of a connection lists it back (no
// reverse item without its subscription). An absent connection has no
// channels.
func CheckSubscriptions(t *testing.T, ctx context.Context, s store.Store, tenant string, channels, connIDs []string) {
	t.Helper()
	chansOf := func(id string) []string {
		t.Helper()
		chans, err := s.ChannelsOf(ctx, id)
		if err != nil {
			t.Fatalf("ChannelsOf(%q): %v", id, err)
		}
		return chans
	}
	for _, ch := range channels {
		for _, id := range allSubscribers(t, ctx, s, tenant, ch, 0) {
			if _, err := s.GetConnection(ctx, id); err != nil {
				t.Errorf("orphan: %q subscribes to %q but GetConnection: %v", id, ch, err)
			}
			if !slices.Contains(chansOf(id), ch) {
				t.Errorf("orphan: %q subscribes to %q without the reverse item", id, ch)
			}
		}
	}
	for _, id := range connIDs {
		chans := chansOf(id)
		if _, err := s.GetConnection(ctx, id); errors.Is(err, store.ErrNotFound) {
			if len(chans) > 0 {
				t.Errorf("orphan: absent connection %q still has channels %v", id, chans)
			}
			continue
		}
		for _, ch := range chans {
			if !slices.Contains(allSubscribers(t, ctx, s, tenant, ch, 0), id) {
				t.Errorf("orphan: %q has reverse item for %q but is not a subscriber", id, ch)
			}
		}
	}
}
