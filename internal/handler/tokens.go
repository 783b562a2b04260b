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
// clean-up removes a closed connection's token alarm, its sweep closes
// connections whose token expired, and so does its handler of an alarm
// that DynamoDB's TTL removed before a pass found it. Frames are refused
// in message.
func (h *Handler) registerTokens() {
	h.cleanups = append(h.cleanups, h.forgetTokenAlarm)
	h.sweeps = append(h.sweeps, h.sweepTokens)
	h.removedByTTL = append(h.removedByTTL, h.tokenAlarmRemovedByTTL)
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
		if err := h.closeExpired(ctx, c); err != nil {
			errs = append(errs, err)
			continue
		}
		closed++
	}
	h.log.InfoContext(ctx, "tokens swept", "route", "sweeper", "expired", len(alarms), "connectionsClosed", closed)
	metrics.From(ctx).Add(metrics.SweepRemoved, float64(closed), metrics.Count)
	return errors.Join(errs...)
}

// closeExpired closes connection c, whose token expired, through the
// Management API (a connection already gone is no error), then removes its
// record, subscriptions and every feature's state (its token alarm
// included), as $disconnect would. Each step is idempotent: after a
// failure, closing it again repeats nothing that matters.
func (h *Handler) closeExpired(ctx context.Context, c store.Connection) error {
	if closer, ok := h.client(h.endpointOf(c)).(connectionCloser); ok {
		if err := closer.DeleteConnection(ctx, c.ID); err != nil && !h.deps.IsGone(err) {
			return fmt.Errorf("close connection %q: %w", c.ID, err)
		}
	}
	removed, chans, err := h.deps.Store.DeleteConnection(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("remove connection %q: %w", c.ID, err)
	}
	if removed.ID != "" {
		c = removed
	}
	h.forgetConnection(c.ID)
	h.cleanup(ctx, c, chans)
	return nil
}

// tokenAlarmRemovedByTTL closes the connection whose token alarm
// DynamoDB's TTL removed, as a pass would have had it found the alarm
// (sweepTokens): TTL may remove the alarm, whose expiresAt is the token's
// exp, before any pass reads it, and the connection, refused every frame,
// would otherwise keep receiving its channels until API Gateway's 2 h
// limit. It ignores the keys of other items. A connection already gone (a
// pass, $disconnect or an earlier delivery of the record removed it) is
// left alone. TTL removes only what expired, so the token's exp has passed
// by the record's time, removedAt, even when this function's clock is
// behind it. It reports whether it closed the connection; an error (the
// read or the close failed) has the record handled again, which repeats
// nothing.
func (h *Handler) tokenAlarmRemovedByTTL(ctx context.Context, pk, sk string, removedAt, now time.Time) (bool, error) {
	connID, ok := store.ParseTokenAlarmKey(pk, sk)
	if !ok {
		return false, nil
	}
	c, err := h.deps.Store.GetConnection(ctx, connID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("connection %q: %w", connID, err)
	}
	if !tokenExpired(c, now) && !tokenExpired(c, removedAt) {
		return false, nil // a connection with no token, or a later one: not this alarm's
	}
	if err := h.closeExpired(ctx, c); err != nil {
		return false, err
	}
	h.log.InfoContext(ctx, "token alarm removed by TTL: connection closed", "route", "sweeper", "connectionId", connID)
	return true, nil
}

// forgetConnection drops what the warm environment keeps of connection id.
func (h *Handler) forgetConnection(id string) {
	h.mu.Lock()
	delete(h.connCache, id)
	h.mu.Unlock()
	h.requests.Forget(id)
	h.cursors.Forget(id)
}
