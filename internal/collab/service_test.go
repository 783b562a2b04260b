package collab_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// event is one thing the service told its notifier.
type event struct {
	kind      string // "broadcast", "notify" or "activity"
	channel   string
	typ       string
	messageID string
	users     []string
	payload   any
	activity  store.Activity
}

// recorder is a Notifier that keeps what it was told; delivering events
// is the handler's part and is tested end to end.
type recorder struct {
	mu     sync.Mutex
	events []event
}

var _ collab.Notifier = (*recorder)(nil)

func (r *recorder) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) Broadcast(_ context.Context, _, channel, typ, _, messageID string, payload any) {
	r.add(event{kind: "broadcast", channel: channel, typ: typ, messageID: messageID, payload: payload})
}

func (r *recorder) NotifyUsers(_ context.Context, _ string, users []string, typ, channel, _, messageID string, payload any) {
	r.add(event{kind: "notify", channel: channel, typ: typ, messageID: messageID, users: users, payload: payload})
}

// ActivityEntry completes an entry as the handler does, without its
// bounds and retention.
func (r *recorder) ActivityEntry(conn store.Connection, a store.Activity) (store.Activity, error) {
	a.Tenant, a.UserID, a.Username, a.Avatar = conn.Tenant, conn.UserID, conn.Username, conn.Avatar
	return a, nil
}

func (r *recorder) AnnounceActivity(_ context.Context, _ store.Connection, a store.Activity) {
	r.add(event{kind: "activity", activity: a})
}

// take returns the events so far and forgets them.
func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// fixture is a Service over a memory store, with a clock the test sets.
type fixture struct {
	t   *testing.T
	ctx context.Context
	st  *memory.Store
	svc *collab.Service
	rec *recorder
	now time.Time
}

var epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, cfg collab.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), rec: &recorder{}, now: epoch}
	clock := store.Clock(func() time.Time { return f.now })
	f.st = memory.New(clock)
	cfg.NoWriteQueue = true
	f.svc = collab.New(cfg, f.st, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return f
}

// call is a request by user (connection "c-"+user, stored, as a frame's
// connection is) with messageId id and a request hash derived from it.
func (f *fixture) call(user, id string) collab.Call {
	conn := store.Connection{ID: "c-" + user, UserID: user, Username: user + " name", Tenant: "acme"}
	if err := f.st.PutConnection(f.ctx, conn); err != nil {
		f.t.Fatal(err)
	}
	return collab.Call{Conn: conn, MessageID: id, RequestHash: "hash-" + id, Now: f.now, Notify: f.rec}
}

func entity(typ, id string) store.EntityKey {
	return store.EntityKey{Tenant: "acme", Type: typ, ID: id}
}

func ref(e store.EntityKey) protocol.EntityRef {
	return protocol.EntityRef{EntityType: e.Type, EntityID: e.ID}
}

// change builds a change payload of operation op at path, based on base;
// value, when not nil, is its after.
func change(e store.EntityKey, base int64, op, path string, value any) protocol.ChangePayload {
	p := protocol.ChangePayload{EntityRef: ref(e), BaseVersion: &base, Path: path}
	p.Operation = doc.Kind(op)
	if value != nil {
		b, _ := json.Marshal(value)
		p.After = b
	}
	return p
}

// mustChange applies a change and fails the test on an error.
func (f *fixture) mustChange(user, id string, p protocol.ChangePayload) protocol.ChangeAck {
	f.t.Helper()
	ack, err := f.svc.Change(f.ctx, f.call(user, id), entityOf(p.EntityRef), p)
	if err != nil {
		f.t.Fatalf("Change %s: %v", id, err)
	}
	return ack
}

func entityOf(r protocol.EntityRef) store.EntityKey { return entity(r.EntityType, r.EntityID) }

// wantCode fails unless err is a *protocol.Error with code.
func wantCode(t *testing.T, err error, code protocol.Code) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

// codeOf is err's code: its *protocol.Error's, or "" for none.
func codeOf(err error) protocol.Code {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestEntity(t *testing.T) {
	tests := []struct {
		name string
		ref  protocol.EntityRef
		ok   bool
	}{
		{"plain", protocol.EntityRef{EntityType: "order", EntityID: "o-1.2_3"}, true},
		{"missing type", protocol.EntityRef{EntityID: "1"}, false},
		{"missing id", protocol.EntityRef{EntityType: "order"}, false},
		{"key separator", protocol.EntityRef{EntityType: "order", EntityID: "a#b"}, false},
		{"channel separator", protocol.EntityRef{EntityType: "order", EntityID: "a:b"}, false},
		{"space", protocol.EntityRef{EntityType: "order", EntityID: "a b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := collab.Entity("acme", tt.ref)
			if !tt.ok {
				wantCode(t, err, protocol.CodeBadRequest)
				return
			}
			if err != nil || e != entity(tt.ref.EntityType, tt.ref.EntityID) {
				t.Fatalf("Entity = %v, %v", e, err)
			}
			if got := collab.Channel(e); got != tt.ref.EntityType+":"+tt.ref.EntityID {
				t.Errorf("Channel = %q", got)
			}
		})
	}
}
