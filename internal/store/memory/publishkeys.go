package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/omnisales/rtcollab/internal/store"
)

// ClaimPublishKey writes k unless a live record of its key exists that
// has not lapsed; a live record of k's own claim id is k's claim.
func (s *Store) ClaimPublishKey(ctx context.Context, k store.PublishKey) (store.PublishKey, error) {
	const op = "claim publish key"
	k, err := store.PrepareClaim("memory", op, k)
	if err != nil {
		return store.PublishKey{}, err
	}
	k.Reply = slices.Clone(k.Reply)
	pk := store.PublishKeyPK(k.Tenant, k.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.get(pk, store.SKPublishKey); ok && r.live(s.now()) && !r.item.(store.PublishKey).Lapsed(s.now()) {
		old := r.item.(store.PublishKey)
		old.Reply = slices.Clone(old.Reply)
		if old.OwnClaim(k.ClaimID) {
			return old, nil
		}
		return old, fmt.Errorf("memory: %s %q: %w", op, k.Key, store.ErrConditionFailed)
	}
	s.put(pk, store.SKPublishKey, record{expires: expSeconds(k.ExpiresAt), item: k})
	k.Reply = slices.Clone(k.Reply)
	return k, nil
}

// CompletePublishKey stores the reply of a claimed publish.
func (s *Store) CompletePublishKey(ctx context.Context, tenant, key, hash string, reply []byte) error {
	const op = "complete publish key"
	if err := store.CheckPublishKey("memory", op, tenant, key); err != nil {
		return err
	}
	pk := store.PublishKeyPK(tenant, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(pk, store.SKPublishKey)
	if !ok || !r.live(s.now()) || r.item.(store.PublishKey).RequestHash != hash {
		return fmt.Errorf("memory: %s %q: %w", op, key, store.ErrNotFound)
	}
	k := r.item.(store.PublishKey)
	k.Reply = slices.Clone(reply)
	r.item = k
	s.put(pk, store.SKPublishKey, r)
	return nil
}

// ReleasePublishKey deletes an unfinished claim of hash.
func (s *Store) ReleasePublishKey(ctx context.Context, tenant, key, hash string) error {
	const op = "release publish key"
	if err := store.CheckPublishKey("memory", op, tenant, key); err != nil {
		return err
	}
	pk := store.PublishKeyPK(tenant, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.get(pk, store.SKPublishKey); ok {
		if k := r.item.(store.PublishKey); k.RequestHash == hash && k.Reply == nil {
			s.del(pk, store.SKPublishKey)
		}
	}
	return nil
}
