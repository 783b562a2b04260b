package handler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// cursorRefetch is how old a cached member list must be before a cursor
// from a connection missing from it makes the list be read again.
const cursorRefetch = 250 * time.Millisecond

// maxAnchorLen bounds an element anchor's id.
const maxAnchorLen = 256

// ReasonHidden is the "reason" detail of the FORBIDDEN error that refuses
// a cursor of a connection that appears offline.
const ReasonHidden = "HIDDEN"

// cursorAnchor places a cursor relative to an element instead of the page.
type cursorAnchor struct {
	ElementID string   `json:"elementId"`
	OffsetX   *float64 `json:"offsetX,omitempty"`
	OffsetY   *float64 `json:"offsetY,omitempty"`
}

// cursorPayload is the payload of a cursor request and, with the sender's
// identity, of the cursor event.
type cursorPayload struct {
	Room     string        `json:"room"`
	UserID   string        `json:"userId,omitempty"`
	Username string        `json:"username,omitempty"`
	X        *float64      `json:"x,omitempty"`
	Y        *float64      `json:"y,omitempty"`
	Anchor   *cursorAnchor `json:"anchor,omitempty"`
}

// cursor handles a cursor frame: it posts the position to every other
// member of the room and writes nothing to the store. The members come
// from the warm instance's cache (see roomCache), so a frame costs no
// store read either, besides the connection lookup every frame has. The
// sender must have joined the room (see joined), and not appear offline.
// Frames faster than Config.CursorLimit (one per 50 ms) are refused with
// RATE_LIMITED before they get here.
func (p *presenceFeature) cursor(ctx context.Context, r *request) (any, error) {
	var pl cursorPayload
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	room, channel, err := roomOf(pl.Room)
	if err != nil {
		return nil, err
	}
	if err := p.h.authorize(r.conn, auth.Presence, channel); err != nil {
		return nil, err
	}
	if r.conn.Hidden {
		// The cursor event names its sender: a connection that appears
		// offline would reveal itself to the room. The record the frame
		// came with may be this instance's cached copy, which only its own
		// presence writes keep current: the connection may have shown
		// itself through another instance since, so a record read
		// cursorRefetch ago or more is read again before refusing.
		c, err := p.h.connection(ctx, r.conn.ID, cursorRefetch, r.now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNotRegistered()
		}
		if err != nil {
			return nil, err
		}
		r.conn = c
	}
	if r.conn.Hidden {
		return nil, protocol.NewError(protocol.CodeForbidden, "a connection that appears offline (status offline) sends no cursors; set another status first").
			WithDetails(map[string]any{"reason": ReasonHidden})
	}
	if pl.Anchor != nil && (pl.Anchor.ElementID == "" || len(pl.Anchor.ElementID) > maxAnchorLen) {
		// Refused whether or not x and y come with it: the anchor is
		// relayed to the whole room as sent.
		return nil, protocol.NewError(protocol.CodeBadRequest, "an anchor's elementId must be 1..%d bytes", maxAnchorLen)
	}
	if pl.Anchor != nil {
		// Held to the rule of the presence texts, for the same reason:
		// every member sees it as sent.
		if err := checkVisible("anchor elementId", pl.Anchor.ElementID); err != nil {
			return nil, err
		}
	}
	if (pl.X == nil || pl.Y == nil) && pl.Anchor == nil {
		return nil, protocol.NewError(protocol.CodeBadRequest, "a cursor needs x and y, or an anchor with an elementId of 1..%d bytes", maxAnchorLen)
	}
	p.conns.markActive(r.conn.ID, r.now, p.cfg)
	key := roomKey(r.conn.Tenant, channel)
	members, err := p.members(ctx, r.conn.Tenant, channel, r.now, r.conn.ID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(members, r.conn.ID) {
		return nil, protocol.NewError(protocol.CodeNotSubscribed, "join room %q before sending cursors", room)
	}
	if joined, err := p.joined(ctx, r, room); err != nil || !joined {
		if err != nil {
			return nil, err
		}
		return nil, protocol.NewError(protocol.CodeNotSubscribed, "join room %q before sending cursors (watching its channel is not enough)", room)
	}
	pl.Room, pl.UserID, pl.Username = room, r.conn.UserID, r.conn.Username
	frame, err := protocol.Event(protocol.TypeEventCursor, channel, r.conn.UserID, r.env.MessageID, pl, r.now)
	if err != nil {
		return nil, err
	}
	delivered := postAll(ctx, r.bc, members, r.conn.ID, frame, p.h.cfg.FanoutConcurrency, func(id string) { p.rooms.remove(key, id) })
	return map[string]any{"room": room, "recipients": len(members) - 1, "delivered": delivered}, nil
}

// joined reports whether r's connection is in room, as its record lists
// its rooms: the record the frame came with (which may be this instance's
// cached copy), or, when that does not list the room and was read
// cursorRefetch ago or more, the record read again (the connection may
// have joined through another instance since). A subscriber of the room's
// channel that never joined (a plain subscribe watches the room) is not
// in it. A record that does not keep its rooms (RoomsKnown false: written
// by an earlier version) tells nothing, and the subscription alone
// decides, as it did then.
func (p *presenceFeature) joined(ctx context.Context, r *request, room string) (bool, error) {
	in := func(c store.Connection) bool { return !c.RoomsKnown || slices.Contains(c.Rooms, room) }
	if in(r.conn) {
		return true, nil
	}
	c, err := p.h.connection(ctx, r.conn.ID, cursorRefetch, r.now)
	if errors.Is(err, store.ErrNotFound) {
		return false, errNotRegistered()
	}
	return err == nil && in(c), err
}

// members returns the subscribers of a room channel from the cache, or
// reads them when the entry is missing or stale, or when it lacks self and
// is older than cursorRefetch (self may have joined through another
// instance).
func (p *presenceFeature) members(ctx context.Context, tenant, channel string, now time.Time, self string) ([]string, error) {
	key := roomKey(tenant, channel)
	if ids, at, ok := p.rooms.get(key, now); ok && (slices.Contains(ids, self) || now.Sub(at) < cursorRefetch) {
		return ids, nil
	}
	var (
		ids    []string
		cursor string
	)
	for {
		page, next, err := p.h.deps.Store.Subscribers(ctx, tenant, channel, store.Page{Cursor: cursor, Limit: 1000})
		if err != nil {
			return nil, err
		}
		ids = append(ids, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	p.rooms.set(key, ids, now)
	return ids, nil
}

// postAll posts frame to every id but skip, at most concurrency at a time,
// and returns how many posts succeeded; gone is called for recipients that
// no longer exist (the broadcaster removes them).
func postAll(ctx context.Context, bc *broadcast.Broadcaster, ids []string, skip string, frame []byte, concurrency int, gone func(string)) int {
	var (
		wg        sync.WaitGroup
		delivered atomic.Int64
		sem       = make(chan struct{}, max(concurrency, 1))
	)
	for _, id := range ids {
		if id == skip {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			switch err := bc.Post(ctx, id, frame); {
			case err == nil:
				delivered.Add(1)
			case errors.Is(err, broadcast.ErrGone):
				gone(id)
			}
		})
	}
	wg.Wait()
	return int(delivered.Load())
}
