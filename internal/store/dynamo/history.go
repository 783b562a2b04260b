package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
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
//
// Publications that have expired stay in the partition until DynamoDB's
// TTL removes them, which may take up to two days, and a read after an
// old offset (or from the start) meets them first. Expiry never decreases
// with the offset (see store.History), so the expired ones present are
// the oldest: they end where the live ones begin, and Publications finds
// that point by halving the run of offsets in between, reading one page
// at each step, rather than reading the whole run. A read that meets no
// expired publication costs what it did: one page.
func (s *Store) Publications(ctx context.Context, tenant, channel string, after int64, limit int) ([]store.Publication, store.Position, error) {
	const op = "publications"
	if err := checkParts(op, channel, tenant, channel); err != nil {
		return nil, store.Position{}, err
	}
	if limit <= 0 {
		limit = defaultPageSize
	}
	pk := store.HistoryPK(tenant, channel)
	newest, err := s.newestPub(ctx, op, channel, tenant, channel)
	if err != nil {
		return nil, store.Position{}, err
	}
	now := s.now()
	pos := store.PositionOf(newest, now)
	if newest == nil || !newest.Live(now) || after >= newest.Offset {
		// Nothing live after the offset asked for: the newest is at or
		// before it, or has expired, and so has every one before it.
		return []store.Publication{}, pos, nil
	}
	items, err := s.livePubs(ctx, op, channel, pk, max(after, 0), newest.Offset, limit, now)
	if err != nil {
		return nil, store.Position{}, err
	}
	out := make([]store.Publication, len(items))
	for i, it := range items {
		out[i] = pubFrom(tenant, channel, it)
	}
	return out, pos, nil
}

// livePubs returns up to limit live publications of partition pk after
// offset after, given the offset of the newest publication, which is live
// at now. Each step reads a page of up to limit publications (a Query)
// after an offset between lo and hi, where every publication present from
// after up to lo has expired and the first present after hi is live: a
// page of expired ones moves lo to its last, a page that starts with a
// live one moves hi to where it started, and a page read from lo that
// holds a live one holds the first live one.
func (s *Store) livePubs(ctx context.Context, op, key, pk string, after, newest int64, limit int, now int64) ([]item, error) {
	n := min(limit, queryPageMax)
	lo, hi := after, newest-1
	from := lo // the first step reads from after: a read that meets no expired publication is one page
	for {
		page, more, err := s.pubsAfter(ctx, op, key, pk, from, n)
		if err != nil {
			return nil, err
		}
		first := slices.IndexFunc(page, func(it item) bool { return live(it, now) })
		switch {
		case len(page) == 0: // none present after from: removed since the newest was read
			return nil, nil
		case first > 0 || first == 0 && from == lo: // page[first] is the first live publication after after
			items := page[first:]
			if more && len(items) < limit { // the page was cut at 1 MB: the rest are live
				rest, _, err := s.livePage(ctx, op, key, pk, store.PrefixPub, getS(page[len(page)-1], store.AttrSK), limit-len(items), 0, false, nil, "")
				if err != nil {
					return nil, err
				}
				items = append(items, rest...)
			}
			return items, nil
		case first == 0: // the first live publication is at or before page[0]
			hi = from
		case !more: // all expired, and nothing after them
			return nil, nil
		default: // all expired: so is every one before them
			lo = getN(page[len(page)-1], attrPubOffset)
		}
		from = lo
		if hi-lo > int64(n) {
			from = lo + (hi-lo)/2
		}
	}
}

// pubsAfter reads up to n publications of partition pk after offset
// from, live or expired (a Query), and whether more may follow.
func (s *Store) pubsAfter(ctx context.Context, op, key, pk string, from int64, n int) ([]item, bool, error) {
	out, err := s.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: item{":pk": str(pk), ":prefix": str(store.PrefixPub)},
		ExclusiveStartKey:         keyOf(pk, store.PubSK(from)),
		Limit:                     queryLimit(n),
		ConsistentRead:            aws.Bool(true),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, false, mapErr(op, key, err)
	}
	return out.Items, len(out.LastEvaluatedKey) > 0, nil
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
