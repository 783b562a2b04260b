package memory

import (
	"context"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// PutTokenAlarm creates or replaces the token alarm of a.ConnID.
func (s *Store) PutTokenAlarm(ctx context.Context, a store.TokenAlarm) error {
	const op = "put token alarm"
	if err := checkParts(op, a.ConnID, a.ConnID, a.Tenant, a.UserID); err != nil {
		return err
	}
	a.At = time.Unix(a.At.Unix(), 0).UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putIndexed(store.ConnPK(a.ConnID), store.SKToken, store.TokenBucket(a.ConnID), record{expires: a.At.Unix(), item: a})
	return nil
}

// ExpiredTokens lists token alarms due at now through the index.
func (s *Store) ExpiredTokens(ctx context.Context, now time.Time, limit int) ([]store.TokenAlarm, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.TokenAlarm
	for _, r := range s.due(store.ExpKindToken, now.Unix()) {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, r.item.(store.TokenAlarm))
	}
	return out, nil
}

// DeleteTokenAlarm removes the token alarm of connID, if any.
func (s *Store) DeleteTokenAlarm(ctx context.Context, connID string) error {
	const op = "delete token alarm"
	if err := checkParts(op, connID, connID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delIndexed(store.ConnPK(connID), store.SKToken, store.TokenBucket(connID))
	return nil
}
