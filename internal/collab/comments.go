package collab

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

// announceComment broadcasts a comment event on comments and the entity's
// channel. The messageId ends in the time of the event: for added, the
// comment's creation (to the millisecond), so that the event sent again
// for a resend has the original's.
func (s *Service) announceComment(ctx context.Context, c Call, cm store.Comment, action string) {
	at := s.now()
	if action == protocol.CommentAdded {
		at = cm.CreatedAt.Truncate(time.Millisecond)
	}
	id := fmt.Sprintf("cmt-%s-%s-%d", cm.ID, action, at.UnixNano())
	ev := protocol.CommentEvent{Action: action, Comment: commentOf(cm)}
	for _, ch := range []string{protocol.ChannelComments, Channel(cm.Entity)} {
		c.Notify.Broadcast(ctx, cm.Entity.Tenant, ch, protocol.TypeEventComment, c.Conn.UserID, id, ev)
	}
}

// commentMilli returns the millisecond that leads a new comment's id: now's,
// or one past the last this process used, whichever is later. Comments list
// in id order, so two comments added here within one millisecond still
// list in the order they were added; comments added in the same
// millisecond by different instances are ordered by the random suffix.
func (s *Service) commentMilli(now time.Time) int64 {
	for {
		last, ms := s.lastCommentMilli.Load(), now.UnixMilli()
		if ms <= last {
			ms = last + 1
		}
		if s.lastCommentMilli.CompareAndSwap(last, ms) {
			return ms
		}
	}
}

// AddComment stores a comment on e, a reply to p.ParentID when set, and
// broadcasts it. The same messageId from the same user adds the comment
// once and gets the original reply again.
func (s *Service) AddComment(ctx context.Context, c Call, e store.EntityKey, p protocol.CommentAddPayload) (protocol.CommentReply, error) {
	text := strings.TrimSpace(p.Text)
	if text == "" || utf8.RuneCountInString(text) > s.cfg.MaxCommentLen {
		return protocol.CommentReply{}, protocol.NewError(protocol.CodeBadRequest, "text must be 1..%d characters", s.cfg.MaxCommentLen)
	}
	if reply, ok, err := s.replayComment(ctx, c, e); ok || err != nil {
		return reply, err
	}
	if p.ParentID != "" {
		if editing.ValidateName("parentId", p.ParentID) != nil {
			return protocol.CommentReply{}, badName("parentId")
		}
		if _, err := s.Comment(ctx, e, p.ParentID); err != nil {
			return protocol.CommentReply{}, err
		}
	}
	cm := store.Comment{
		Entity: e, ID: fmt.Sprintf("%013d-%s", s.commentMilli(c.Now), randomHex(6)), ParentID: p.ParentID,
		UserID: c.Conn.UserID, Username: c.Conn.Username, Avatar: c.Conn.Avatar, Text: text, CreatedAt: c.Now,
		Version: store.FirstCommentVersion, // as the store writes it
	}
	reply := protocol.CommentReply{Comment: commentOf(cm)}
	raw, err := json.Marshal(reply)
	if err != nil {
		return protocol.CommentReply{}, fmt.Errorf("encode comment: %w", err)
	}
	err = s.st.AddComment(ctx, cm, s.idempotency(c, e.Tenant, raw))
	if errors.Is(err, store.ErrConditionFailed) {
		if prev, ok, rerr := s.replayComment(ctx, c, e); ok || rerr != nil {
			return prev, rerr
		}
	}
	if err != nil {
		return protocol.CommentReply{}, err
	}
	s.announceComment(ctx, c, cm, protocol.CommentAdded)
	return reply, nil
}

// replayComment returns the reply recorded for c's messageId on e, if
// any, and broadcasts the comment's added event again, with the comment
// as it is stored now: the first attempt may have been stored and failed
// before it announced the comment (a store call that timed out after its
// write was applied).
func (s *Service) replayComment(ctx context.Context, c Call, e store.EntityKey) (protocol.CommentReply, bool, error) {
	i, err := s.st.GetIdempotency(ctx, e.Tenant, c.Conn.UserID, c.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return protocol.CommentReply{}, false, nil
	}
	if err != nil {
		return protocol.CommentReply{}, false, err
	}
	raw, err := recordedReply(i, c)
	if err != nil {
		return protocol.CommentReply{}, true, err
	}
	var reply protocol.CommentReply
	if err := json.Unmarshal(raw, &reply); err != nil {
		return protocol.CommentReply{}, true, fmt.Errorf("decode recorded reply: %w", err)
	}
	if cm, err := s.st.GetComment(ctx, e, reply.Comment.ID); err == nil {
		s.announceComment(ctx, c, cm, protocol.CommentAdded)
	} else if !errors.Is(err, store.ErrNotFound) {
		s.log.WarnContext(ctx, "read comment to announce again", "commentId", reply.Comment.ID, "error", err)
	}
	return reply, true, nil
}

// Comment returns comment id of e: NOT_FOUND when there is none. The
// handler reads it to check ownership before ResolveComment.
func (s *Service) Comment(ctx context.Context, e store.EntityKey, id string) (store.Comment, error) {
	if editing.ValidateName("commentId", id) != nil {
		return store.Comment{}, badName("commentId")
	}
	cm, err := s.st.GetComment(ctx, e, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Comment{}, protocol.NewError(protocol.CodeNotFound, "no comment %q on %s", id, Channel(e))
	}
	return cm, err
}

// ResolveComment marks comment id of e resolved (or, with resolved false,
// reopened) and broadcasts it. Who may do so is the caller's to check
// (the author or a moderator): Comment returns the author.
func (s *Service) ResolveComment(ctx context.Context, c Call, e store.EntityKey, id string, resolved bool) (protocol.CommentReply, error) {
	cm, err := s.st.ResolveComment(ctx, e, id, resolved, c.Conn.UserID, c.Now)
	if errors.Is(err, store.ErrNotFound) {
		return protocol.CommentReply{}, protocol.NewError(protocol.CodeNotFound, "no comment %q on %s", id, Channel(e))
	}
	if err != nil {
		return protocol.CommentReply{}, err
	}
	action := protocol.CommentResolved
	if !resolved {
		action = protocol.CommentReopened
	}
	s.announceComment(ctx, c, cm, action)
	return protocol.CommentReply{Comment: commentOf(cm)}, nil
}

// ListComments lists e's comments, newest first, a page at a time: at
// most p.Limit, and as many as fit in a reply.
func (s *Service) ListComments(ctx context.Context, e store.EntityKey, p protocol.CommentListPayload) (protocol.CommentListReply, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return protocol.CommentListReply{}, err
	}
	cs, next, err := s.st.ListComments(ctx, e, store.Page{Cursor: p.Cursor, Limit: limit})
	if err != nil {
		if errors.Is(err, store.ErrInvalidCursor) {
			return protocol.CommentListReply{}, protocol.NewError(protocol.CodeBadRequest, "invalid cursor")
		}
		return protocol.CommentListReply{}, err
	}
	out := make([]protocol.Comment, len(cs))
	for i, c := range cs {
		out[i] = commentOf(c)
	}
	n, err := protocol.FitSome(out, len(`{"entityType":"","entityId":"","comments":,"nextCursor":""}`)+len(e.Type)+len(e.ID)+protocol.CursorSlack)
	if err != nil {
		return protocol.CommentListReply{}, err
	}
	if n < len(out) {
		// The rest does not fit: continue after the last one sent.
		out, next = out[:n], store.CommentCursor(out[n-1].ID)
	}
	return protocol.CommentListReply{EntityType: e.Type, EntityID: e.ID, Comments: out, NextCursor: next}, nil
}
