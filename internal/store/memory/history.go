package memory

import (
	"context"
	"slices"
	"strings"
	"time"

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
	var newest *store.Publication
	if n, ok := s.newestPub(pk); ok {
		newest = &n
	}
	var exp int64
	p.Offset, p.Epoch, exp = store.NextInStream(newest, expSeconds(p.ExpiresAt), now)
	p.Data = slices.Clone(p.Data)
	p.PublishedAt = p.PublishedAt.UTC()
	p.ExpiresAt = time.Time{}
	if exp != 0 {
		p.ExpiresAt = time.Unix(exp, 0).UTC()
	}
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
// expired; the caller holds s.mu.
func (s *Store) newestPub(pk string) (store.Publication, bool) {
	p := s.parts[pk]
	if p == nil {
		return store.Publication{}, false
	}
	i, _ := slices.BinarySearch(p.sks, store.PrefixPub+"\xff")
	if i == 0 || !strings.HasPrefix(p.sks[i-1], store.PrefixPub) {
		return store.Publication{}, false
	}
	return p.items[p.sks[i-1]].item.(store.Publication), true
}

// position is the current position of pk (see store.History); the caller
// holds s.mu.
func (s *Store) position(pk string) store.Position {
	n, ok := s.newestPub(pk)
	if !ok {
		return store.Position{}
	}
	if r, _ := s.get(pk, store.PubSK(n.Offset)); !r.live(s.now()) {
		return store.Position{Offset: n.Offset}
	}
	return store.Position{Offset: n.Offset, Epoch: n.Epoch}
}

// StreamPosition returns the channel's position. See store.History.
func (s *Store) StreamPosition(ctx context.Context, tenant, channel string) (store.Position, error) {
	if err := checkParts("stream position", channel, tenant, channel); err != nil {
		return store.Position{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.position(store.HistoryPK(tenant, channel)), nil
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
	pos := s.position(pk)
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
