package publishapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/backoff"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// The operations, as the paths of the HTTP API name them.
const (
	OpPublish  = "publish"
	OpNotify   = "notify"
	OpSnapshot = "presence/snapshot"
)

// MaxBodyBytes bounds the request body the API reads and parses (4 MiB);
// a larger one is refused with FRAME_TOO_LARGE, as the body, before it is
// parsed. It is not the bound of a request: that is the frame the body
// becomes, compact (white space between tokens dropped), which may be at
// most protocol.MaxClientFrameBytes (32 KB), as a client's, whatever the
// body's own size (see Do). This bound only keeps parsing bounded. It sits
// below what AWS can hand the function: API Gateway takes bodies up to
// 10 MB, but Lambda invokes a function synchronously with at most 6 MB of
// event, which carries the body as a string (escaped, or base64-encoded:
// 4 MiB become 5.3 MiB) next to the request's headers and context. A body
// that does not fit never reaches the function there: API Gateway answers
// a 5xx of its own, not this bound's 413.
const MaxBodyBytes = 4 << 20

// Config holds the API's settings. The zero value gives the defaults
// noted on each field.
type Config struct {
	// ServiceID is the userId of the frames and notifications services
	// publish; an idempotency key becomes a messageId of this user. It
	// must be one of the handler's Config.ServiceIDs, which no connection
	// may hold (the handler refuses any other). Default
	// handler.DefaultServiceID ("service").
	ServiceID string
	// Roles are the roles every caller holds in the channel policy.
	// Default [system]: every channel the policy knows (see
	// internal/auth/POLICY.md); a channel it does not know is FORBIDDEN.
	Roles []string
	// KeyTTL is how long an idempotency key is remembered. Default 24 h,
	// the longest EventBridge retries an event.
	KeyTTL time.Duration
	// ClaimLease is how long a claim of a key whose publish has not
	// completed holds: past it, a retry runs the publish (the attempt that
	// claimed it died, e.g. at its function's timeout, without releasing
	// the claim). It must be longer than a publish can run: the publish
	// functions stop at 25 s. A publish that completes keeps its key for
	// KeyTTL, however long it ran. Default 2 min.
	ClaimLease time.Duration
}

func (c Config) withDefaults() Config {
	if c.ServiceID == "" {
		c.ServiceID = handler.DefaultServiceID
	}
	if c.Roles == nil {
		c.Roles = []string{auth.RoleSystem}
	}
	if c.KeyTTL <= 0 {
		c.KeyTTL = 24 * time.Hour
	}
	if c.ClaimLease <= 0 {
		c.ClaimLease = 2 * time.Minute
	}
	return c
}

// Server is the part of handler.Handler the API calls.
type Server interface {
	Serve(ctx context.Context, svc handler.Service, frame []byte) (json.RawMessage, *protocol.Error)
}

var _ Server = (*handler.Handler)(nil)

// API serves the publish API. It is safe for concurrent use.
type API struct {
	cfg   Config
	srv   Server
	keys  store.PublishKeys
	clock store.Clock
	log   *slog.Logger
}

// New returns an API that runs requests on srv and keeps idempotency keys
// in keys. A nil log means slog.Default(), a nil clock time.Now.
func New(cfg Config, srv Server, keys store.PublishKeys, clock store.Clock, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{cfg: cfg.withDefaults(), srv: srv, keys: keys, clock: clock, log: log}
}

// request is the body of every operation; which fields apply depends on
// the operation (see the package comment).
type request struct {
	Tenant         string          `json:"tenant"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	Channel        string          `json:"channel,omitempty"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	UserID         string          `json:"userId,omitempty"`
	Title          string          `json:"title,omitempty"`
	Body           string          `json:"body,omitempty"`
	Level          string          `json:"level,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	Room           string          `json:"room,omitempty"`
	Cursor         string          `json:"cursor,omitempty"`
	Limit          int             `json:"limit,omitempty"`
}

// fields lists the fields each operation accepts besides tenant.
var fields = map[string]map[string]bool{
	OpPublish:  {"channel": true, "payload": true, "idempotencyKey": true},
	OpNotify:   {"userId": true, "title": true, "body": true, "level": true, "data": true, "idempotencyKey": true},
	OpSnapshot: {"room": true, "cursor": true, "limit": true},
}

// Do runs operation op with the JSON body and returns the HTTP status and
// the JSON answer. The request is refused with FRAME_TOO_LARGE when the
// frame it becomes is over protocol.MaxClientFrameBytes, or when the body
// itself is over MaxBodyBytes; white space in a body is not part of its
// frame. defaultKey, when not empty, is the idempotency key of a
// request that names none (an EventBridge event's id).
func (a *API) Do(ctx context.Context, op string, body []byte, defaultKey string) (int, []byte) {
	allowed, ok := fields[op]
	if !ok {
		return errorAnswer(protocol.NewError(protocol.CodeNotFound, "no operation %q", op))
	}
	req, pe := decode(body, allowed)
	if pe != nil {
		return errorAnswer(pe)
	}
	if req.IdempotencyKey == "" && op != OpSnapshot {
		req.IdempotencyKey = defaultKey
	}
	if req.IdempotencyKey != "" {
		if err := ident.Check(ident.MessageID.Named("idempotencyKey"), req.IdempotencyKey); err != nil {
			return errorAnswer(protocol.NewError(protocol.CodeBadRequest, "idempotencyKey must be 1..%d printable ASCII characters", ident.MaxIDLen))
		}
	}
	if err := ident.Check(ident.Tenant, req.Tenant); err != nil {
		return errorAnswer(protocol.NewError(protocol.CodeBadRequest, "tenant must be 1..%d bytes of visible characters without '#'", ident.MaxIDLen))
	}
	frame, err := req.frame(op)
	if err != nil {
		return errorAnswer(protocol.NewError(protocol.CodeBadRequest, "the request cannot be encoded"))
	}
	if len(frame) > protocol.MaxClientFrameBytes {
		// Serve refuses it too; refused here, it claims no key.
		return errorAnswer(protocol.NewError(protocol.CodeFrameTooLarge, "the frame of the request is %d bytes, over %d", len(frame), protocol.MaxClientFrameBytes))
	}
	svc := handler.Service{ID: a.cfg.ServiceID, Tenant: req.Tenant, Roles: a.cfg.Roles}
	if req.IdempotencyKey == "" {
		reply, pe := a.srv.Serve(ctx, svc, frame)
		if pe != nil {
			return errorAnswer(pe)
		}
		return http.StatusOK, reply
	}
	return a.once(ctx, svc, req, op, frame)
}

// once runs a request with an idempotency key: it claims the key (a
// record kept for KeyTTL), runs the request and keeps its reply in the
// record; a claim that finds the key answers from it instead. A request
// that fails releases its claim, so that a retry runs it again; a claim
// whose attempt died without either lapses after ClaimLease, for the same
// reason, and so does one whose reply could not be kept (see complete).
func (a *API) once(ctx context.Context, svc handler.Service, req request, op string, frame []byte) (int, []byte) {
	hash := requestHash(op, frame)
	log := a.log.With("tenant", req.Tenant, "idempotencyKey", req.IdempotencyKey, "op", op)
	now := a.clock.Now()
	old, err := a.keys.ClaimPublishKey(ctx, store.PublishKey{Tenant: req.Tenant, Key: req.IdempotencyKey, RequestHash: hash,
		LeaseUntil: now.Add(a.cfg.ClaimLease), ExpiresAt: now.Add(a.cfg.KeyTTL)})
	switch {
	case errors.Is(err, store.ErrConditionFailed) && old.RequestHash != hash && old.RequestHash != bytesHash(op, frame):
		return errorAnswer(protocol.NewError(protocol.CodeIdempotencyMismatch, "idempotencyKey was used for a different request"))
	case errors.Is(err, store.ErrConditionFailed):
		log.InfoContext(ctx, "duplicate publish", "pending", old.Reply == nil)
		return http.StatusOK, duplicate(old.Reply)
	case err != nil:
		log.ErrorContext(ctx, "claim idempotency key", "error", err)
		return errorAnswer(protocol.NewError(protocol.CodeUnavailable, "service temporarily unavailable; retry"))
	}
	reply, pe := a.srv.Serve(ctx, svc, frame)
	if pe != nil {
		if err := a.keys.ReleasePublishKey(context.WithoutCancel(ctx), req.Tenant, req.IdempotencyKey, hash); err != nil {
			log.WarnContext(ctx, "release idempotency key", "error", err)
		}
		return errorAnswer(pe)
	}
	if err := a.complete(ctx, req.Tenant, req.IdempotencyKey, hash, reply); err != nil {
		// Published, but a retry past ClaimLease publishes again.
		log.ErrorContext(ctx, "keep publish reply", "error", err)
	}
	return http.StatusOK, reply
}

// requestHash identifies the request a frame carries in its idempotency
// record: protocol.RequestHash, the hash a WebSocket resend is compared
// by (type, channel and the payload with its object keys sorted and
// insignificant white space removed; numbers as written). A retry that
// serialises the same request another way, its keys in another order,
// is the same request. A frame that does not decode (Serve refuses it)
// is identified by its bytes.
func requestHash(op string, frame []byte) string {
	env, err := protocol.Decode(frame)
	if err != nil {
		return bytesHash(op, frame)
	}
	return protocol.RequestHash(env)
}

// bytesHash is the hash of op and the frame's bytes, which records kept
// before requestHash: the retry of such a record (within KeyTTL of its
// claim, across an upgrade) is the same request when it hashes the same.
func bytesHash(op string, frame []byte) string {
	h := sha256.New()
	h.Write([]byte(op + "\x00"))
	h.Write(frame)
	return hex.EncodeToString(h.Sum(nil))
}

// completeAttempts is how many times complete tries to keep a reply.
const completeAttempts = 3

// complete keeps the reply of a publish in its key's record, trying again
// after a short wait when the store fails (a throttled write), past the
// request's deadline too: a claim left without its reply lapses after
// ClaimLease, and a retry then publishes again. A record that is gone or
// no longer the request's (ErrNotFound) is not tried again.
func (a *API) complete(ctx context.Context, tenant, key, hash string, reply []byte) error {
	ctx = context.WithoutCancel(ctx)
	var err error
	for i := range completeAttempts {
		if i > 0 {
			_ = backoff.Wait(ctx, backoff.Jitter(i, 50*time.Millisecond, 200*time.Millisecond))
		}
		err = a.keys.CompletePublishKey(ctx, tenant, key, hash, reply)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return err
}

// duplicate is the answer to a retried request: the first reply with
// "duplicate": true, or {"duplicate": true, "pending": true} while the
// first is still running (or never completed).
func duplicate(reply []byte) []byte {
	var m map[string]any
	if len(reply) == 0 || json.Unmarshal(reply, &m) != nil || m == nil {
		m = map[string]any{"pending": true}
	}
	m["duplicate"] = true
	b, _ := json.Marshal(m)
	return b
}

// decode reads body strictly: one JSON object of known fields.
func decode(body []byte, allowed map[string]bool) (request, *protocol.Error) {
	var req request
	if len(body) > MaxBodyBytes {
		return req, protocol.NewError(protocol.CodeFrameTooLarge, "the request body exceeds %d bytes, the most the API reads (its frame may be at most %d)", MaxBodyBytes, protocol.MaxClientFrameBytes)
	}
	if !utf8.Valid(body) {
		// encoding/json would replace the bad bytes and carry on: a
		// tenant or channel would silently become another.
		return req, protocol.NewError(protocol.CodeBadFrame, "the request body is not valid UTF-8")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return req, protocol.NewError(protocol.CodeBadFrame, "the request body must be a JSON object")
	}
	for k := range raw {
		if k != "tenant" && !allowed[k] {
			return req, protocol.NewError(protocol.CodeBadRequest, "unknown field %q", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, protocol.NewError(protocol.CodeBadRequest, "a field has the wrong type")
	}
	return req, nil
}

// frame builds the client frame of the request, for handler.Serve.
func (r request) frame(op string) ([]byte, error) {
	f := struct {
		Type      string `json:"type"`
		MessageID string `json:"messageId"`
		Channel   string `json:"channel,omitempty"`
		Payload   any    `json:"payload,omitempty"`
	}{MessageID: r.IdempotencyKey}
	if f.MessageID == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		f.MessageID = "svc-" + hex.EncodeToString(b[:])
	}
	switch op {
	case OpPublish:
		f.Type, f.Channel, f.Payload = protocol.TypePublish, r.Channel, r.Payload
		if r.Payload == nil {
			f.Payload = json.RawMessage("null")
		}
	case OpNotify:
		f.Type = protocol.TypeNotify
		f.Payload = map[string]any{"userId": r.UserID, "title": r.Title, "body": r.Body, "level": r.Level, "data": r.Data}
	case OpSnapshot:
		f.Type = protocol.TypeRoomSnapshot
		f.Payload = map[string]any{"room": r.Room, "cursor": r.Cursor, "limit": r.Limit}
	}
	// Without HTML escaping (protocol.Marshal): json.Marshal would write
	// each '<', '>' and '&' of the payload as six bytes, and a body well
	// within the client frame limit would become a frame past it.
	return protocol.Marshal(f)
}

// statusOf is the HTTP status of an error code.
func statusOf(c protocol.Code) int {
	switch c {
	case protocol.CodeForbidden:
		return http.StatusForbidden
	case protocol.CodeUnauthorized:
		return http.StatusUnauthorized
	case protocol.CodeNotFound:
		return http.StatusNotFound
	case protocol.CodeFrameTooLarge:
		return http.StatusRequestEntityTooLarge
	case protocol.CodeIdempotencyMismatch:
		return http.StatusConflict
	case protocol.CodeRateLimited:
		return http.StatusTooManyRequests
	case protocol.CodeUnavailable:
		return http.StatusServiceUnavailable
	case protocol.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// errorAnswer is the status and body of a refused request.
func errorAnswer(e *protocol.Error) (int, []byte) {
	b, err := json.Marshal(e.Payload())
	if err != nil {
		b = []byte(`{"code":"INTERNAL","message":"internal error","retryable":true}`)
	}
	return statusOf(e.Code), b
}
