package dynamo_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// TestAppendAcrossProcesses: stores of separate processes (each with its
// own cache of the newest publication) appending to one channel at once
// get consecutive offsets, each once: the condition on the next offset
// decides between them, and a store whose cache is stale reads again.
func TestAppendAcrossProcesses(t *testing.T) {
	ep := endpoint(t)
	client, table := newTable(t, ep, dynamo.SerialHTTP())
	const procs, each = 4, 10
	now := time.Now().UTC()
	var wg sync.WaitGroup
	got := make(chan int64, procs*each)
	for w := range procs {
		s := dynamo.New(client, table, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p, dup, err := s.AppendPublication(t.Context(), store.Publication{
					Tenant: "t1", Channel: "c", UserID: fmt.Sprintf("u%d", w), MessageID: fmt.Sprintf("m%d", i),
					Data: []byte(`{}`), PublishedAt: now, ExpiresAt: now.Add(time.Hour),
				})
				if err != nil || dup {
					t.Errorf("append %d/%d: dup %v, %v", w, i, dup, err)
					return
				}
				got <- p.Offset
			}
		}()
	}
	wg.Wait()
	close(got)
	var offs []int64
	for o := range got {
		offs = append(offs, o)
	}
	slices.Sort(offs)
	want := make([]int64, procs*each)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(offs, want) {
		t.Fatalf("offsets %v, want 1..%d each once", offs, procs*each)
	}
	// A stale cache: another process appended since.
	a, b := dynamo.New(client, table, nil), dynamo.New(client, table, nil)
	pub := func(s *dynamo.Store, id string) int64 {
		p, _, err := s.AppendPublication(t.Context(), store.Publication{Tenant: "t1", Channel: "c2", UserID: "u", MessageID: id,
			PublishedAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatalf("append %s: %v", id, err)
		}
		return p.Offset
	}
	if o := []int64{pub(a, "1"), pub(b, "2"), pub(a, "3"), pub(a, "1")}; !slices.Equal(o, []int64{1, 2, 3, 1}) {
		t.Fatalf("offsets %v, want [1 2 3 1] (the last a resend)", o)
	}
}

// TestNewEpochWhenTheNewestWasRemoved: the TTL removes expired items in
// any order. When the newest publication has expired, a later append must
// not continue its epoch: publications after it may have been removed,
// and their offsets would be given again. Here the newest of three is
// removed while the one before it is still present: the next append takes
// that offset again, but in a new epoch, from this process (whose cache
// remembers the removed one) and from a fresh one alike.
func TestNewEpochWhenTheNewestWasRemoved(t *testing.T) {
	ep := endpoint(t)
	client, table := newTable(t, ep, dynamo.SerialHTTP())
	now := time.Unix(1_800_000_000, 0).UTC()
	clock := func() time.Time { return now }
	s := dynamo.New(client, table, clock)
	pub := func(s *dynamo.Store, ch, id string) store.Publication {
		p, dup, err := s.AppendPublication(t.Context(), store.Publication{Tenant: "t1", Channel: ch, UserID: "u", MessageID: id,
			Data: []byte(`{}`), PublishedAt: now, ExpiresAt: now.Add(time.Minute)})
		if err != nil || dup {
			t.Fatalf("append %s/%s: dup %v, %v", ch, id, dup, err)
		}
		return p
	}
	for _, ch := range []string{"a", "b"} {
		var last store.Publication
		for i := range 3 {
			last = pub(s, ch, fmt.Sprintf("m%d", i))
		}
		now = now.Add(2 * time.Minute) // all three expired
		if _, err := client.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: store.HistoryPK("t1", ch)},
			store.AttrSK: &types.AttributeValueMemberS{Value: store.PubSK(3)},
		}}); err != nil {
			t.Fatal(err)
		}
		if pos, err := s.StreamPosition(t.Context(), "t1", ch); err != nil || pos != (store.Position{Offset: 2}) {
			t.Fatalf("%s: position %+v, %v; want offset 2 without an epoch", ch, pos, err)
		}
		writer := s // "a": the process that wrote them; "b": another one
		if ch == "b" {
			writer = dynamo.New(client, table, clock)
		}
		next := pub(writer, ch, "later")
		if next.Offset != 3 || next.Epoch == "" || next.Epoch == last.Epoch {
			t.Fatalf("%s: append after the removal: %d/%q; want 3 in a new epoch (not %q)", ch, next.Offset, next.Epoch, last.Epoch)
		}
		now = now.Add(time.Second)
	}
}

// TestPublicationsPastExpiredRun: Publications reads past a run of
// publications that have expired but that TTL has not removed yet (it may
// take up to two days), with some of them removed here and there, by
// halving the run rather than paging through it: a few Queries more than
// log2 of the run's length, where paging through it took one per page.
func TestPublicationsPastExpiredRun(t *testing.T) {
	ep := endpoint(t)
	var counter dynamo.Counter
	client, table := newTable(t, ep, counter.Options())
	now := time.Unix(1_800_000_000, 0).UTC()
	s := dynamo.New(client, table, func() time.Time { return now })
	pub := func(id string, ttl time.Duration) store.Publication {
		p, _, err := s.AppendPublication(t.Context(), store.Publication{Tenant: "t1", Channel: "c", UserID: "u", MessageID: id,
			Data: []byte(`{}`), PublishedAt: now, ExpiresAt: now.Add(ttl)})
		if err != nil {
			t.Fatalf("append %s: %v", id, err)
		}
		return p
	}
	const expired = 200
	for i := range expired {
		pub(fmt.Sprintf("old%d", i), time.Minute)
	}
	now = now.Add(2 * time.Minute)
	for off := int64(7); off <= expired; off += 13 { // TTL removed some, in no order
		if _, err := client.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: store.HistoryPK("t1", "c")},
			store.AttrSK: &types.AttributeValueMemberS{Value: store.PubSK(off)},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		pub(fmt.Sprintf("new%d", i), time.Minute)
	}
	live := []int64{expired + 1, expired + 2, expired + 3}
	for _, c := range []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 2, live[:2]},
		{0, 1, live[:1]},
		{0, 100, live},
		{150, 2, live[:2]},
		{expired - 1, 2, live[:2]},
		{expired, 5, live},
		{expired + 1, 1, live[1:2]},
		{expired + 3, 1, nil},
	} {
		counter.Reset()
		ps, pos, err := s.Publications(t.Context(), "t1", "c", c.after, c.limit)
		if err != nil {
			t.Fatalf("after %d limit %d: %v", c.after, c.limit, err)
		}
		got := make([]int64, len(ps))
		for i, p := range ps {
			got[i] = p.Offset
		}
		if !slices.Equal(got, c.want) || pos.Offset != expired+3 {
			t.Errorf("after %d limit %d: offsets %v position %d; want %v and %d", c.after, c.limit, got, pos.Offset, c.want, expired+3)
		}
		if q := counter.Snapshot()["Query"].Requests; q > 16 {
			t.Errorf("after %d limit %d: %d Queries past %d expired publications; want at most 16 (a few more than log2 of them)", c.after, c.limit, q, expired)
		}
	}
}
