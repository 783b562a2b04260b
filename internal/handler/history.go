package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Channel history: publications on a channel whose name matches a
// retention rule get a stream position (offset and epoch, see
// store.History), are kept for the rule's time and count, and can be read
// again with `history` or recovered with `subscribe {since}`.
//
// Hand-over of a recovery: subscribe first writes the subscription, then
// reads the stream. A publication is stored before it is fanned out, and
// its fan-out lists the subscribers after it is stored, so every
// publication reaches the recovering connection at least once: those whose
// fan-out listed the subscribers before the subscription are stored before
// the read, and come in the reply (or the history pages after it); every
// later one is broadcast to the connection. One stored between the
// subscription and the read comes both ways: clients keep the offsets they
// delivered and drop the second copy, and deliver the live updates that
// arrive before the recovery ends after it, in offset order.

// Publication is one publish: from a client frame, or from any other
// caller of publishMessage.
type Publication struct {
	Tenant, Channel string
	// UserID and MessageID identify the request: a second publish with the
	// same pair, within the channel's retention, is a resend.
	UserID, MessageID string
	// RequestHash tells a resend from another request reusing the
	// messageId (protocol.RequestHash of the frame).
	RequestHash string
	Payload     json.RawMessage
	At          time.Time
}

// PublishResult is the outcome of publishMessage.
type PublishResult struct {
	Recipients, Delivered int
	// Position is the publication's place in the stream; nil on a channel
	// without history.
	Position *protocol.Position
	// Resent is true when the publication was stored by an earlier publish
	// with the same UserID and MessageID: it is broadcast again with the
	// same offset (clients drop offsets they delivered), not stored twice.
	Resent bool
}

// publishMessage is the one publish path: on a channel with history it
// appends p to the channel's stream, then it broadcasts the update event
// to every subscriber of the channel. Authorisation is the caller's.
func (h *Handler) publishMessage(ctx context.Context, bc *broadcast.Broadcaster, p Publication) (PublishResult, error) {
	var res PublishResult
	frame, err := protocol.Event(protocol.TypeUpdate, p.Channel, p.UserID, p.MessageID, p.Payload, p.At)
	if err != nil {
		return res, err
	}
	if rule, ok := h.cfg.History.For(p.Channel); ok {
		if err := publicationFits(p); err != nil {
			return res, err
		}
		stored, dup, err := h.deps.Store.AppendPublication(ctx, store.Publication{
			Tenant: p.Tenant, Channel: p.Channel, UserID: p.UserID, MessageID: p.MessageID,
			RequestHash: p.RequestHash, Data: p.Payload, PublishedAt: p.At, ExpiresAt: p.At.Add(rule.Age),
		})
		if err != nil {
			return res, fmt.Errorf("publish on %q: %w", p.Channel, err)
		}
		if dup && stored.RequestHash != p.RequestHash {
			return res, protocol.NewError(protocol.CodeIdempotencyMismatch, "messageId %q was used for another publish", p.MessageID)
		}
		pos := protocol.Position{Offset: stored.Offset, Epoch: stored.Epoch}
		res.Position, res.Resent = &pos, dup
		frame, err = protocol.UpdateEvent(p.Channel, stored.UserID, stored.MessageID, stored.Data, stored.PublishedAt, pos)
		if err != nil {
			return res, err
		}
	}
	out, err := bc.Fanout(ctx, p.Tenant, p.Channel, frame, nil)
	if err != nil {
		return res, err
	}
	res.Recipients, res.Delivered = out.Recipients, out.Delivered
	return res, nil
}

// publicationFits refuses with FRAME_TOO_LARGE, before it is stored, a
// publication that could not be sent once stored: its update event with
// the largest position it could get, or its item in a history page (a
// page escapes the payload as a reply does, which can make an item larger
// than the event). Stored, it could be neither broadcast nor read back by
// history or a recovering subscribe.
func publicationFits(p Publication) error {
	worst := protocol.Position{Offset: math.MaxInt64, Epoch: strings.Repeat("f", maxStoredEpochLen)}
	if _, err := protocol.UpdateEvent(p.Channel, p.UserID, p.MessageID, p.Payload, p.At, worst); err != nil {
		return err
	}
	item := historyItem{Offset: math.MaxInt64, UserID: p.UserID, MessageID: p.MessageID, Timestamp: protocol.Now(p.At), Payload: p.Payload}
	if _, err := protocol.FitSome([]historyItem{item}, protocol.CursorSlack); err != nil {
		return protocol.NewError(protocol.CodeFrameTooLarge, "the publication would not fit a history reply of %d bytes", protocol.MaxFrameBytes)
	}
	return nil
}

// maxStoredEpochLen is the length of a stored stream's epoch
// (store.NewEpoch), with room to spare.
const maxStoredEpochLen = 32

// historyItem is one publication in a history or recovery reply.
type historyItem struct {
	Offset    int64           `json:"offset"`
	UserID    string          `json:"userId"`
	MessageID string          `json:"messageId"`
	Timestamp string          `json:"timestamp"`
	Payload   json.RawMessage `json:"payload,omitempty"`
}

// historyPage is the reply of history, and the recovery members of the
// subscribe reply.
type historyPage struct {
	Channel string `json:"channel"`
	// Recovered: the publications continue the position asked for with no
	// gap (same epoch, nothing expired or beyond the count in between).
	// Absent from a history reply without since.
	Recovered *bool `json:"recovered,omitempty"`
	// Position is the stream's current position.
	Position protocol.Position `json:"position"`
	// Publications follow since (or start at the oldest kept), in offset
	// order.
	Publications []historyItem `json:"publications"`
	// HasMore: more publications follow the last one; ask with history
	// since the last offset.
	HasMore bool `json:"hasMore"`
}

// Bounds of a history read.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
)

// sincePosition is a position sent by a client, checked for bounds.
type sincePosition struct {
	Offset *int64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

func (s *sincePosition) position() (*protocol.Position, error) {
	if s == nil {
		return nil, nil
	}
	if s.Offset == nil || *s.Offset < 0 {
		return nil, protocol.NewError(protocol.CodeBadRequest, "field %q must be an offset of 0 or more", "since.offset")
	}
	if len(s.Epoch) > 64 {
		return nil, protocol.NewError(protocol.CodeBadRequest, "field %q is too long", "since.epoch")
	}
	return &protocol.Position{Offset: *s.Offset, Epoch: s.Epoch}, nil
}

// An empty stream (no live publication: none yet, or every one expired)
// has no epoch in the store (see store.History); its position carries a
// stand-in epoch instead, "t" and the Unix time in seconds at which it was
// read empty. The next publication starts a real epoch, at an offset the
// client cannot know in advance, so a recovery from a stand-in is decided
// by time: while less than the channel's retention age has passed since
// the stream was read empty, every publication stored since is still live
// (none can have been removed by the TTL), so the live ones after the
// position are exactly what the client missed, provided none of them has
// an offset at or below the position's.
const emptyEpochPrefix = "t"

// emptyEpochSlack is taken off the retention age when deciding on a
// stand-in epoch, for clocks of separate instances that differ.
const emptyEpochSlack = 5 * time.Second

func emptyEpoch(at time.Time) string {
	return emptyEpochPrefix + strconv.FormatInt(at.Unix(), 10)
}

// emptyEpochFresh reports whether epoch is a stand-in epoch read less than
// the retention age (less the slack) before now.
func emptyEpochFresh(epoch string, rule RetentionRule, now time.Time) bool {
	digits, ok := strings.CutPrefix(epoch, emptyEpochPrefix)
	if !ok {
		return false
	}
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return false // a sign would let the subtraction below overflow
	}
	sec, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || sec > now.Unix()+int64(emptyEpochSlack/time.Second) {
		return false
	}
	return now.Unix()-sec < int64((rule.Age-emptyEpochSlack)/time.Second)
}

// readHistory reads one page of the stream of channel after since (nil:
// from the oldest publication kept), within the reply budget, with used
// bytes taken by the rest of the reply.
func (h *Handler) readHistory(ctx context.Context, tenant, channel string, rule RetentionRule, since *protocol.Position, limit, used int) (historyPage, error) {
	page := historyPage{Channel: channel, Publications: []historyItem{}}
	now := h.now()
	var after int64
	fromEmpty := false
	if since != nil {
		after = since.Offset
		// From a stand-in epoch, read the position's own offset too: a
		// live publication there was stored after the client read the
		// stream empty, and it was missed.
		if fromEmpty = emptyEpochFresh(since.Epoch, rule, now); fromEmpty {
			after = max(since.Offset-1, 0)
		}
	}
	pubs, pos, err := h.deps.Store.Publications(ctx, tenant, channel, after, limit)
	if err != nil {
		return page, err
	}
	// The count bound is applied on read: publications past it wait for
	// their TTL.
	floor := max(pos.Offset-int64(rule.Count), 0)
	if since == nil && len(pubs) > 0 && pubs[0].Offset <= floor {
		if pubs, _, err = h.deps.Store.Publications(ctx, tenant, channel, floor, limit); err != nil {
			return page, err
		}
	}
	page.Position = protocol.Position{Offset: pos.Offset, Epoch: pos.Epoch}
	if pos.Epoch == "" {
		page.Position.Epoch = emptyEpoch(now)
	}
	if since != nil {
		var ok bool
		switch {
		case fromEmpty && pos.Epoch == "":
			ok = since.Offset == pos.Offset
		case fromEmpty:
			ok = since.Offset < pos.Offset && since.Offset >= floor && len(pubs) > 0 && pubs[0].Offset == since.Offset+1
		default:
			ok = pos.Epoch != "" && since.Epoch == pos.Epoch && since.Offset <= pos.Offset && since.Offset >= floor &&
				(since.Offset == pos.Offset || len(pubs) > 0 && pubs[0].Offset == since.Offset+1)
		}
		page.Recovered = &ok
		if !ok {
			return page, nil
		}
	}
	items := make([]historyItem, 0, len(pubs))
	for _, p := range pubs {
		if p.Offset <= floor || since != nil && p.Offset <= since.Offset {
			continue
		}
		items = append(items, historyItem{Offset: p.Offset, UserID: p.UserID, MessageID: p.MessageID,
			Timestamp: protocol.Now(p.PublishedAt), Payload: p.Data})
	}
	n, err := protocol.FitSome(items, used+protocol.CursorSlack)
	if err != nil {
		return page, err
	}
	page.Publications = items[:n]
	page.HasMore = n < len(items) || n > 0 && items[n-1].Offset < pos.Offset
	return page, nil
}

// channelHistory answers history {channel, since?, limit?}.
func (h *Handler) channelHistory(ctx context.Context, r *request) (any, error) {
	ch, err := requireChannel(r)
	if err != nil {
		return nil, err
	}
	if err := h.authorize(r.conn, auth.Subscribe, ch); err != nil {
		return nil, err
	}
	var p struct {
		Since *sincePosition `json:"since"`
		Limit *int64         `json:"limit"`
	}
	if err := protocol.DecodePayload(r.env.Payload, &p); err != nil {
		return nil, err
	}
	limit := defaultHistoryLimit
	if p.Limit != nil {
		if *p.Limit < 1 || *p.Limit > maxHistoryLimit {
			return nil, protocol.NewError(protocol.CodeBadRequest, "field %q must be 1..%d", "limit", maxHistoryLimit)
		}
		limit = int(*p.Limit)
	}
	since, err := p.Since.position()
	if err != nil {
		return nil, err
	}
	rule, ok := h.cfg.History.For(ch)
	if !ok {
		return nil, protocol.NewError(protocol.CodeNotFound, "channel %q keeps no history", ch)
	}
	return h.readHistory(ctx, r.conn.Tenant, ch, rule, since, limit, 0)
}

// subscribeStream returns the stream members of a subscribe reply, after
// the subscription is written: the position, and with since the
// recovery (see the hand-over above). A channel without history has none.
func (h *Handler) subscribeStream(ctx context.Context, r *request, ch string, since *protocol.Position) (any, error) {
	rule, ok := h.cfg.History.For(ch)
	if !ok {
		return map[string]any{"channel": ch}, nil
	}
	if since == nil {
		pos, err := h.deps.Store.StreamPosition(ctx, r.conn.Tenant, ch)
		if err != nil {
			return nil, err
		}
		if pos.Epoch == "" {
			pos.Epoch = emptyEpoch(h.now())
		}
		return map[string]any{"channel": ch, "position": protocol.Position{Offset: pos.Offset, Epoch: pos.Epoch}}, nil
	}
	return h.readHistory(ctx, r.conn.Tenant, ch, rule, since, defaultHistoryLimit, 0)
}

// subscribeSince reads the since member of a subscribe payload.
func subscribeSince(r *request) (*protocol.Position, error) {
	var p struct {
		Since *sincePosition `json:"since"`
	}
	if err := protocol.DecodePayload(r.env.Payload, &p); err != nil {
		return nil, err
	}
	return p.Since.position()
}

// registerHistory sends history requests that name a channel to the
// channel history; the others (entityType, entityId) keep going to the
// entity history registered before.
func (h *Handler) registerHistory() {
	entity := h.routes[protocol.TypeHistory]
	h.routes[protocol.TypeHistory] = func(ctx context.Context, r *request) (any, error) {
		if r.env.Channel != "" || entity == nil {
			return h.channelHistory(ctx, r)
		}
		return entity(ctx, r)
	}
}
