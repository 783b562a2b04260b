package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
)

func outboxCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"OutboxWithEveryStoredChange", testOutbox},
	}
}

// pendingOutbox lists every shard's outbox items, in shard order.
func (f *fixture) pendingOutbox(t *testing.T) []store.OutboxItem {
	t.Helper()
	var all []store.OutboxItem
	for shard := range store.OutboxShards {
		items, err := f.s.ListOutbox(f.ctx, shard, 0)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, items...)
	}
	return all
}

// testOutbox: every commit that stores a change writes its outbox item in
// the same write (a commit refused by its condition writes none, a commit
// without a change writes none); a shard lists each entity's items in
// version order; deleted items are gone, and deleting twice is fine;
// items expire after store.OutboxTTL.
func testOutbox(t *testing.T, f *fixture) {
	ents := []store.EntityKey{{Tenant: "t", Type: "order", ID: "1"}, {Tenant: "t", Type: "order", ID: "2"}, {Tenant: "u", Type: "order", ID: "1"}}
	for _, e := range ents {
		for v := int64(1); v <= 3; v++ {
			if err := f.commitVersion(t, e, v, nil); err != nil {
				t.Fatalf("commit %s v%d: %v", e, v, err)
			}
		}
	}
	// Refused: stale base, and an existing version.
	if err := f.commitVersion(t, ents[0], 3, nil); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("stale commit: %v", err)
	}
	// No change: a head-only commit.
	if err := f.s.Commit(f.ctx, store.Commit{Entity: ents[1], BaseVersion: 3}); err != nil {
		t.Fatal(err)
	}
	items := f.pendingOutbox(t)
	if len(items) != len(ents)*3 {
		t.Fatalf("%d outbox items, want %d", len(items), len(ents)*3)
	}
	last := map[store.EntityKey]int64{}
	for _, it := range items {
		if it.Version != last[it.Entity]+1 {
			t.Fatalf("%s: version %d after %d, want each entity's versions in order", it.Entity, it.Version, last[it.Entity])
		}
		last[it.Entity] = it.Version
		if want := fmt.Sprintf(`"v%d"`, it.Version); string(it.Data) != want {
			t.Fatalf("%s v%d data %q, want %q", it.Entity, it.Version, it.Data, want)
		}
	}
	for _, e := range ents {
		if last[e] != 3 {
			t.Fatalf("%s: last outbox version %d, want 3", e, last[e])
		}
	}
	if err := f.s.DeleteOutbox(f.ctx, items[:2]); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteOutbox(f.ctx, items[:2]); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	if left := f.pendingOutbox(t); len(left) != len(items)-2 {
		t.Fatalf("%d items left, want %d", len(left), len(items)-2)
	}
	if got, err := f.s.ListOutbox(f.ctx, store.OutboxShard(ents[0]), 1); err != nil || len(got) != 1 {
		t.Fatalf("ListOutbox limit 1 = %d items, %v", len(got), err)
	}
	f.clock.Advance(store.OutboxTTL)
	if left := f.pendingOutbox(t); len(left) != 0 {
		t.Fatalf("%d items listed after OutboxTTL, want none", len(left))
	}
}
