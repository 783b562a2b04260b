package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/omnisales/rtcollab/internal/backoff"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// Attributes of the history items (see store/schema_history.go).
const (
	attrStreamEpoch = "streamEpoch"
	attrPubOffset   = "pubOffset"
	attrPubAt       = "publishedAt"
)

// appendAttempts bounds the read-decide-write loop of AppendPublication.
// Appends to one channel are serialised by the condition on the next
// offset: with n processes appending at once, one wins each round, so an
// append may lose up to n-1 rounds in a row. 64 covers dozens of
// concurrent writers on one channel; past that the append answers
// store.ErrUnavailable.
const appendAttempts = 64

// streamCache makes appends of one process cheap: appends to one channel
// are serialised in the process (so they do not lose conditions to each
// other), and the publication each one stored is remembered, so that the
// next append writes without reading first while that publication is
// live. Other processes still append concurrently: the condition on the
// publication's offset decides, and a lost one reads again.
// The zero value is ready to use.
type streamCache struct {
	locks  [64]sync.Mutex
	mu     sync.Mutex
	newest map[string]store.Publication // by partition key; no Data
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

func (c *streamCache) get(pk string) (store.Publication, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.newest[pk]
	return p, ok
}

func (c *streamCache) set(pk string, p store.Publication) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.newest == nil || len(c.newest) >= maxCachedStreams {
		c.newest = make(map[string]store.Publication)
	}
	p.Data = nil
	c.newest[pk] = p
}

func (c *streamCache) forget(pk string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.newest, pk)
}

// AppendPublication stores p at the stream's next offset in one
// TransactWriteItems of two items: the publication, put at the offset
// after the newest publication on the condition that the offset is free,
// and the resend record of (UserID, MessageID), put on the condition that
// no live one exists. The newest publication this process stored is used
// without reading while it is live; otherwise, and after a lost
// condition, the resend record is read (GetItem) and then the newest
// publication (a Query of one item), both strongly consistent: a live
// resend record means the publish was a resend. See store.History.
func (s *Store) AppendPublication(ctx context.Context, p store.Publication) (store.Publication, bool, error) {
	const op = "append publication"
	if err := checkParts(op, p.Channel, p.Tenant, p.Channel, p.UserID); err != nil {
		return store.Publication{}, false, err
	}
	pk := store.HistoryPK(p.Tenant, p.Channel)
	msgSK := store.PubMsgSK(p.UserID, p.MessageID)
	key := p.Tenant + "/" + p.Channel
	defer s.streams.lock(pk)()
	cached, known := s.streams.get(pk)
	for try := range appendAttempts {
		if try > 0 {
			if err := sleep(ctx, backoff.Jitter(try, 4*time.Millisecond, 32*time.Millisecond)); err != nil {
				return store.Publication{}, false, fmt.Errorf("dynamo: %s %q: %w", op, key, err)
			}
		}
		now := s.now()
		newest := &cached
		if !known || !cached.Live(now) {
			msg, err := s.get(ctx, op, key, pk, msgSK)
			if err != nil {
				return store.Publication{}, false, err
			}
			if msg != nil && live(msg, now) {
				stored, err := s.get(ctx, op, key, pk, store.PubSK(getN(msg, attrPubOffset)))
				if err != nil {
					return store.Publication{}, false, err
				}
				if stored != nil && live(stored, now) {
					return pubFrom(p.Tenant, p.Channel, stored), true, nil
				}
			}
			if newest, err = s.newestPub(ctx, op, key, p.Tenant, p.Channel); err != nil {
				return store.Publication{}, false, err
			}
		}
		p.Offset, p.Epoch, p.ExpiresAt = store.NextInStream(newest, p.ExpiresAt, now)
		msg := item{store.AttrPK: str(pk), store.AttrSK: str(msgSK), attrPubOffset: num(p.Offset)}
		setExpiry(msg, p.ExpiresAt)
		err := s.transact(ctx, op, key, []types.TransactWriteItem{
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
		s.streams.set(pk, p)
		p.PublishedAt = p.PublishedAt.UTC()
		return p, false, nil
	}
	return store.Publication{}, false, fmt.Errorf("dynamo: %s %q: still contended after %d attempts: %w", op, key, appendAttempts, store.ErrUnavailable)
}

// newestPub reads the publication with the highest offset, live or
// expired (a strongly consistent Query of one item); nil when the stream
// has none.
func (s *Store) newestPub(ctx context.Context, op, key, tenant, channel string) (*store.Publication, error) {
	pk := store.HistoryPK(tenant, channel)
	out, err := s.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: item{":pk": str(pk), ":prefix": str(store.PrefixPub)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ConsistentRead:            aws.Bool(true),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, mapErr(op, key, err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	p := pubFrom(tenant, channel, out.Items[0])
	return &p, nil
}

// StreamPosition reads the newest publication (a Query of one item). See
// store.History.
func (s *Store) StreamPosition(ctx context.Context, tenant, channel string) (store.Position, error) {
	const op = "stream position"
	if err := checkParts(op, channel, tenant, channel); err != nil {
		return store.Position{}, err
	}
	newest, err := s.newestPub(ctx, op, channel, tenant, channel)
	if err != nil {
		return store.Position{}, err
	}
	return store.PositionOf(newest, s.now()), nil
}

// Publications reads the newest publication (a Query of one item) and the
// live publications after an offset (Query pages of the channel's
// partition). See store.History.
func (s *Store) Publications(ctx context.Context, tenant, channel string, after int64, limit int) ([]store.Publication, store.Position, error) {
	const op = "publications"
	if err := checkParts(op, channel, tenant, channel); err != nil {
		return nil, store.Position{}, err
	}
	pk := store.HistoryPK(tenant, channel)
	newest, err := s.newestPub(ctx, op, channel, tenant, channel)
	if err != nil {
		return nil, store.Position{}, err
	}
	pos := store.PositionOf(newest, s.now())
	items, _, err := s.livePage(ctx, op, channel, pk, store.PrefixPub, store.PubSK(max(after, 0)), limit, false, nil, "")
	if err != nil {
		return nil, store.Position{}, err
	}
	out := make([]store.Publication, len(items))
	for i, it := range items {
		out[i] = pubFrom(tenant, channel, it)
	}
	return out, pos, nil
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
