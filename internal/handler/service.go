package handler

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Service is a caller without a WebSocket connection: a backend service
// that publishes through the HTTP publish API or an EventBridge event.
// Its roles decide, through the same Policy as for connections, which
// channels it may publish to and read.
type Service struct {
	// ID names the service; it is the userId of the frames it publishes
	// and of the notifications it sends. It must be one of
	// Config.ServiceIDs, the user ids no connection may hold.
	ID string
	// Tenant is the tenant the request is for (ident.Tenant).
	Tenant string
	// Roles are the service's roles, e.g. auth.RoleSystem (which may
	// publish on every channel the policy knows).
	Roles []string
}

// serviceTypes are the request types a Service may send: the ones that
// need no connection of the caller's own.
var serviceTypes = map[string]bool{
	protocol.TypePublish:      true,
	protocol.TypeNotify:       true,
	protocol.TypeRoomSnapshot: true,
}

// errNotServiceID is the cause of the INTERNAL error Serve answers to a
// Service whose ID is not one of Config.ServiceIDs: a connection could
// hold that user id, and so share the service's frames and idempotency
// keys.
var errNotServiceID = errors.New("handler: the service's ID is not one of Config.ServiceIDs")

// ErrNoEndpoint is returned by Serve when the handler has no
// Config.ManagementEndpoint: a request that is not a WebSocket event does
// not name the Management API to post through.
var ErrNoEndpoint = errors.New("handler: a service request needs Config.ManagementEndpoint")

// Serve runs one request of a backend service: frame is a client frame
// (type publish, notify or presence.snapshot, with a messageId) decoded
// and bounded exactly as the message function decodes a WebSocket frame,
// then routed to the same route, with the same channel policy, limits and
// broadcast. It returns the reply payload (JSON, as a client's ack
// carries it) or the client-facing error; the internal cause of an
// INTERNAL or UNAVAILABLE error is logged. A service has no presence: its
// requests do not make it online anywhere.
func (h *Handler) Serve(ctx context.Context, svc Service, frame []byte) (json.RawMessage, *protocol.Error) {
	start := time.Now()
	m := metrics.New(metrics.FunctionPublish)
	m.Property("route", "service")
	ctx = metrics.With(ctx, m)
	defer func() {
		m.Add(metrics.HandlerLatency, float64(time.Since(start).Microseconds())/1000, metrics.Milliseconds)
		if err := m.Flush(h.deps.Metrics, h.now()); err != nil {
			h.log.WarnContext(ctx, "write metrics", "error", err)
		}
	}()
	reply, pe := h.serve(ctx, svc, frame)
	if pe != nil {
		m.Add(metrics.Errors, 1, metrics.Count)
	}
	return reply, pe
}

func (h *Handler) serve(ctx context.Context, svc Service, frame []byte) (json.RawMessage, *protocol.Error) {
	log := h.log.With("route", "service", "service", svc.ID, "tenant", svc.Tenant)
	env, err := protocol.Decode(frame)
	if err != nil {
		return nil, clientError(err)
	}
	log = log.With("type", env.Type, "messageId", env.MessageID)
	if !serviceTypes[env.Type] {
		return nil, protocol.NewError(protocol.CodeUnknownType, "a service may send publish, notify and presence.snapshot, not %q", env.Type)
	}
	if err := ident.Check(ident.Tenant, svc.Tenant); err != nil {
		return nil, clientError(err)
	}
	if err := ident.Check(ident.UserID, svc.ID); err != nil {
		log.ErrorContext(ctx, "service identity", "error", err)
		return nil, clientError(err)
	}
	if !h.isServiceID(svc.ID) {
		log.ErrorContext(ctx, "service identity", "error", errNotServiceID)
		return nil, clientError(errNotServiceID)
	}
	if h.cfg.ManagementEndpoint == "" {
		log.ErrorContext(ctx, "service request", "error", ErrNoEndpoint)
		return nil, clientError(ErrNoEndpoint)
	}
	now := h.now()
	conn := store.Connection{UserID: svc.ID, Username: svc.ID, Tenant: svc.Tenant, Roles: svc.Roles}
	r := &request{env: env, conn: conn, now: now, bc: h.broadcaster(h.cfg.ManagementEndpoint)}
	result, err := h.routes[env.Type](ctx, r)
	if err != nil {
		pe := clientError(err)
		if pe.Code == protocol.CodeInternal || pe.Code == protocol.CodeUnavailable {
			log.ErrorContext(ctx, "service request failed", "error", err)
		} else {
			log.InfoContext(ctx, "service request refused", "code", pe.Code)
		}
		return nil, pe
	}
	out, err := json.Marshal(result)
	if err != nil {
		log.ErrorContext(ctx, "encode reply", "error", err)
		return nil, clientError(err)
	}
	log.InfoContext(ctx, "service request handled")
	return out, nil
}
