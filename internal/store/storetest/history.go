package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

func historyCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"HistoryOffsetsAndEpoch", testHistoryOffsets},
		{"HistoryPositionIsTheNewestPublication", testHistoryPosition},
		{"HistoryExpiryNeverDecreases", testHistoryExpiryOrder},
		{"HistoryResendKeepsOffset", testHistoryResend},
		{"HistoryConcurrentAppends", testHistoryConcurrent},
		{"HistoryPaging", testHistoryPaging},
		{"HistoryExpiry", testHistoryExpiry},
		{"HistoryPastExpiredRun", testHistoryPastExpiredRun},
		{"HistoryTenantIsolation", testHistoryTenants},
		{"HistoryInvalidNames", testHistoryInvalidNames},
	}
}

// pub is a publication of user with messageID that lives for ttl.
func (f *fixture) pub(tenant, channel, user, messageID string, ttl time.Duration) store.Publication {
	now := f.clock.Now()
	return store.Publication{
		Tenant: tenant, Channel: channel, UserID: user, MessageID: messageID,
		RequestHash: "hash-" + messageID, Data: []byte(fmt.Sprintf(`{"m":%q}`, messageID)),
		PublishedAt: now, ExpiresAt: now.Add(ttl),
	}
}

func (f *fixture) appendPub(t *testing.T, p store.Publication) (store.Publication, bool) {
	t.Helper()
	got, dup, err := f.s.AppendPublication(f.ctx, p)
	if err != nil {
		t.Fatalf("AppendPublication(%s/%s %s/%s): %v", p.Tenant, p.Channel, p.UserID, p.MessageID, err)
	}
	return got, dup
}

func (f *fixture) pubs(t *testing.T, tenant, channel string, after int64, limit int) ([]store.Publication, store.Position) {
	t.Helper()
	ps, pos, err := f.s.Publications(f.ctx, tenant, channel, after, limit)
	if err != nil {
		t.Fatalf("Publications(%s/%s after %d): %v", tenant, channel, after, err)
	}
	return ps, pos
}

func offsets(ps []store.Publication) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.Offset
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func testHistoryOffsets(t *testing.T, f *fixture) {
	var epoch string
	for i := 1; i <= 3; i++ {
		p := f.pub("t1", "order-updates", "u1", fmt.Sprintf("m%d", i), time.Minute)
		got, dup := f.appendPub(t, p)
		if dup || got.Offset != int64(i) || got.Epoch == "" {
			t.Fatalf("append %d: offset %d epoch %q dup %v; want offset %d, an epoch, no dup", i, got.Offset, got.Epoch, dup, i)
		}
		if epoch == "" {
			epoch = got.Epoch
		}
		if got.Epoch != epoch {
			t.Fatalf("append %d: epoch %q, want %q as before", i, got.Epoch, epoch)
		}
	}
	ps, pos := f.pubs(t, "t1", "order-updates", 0, 0)
	if pos != (store.Position{Offset: 3, Epoch: epoch}) {
		t.Fatalf("position %+v, want {3 %s}", pos, epoch)
	}
	if !slices.Equal(offsets(ps), seq(1, 3)) {
		t.Fatalf("offsets %v, want 1..3", offsets(ps))
	}
	want := f.pub("t1", "order-updates", "u1", "m2", time.Minute)
	got := ps[1]
	if got.UserID != "u1" || got.MessageID != "m2" || got.RequestHash != want.RequestHash || string(got.Data) != string(want.Data) ||
		got.Epoch != epoch || !got.PublishedAt.Equal(want.PublishedAt) || !got.ExpiresAt.Equal(want.ExpiresAt.Truncate(time.Second)) {
		t.Fatalf("publication 2 read back as %+v, want the fields of %+v", got, want)
	}
	if pos2, err := f.s.StreamPosition(f.ctx, "t1", "order-updates"); err != nil || pos2 != pos {
		t.Fatalf("StreamPosition = %+v, %v; want %+v", pos2, err, pos)
	}
}

func testHistoryPosition(t *testing.T, f *fixture) {
	ps, pos := f.pubs(t, "t1", "quiet", 0, 0)
	if len(ps) != 0 || pos != (store.Position{}) {
		t.Fatalf("absent stream: %v, %+v; want nothing and a zero position", ps, pos)
	}
	pos, err := f.s.StreamPosition(f.ctx, "t1", "quiet")
	if err != nil || pos != (store.Position{}) {
		t.Fatalf("StreamPosition of a new stream = %+v, %v; want offset 0 and no epoch", pos, err)
	}
	got, _ := f.appendPub(t, f.pub("t1", "quiet", "u1", "m1", time.Minute))
	if got.Offset != 1 || got.Epoch == "" {
		t.Fatalf("first append: %d/%q, want 1 and an epoch", got.Offset, got.Epoch)
	}
	if pos, err := f.s.StreamPosition(f.ctx, "t1", "quiet"); err != nil || pos != (store.Position{Offset: 1, Epoch: got.Epoch}) {
		t.Fatalf("StreamPosition after the first append = %+v, %v; want {1 %s}", pos, err, got.Epoch)
	}
	if other, _ := f.appendPub(t, f.pub("t1", "other", "u1", "m1", time.Minute)); other.Epoch == got.Epoch {
		t.Fatalf("two streams share epoch %q", got.Epoch)
	}
}

// testHistoryExpiryOrder: a publication never expires before the one
// before it, so that while the newest present is live no later one can
// have been removed by the TTL.
func testHistoryExpiryOrder(t *testing.T, f *fixture) {
	long, _ := f.appendPub(t, f.pub("t1", "c", "u1", "m1", time.Hour))
	short, _ := f.appendPub(t, f.pub("t1", "c", "u1", "m2", time.Minute))
	if !short.ExpiresAt.Equal(long.ExpiresAt) || short.Epoch != long.Epoch || short.Offset != 2 {
		t.Fatalf("append after a longer-lived one: offset %d, expires %v, epoch %q; want 2, %v (raised), %q",
			short.Offset, short.ExpiresAt, short.Epoch, long.ExpiresAt, long.Epoch)
	}
	f.clock.Advance(30 * time.Minute)
	ps, pos := f.pubs(t, "t1", "c", 0, 0)
	if !slices.Equal(offsets(ps), []int64{1, 2}) || pos != (store.Position{Offset: 2, Epoch: long.Epoch}) || !ps[1].ExpiresAt.Equal(long.ExpiresAt) {
		t.Fatalf("half an hour later: offsets %v position %+v; want [1 2] at {2 %s}, expiring with the first", offsets(ps), pos, long.Epoch)
	}
	never, _ := f.appendPub(t, store.Publication{Tenant: "t1", Channel: "c", UserID: "u1", MessageID: "m3", PublishedAt: f.clock.Now()})
	after, _ := f.appendPub(t, f.pub("t1", "c", "u1", "m4", time.Minute))
	if !never.ExpiresAt.IsZero() || !after.ExpiresAt.IsZero() || after.Epoch != long.Epoch {
		t.Fatalf("after a publication without expiry: expiries %v, %v; want none for both, epoch %q", never.ExpiresAt, after.ExpiresAt, long.Epoch)
	}
}

func testHistoryResend(t *testing.T, f *fixture) {
	first, _ := f.appendPub(t, f.pub("t1", "c", "u1", "m1", time.Minute))
	f.appendPub(t, f.pub("t1", "c", "u1", "m2", time.Minute))
	again := f.pub("t1", "c", "u1", "m1", time.Minute)
	again.RequestHash = "another"
	got, dup := f.appendPub(t, again)
	if !dup || got.Offset != first.Offset || got.RequestHash != first.RequestHash {
		t.Fatalf("resend: offset %d hash %q dup %v; want offset %d, the stored hash, dup", got.Offset, got.RequestHash, dup, first.Offset)
	}
	other, dup := f.appendPub(t, f.pub("t1", "c", "u2", "m1", time.Minute))
	if dup || other.Offset != 3 {
		t.Fatalf("same messageId of another user: offset %d dup %v; want 3, no dup", other.Offset, dup)
	}
	if ps, pos := f.pubs(t, "t1", "c", 0, 0); len(ps) != 3 || pos.Offset != 3 {
		t.Fatalf("after a resend: %d publications, position %d; want 3 and 3", len(ps), pos.Offset)
	}
}

func testHistoryConcurrent(t *testing.T, f *fixture) {
	const writers, each = 8, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := f.pub("t1", "busy", fmt.Sprintf("u%d", w), fmt.Sprintf("m%d", i), time.Minute)
				if _, _, err := f.s.AppendPublication(f.ctx, p); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append: %v", err)
	}
	ps, pos := f.pubs(t, "t1", "busy", 0, writers*each+10)
	if pos.Offset != writers*each || !slices.Equal(offsets(ps), seq(1, writers*each)) {
		t.Fatalf("position %d, offsets %v; want %d and 1..%d without gap or duplicate", pos.Offset, offsets(ps), writers*each, writers*each)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		k := p.UserID + "/" + p.MessageID
		if seen[k] {
			t.Fatalf("%s stored twice", k)
		}
		seen[k] = true
	}
}

func testHistoryPaging(t *testing.T, f *fixture) {
	for i := 1; i <= 7; i++ {
		f.appendPub(t, f.pub("t1", "c", "u1", fmt.Sprintf("m%d", i), time.Minute))
	}
	f.checkPages(t, "t1", "c", []pageCase{
		{0, 3, seq(1, 3)},
		{3, 3, seq(4, 6)},
		{6, 3, seq(7, 7)},
		{7, 3, nil},
		{100, 3, nil},
		{-5, 2, seq(1, 2)},
		{-1 << 63, 0, seq(1, 7)},
	})
}

// pageCase is a read of Publications after an offset, at most limit, and
// the offsets it returns.
type pageCase struct {
	after int64
	limit int
	want  []int64
}

func (f *fixture) checkPages(t *testing.T, tenant, channel string, cases []pageCase) {
	t.Helper()
	for _, tc := range cases {
		ps, _ := f.pubs(t, tenant, channel, tc.after, tc.limit)
		if !slices.Equal(offsets(ps), tc.want) {
			t.Errorf("%s: after %d limit %d: offsets %v, want %v", channel, tc.after, tc.limit, offsets(ps), tc.want)
		}
	}
}

func testHistoryExpiry(t *testing.T, f *fixture) {
	f.appendPub(t, f.pub("t1", "c", "u1", "m1", 30*time.Second))
	f.appendPub(t, f.pub("t1", "c", "u1", "m2", 30*time.Second))
	f.clock.Advance(20 * time.Second)
	f.appendPub(t, f.pub("t1", "c", "u1", "m3", 30*time.Second))
	f.clock.Advance(15 * time.Second)
	ps, pos := f.pubs(t, "t1", "c", 0, 0)
	if !slices.Equal(offsets(ps), []int64{3}) || pos.Offset != 3 {
		t.Fatalf("after the first two expired: offsets %v position %d; want [3] and 3", offsets(ps), pos.Offset)
	}
	// The resend record expired with its publication: the same messageId
	// is a new publication.
	got, dup := f.appendPub(t, f.pub("t1", "c", "u1", "m1", 30*time.Second))
	if dup || got.Offset != 4 || got.Epoch != pos.Epoch {
		t.Fatalf("messageId of an expired publication: offset %d epoch %q dup %v; want 4, %q, no dup", got.Offset, got.Epoch, dup, pos.Epoch)
	}
	f.clock.Advance(time.Hour)
	ps, pos = f.pubs(t, "t1", "c", 0, 0)
	if len(ps) != 0 || pos != (store.Position{Offset: 4}) {
		t.Fatalf("all expired: offsets %v position %+v; want none and offset 4 without an epoch", offsets(ps), pos)
	}
	if again, err := f.s.StreamPosition(f.ctx, "t1", "c"); err != nil || again != pos {
		t.Fatalf("StreamPosition when all expired = %+v, %v; want %+v", again, err, pos)
	}
	// The newest has expired: later ones may be gone, so the next append
	// starts a new epoch, after the newest offset present.
	next, dup := f.appendPub(t, f.pub("t1", "c", "u1", "m1", 30*time.Second))
	if dup || next.Offset != 5 || next.Epoch == "" || next.Epoch == got.Epoch {
		t.Fatalf("append once all expired: offset %d epoch %q dup %v; want 5, a new epoch (not %q), no dup", next.Offset, next.Epoch, dup, got.Epoch)
	}
	more, _ := f.appendPub(t, f.pub("t1", "c", "u1", "m2", 30*time.Second))
	if more.Offset != 6 || more.Epoch != next.Epoch {
		t.Fatalf("append in the new epoch: %d/%q, want 6/%q", more.Offset, more.Epoch, next.Epoch)
	}
	if ps, pos := f.pubs(t, "t1", "c", 0, 0); !slices.Equal(offsets(ps), []int64{5, 6}) || pos != (store.Position{Offset: 6, Epoch: next.Epoch}) {
		t.Fatalf("new epoch: offsets %v position %+v; want [5 6] at {6 %s}", offsets(ps), pos, next.Epoch)
	}
}

// testHistoryPastExpiredRun: a read after an offset among (or before) a
// run of expired publications that are still stored returns the live ones
// after the run, whichever page size, in the epoch the run started as in
// a new one.
func testHistoryPastExpiredRun(t *testing.T, f *fixture) {
	for i := range 40 {
		f.appendPub(t, f.pub("t1", "old", "u1", fmt.Sprintf("m%d", i), time.Minute))
		f.appendPub(t, f.pub("t1", "same", "u1", fmt.Sprintf("m%d", i), time.Minute))
	}
	f.clock.Advance(30 * time.Second)
	for i := range 3 { // "same": live past the run, in its epoch
		f.appendPub(t, f.pub("t1", "same", "u1", fmt.Sprintf("n%d", i), time.Hour))
	}
	f.clock.Advance(time.Minute)
	for i := range 3 { // "old": the run ended the epoch; these start a new one
		f.appendPub(t, f.pub("t1", "old", "u1", fmt.Sprintf("n%d", i), time.Hour))
	}
	for _, ch := range []string{"old", "same"} {
		if pos, err := f.s.StreamPosition(f.ctx, "t1", ch); err != nil || pos.Offset != 43 || pos.Epoch == "" {
			t.Fatalf("%s: position %+v, %v; want offset 43, live", ch, pos, err)
		}
		f.checkPages(t, "t1", ch, []pageCase{
			{0, 0, seq(41, 43)},
			{0, 1, seq(41, 41)},
			{0, 2, seq(41, 42)},
			{-1, 3, seq(41, 43)},
			{17, 2, seq(41, 42)},
			{39, 1, seq(41, 41)},
			{40, 5, seq(41, 43)},
			{41, 1, seq(42, 42)},
			{43, 1, nil},
		})
	}
}

func testHistoryTenants(t *testing.T, f *fixture) {
	a, _ := f.appendPub(t, f.pub("t1", "c", "u1", "m1", time.Minute))
	b, dup := f.appendPub(t, f.pub("t2", "c", "u1", "m1", time.Minute))
	if dup || b.Offset != 1 || a.Epoch == b.Epoch {
		t.Fatalf("second tenant: offset %d dup %v epochs %q %q; want its own stream", b.Offset, dup, a.Epoch, b.Epoch)
	}
	if ps, _ := f.pubs(t, "t2", "c", 0, 0); len(ps) != 1 || ps[0].Tenant != "t2" {
		t.Fatalf("t2 history: %+v", ps)
	}
}

func testHistoryInvalidNames(t *testing.T, f *fixture) {
	for _, p := range []store.Publication{
		f.pub("", "c", "u1", "m1", time.Minute),
		f.pub("t#1", "c", "u1", "m1", time.Minute),
		f.pub("t1", "c#x", "u1", "m1", time.Minute),
		f.pub("t1", "c", "u#1", "m1", time.Minute),
	} {
		if _, _, err := f.s.AppendPublication(f.ctx, p); err == nil || errors.Is(err, store.ErrConditionFailed) {
			t.Errorf("AppendPublication(%q, %q, %q) = %v, want a key error", p.Tenant, p.Channel, p.UserID, err)
		}
	}
	if _, err := f.s.StreamPosition(f.ctx, "t1", "a#b"); err == nil {
		t.Errorf("StreamPosition with '#' in the channel succeeded")
	}
	if _, _, err := f.s.Publications(f.ctx, "t#1", "c", 0, 0); err == nil {
		t.Errorf("Publications with '#' in the tenant succeeded")
	}
}
