package dynamo_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// beforeTransaction runs, once armed, run right before the next
// TransactWriteItems it sends: a write of another process that lands
// between a store call's reads and its transaction.
type beforeTransaction struct {
	mu  sync.Mutex
	run func()
}

func (b *beforeTransaction) arm(run func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.run = run
}

func (b *beforeTransaction) Do(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") {
		b.mu.Lock()
		run := b.run
		b.run = nil
		b.mu.Unlock()
		if run != nil {
			run()
		}
	}
	return http.DefaultClient.Do(r)
}

// TestLockWriteRacingConnectionDelete: the connection a grant or renewal
// gives the lock to is deleted (its $disconnect) after the store read it
// live and before the lock's transaction: the transaction's check on the
// connection item fails, and the call reports ErrNotFound without
// writing, rather than leave the lock to a connection gone.
func TestLockWriteRacingConnectionDelete(t *testing.T) {
	ctx := t.Context()
	ep := endpoint(t)
	hook := &beforeTransaction{}
	client, table := newTable(t, ep, func(o *dynamodb.Options) { o.HTTPClient = hook })
	s := dynamo.New(client, table, nil)
	plain, err := dynamo.NewClient(ctx, ep, "")
	if err != nil {
		t.Fatal(err)
	}
	other := dynamo.New(plain, table, nil) // the instance running $disconnect
	now := time.Now()
	for _, id := range []string{"c1", "c2", "c3"} {
		if err := s.PutConnection(ctx, store.Connection{ID: id, UserID: "u1", Tenant: "acme", ConnectedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	disconnect := func(id string) func() {
		return func() {
			if _, _, err := other.DeleteConnection(context.Background(), id); err != nil {
				t.Errorf("DeleteConnection(%s): %v", id, err)
			}
		}
	}
	e := store.EntityKey{Tenant: "acme", Type: "order", ID: "1"}
	lock := func(conn string) store.Lock {
		return store.Lock{Entity: e, Holder: "u1", ConnID: conn, AcquiredAt: now, ExpiresAt: now.Add(time.Minute)}
	}

	hook.arm(disconnect("c1"))
	if l, err := s.AcquireLock(ctx, lock("c1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("grant to a connection deleted before its transaction = %+v, %v; want ErrNotFound", l, err)
	}
	if l, err := s.GetLock(ctx, e); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLock = %+v, %v; want no lock", l, err)
	}

	held, err := s.AcquireLock(ctx, lock("c2"))
	if err != nil {
		t.Fatal(err)
	}
	hook.arm(disconnect("c3"))
	if l, err := s.RenewLock(ctx, e, "u1", "c3", now.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("renewal to a connection deleted before its transaction = %+v, %v; want ErrNotFound", l, err)
	}
	if l, err := s.GetLock(ctx, e); err != nil || l.ConnID != "c2" || !l.ExpiresAt.Equal(held.ExpiresAt) {
		t.Fatalf("GetLock = %+v, %v; want the lock as granted through c2", l, err)
	}
}
