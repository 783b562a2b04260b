package handler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/store"
)

// DefaultMaxConnectionsPerUser is the default of
// Config.MaxConnectionsPerUser: enough for a user with many tabs and
// devices, few enough that one identity cannot hold thousands of
// connections.
const DefaultMaxConnectionsPerUser = 20

// connLimitProbes bounds the connections of a user at its limit that one
// refused $connect checks with GetConnection, so that a client retrying
// its handshake cannot make the function call the Management API more
// than a few times per attempt.
const connLimitProbes = 5

// openConnection records c, counted against its user's limit
// (Store.OpenConnection). At the limit it looks for connections that are
// gone although their $disconnect never ran ($disconnect is best effort):
// it asks the Management API for up to connLimitProbes of the user's
// connections, least recently seen first, removes those answered 410 (with
// every feature's clean-up, as the sweeper does) and tries once more. It
// returns an error wrapping store.ErrTooManyConnections when the user
// still has the most connections allowed.
func (h *Handler) openConnection(ctx context.Context, c store.Connection) error {
	st := h.deps.Store
	max := h.cfg.MaxConnectionsPerUser
	err := st.OpenConnection(ctx, c, max)
	if !errors.Is(err, store.ErrTooManyConnections) {
		return err
	}
	others, lerr := st.UserConnections(ctx, c.Tenant, c.UserID)
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	others = slices.DeleteFunc(others, func(o store.Connection) bool { return o.ID == c.ID })
	slices.SortFunc(others, func(a, b store.Connection) int {
		return cmp.Or(a.LastSeenAt.Compare(b.LastSeenAt), cmp.Compare(a.ID, b.ID))
	})
	removed := 0
	for _, o := range others[:min(len(others), connLimitProbes)] {
		endpoint := o.Endpoint
		if endpoint == "" {
			endpoint = c.Endpoint
		}
		prober, ok := h.client(endpoint).(connectionProber)
		if !ok {
			break
		}
		if _, perr := prober.GetConnection(ctx, o.ID); perr == nil || !h.deps.IsGone(perr) {
			continue
		}
		gone, chans, derr := st.DeleteConnection(ctx, o.ID)
		if derr != nil {
			return errors.Join(err, fmt.Errorf("remove gone connection %q: %w", o.ID, derr))
		}
		if gone.ID != "" {
			h.requests.Forget(gone.ID)
			h.cursors.Forget(gone.ID)
			h.cleanup(ctx, gone, chans)
		}
		h.log.InfoContext(ctx, "removed a gone connection of a user at the connection limit", "connectionId", o.ID, "userId", c.UserID, "tenant", c.Tenant)
		removed++
	}
	if removed == 0 {
		return err
	}
	return st.OpenConnection(ctx, c, max)
}

// tooManyConnections is the $connect answer past the per-user limit. API
// Gateway refuses the handshake with this status; clients that can read
// the handshake response (not browsers) also get the reason.
func tooManyConnections(limit int) events.APIGatewayProxyResponse {
	return response(http.StatusTooManyRequests, fmt.Sprintf("Too Many Connections: at most %d open connections per user", limit))
}
