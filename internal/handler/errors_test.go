package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// secret marks the text of injected store errors; it must never reach a
// client.
const secret = "SECRET-arn:aws:dynamodb:eu-west-1:123456789012:table/prod"

// failingStore is a fake for a fault that a real store cannot produce on
// demand: once armed, calls of the one method named fail with err (after
// nothing was written).
type failingStore struct {
	store.Store
	method string
	err    error
	armed  atomic.Bool
	hits   atomic.Int64
}

func (f *failingStore) fail(method string) error {
	if f.armed.Load() && method == f.method {
		f.hits.Add(1)
		return f.err
	}
	return nil
}

func (f *failingStore) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	if err := f.fail("GetConnection"); err != nil {
		return store.Connection{}, err
	}
	return f.Store.GetConnection(ctx, id)
}

func (f *failingStore) Subscribe(ctx context.Context, tenant, channel, connID string, max int) (bool, error) {
	if err := f.fail("Subscribe"); err != nil {
		return false, err
	}
	return f.Store.Subscribe(ctx, tenant, channel, connID, max)
}

func (f *failingStore) Unsubscribe(ctx context.Context, tenant, channel, connID string) (bool, error) {
	if err := f.fail("Unsubscribe"); err != nil {
		return false, err
	}
	return f.Store.Unsubscribe(ctx, tenant, channel, connID)
}

func (f *failingStore) Subscribers(ctx context.Context, tenant, channel string, p store.Page) ([]string, string, error) {
	if err := f.fail("Subscribers"); err != nil {
		return nil, "", err
	}
	return f.Store.Subscribers(ctx, tenant, channel, p)
}

func (f *failingStore) AcquireLock(ctx context.Context, l store.Lock) (store.Lock, error) {
	if err := f.fail("AcquireLock"); err != nil {
		return store.Lock{}, err
	}
	return f.Store.AcquireLock(ctx, l)
}

func (f *failingStore) RenewLock(ctx context.Context, e store.EntityKey, holder, connID string, at time.Time) (store.Lock, error) {
	if err := f.fail("RenewLock"); err != nil {
		return store.Lock{}, err
	}
	return f.Store.RenewLock(ctx, e, holder, connID, at)
}

func (f *failingStore) ReleaseLock(ctx context.Context, e store.EntityKey, holder string) (store.Lock, error) {
	if err := f.fail("ReleaseLock"); err != nil {
		return store.Lock{}, err
	}
	return f.Store.ReleaseLock(ctx, e, holder)
}

func (f *failingStore) LoadEntity(ctx context.Context, e store.EntityKey, userID, messageID string) (store.EntityState, error) {
	if err := f.fail("LoadEntity"); err != nil {
		return store.EntityState{}, err
	}
	return f.Store.LoadEntity(ctx, e, userID, messageID)
}

func (f *failingStore) GetHead(ctx context.Context, e store.EntityKey) (store.Head, error) {
	if err := f.fail("GetHead"); err != nil {
		return store.Head{}, err
	}
	return f.Store.GetHead(ctx, e)
}

func (f *failingStore) Commit(ctx context.Context, c store.Commit) error {
	if err := f.fail("Commit"); err != nil {
		return err
	}
	return f.Store.Commit(ctx, c)
}

func (f *failingStore) ListChanges(ctx context.Context, e store.EntityKey, q store.ChangeQuery) ([]store.Change, error) {
	if err := f.fail("ListChanges"); err != nil {
		return nil, err
	}
	return f.Store.ListChanges(ctx, e, q)
}

func (f *failingStore) GetChange(ctx context.Context, e store.EntityKey, v int64) (store.Change, error) {
	if err := f.fail("GetChange"); err != nil {
		return store.Change{}, err
	}
	return f.Store.GetChange(ctx, e, v)
}

func (f *failingStore) GetIdempotency(ctx context.Context, tenant, userID, messageID string) (store.Idempotency, error) {
	if err := f.fail("GetIdempotency"); err != nil {
		return store.Idempotency{}, err
	}
	return f.Store.GetIdempotency(ctx, tenant, userID, messageID)
}

func (f *failingStore) GetConflict(ctx context.Context, e store.EntityKey, id string) (store.Conflict, error) {
	if err := f.fail("GetConflict"); err != nil {
		return store.Conflict{}, err
	}
	return f.Store.GetConflict(ctx, e, id)
}

func (f *failingStore) ListConflicts(ctx context.Context, e store.EntityKey, unresolved bool, p store.Page) ([]store.Conflict, string, error) {
	if err := f.fail("ListConflicts"); err != nil {
		return nil, "", err
	}
	return f.Store.ListConflicts(ctx, e, unresolved, p)
}

func (f *failingStore) AddComment(ctx context.Context, c store.Comment, idem *store.Idempotency) error {
	if err := f.fail("AddComment"); err != nil {
		return err
	}
	return f.Store.AddComment(ctx, c, idem)
}

func (f *failingStore) ResolveComment(ctx context.Context, e store.EntityKey, id string, resolved bool, userID string, at time.Time) (store.Comment, error) {
	if err := f.fail("ResolveComment"); err != nil {
		return store.Comment{}, err
	}
	return f.Store.ResolveComment(ctx, e, id, resolved, userID, at)
}

func (f *failingStore) ListComments(ctx context.Context, e store.EntityKey, p store.Page) ([]store.Comment, string, error) {
	if err := f.fail("ListComments"); err != nil {
		return nil, "", err
	}
	return f.Store.ListComments(ctx, e, p)
}

func (f *failingStore) PutSession(ctx context.Context, w store.SessionWrite) (store.Session, error) {
	if err := f.fail("PutSession"); err != nil {
		return store.Session{}, err
	}
	return f.Store.PutSession(ctx, w)
}

func (f *failingStore) ListPresence(ctx context.Context, tenant, room string, p store.Page) ([]store.Presence, string, error) {
	if err := f.fail("ListPresence"); err != nil {
		return nil, "", err
	}
	return f.Store.ListPresence(ctx, tenant, room, p)
}

func (f *failingStore) ListActivity(ctx context.Context, tenant string, af store.ActivityFilter, p store.Page) ([]store.Activity, string, error) {
	if err := f.fail("ListActivity"); err != nil {
		return nil, "", err
	}
	return f.Store.ListActivity(ctx, tenant, af, p)
}

func (f *failingStore) StreamPosition(ctx context.Context, tenant, channel string) (store.Position, error) {
	if err := f.fail("StreamPosition"); err != nil {
		return store.Position{}, err
	}
	return f.Store.StreamPosition(ctx, tenant, channel)
}

func (f *failingStore) Publications(ctx context.Context, tenant, channel string, after int64, limit int) ([]store.Publication, store.Position, error) {
	if err := f.fail("Publications"); err != nil {
		return nil, store.Position{}, err
	}
	return f.Store.Publications(ctx, tenant, channel, after, limit)
}

// failingMethods are the methods failingStore can fail.
var failingMethods = []string{"GetConnection", "Subscribe", "Unsubscribe", "Subscribers", "AcquireLock", "RenewLock",
	"ReleaseLock", "LoadEntity", "GetHead", "Commit", "ListChanges", "GetChange", "GetIdempotency", "GetConflict",
	"ListConflicts", "AddComment", "ResolveComment", "ListComments", "PutSession", "ListPresence", "ListActivity",
	"StreamPosition", "Publications"}

// faultFrames are requests of every kind that reads or writes the store,
// aimed at the state fuzzSetup and fuzzFramesSetup create.
var faultFrames = []string{
	`{"type":"subscribe","channel":"order:2"}`,
	`{"type":"subscribe","channel":"order-updates"}`,
	`{"type":"subscribe","channel":"inventory-updates","payload":{"since":{"offset":0,"epoch":"e"}}}`,
	`{"type":"unsubscribe","channel":"order:1"}`,
	`{"type":"publish","channel":"order-updates","payload":{"x":1}}`,
	`{"type":"room.join","payload":{"room":"board"}}`,
	`{"type":"presence","payload":{"status":"away"}}`,
	`{"type":"presence.snapshot","payload":{"room":"dashboard"}}`,
	`{"type":"lock.acquire","payload":{"entityType":"order","entityId":"2"}}`,
	`{"type":"lock.renew","payload":{"entityType":"order","entityId":"1"}}`,
	`{"type":"change","payload":{"entityType":"note","entityId":"1","baseVersion":2,"operation":"update","path":"status","after":"x"}}`,
	`{"type":"change","payload":{"entityType":"note","entityId":"1","baseVersion":1,"operation":"update","path":"status","after":"stale"}}`,
	`{"type":"change","payload":{"entityType":"inventory","entityId":"1","baseVersion":2,"operation":"increment","path":"stock","delta":1}}`,
	`{"type":"sync","payload":{"entityType":"note","entityId":"1","sinceVersion":1}}`,
	`{"type":"history","payload":{"entityType":"note","entityId":"1"}}`,
	`{"type":"undo","payload":{"entityType":"note","entityId":"1","version":1}}`,
	`{"type":"conflict.resolve","payload":{"entityType":"pricing","entityId":"1","conflictId":"c1","resolution":"remote"}}`,
	`{"type":"comment.add","payload":{"entityType":"order","entityId":"1","text":"second"}}`,
	`{"type":"comment.list","payload":{"entityType":"order","entityId":"1"}}`,
	`{"type":"comment.resolve","payload":{"entityType":"order","entityId":"1","commentId":"c1"}}`,
	`{"type":"activity.list","payload":{}}`,
	`{"type":"lock.release","payload":{"entityType":"order","entityId":"1"}}`,
}

// TestStoreFaultsReachClientsAsFixedMessages fails one store method at a
// time, with an error whose text holds internal details, plain (INTERNAL)
// or wrapping store.ErrUnavailable (UNAVAILABLE), and sends requests of
// every kind. Every error reply carries a listed code with its fixed
// message and only allow-listed details; the injected text appears in no
// reply and no broadcast.
func TestStoreFaultsReachClientsAsFixedMessages(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fixed := map[protocol.Code]string{
		protocol.CodeInternal:    "internal error",
		protocol.CodeUnavailable: "service temporarily unavailable; retry",
	}
	allowed := map[string]bool{"version": true, "lock": true, "retryAfterMs": true}
	for _, kind := range []struct {
		name string
		err  error
		code protocol.Code
	}{
		{"plain", errors.New("dynamo: TransactWriteItems " + secret + ": ValidationException"), protocol.CodeInternal},
		{"unavailable", fmt.Errorf("dynamo: throttled on %s: %w", secret, store.ErrUnavailable), protocol.CodeUnavailable},
	} {
		for _, method := range failingMethods {
			t.Run(kind.name+"/"+method, func(t *testing.T) {
				fs := &failingStore{method: method, err: kind.err}
				h, poster, _ := fuzzHandler(t, now, fuzzFramesSetup, func(s store.Store) store.Store { fs.Store = s; return fs })
				fs.armed.Store(true)
				ctx := context.Background()
				faults := 0
				for i, body := range faultFrames {
					body = strings.Replace(body, "{", fmt.Sprintf(`{"messageId":"fault-%d",`, i), 1)
					resp, err := h.Message(ctx, fuzzEvent(fuzzConns[0].id, body, nil))
					if err != nil {
						t.Fatal(err)
					}
					if strings.Contains(resp.Body, "SECRET") || strings.Contains(resp.Body, "dynamo:") {
						t.Fatalf("reply to %s carries internal text: %s", body, resp.Body)
					}
					var f struct {
						Type    string `json:"type"`
						Payload struct {
							Code    protocol.Code  `json:"code"`
							Message string         `json:"message"`
							Details map[string]any `json:"details"`
						} `json:"payload"`
					}
					if err := json.Unmarshal([]byte(resp.Body), &f); err != nil {
						t.Fatalf("reply %s: %v", resp.Body, err)
					}
					if f.Type != protocol.TypeError {
						continue
					}
					p := f.Payload
					if want, ok := fixed[p.Code]; ok {
						faults++
						if p.Code != kind.code || p.Message != want || len(p.Details) > 0 {
							t.Fatalf("reply to %s: %s; want %s with the fixed message %q and no details", body, resp.Body, kind.code, fixed[kind.code])
						}
					}
					for k := range p.Details {
						if !allowed[k] {
							t.Fatalf("reply to %s has the detail %q, not on the allow-list: %s", body, k, resp.Body)
						}
					}
				}
				t.Logf("%s failed %d times; %d replies reported a fault", method, fs.hits.Load(), faults)
				if fs.hits.Load() > 0 && faults == 0 {
					t.Fatalf("%s failed %d times but no reply reported a fault", method, fs.hits.Load())
				}
				poster.mu.Lock()
				defer poster.mu.Unlock()
				for _, fr := range poster.frames {
					if strings.Contains(string(fr), "SECRET") {
						t.Fatalf("a broadcast carries internal text: %s", fr)
					}
				}
			})
		}
	}
}

// TestNoErrorTextInClientErrors reads the source of the handler and of
// the editing service it calls (internal/collab): no protocol.NewError
// call and no protocol.Error literal may take an error value or its text,
// so that clientError stays the only way from an internal error to a
// reply.
func TestNoErrorTextInClientErrors(t *testing.T) {
	fset := token.NewFileSet()
	var files []string
	for _, pattern := range []string{"*.go", "../collab/*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil || len(m) == 0 {
			t.Fatalf("no source matches %q: %v", pattern, err)
		}
		files = append(files, m...)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var args []ast.Expr
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewError" {
					args = n.Args
					checked++
				}
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" {
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							args = append(args, kv.Value)
						}
					}
				}
			}
			for _, a := range args {
				ast.Inspect(a, func(m ast.Node) bool {
					switch m := m.(type) {
					case *ast.Ident:
						if m.Name == "err" || strings.HasSuffix(m.Name, "Err") {
							t.Errorf("%s: a client error takes the error value %s", fset.Position(m.Pos()), m.Name)
						}
					case *ast.SelectorExpr:
						if m.Sel.Name == "Error" {
							t.Errorf("%s: a client error takes an error's text", fset.Position(m.Pos()))
						}
					}
					return true
				})
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no protocol.NewError call found: the check reads nothing")
	}
}
