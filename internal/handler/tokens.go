package handler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// ReasonTokenExpired is the "reason" detail of the UNAUTHORIZED error that
// answers a frame sent after the connection's token expired. Clients
// reconnect with a fresh token and send the frame again (with its
// messageId: changes and comments are applied once).
const ReasonTokenExpired = "TOKEN_EXPIRED"

// tokenSweepBatch bounds the expired tokens one sweeper pass handles; the
// rest waits for the next pass.
const tokenSweepBatch = 500

// connectionCloser is the part of the Management API client that closes a
// connection (DELETE @connections/{id}); mgmtapi.Client implements it.
type connectionCloser interface {
	DeleteConnection(ctx context.Context, connectionID string) error
}

// registerTokens enforces token expiry for the life of a connection: its
// clean-up removes a closed connection's token alarm, and its sweep closes
// connections whose token expired. Frames are refused in message.
func (h *Handler) registerTokens() {
	h.cleanups = append(h.cleanups, h.forgetTokenAlarm)
	h.sweeps = append(h.sweeps, h.sweepTokens)
}

// tokenExpired reports whether c's token has expired at now. A connection
// without a token (a development identity) never expires this way.
func tokenExpired(c store.Connection, now time.Time) bool {
	return !c.TokenExpiresAt.IsZero() && !now.Before(c.TokenExpiresAt)
}

// storedTokenExpiry returns a token's exp as the connection record keeps
// it (store.Connection.TokenExpiresAt): in whole seconds, cut down, UTC;
// zero stays zero. A JWT's exp may be fractional; every frame is checked
// against the kept value, so $connect checks that value too.
func storedTokenExpiry(exp time.Time) time.Time {
	if exp.IsZero() {
		return exp
	}
	return time.Unix(exp.Unix(), 0).UTC()
}

// errTokenExpired is the error of a frame sent after the token expired.
func errTokenExpired() *protocol.Error {
	return protocol.NewError(protocol.CodeUnauthorized, "the token has expired; reconnect with a fresh token").
		WithDetails(map[string]any{"reason": ReasonTokenExpired})
}

// recordTokenAlarm writes the alarm the sweeper closes c by when its token
// expires; connections without a token have none.
func (h *Handler) recordTokenAlarm(ctx context.Context, c store.Connection) error {
	if c.TokenExpiresAt.IsZero() {
		return nil
	}
	return h.deps.Store.PutTokenAlarm(ctx, store.TokenAlarm{ConnID: c.ID, Tenant: c.Tenant, UserID: c.UserID, At: c.TokenExpiresAt})
}

// forgetTokenAlarm is the clean-up of a removed connection. A connection
// known to have no token has no alarm, so it costs no write; an alarm left
// behind (its connection removed when its record had already lapsed) is
// removed by the sweep that finds it.
func (h *Handler) forgetTokenAlarm(ctx context.Context, c store.Connection, _ []string) {
	if c.TokenExpiresAt.IsZero() {
		return
	}
	if err := h.deps.Store.DeleteTokenAlarm(ctx, c.ID); err != nil {
		h.log.WarnContext(ctx, "remove token alarm", "connectionId", c.ID, "error", err)
	}
}

// sweepTokens closes the connections whose token expired, found by Query
// of the expiry index (never a Scan). Each is closed through the
// Management API (DELETE @connections/{id}; API Gateway then runs
// $disconnect), and its record, subscriptions and every feature's state
// are removed here too, since $disconnect is best effort. An alarm whose
// connection is already gone is only removed. A failed close keeps the
// alarm for the next pass. Every step is idempotent, so overlapping passes
// are safe.
func (h *Handler) sweepTokens(ctx context.Context, now time.Time) error {
	st := h.deps.Store
	alarms, err := st.ExpiredTokens(ctx, now, tokenSweepBatch)
	if err != nil {
		return fmt.Errorf("sweep expired tokens: %w", err)
	}
	var (
		errs   []error
		closed int
	)
	for _, a := range alarms {
		if deadline.Near(ctx, deadline.SweepReserve) {
			break // the invocation is about to end: the rest next pass
		}
		c, err := st.GetConnection(ctx, a.ConnID)
		if errors.Is(err, store.ErrNotFound) {
			if err := st.DeleteTokenAlarm(ctx, a.ConnID); err != nil {
				errs = append(errs, fmt.Errorf("remove token alarm of %q: %w", a.ConnID, err))
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read connection %q: %w", a.ConnID, err))
			continue
		}
		if !tokenExpired(c, now) {
			continue // not this connection's current token: nothing to close yet
		}
		if closer, ok := h.client(h.endpointOf(c)).(connectionCloser); ok {
			if err := closer.DeleteConnection(ctx, c.ID); err != nil && !h.deps.IsGone(err) {
				errs = append(errs, fmt.Errorf("close connection %q: %w", c.ID, err))
				continue
			}
		}
		c, chans, err := st.DeleteConnection(ctx, a.ConnID)
		if err != nil {
			errs = append(errs, fmt.Errorf("remove connection %q: %w", a.ConnID, err))
			continue
		}
		if c.ID == "" {
			c = store.Connection{ID: a.ConnID, Tenant: a.Tenant, UserID: a.UserID, TokenExpiresAt: a.At}
		}
		h.forgetConnection(c.ID)
		h.cleanup(ctx, c, chans)
		closed++
	}
	h.log.InfoContext(ctx, "tokens swept", "route", "sweeper", "expired", len(alarms), "connectionsClosed", closed)
	metrics.From(ctx).Add(metrics.SweepRemoved, float64(closed), metrics.Count)
	return errors.Join(errs...)
}

// forgetConnection drops what the warm environment keeps of connection id.
func (h *Handler) forgetConnection(id string) {
	h.mu.Lock()
	delete(h.connCache, id)
	h.mu.Unlock()
	h.requests.Forget(id)
	h.cursors.Forget(id)
}
