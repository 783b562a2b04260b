package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/omnisales/rtcollab/internal/store"
)

// clonePub copies p with its own Data.
func clonePub(p store.Publication) store.Publication {
	p.Data = slices.Clone(p.Data)
	return p
}

// AppendPublication stores p at the stream's next offset, or returns the
// stored publication of a resend. See store.History.
func (s *Store) AppendPublication(ctx context.Context, p store.Publication) (store.Publication, bool, error) {
	const op = "append publication"
	if err := checkParts(op, p.Channel, p.Tenant, p.Channel, p.UserID); err != nil {
		return store.Publication{}, false, err
	}
	pk := store.HistoryPK(p.Tenant, p.Channel)
	msgSK := store.PubMsgSK(p.UserID, p.MessageID)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if r, ok := s.get(pk, msgSK); ok && r.live(now) {
		off := r.item.(int64)
		if pr, ok := s.get(pk, store.PubSK(off)); ok && pr.live(now) {
			return clonePub(pr.item.(store.Publication)), true, nil
		}
	}
	p.Offset, p.Epoch, p.ExpiresAt = store.NextInStream(s.newestPub(pk), p.ExpiresAt, now)
	p.Data = slices.Clone(p.Data)
	p.PublishedAt = p.PublishedAt.UTC()
	exp := expSeconds(p.ExpiresAt)
	s.put(pk, store.PubSK(p.Offset), record{expires: exp, item: p})
	s.put(pk, msgSK, record{expires: exp, item: p.Offset})
	s.pruneStream(pk, now)
	return clonePub(p), false, nil
}

// pruneMax bounds the expired publications one append removes.
const pruneMax = 8

// pruneStream removes up to pruneMax of the oldest publications of pk that
// have expired, with their resend records, so that a long-running process
// does not keep every publication it ever stored (expiry is otherwise
// lazy). Expiry never decreases with the offset (see store.History), so
// the expired ones are the oldest. The caller holds s.mu.
func (s *Store) pruneStream(pk string, now int64) {
	p := s.parts[pk]
	if p == nil {
		return
	}
	var gone []store.Publication
	i, _ := slices.BinarySearch(p.sks, store.PrefixPub)
	for ; i < len(p.sks) && len(gone) < pruneMax && strings.HasPrefix(p.sks[i], store.PrefixPub); i++ {
		r := p.items[p.sks[i]]
		if r.live(now) {
			break
		}
		gone = append(gone, r.item.(store.Publication))
	}
	for _, pub := range gone {
		s.del(pk, store.PubSK(pub.Offset))
		msgSK := store.PubMsgSK(pub.UserID, pub.MessageID)
		if r, ok := s.get(pk, msgSK); ok && r.item.(int64) == pub.Offset {
			s.del(pk, msgSK)
		}
	}
}

// newestPub returns the publication of pk with the highest offset, live or
// expired, nil when there is none; the caller holds s.mu.
func (s *Store) newestPub(pk string) *store.Publication {
	p := s.parts[pk]
	if p == nil {
		return nil
	}
	i, _ := slices.BinarySearch(p.sks, store.PrefixPub+"\xff")
	if i == 0 || !strings.HasPrefix(p.sks[i-1], store.PrefixPub) {
		return nil
	}
	pub := p.items[p.sks[i-1]].item.(store.Publication)
	return &pub
}

// StreamPosition returns the channel's position. See store.History.
func (s *Store) StreamPosition(ctx context.Context, tenant, channel string) (store.Position, error) {
	if err := checkParts("stream position", channel, tenant, channel); err != nil {
		return store.Position{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return store.PositionOf(s.newestPub(store.HistoryPK(tenant, channel)), s.now()), nil
}

// Publications returns live publications after an offset. See
// store.History.
func (s *Store) Publications(ctx context.Context, tenant, channel string, after int64, limit int) ([]store.Publication, store.Position, error) {
	if err := checkParts("publications", channel, tenant, channel); err != nil {
		return nil, store.Position{}, err
	}
	if limit <= 0 {
		limit = defaultPageSize
	}
	pk := store.HistoryPK(tenant, channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	pos := store.PositionOf(s.newestPub(pk), s.now())
	from := store.PubSK(max(after, 0))
	now := s.now()
	var out []store.Publication
	for _, sk := range s.sortKeys(pk, store.PrefixPub, from) {
		r, _ := s.get(pk, sk)
		if !r.live(now) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, clonePub(r.item.(store.Publication)))
	}
	return out, pos, nil
}
