package handler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// disconnectMidFrame is the store of the instance handling a frame: right
// before the lock write named by at, it runs gone once: another
// instance's $disconnect of the frame's connection, which API Gateway
// runs in parallel with the connection's last frames. The frame has read
// the connection by then.
type disconnectMidFrame struct {
	store.Store
	at   string
	once sync.Once
	gone func()
}

func (s *disconnectMidFrame) hook(op string) {
	if op == s.at {
		s.once.Do(s.gone)
	}
}

func (s *disconnectMidFrame) AcquireLock(ctx context.Context, l store.Lock) (store.Lock, error) {
	s.hook("AcquireLock")
	return s.Store.AcquireLock(ctx, l)
}

func (s *disconnectMidFrame) RenewLock(ctx context.Context, e store.EntityKey, holder, connID string, expiresAt time.Time) (store.Lock, error) {
	s.hook("RenewLock")
	return s.Store.RenewLock(ctx, e, holder, connID, expiresAt)
}

// TestLockWriteRacingDisconnect: a lock frame's connection disconnects
// (on another instance) after the frame read the connection and before
// its lock write. The write must not give the lock to the connection that
// is gone: its $disconnect has released its locks already, so such a lock
// would stay held, LOCK_HELD to everyone else, until its TTL. The frame
// is answered UNAUTHORIZED ("connection is not registered") instead, and
// a lock held through another of the user's connections stays with it.
func TestLockWriteRacingDisconnect(t *testing.T) {
	q := map[string]string{"userId": "alice", "tenant": "acme", "role": "admin"}
	acquire := `{"type":"lock.acquire","messageId":"m2","payload":{"entityType":"order","entityId":"1","ttl":300000}}`
	renew := `{"type":"lock.renew","messageId":"m2","payload":{"entityType":"order","entityId":"1","ttl":300000}}`
	for _, tc := range []struct {
		name, at, frame string
		held            bool // conn-1 holds the lock before conn-2's frame
	}{
		{"acquire", "AcquireLock", acquire, false},
		{"acquire renewing another tab's lock", "AcquireLock", acquire, true},
		{"renew another tab's lock", "RenewLock", renew, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memory.New(nil)
			deps := func(st store.Store) handler.Deps {
				return handler.Deps{Store: st, Posters: func(string) broadcast.Poster { return &fuzzPoster{} },
					IsGone: func(error) bool { return false }, Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			}
			b, err := handler.New(handler.Config{}, deps(mem))
			if err != nil {
				t.Fatal(err)
			}
			racing := &disconnectMidFrame{Store: mem, at: tc.at, gone: func() {
				if resp, _ := b.Disconnect(ctx, fuzzEvent("conn-2", "", q)); resp.StatusCode != http.StatusOK {
					t.Errorf("disconnect: %d", resp.StatusCode)
				}
			}}
			a, err := handler.New(handler.Config{}, deps(racing))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"conn-1", "conn-2"} {
				if resp, _ := b.Connect(ctx, fuzzEvent(id, "", q)); resp.StatusCode != http.StatusOK {
					t.Fatalf("connect %s: %d", id, resp.StatusCode)
				}
			}
			if tc.held {
				resp, _ := b.Message(ctx, fuzzEvent("conn-1", strings.Replace(acquire, "m2", "m1", 1), q))
				if !strings.Contains(resp.Body, `"type":"ack"`) {
					t.Fatalf("conn-1's acquire: %s", resp.Body)
				}
			}
			resp, err := a.Message(ctx, fuzzEvent("conn-2", tc.frame, q))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mem.GetConnection(ctx, "conn-2"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("conn-2 still stored (%v): the disconnect did not run", err)
			}
			if !strings.Contains(resp.Body, `"UNAUTHORIZED"`) {
				t.Errorf("reply to the frame of the connection gone: %s; want UNAUTHORIZED", resp.Body)
			}
			l, err := mem.GetLock(ctx, store.EntityKey{Tenant: "acme", Type: "order", ID: "1"})
			switch {
			case !tc.held && err == nil:
				t.Fatalf("lock held by %s until %s, a connection gone, after its $disconnect released its locks", l.ConnID, l.ExpiresAt)
			case !tc.held && !errors.Is(err, store.ErrNotFound):
				t.Fatal(err)
			case tc.held && (err != nil || l.ConnID != "conn-1"):
				t.Fatalf("lock = %+v, %v; want it still held through conn-1, not moved to conn-2, which is gone", l, err)
			}
		})
	}
}
