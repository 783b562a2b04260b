package handler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/protocol"
)

// Notification limits and levels.
const (
	maxTitleLen   = 200
	maxBodyLen    = 2000
	maxNotifyData = 8 << 10

	levelInfo    = "info"
	levelSuccess = "success"
	levelWarning = "warning"
	levelError   = "error"
)

// notification is the payload of a notification event.
type notification struct {
	ID           string          `json:"id"`
	Title        string          `json:"title,omitempty"`
	Body         string          `json:"body,omitempty"`
	Level        string          `json:"level"`
	Data         json.RawMessage `json:"data,omitempty"`
	TargetUserID string          `json:"targetUserId,omitempty"`
	From         notifySender    `json:"from"`
	CreatedAt    string          `json:"createdAt"`
}

// notifySender names who sent a notification.
type notifySender struct {
	UserID   string `json:"userId"`
	Username string `json:"username"`
}

// notify handles a notify request: a system notification, either to
// every subscriber of the notifications channel or, with userId, to every
// connection of that user (found through the user-to-connections index,
// never a scan), whether or not they subscribed. Only identities that may
// publish on notifications send them: admin and system by default. The
// notification's id derives from the request (notificationID).
func (p *presenceFeature) notify(ctx context.Context, r *request) (any, error) {
	var pl struct {
		UserID string          `json:"userId"`
		Title  string          `json:"title"`
		Body   string          `json:"body"`
		Text   string          `json:"text"`
		Level  string          `json:"level"`
		Data   json.RawMessage `json:"data"`
	}
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	if err := p.h.authorize(r.conn, auth.Publish, protocol.ChannelNotifications); err != nil {
		return nil, err
	}
	if pl.Body == "" {
		pl.Body = pl.Text
	}
	switch {
	case pl.Title == "" && pl.Body == "":
		return nil, protocol.NewError(protocol.CodeBadRequest, "a notification needs a title or a body")
	case len(pl.Title) > maxTitleLen || len(pl.Body) > maxBodyLen:
		return nil, protocol.NewError(protocol.CodeBadRequest, "title and body are at most %d and %d bytes", maxTitleLen, maxBodyLen)
	case len(pl.Data) > maxNotifyData:
		return nil, protocol.NewError(protocol.CodeBadRequest, "data is at most %d bytes", maxNotifyData)
	case pl.UserID != "" && ident.Check(ident.UserID, pl.UserID) != nil:
		return nil, protocol.NewError(protocol.CodeBadRequest, "userId is not a valid user id")
	}
	switch pl.Level {
	case "":
		pl.Level = levelInfo
	case levelInfo, levelSuccess, levelWarning, levelError:
	default:
		return nil, protocol.NewError(protocol.CodeBadRequest, "level must be info, success, warning or error")
	}
	if string(pl.Data) == "null" {
		pl.Data = nil
	}
	n := notification{
		ID: notificationID(r.conn.Tenant, r.conn.UserID, r.env.MessageID, r.env.Payload), Title: pl.Title, Body: pl.Body, Level: pl.Level, Data: pl.Data,
		TargetUserID: pl.UserID, From: notifySender{UserID: r.conn.UserID, Username: r.conn.Username},
		CreatedAt: protocol.Now(r.now),
	}
	recipients, delivered, err := p.h.sendNotification(ctx, r.bc, r.conn.Tenant, n, r.now)
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": n.ID, "recipients": recipients, "delivered": delivered}, nil
}

// notificationID is the id of the notification of a notify request: a hash
// of the tenant, the sender, the request's messageId and its payload in
// canonical form (protocol.CanonicalPayload), 24 hex digits as newID's. A
// notify whose delivery failed partway answers an error after reaching
// some recipients; its retry (the same request: a client's resend, a
// publish API call with the same idempotencyKey, whose payload's keys may
// come in another order) sends them the notification again with the same
// id, so that they can drop the repeat. A messageId reused for another
// notification gives another id. A payload already in canonical form (as
// the publish API builds one, when its data's keys are sorted) gives the
// id its bytes gave before the payload was canonicalised.
func notificationID(tenant, userID, messageID string, payload []byte) string {
	h := sha256.New()
	for _, s := range []string{tenant, userID, messageID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(protocol.CanonicalPayload(payload))
	return "ntf-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// sendNotification delivers n on the notifications channel, or to every
// connection of n.TargetUserID when it is set, and returns the number of
// recipients and of successful posts.
func (h *Handler) sendNotification(ctx context.Context, bc *broadcast.Broadcaster, tenant string, n notification, now time.Time) (int, int, error) {
	frame, err := protocol.Event(protocol.TypeEventNotification, protocol.ChannelNotifications, n.From.UserID, n.ID, n, now)
	if err != nil {
		return 0, 0, err
	}
	if n.TargetUserID == "" {
		res, err := bc.Fanout(ctx, tenant, protocol.ChannelNotifications, frame, nil)
		return res.Recipients, res.Delivered, err
	}
	conns, err := h.deps.Store.UserConnections(ctx, tenant, n.TargetUserID)
	if err != nil {
		return 0, 0, err
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	delivered := postAll(ctx, bc, ids, "", frame, h.cfg.FanoutConcurrency, func(string) {})
	return len(conns), delivered, nil
}
