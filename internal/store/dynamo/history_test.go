package dynamo_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// TestAppendAcrossProcesses: stores of separate processes (each with its
// own cache of stream heads) appending to one channel at once get
// consecutive offsets, each once: the head's condition decides between
// them, and a store whose cached head is stale reads it again.
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
	// A stale cached head: another process appended since.
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
