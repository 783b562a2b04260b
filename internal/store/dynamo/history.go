package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/omnisales/rtcollab/internal/backoff"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// Attributes of the history items (see store/schema_history.go).
const (
	attrStreamOffset = "streamOffset"
	attrStreamEpoch  = "streamEpoch"
	attrPubOffset    = "pubOffset"
	attrPubAt        = "publishedAt"
)

// appendAttempts bounds the read-decide-write loop of AppendPublication.
// Appends to one channel are serialised by the head's offset: with n
// processes appending at once, one wins each round, so an append may lose
// up to n-1 rounds in a row. 64 covers dozens of concurrent writers on one
// channel; past that the append answers store.ErrUnavailable.
const appendAttempts = 64

// streamCache makes appends of one process cheap: appends to one channel
// are serialised in the process (so they do not lose conditions to each
// other), and the head each one wrote is remembered, so that the next
// append writes without reading first. Other processes still append
// concurrently: the head's condition decides, and a lost one reads again.
// The zero value is ready to use.
type streamCache struct {
	locks [64]sync.Mutex
	mu    sync.Mutex
	heads map[string]store.Position // by partition key
}

// maxCachedStreams bounds the cache; it is cleared when full.
const maxCachedStreams = 10000

func (c *streamCache) lock(pk string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(pk))
	m := &c.locks[h.Sum32()%uint32(len(c.locks))]
	m.Lock()
	return m.Unlock
}

func (c *streamCache) get(pk string) (store.Position, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.heads[pk]
	return p, ok
}

func (c *streamCache) set(pk string, p store.Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heads == nil || len(c.heads) >= maxCachedStreams {
		c.heads = make(map[string]store.Position)
	}
	c.heads[pk] = p
}

func (c *streamCache) forget(pk string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.heads, pk)
}

// AppendPublication stores p at the stream's next offset in one
// TransactWriteItems of three items: the head's offset moves from n to
// n+1 (conditioned on n and the epoch, or the head is created with a new
// epoch when absent), the publication is put at n+1, and the resend record
// of (UserID, MessageID) is put, conditioned on no live one existing. The
// head last written by this process is used without reading it; a lost
// condition reads the head and the resend record (one BatchGetItem) and
// decides anew: a live resend record means the publish was a resend. See
// store.History.
func (s *Store) AppendPublication(ctx context.Context, p store.Publication) (store.Publication, bool, error) {
	const op = "append publication"
	if err := checkParts(op, p.Channel, p.Tenant, p.Channel, p.UserID); err != nil {
		return store.Publication{}, false, err
	}
	pk := store.HistoryPK(p.Tenant, p.Channel)
	msgSK := store.PubMsgSK(p.UserID, p.MessageID)
	key := p.Tenant + "/" + p.Channel
	defer s.streams.lock(pk)()
	head, known := s.streams.get(pk)
	for try := range appendAttempts {
		if try > 0 {
			if err := sleep(ctx, backoff.Jitter(try, 4*time.Millisecond, 32*time.Millisecond)); err != nil {
				return store.Publication{}, false, fmt.Errorf("dynamo: %s %q: %w", op, key, err)
			}
		}
		now := s.now()
		if !known {
			got, err := s.batchGet(ctx, op, key, []item{keyOf(pk, store.SKStreamHead), keyOf(pk, msgSK)})
			if err != nil {
				return store.Publication{}, false, err
			}
			if msg, ok := got[keyID(keyOf(pk, msgSK))]; ok && live(msg, now) {
				stored, err := s.get(ctx, op, key, pk, store.PubSK(getN(msg, attrPubOffset)))
				if err != nil {
					return store.Publication{}, false, err
				}
				if stored != nil && live(stored, now) {
					return pubFrom(p.Tenant, p.Channel, stored), true, nil
				}
			}
			head = store.Position{}
			if it := got[keyID(keyOf(pk, store.SKStreamHead))]; it != nil {
				head = store.Position{Offset: getN(it, attrStreamOffset), Epoch: getS(it, attrStreamEpoch)}
			}
		}
		var headAction types.TransactWriteItem
		if head.Epoch == "" {
			p.Offset, p.Epoch = 1, store.NewEpoch()
			headAction = s.putAction(streamHeadItem(pk, p.Offset, p.Epoch), "attribute_not_exists(pk)", nil)
		} else {
			p.Offset, p.Epoch = head.Offset+1, head.Epoch
			headAction = s.updateAction(keyOf(pk, store.SKStreamHead), "SET streamOffset = :n", "streamOffset = :old AND streamEpoch = :epoch",
				item{":n": num(p.Offset), ":old": num(head.Offset), ":epoch": str(head.Epoch)})
		}
		msg := item{store.AttrPK: str(pk), store.AttrSK: str(msgSK), attrPubOffset: num(p.Offset)}
		setExpiry(msg, p.ExpiresAt)
		err := s.transact(ctx, op, key, []types.TransactWriteItem{
			headAction,
			s.putAction(pubItem(pk, p), "attribute_not_exists(pk)", nil),
			s.putAction(msg, "attribute_not_exists(pk) OR expiresAt <= :now", item{":now": num(now)}),
		})
		if errors.Is(err, store.ErrConditionFailed) {
			known = false
			s.streams.forget(pk)
			continue
		}
		if err != nil {
			s.streams.forget(pk)
			return store.Publication{}, false, err
		}
		s.streams.set(pk, store.Position{Offset: p.Offset, Epoch: p.Epoch})
		p.PublishedAt, p.ExpiresAt = p.PublishedAt.UTC(), p.ExpiresAt.UTC()
		return p, false, nil
	}
	return store.Publication{}, false, fmt.Errorf("dynamo: %s %q: still contended after %d attempts: %w", op, key, appendAttempts, store.ErrUnavailable)
}

// StreamPosition reads the stream head (one GetItem), creating it with a
// new epoch when absent (one conditional PutItem). See store.History.
func (s *Store) StreamPosition(ctx context.Context, tenant, channel string) (store.Position, error) {
	const op = "stream position"
	if err := checkParts(op, channel, tenant, channel); err != nil {
		return store.Position{}, err
	}
	pk := store.HistoryPK(tenant, channel)
	for range attempts {
		head, err := s.get(ctx, op, channel, pk, store.SKStreamHead)
		if err != nil {
			return store.Position{}, err
		}
		if head != nil {
			return store.Position{Offset: getN(head, attrStreamOffset), Epoch: getS(head, attrStreamEpoch)}, nil
		}
		epoch := store.NewEpoch()
		err = s.transact(ctx, op, channel, []types.TransactWriteItem{s.putAction(streamHeadItem(pk, 0, epoch), "attribute_not_exists(pk)", nil)})
		if err == nil {
			return store.Position{Epoch: epoch}, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return store.Position{}, err
		}
	}
	return store.Position{}, contention(op, channel)
}

// Publications reads the head (one GetItem) and the live publications
// after an offset (Query pages of the channel's partition). See
// store.History.
func (s *Store) Publications(ctx context.Context, tenant, channel string, after int64, limit int) ([]store.Publication, store.Position, error) {
	const op = "publications"
	if err := checkParts(op, channel, tenant, channel); err != nil {
		return nil, store.Position{}, err
	}
	pk := store.HistoryPK(tenant, channel)
	head, err := s.get(ctx, op, channel, pk, store.SKStreamHead)
	if err != nil {
		return nil, store.Position{}, err
	}
	var pos store.Position
	if head != nil {
		pos = store.Position{Offset: getN(head, attrStreamOffset), Epoch: getS(head, attrStreamEpoch)}
	}
	items, _, err := s.livePage(ctx, op, channel, pk, store.PrefixPub, store.PubSK(max(after, 0)), limit, false, nil)
	if err != nil {
		return nil, store.Position{}, err
	}
	out := make([]store.Publication, len(items))
	for i, it := range items {
		out[i] = pubFrom(tenant, channel, it)
	}
	return out, pos, nil
}

func streamHeadItem(pk string, offset int64, epoch string) item {
	return item{store.AttrPK: str(pk), store.AttrSK: str(store.SKStreamHead), attrStreamOffset: num(offset), attrStreamEpoch: str(epoch)}
}

func pubItem(pk string, p store.Publication) item {
	it := item{
		store.AttrPK:      str(pk),
		store.AttrSK:      str(store.PubSK(p.Offset)),
		attrPubOffset:     num(p.Offset),
		attrStreamEpoch:   str(p.Epoch),
		attrUserID:        str(p.UserID),
		attrRecData:       binAttr(p.Data),
		attrPubAt:         str(formatTime(p.PublishedAt)),
		attrIdemMessageID: str(p.MessageID),
	}
	setStrings(it, map[string]string{attrIdemRequestHash: p.RequestHash})
	setExpiry(it, p.ExpiresAt)
	return it
}

func pubFrom(tenant, channel string, it item) store.Publication {
	p := store.Publication{
		Tenant:      tenant,
		Channel:     channel,
		Offset:      getN(it, attrPubOffset),
		Epoch:       getS(it, attrStreamEpoch),
		UserID:      getS(it, attrUserID),
		MessageID:   getS(it, attrIdemMessageID),
		RequestHash: getS(it, attrIdemRequestHash),
		Data:        getBin(it, attrRecData),
		PublishedAt: parseTime(getS(it, attrPubAt)),
	}
	if _, ok := it[store.AttrExpiresAt]; ok {
		p.ExpiresAt = time.Unix(getN(it, store.AttrExpiresAt), 0).UTC()
	}
	return p
}
