package memory

import (
	"bytes"
	"context"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// putOutbox writes an outbox item; the caller holds s.mu, within the
// write that stores the change, lock event or comment event.
func (s *Store) putOutbox(it store.OutboxItem) {
	if it.IsChange() {
		it.Kind = store.OutboxChange
	}
	s.put(store.OutboxPK(store.OutboxShard(it.Entity)), it.SK(),
		record{expires: s.now() + int64(store.OutboxTTL/time.Second), item: it})
}

// ListOutbox returns up to limit items of shard in sort key order.
func (s *Store) ListOutbox(ctx context.Context, shard, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := store.OutboxPK(shard)
	now := s.now()
	var out []store.OutboxItem
	for _, sk := range s.sortKeys(pk, "", "") {
		if len(out) == limit {
			break
		}
		r, _ := s.get(pk, sk)
		if !r.live(now) {
			continue
		}
		it := r.item.(store.OutboxItem)
		it.Data = bytes.Clone(it.Data)
		out = append(out, it)
	}
	return out, nil
}

// DeleteOutbox removes relayed items.
func (s *Store) DeleteOutbox(ctx context.Context, items []store.OutboxItem) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		s.del(store.OutboxPK(store.OutboxShard(it.Entity)), it.SK())
	}
	return nil
}
