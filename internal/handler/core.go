package handler

import (
	"context"
	"errors"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

func (h *Handler) ping(ctx context.Context, r *request) (any, error) {
	return map[string]any{}, nil
}

// hello tells a client who the server thinks it is and the server's clock.
func (h *Handler) hello(ctx context.Context, r *request) (any, error) {
	c := r.conn
	return map[string]any{
		"connectionId": c.ID, "userId": c.UserID, "username": c.Username, "tenant": c.Tenant,
		"roles": c.Roles, "connectedAt": protocol.Now(c.ConnectedAt), "serverTime": protocol.Now(h.now()),
	}, nil
}

func requireChannel(r *request) (string, error) {
	if r.env.Channel == "" {
		return "", protocol.NewError(protocol.CodeBadRequest, "missing field %q", "channel")
	}
	return r.env.Channel, nil
}

// identity is the auth view of the caller's connection record.
func identity(c store.Connection) auth.Identity {
	return auth.Identity{UserID: c.UserID, Username: c.Username, Avatar: c.Avatar, Tenant: c.Tenant, Roles: c.Roles}
}

func (h *Handler) subscribe(ctx context.Context, r *request) (any, error) {
	ch, err := requireChannel(r)
	if err != nil {
		return nil, err
	}
	if err := h.authorize(r.conn, auth.Subscribe, ch); err != nil {
		return nil, err
	}
	since, err := subscribeSince(r)
	if err != nil {
		return nil, err
	}
	added, err := h.deps.Store.Subscribe(ctx, r.conn.Tenant, ch, r.conn.ID, h.cfg.MaxSubscriptions)
	switch {
	case errors.Is(err, store.ErrConditionFailed):
		return nil, protocol.NewError(protocol.CodeTooManySubscriptions, "at most %d subscriptions per connection", h.cfg.MaxSubscriptions)
	case errors.Is(err, store.ErrNotFound):
		return nil, errNotRegistered()
	case err != nil:
		return nil, err
	}
	reply, err := h.subscribeStream(ctx, r, ch, since)
	if err != nil && added {
		// The client is told the subscribe failed: it must not go on
		// receiving the channel (and hold one of its slots) as if it had
		// succeeded. A subscription it had before stays.
		if _, uerr := h.deps.Store.Unsubscribe(ctx, r.conn.Tenant, ch, r.conn.ID); uerr != nil {
			h.log.WarnContext(ctx, "undo subscription", "channel", ch, "err", uerr)
		}
	}
	return reply, err
}

func (h *Handler) unsubscribe(ctx context.Context, r *request) (any, error) {
	ch, err := requireChannel(r)
	if err != nil {
		return nil, err
	}
	existed, err := h.deps.Store.Unsubscribe(ctx, r.conn.Tenant, ch, r.conn.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"channel": ch, "wasSubscribed": existed}, nil
}

// publish broadcasts the payload to every subscriber of the channel (see
// publishMessage). The sender receives it only if it is subscribed itself.
func (h *Handler) publish(ctx context.Context, r *request) (any, error) {
	ch, err := requireChannel(r)
	if err != nil {
		return nil, err
	}
	if err := h.authorize(r.conn, auth.Publish, ch); err != nil {
		return nil, err
	}
	res, err := h.publishMessage(ctx, r.bc, Publication{
		Tenant: r.conn.Tenant, Channel: ch, UserID: r.conn.UserID, MessageID: r.env.MessageID,
		RequestHash: protocol.RequestHash(r.env), Payload: r.env.Payload, At: r.now,
	})
	if err != nil {
		return nil, err
	}
	ack := map[string]any{"channel": ch, "recipients": res.Recipients, "delivered": res.Delivered}
	if res.Position != nil {
		ack["offset"], ack["epoch"] = res.Position.Offset, res.Position.Epoch
	}
	return ack, nil
}
