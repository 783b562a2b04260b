package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// commentEvent is the payload of a comment event on comments and the
// entity channel.
type commentEvent struct {
	Action  string      `json:"action"`
	Comment protocol.Comment `json:"comment"`
}

// announceComment broadcasts a comment event on comments and the entity's
// channel.
func (f *editingFeature) announceComment(ctx context.Context, r *request, c store.Comment, action string) {
	id := fmt.Sprintf("cmt-%s-%s-%d", c.ID, action, f.h.now().UnixNano())
	f.announce(ctx, r.bc, c.Entity.Tenant, protocol.TypeEventComment, r.conn.UserID, id,
		protocol.CommentEvent{Action: action, Comment: commentOf(c)}, protocol.ChannelComments, channelOf(c.Entity))
}

// commentMilli returns the millisecond that leads a new comment's id: now's,
// or one past the last this process used, whichever is later. Comments list
// in id order, so two comments added here within one millisecond still
// list in the order they were added; comments added in the same
// millisecond by different instances are ordered by the random suffix.
func (f *editingFeature) commentMilli(now time.Time) int64 {
	for {
		last, ms := f.lastCommentMilli.Load(), now.UnixMilli()
		if ms <= last {
			ms = last + 1
		}
		if f.lastCommentMilli.CompareAndSwap(last, ms) {
			return ms
		}
	}
}

// commentAdd stores a comment and broadcasts it. The same messageId from
// the same user adds the comment once and gets the original reply again.
func (f *editingFeature) commentAdd(ctx context.Context, r *request) (any, error) {
	var p protocol.CommentAddPayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	text := strings.TrimSpace(p.Text)
	if text == "" || utf8.RuneCountInString(text) > f.cfg.MaxCommentLen {
		return nil, protocol.NewError(protocol.CodeBadRequest, "text must be 1..%d characters", f.cfg.MaxCommentLen)
	}
	st := f.h.deps.Store
	replay := func() (any, bool, error) {
		i, err := st.GetIdempotency(ctx, e.Tenant, r.conn.UserID, r.env.MessageID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		reply, err := recordedReply(i, r)
		return reply, true, err
	}
	if reply, ok, err := replay(); ok || err != nil {
		return reply, err
	}
	if p.ParentID != "" {
		if editing.ValidateName("parentId", p.ParentID) != nil {
			return nil, badName("parentId")
		}
		if _, err := st.GetComment(ctx, e, p.ParentID); errors.Is(err, store.ErrNotFound) {
			return nil, protocol.NewError(protocol.CodeNotFound, "no comment %q on %s", p.ParentID, channelOf(e))
		} else if err != nil {
			return nil, err
		}
	}
	c := store.Comment{
		Entity: e, ID: fmt.Sprintf("%013d-%s", f.commentMilli(r.now), randomHex(6)), ParentID: p.ParentID,
		UserID: r.conn.UserID, Username: r.conn.Username, Avatar: r.conn.Avatar, Text: text, CreatedAt: r.now,
	}
	reply, err := json.Marshal(map[string]any{"comment": commentOf(c)})
	if err != nil {
		return nil, fmt.Errorf("encode comment: %w", err)
	}
	err = st.AddComment(ctx, c, &store.Idempotency{
		Tenant: e.Tenant, UserID: r.conn.UserID, MessageID: r.env.MessageID, RequestHash: protocol.RequestHash(r.env),
		Reply: reply, ExpiresAt: r.now.Add(f.cfg.IdempotencyTTL),
	})
	if errors.Is(err, store.ErrConditionFailed) {
		if prev, ok, rerr := replay(); ok || rerr != nil {
			return prev, rerr
		}
	}
	if err != nil {
		return nil, err
	}
	f.announceComment(ctx, r, c, protocol.CommentAdded)
	return json.RawMessage(reply), nil
}

// commentResolve marks a comment resolved (or reopened) and broadcasts it.
// The caller needs publish on the entity channel and must be the comment's
// author or a moderator (see internal/auth/POLICY.md, "Ownership").
func (f *editingFeature) commentResolve(ctx context.Context, r *request) (any, error) {
	var p protocol.CommentResolvePayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p.EntityRef, true)
	if err != nil {
		return nil, err
	}
	if editing.ValidateName("commentId", p.CommentID) != nil {
		return nil, badName("commentId")
	}
	resolved := p.Resolved == nil || *p.Resolved
	cur, err := f.h.deps.Store.GetComment(ctx, e, p.CommentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, protocol.NewError(protocol.CodeNotFound, "no comment %q on %s", p.CommentID, channelOf(e))
	}
	if err != nil {
		return nil, err
	}
	// A comment's author never changes, so this check cannot race the
	// write below.
	if err := f.h.authorizeOwner(r.conn, cur.UserID); err != nil {
		return nil, err
	}
	c, err := f.h.deps.Store.ResolveComment(ctx, e, p.CommentID, resolved, r.conn.UserID, r.now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, protocol.NewError(protocol.CodeNotFound, "no comment %q on %s", p.CommentID, channelOf(e))
	}
	if err != nil {
		return nil, err
	}
	action := protocol.CommentResolved
	if !resolved {
		action = protocol.CommentReopened
	}
	f.announceComment(ctx, r, c, action)
	return map[string]any{"comment": commentOf(c)}, nil
}

// commentList lists an entity's comments, newest first.
func (f *editingFeature) commentList(ctx context.Context, r *request) (any, error) {
	var p protocol.CommentListPayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p.EntityRef, false)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	cs, next, err := f.h.deps.Store.ListComments(ctx, e, store.Page{Cursor: p.Cursor, Limit: limit})
	if err != nil {
		if errors.Is(err, store.ErrInvalidCursor) {
			return nil, protocol.NewError(protocol.CodeBadRequest, "invalid cursor")
		}
		return nil, err
	}
	out := make([]protocol.Comment, len(cs))
	for i, c := range cs {
		out[i] = commentOf(c)
	}
	n, err := protocol.FitSome(out, len(`{"entityType":"","entityId":"","comments":,"nextCursor":""}`)+len(e.Type)+len(e.ID)+protocol.CursorSlack)
	if err != nil {
		return nil, err
	}
	if n < len(out) {
		// The rest does not fit: continue after the last one sent.
		out, next = out[:n], store.CommentCursor(out[n-1].ID)
	}
	return map[string]any{"entityType": e.Type, "entityId": e.ID, "comments": out, "nextCursor": next}, nil
}
