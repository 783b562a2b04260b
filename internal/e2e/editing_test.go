package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// This file holds the helpers of the editing tests (locks, changes, sync,
// undo, conflicts, comments) and the scripted two-client edit of every
// conflict strategy. Helpers are prefixed with "ed".

// edT binds a client to a test for scripted steps that fail the test.
type edT struct {
	t *testing.T
	c *client
}

// bad marks the next request as malformed on purpose (see client.bad).
func (e edT) bad() edT {
	e.c.bad()
	return e
}

func (e edT) request(typ string, payload any) frame {
	e.t.Helper()
	f, err := e.c.roundTrip(context.Background(), typ, "", "", payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

func (e edT) ack(typ string, payload any) frame {
	e.t.Helper()
	f := e.request(typ, payload)
	if f.Type != "ack" {
		e.t.Fatalf("%s %s: got %s %s %s", e.c.name, typ, f.Type, f.code(), f.Payload)
	}
	return f
}

func (e edT) refused(typ string, payload any, code string) frame {
	e.t.Helper()
	f := e.request(typ, payload)
	if f.Type != "error" || f.code() != code {
		e.t.Fatalf("%s %s: got %s %s %s, want error %s", e.c.name, typ, f.Type, f.code(), f.Payload, code)
	}
	return f
}

func (e edT) subscribe(channel string) {
	e.t.Helper()
	f, err := e.c.roundTrip(context.Background(), "subscribe", channel, "", nil)
	if err != nil || f.Type != "ack" {
		e.t.Fatalf("%s subscribe %s: %+v %v", e.c.name, channel, f, err)
	}
}

// event waits for an event that match accepts, or fails the test.
func (e edT) event(what string, match func(frame) bool) frame {
	e.t.Helper()
	f, ok := e.c.waitEvent(10*time.Second, match)
	if !ok {
		e.t.Fatalf("%s: no %s event within 10s", e.c.name, what)
	}
	return f
}

// wireChange is the part of a change the tests read.
type wireChange struct {
	ID          string          `json:"id"`
	UserID      string          `json:"userId"`
	Operation   string          `json:"operation"`
	Path        string          `json:"path"`
	Before      json.RawMessage `json:"before"`
	After       json.RawMessage `json:"after"`
	Op          doc.Op          `json:"op"`
	Version     int64           `json:"version"`
	BaseVersion int64           `json:"baseVersion"`
	MessageID   string          `json:"messageId"`
	Timestamp   string          `json:"timestamp"`
	Strategy    string          `json:"strategy"`
	Supersedes  []int64         `json:"supersedes"`
	UndoOf      string          `json:"undoOf"`
	ConflictID  string          `json:"conflictId"`
}

// wireConflict is the part of a conflict the tests read.
type wireConflict struct {
	ID                 string          `json:"id"`
	Path               string          `json:"path"`
	LocalChange        wireChange      `json:"localChange"`
	RemoteChange       wireChange      `json:"remoteChange"`
	ResolutionStrategy string          `json:"resolutionStrategy"`
	Resolved           bool            `json:"resolved"`
	Resolution         string          `json:"resolution"`
	MergedValue        json.RawMessage `json:"mergedValue"`
	ResolvedVersion    int64           `json:"resolvedVersion"`
}

// wireAck is the reply to change, undo and conflict.resolve.
type wireAck struct {
	Outcome   string        `json:"outcome"`
	Applied   bool          `json:"applied"`
	Version   int64         `json:"version"`
	Change    *wireChange   `json:"change"`
	Notices   []string      `json:"notices"`
	Overwrote []struct{}    `json:"overwrote"`
	Conflict  *wireConflict `json:"conflict"`
}

// wireSync is the reply to sync.
type wireSync struct {
	Version          int64          `json:"version"`
	Strategy         string         `json:"strategy"`
	Snapshot         bool           `json:"snapshot"`
	Document         map[string]any `json:"document"`
	Changes          []wireChange   `json:"changes"`
	HasMore          bool           `json:"hasMore"`
	NextSinceVersion int64          `json:"nextSinceVersion"`
	Conflicts        []wireConflict `json:"conflicts"`
	Lock             *wireLock      `json:"lock"`
}

// wireLock is a lock on the wire.
type wireLock struct {
	LockedBy     string `json:"lockedBy"`
	LockedByName string `json:"lockedByName"`
	LockedAt     string `json:"lockedAt"`
	ExpiresAt    string `json:"expiresAt"`
	FencingToken int64  `json:"fencingToken"`
}

// decodeInto decodes a frame's payload with exact numbers.
func decodeInto(t testing.TB, f frame, v any) {
	t.Helper()
	if err := decodeExact(f.Payload, v); err != nil {
		t.Fatalf("decode %s payload %s: %v", f.Type, f.Payload, err)
	}
}

func decodeExact(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	return dec.Decode(v)
}

// edReplica is a client's copy of an entity: the document at a version,
// kept by applying changes in version order, as the client SDK does.
type edReplica struct {
	doc     map[string]any
	version int64
	pending map[int64]wireChange // changes received ahead of a gap
}

func newReplica() *edReplica {
	return &edReplica{doc: map[string]any{}, pending: map[int64]wireChange{}}
}

// add applies ch if it is the next version (and any pending changes that
// follow it), keeps it for later if it is ahead, and ignores it if it is
// old.
func (r *edReplica) add(ch wireChange) error {
	if ch.Version <= r.version {
		return nil
	}
	r.pending[ch.Version] = ch
	for {
		next, ok := r.pending[r.version+1]
		if !ok {
			return nil
		}
		delete(r.pending, next.Version)
		d, err := doc.Apply(r.doc, next.Op)
		if err != nil {
			return fmt.Errorf("apply version %d (%s): %w", next.Version, next.Op, err)
		}
		r.doc, r.version = d, next.Version
	}
}

// absorb applies the change events among frames.
func (r *edReplica) absorb(frames []frame) error {
	for _, f := range frames {
		if f.Type != "change" {
			continue
		}
		var ch wireChange
		if err := decodeExact(f.Payload, &ch); err != nil {
			return err
		}
		if err := r.add(ch); err != nil {
			return err
		}
	}
	return nil
}

// catchUp syncs the replica from its version to the entity's latest,
// page by page, as a client that saw a gap does.
func (r *edReplica) catchUp(ctx context.Context, c *client, entityType, entityID string) (wireSync, error) {
	for pages := 0; pages < 1000; pages++ {
		f, err := c.roundTrip(ctx, "sync", "", "", map[string]any{"entityType": entityType, "entityId": entityID, "sinceVersion": r.version})
		if err != nil {
			return wireSync{}, err
		}
		if f.Type != "ack" {
			return wireSync{}, fmt.Errorf("sync: %s %s", f.code(), f.Payload)
		}
		var s wireSync
		if err := decodeExact(f.Payload, &s); err != nil {
			return wireSync{}, err
		}
		if s.Snapshot {
			r.doc, r.version = s.Document, s.Version
			clear(r.pending)
		}
		for _, ch := range s.Changes {
			if err := r.add(ch); err != nil {
				return wireSync{}, err
			}
		}
		if !s.HasMore && r.version >= s.Version {
			return s, nil
		}
	}
	return wireSync{}, errors.New("sync: no end after 1000 pages")
}

// sync brings the replica up to date or fails the test.
func (r *edReplica) sync(t *testing.T, c *client, entityType, entityID string) wireSync {
	t.Helper()
	if err := r.absorb(c.takeEvents()); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	s, err := r.catchUp(context.Background(), c, entityType, entityID)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return s
}

// serverDoc reads an entity's head from the store behind srv.
func serverDoc(t *testing.T, st store.Store, typ, id string) (map[string]any, int64) {
	t.Helper()
	h, err := st.GetHead(context.Background(), store.EntityKey{Tenant: "default", Type: typ, ID: id})
	if errors.Is(err, store.ErrNotFound) {
		return map[string]any{}, 0
	}
	if err != nil {
		t.Fatalf("GetHead(%s:%s): %v", typ, id, err)
	}
	d, err := doc.Decode(h.Doc)
	if err != nil {
		t.Fatal(err)
	}
	return d, h.Version
}

// wantJSON fails unless d equals the JSON object want.
func wantJSON(t *testing.T, who string, d map[string]any, want string) {
	t.Helper()
	w, err := doc.Decode([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if !doc.Equal(d, w) {
		b, _ := json.Marshal(d)
		t.Fatalf("%s holds %s, want %s", who, b, want)
	}
}

// edBackend is a store the tuned servers run on: the memory store, or
// DynamoDB at the test endpoint.
type edBackend struct {
	name     string
	endpoint string // "" for memory
}

func edBackends(t *testing.T) []edBackend {
	t.Helper()
	bs := []edBackend{{name: "memory"}}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		bs = append(bs, edBackend{name: "dynamo", endpoint: ep})
	}
	return bs
}

// lazyInvoker runs the handler set after the server started, so that the
// handler can be built with the server's Management API endpoint.
type lazyInvoker struct {
	h atomic.Pointer[handler.Handler]
}

func (l *lazyInvoker) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return devserver.InProcess(l.h.Load()).Invoke(ctx, routeKey, req)
}

func (l *lazyInvoker) Sweep(ctx context.Context) error { return l.h.Load().Sweep(ctx) }

// edTuned is a local server whose handler was built with a chosen
// configuration.
type edTuned struct {
	*devserver.Server
	h       *handler.Handler
	store   store.Store
	table   string
	counter *dynamo.Counter // DynamoDB requests by operation; nil on memory
}

// edStartTuned starts a local server on b whose handler uses cfg, for
// tests that need settings the environment does not offer (a higher
// per-connection request rate for load tests, a short history). A
// non-empty table reuses that DynamoDB table.
func edStartTuned(t *testing.T, b edBackend, cfg handler.Config, table string) *edTuned {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	ctx := context.Background()
	var st store.Store = memory.New(nil)
	var counter *dynamo.Counter
	if b.endpoint != "" {
		counter = &dynamo.Counter{}
		client, err := dynamo.NewClient(ctx, b.endpoint, "us-east-1", dynamo.SerialHTTP(), counter.Options())
		if err != nil {
			t.Fatal(err)
		}
		if table == "" {
			table = fmt.Sprintf("ed-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
		}
		if err := dynamo.CreateTable(ctx, client, table); err != nil {
			t.Fatal(err)
		}
		st = dynamo.New(client, table, nil)
	}
	inv := &lazyInvoker{}
	srv, err := devserver.Start(ctx, devserver.Options{
		Addr: "127.0.0.1:0", Settings: app.Settings{DevIdentity: true}, App: &app.Options{Store: st},
		Invoker: inv, SweepInterval: -1, Gateway: gateway.Config{},
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(cctx)
	})
	pool := mgmtapi.NewPool(localAWS(), nil)
	cfg.ManagementEndpoint = srv.Endpoint()
	h, err := handler.New(cfg, handler.Deps{
		Store:   st,
		Posters: func(endpoint string) broadcast.Poster { return pool.Client(endpoint) },
		IsGone:  mgmtapi.IsGone,
		Auth:    auth.DevAuth(),
	})
	if err != nil {
		t.Fatal(err)
	}
	inv.h.Store(h)
	return &edTuned{Server: srv, h: h, store: st, table: table, counter: counter}
}

// logRequests logs the DynamoDB requests the server made, by operation.
func (s *edTuned) logRequests(t *testing.T) {
	t.Helper()
	if s.counter == nil {
		return
	}
	var total int64
	var parts []string
	for op, st := range s.counter.Snapshot() {
		total += st.Requests
		parts = append(parts, fmt.Sprintf("%s %d", op, st.Requests))
	}
	slices.Sort(parts)
	t.Logf("DynamoDB requests: %d (%s)", total, strings.Join(parts, ", "))
}

// fastRequests is a request limit that load tests do not reach: they
// measure the store and the strategies, not the per-connection limit.
func fastRequests(cfg handler.Config) handler.Config {
	cfg.RequestLimit.Rate, cfg.RequestLimit.Burst = 100000, 100000
	return cfg
}

// TestEditingStrategies runs, for each conflict strategy with its
// documented default entity type, a scripted edit by two concurrent
// clients (changes written against the same base version) and checks
// that both end up holding the same document, with the documented winner
// or merge.
func TestEditingStrategies(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			st := srv.Built.Store
			tests := []struct {
				strategy, entityType string
				script               func(t *testing.T, a, b edT, id string)
				want                 string
			}{
				{"last-write-wins", "note", scriptLWW, `{"title":"from bob","body":"x"}`},
				{"operational-transform", "customer", scriptOT, `{"name":"Ann","tags":["z","a","b"],"bio":"Oh, hello world"}`},
				{"crdt", "inventory", scriptCRDT, `{"location":"A1","stock":3,"bin":"Y"}`},
				{"lock-based", "order", scriptLock, `{"status":"shipped","note":"fragile"}`},
				{"manual", "pricing", scriptManual, `{"price":115,"currency":"THB"}`},
			}
			for _, tt := range tests {
				t.Run(tt.strategy, func(t *testing.T) {
					id := "s1"
					alice, bob := edT{t, edDial(t, srv, "alice")}, edT{t, edDial(t, srv, "bob")}
					ch := tt.entityType + ":" + id
					alice.subscribe(ch)
					bob.subscribe(ch)
					tt.script(t, alice, bob, id)
					ra, rb := newReplica(), newReplica()
					sa := ra.sync(t, alice.c, tt.entityType, id)
					rb.sync(t, bob.c, tt.entityType, id)
					if sa.Strategy != tt.strategy {
						t.Errorf("%s entities use %q, want %q", tt.entityType, sa.Strategy, tt.strategy)
					}
					server, _ := serverDoc(t, st, tt.entityType, id)
					wantJSON(t, "the server", server, tt.want)
					wantJSON(t, "alice", ra.doc, tt.want)
					wantJSON(t, "bob", rb.doc, tt.want)
				})
			}
		})
	}
}

// change is a change request payload.
func change(typ, id string, base int64, op, path string, extra map[string]any) map[string]any {
	p := map[string]any{"entityType": typ, "entityId": id, "baseVersion": base, "operation": op, "path": path}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func after(v any) map[string]any { return map[string]any{"after": v} }

func ackOf(t *testing.T, f frame) wireAck {
	t.Helper()
	var a wireAck
	decodeInto(t, f, &a)
	return a
}

// scriptLWW: both write the title on the same base; the later arrival
// wins and the earlier writer is told.
func scriptLWW(t *testing.T, a, b edT, id string) {
	a.ack("change", change("note", id, 0, "update", "title", after("first")))
	a.ack("change", change("note", id, 1, "update", "body", after("x")))
	a.ack("change", change("note", id, 2, "update", "title", after("from alice")))
	won := ackOf(t, b.ack("change", change("note", id, 2, "update", "title", after("from bob"))))
	if won.Outcome != "applied" || won.Version != 4 || len(won.Overwrote) != 1 || !slices.Equal(won.Change.Supersedes, []int64{3}) {
		t.Fatalf("bob's later write: %+v", won)
	}
	ev := a.event("superseded conflict", func(f frame) bool { return f.Type == "conflict" })
	var c wireConflict
	decodeInto(t, ev, &c)
	if !c.Resolved || c.Resolution != "remote" || c.LocalChange.Version != 3 || c.RemoteChange.Version != 4 || c.ResolutionStrategy != "last-write-wins" {
		t.Fatalf("alice was told %s", ev.Payload)
	}
}

// scriptOT: concurrent text edits of one string merge, list indexes
// shift, and an edit of a field deleted concurrently is dropped.
func scriptOT(t *testing.T, a, b edT, id string) {
	a.ack("change", change("customer", id, 0, "update", "name", after("Ann")))
	a.ack("change", change("customer", id, 1, "update", "tags", after([]any{"a", "b", "c"})))
	a.ack("change", change("customer", id, 2, "update", "bio", after("hello")))
	a.ack("change", change("customer", id, 3, "update", "phone", after("0812345678")))
	// Both edit the bio against version 4.
	a.ack("change", change("customer", id, 4, "text", "bio", map[string]any{"text": []any{map[string]any{"retain": 5}, map[string]any{"insert": " world"}}}))
	merged := ackOf(t, b.ack("change", change("customer", id, 4, "text", "bio", map[string]any{"text": []any{map[string]any{"insert": "Oh, "}}})))
	if merged.Outcome != "merged" || merged.Version != 6 {
		t.Fatalf("bob's text edit: %+v", merged)
	}
	// Alice inserts at the front of tags while bob deletes "c" (index 2)
	// against version 6: bob's delete shifts to index 3.
	a.ack("change", change("customer", id, 6, "insert", "tags[0]", after("z")))
	shifted := ackOf(t, b.ack("change", change("customer", id, 6, "delete", "tags[2]", nil)))
	if shifted.Change == nil || shifted.Change.Op.Path != "tags[3]" {
		t.Fatalf("bob's delete was not shifted: %+v", shifted.Change)
	}
	// Alice deletes the phone; bob's concurrent update of it is dropped.
	a.ack("change", change("customer", id, 8, "delete", "phone", nil))
	dropped := ackOf(t, b.ack("change", change("customer", id, 8, "update", "phone", after("099"))))
	if dropped.Outcome != "dropped" || dropped.Applied || len(dropped.Notices) == 0 || dropped.Version != 9 {
		t.Fatalf("bob's update of a deleted field: %+v", dropped)
	}
}

// scriptCRDT: registers are ordered by hybrid logical clock stamps (ties
// by user id), not by arrival, and increments add up.
func scriptCRDT(t *testing.T, a, b edT, id string) {
	t0 := time.Now().UnixMilli()
	hlc := func(ms int64) map[string]any { return map[string]any{"wallMs": ms, "counter": 0} }
	a.ack("change", change("inventory", id, 0, "update", "location", map[string]any{"after": "A1", "hlc": hlc(t0 + 100)}))
	late := ackOf(t, b.ack("change", change("inventory", id, 0, "update", "location", map[string]any{"after": "B1", "hlc": hlc(t0 + 50)})))
	if late.Outcome != "superseded" || late.Applied {
		t.Fatalf("bob's older stamp arriving later: %+v", late)
	}
	a.ack("change", change("inventory", id, 1, "increment", "stock", map[string]any{"delta": -2}))
	both := ackOf(t, b.ack("change", change("inventory", id, 1, "increment", "stock", map[string]any{"delta": 5})))
	if both.Outcome != "merged" || both.Version != 3 {
		t.Fatalf("concurrent increments: %+v", both)
	}
	// Same stamp: the larger user id ("bob") wins whatever the order.
	b.ack("change", change("inventory", id, 3, "update", "bin", map[string]any{"after": "Y", "hlc": hlc(t0 + 200)}))
	tie := ackOf(t, a.ack("change", change("inventory", id, 3, "update", "bin", map[string]any{"after": "X", "hlc": hlc(t0 + 200)})))
	if tie.Outcome != "superseded" {
		t.Fatalf("alice's tie with bob: %+v", tie)
	}
}

// scriptLock: only the holder with the current fencing token writes.
func scriptLock(t *testing.T, a, b edT, id string) {
	lock := map[string]any{"entityType": "order", "entityId": id}
	b.refused("change", change("order", id, 0, "update", "status", after("x")), "LOCK_REQUIRED")
	var got struct {
		Lock wireLock `json:"lock"`
	}
	decodeInto(t, a.ack("lock.acquire", lock), &got)
	t1 := got.Lock.FencingToken
	held := b.refused("lock.acquire", lock, "LOCK_HELD")
	if !strings.Contains(string(held.Payload), `"lockedBy":"alice"`) {
		t.Fatalf("LOCK_HELD does not name alice: %s", held.Payload)
	}
	a.ack("change", change("order", id, 0, "update", "status", map[string]any{"after": "packed", "fencingToken": t1}))
	b.refused("change", change("order", id, 1, "update", "status", map[string]any{"after": "x", "fencingToken": t1}), "LOCK_REQUIRED")
	b.refused("lock.release", lock, "NOT_LOCK_HOLDER")
	a.ack("lock.release", lock)
	decodeInto(t, b.ack("lock.acquire", lock), &got)
	t2 := got.Lock.FencingToken
	if t2 <= t1 {
		t.Fatalf("second grant's token %d is not above %d", t2, t1)
	}
	a.refused("change", change("order", id, 1, "update", "status", map[string]any{"after": "x", "fencingToken": t1}), "STALE_FENCING_TOKEN")
	b.refused("change", change("order", id, 1, "update", "status", map[string]any{"after": "x"}), "STALE_FENCING_TOKEN")
	b.ack("change", change("order", id, 1, "update", "status", map[string]any{"after": "shipped", "fencingToken": t2}))
	b.ack("change", change("order", id, 2, "update", "note", map[string]any{"after": "fragile", "fencingToken": t2}))
	b.ack("lock.release", lock)
}

// scriptManual: concurrent writes of one path make a stored conflict that
// both are told of, other paths merge, and a resolution makes the next
// version.
func scriptManual(t *testing.T, a, b edT, id string) {
	a.ack("change", change("pricing", id, 0, "update", "price", after(100)))
	a.ack("change", change("pricing", id, 1, "update", "price", after(110)))
	held := ackOf(t, b.ack("change", change("pricing", id, 1, "update", "price", after(120))))
	if held.Outcome != "conflict" || held.Applied || held.Conflict == nil || held.Conflict.RemoteChange.Version != 2 {
		t.Fatalf("bob's concurrent price: %+v", held)
	}
	conflictID := held.Conflict.ID
	for _, c := range []edT{a, b} {
		ev := c.event("conflict", func(f frame) bool { return f.Type == "conflict" })
		var cf wireConflict
		decodeInto(t, ev, &cf)
		if cf.ID != conflictID || cf.Resolved || string(cf.LocalChange.After) != "120" || cf.RemoteChange.UserID != "alice" {
			t.Fatalf("%s was told %s", c.c.name, ev.Payload)
		}
	}
	b.ack("change", change("pricing", id, 1, "update", "currency", after("THB")))
	var s wireSync
	decodeInto(t, a.ack("sync", map[string]any{"entityType": "pricing", "entityId": id, "sinceVersion": 1}), &s)
	if len(s.Conflicts) != 1 || s.Conflicts[0].ID != conflictID {
		t.Fatalf("sync lists conflicts %+v", s.Conflicts)
	}
	res := ackOf(t, a.ack("conflict.resolve", map[string]any{"entityType": "pricing", "entityId": id,
		"conflictId": conflictID, "resolution": "merged", "mergedValue": 115}))
	if !res.Applied || res.Version != 4 || res.Conflict == nil || !res.Conflict.Resolved || res.Change.ConflictID != conflictID {
		t.Fatalf("resolution: %+v", res)
	}
	b.event("resolved conflict", func(f frame) bool {
		var cf wireConflict
		return f.Type == "conflict" && decodeExact(f.Payload, &cf) == nil && cf.ID == conflictID && cf.Resolved
	})
	b.refused("conflict.resolve", map[string]any{"entityType": "pricing", "entityId": id,
		"conflictId": conflictID, "resolution": "local"}, "CONFLICT_RESOLVED")
	decodeInto(t, b.ack("sync", map[string]any{"entityType": "pricing", "entityId": id, "sinceVersion": 4}), &s)
	if len(s.Conflicts) != 0 {
		t.Fatalf("sync still lists conflicts %+v", s.Conflicts)
	}
}

// TestComments adds, replies to, lists and resolves comments, which are
// broadcast on comments and on the entity's channel.
func TestComments(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice, bob := edT{t, edDial(t, srv, "alice")}, edT{t, edDial(t, srv, "bob")}
			alice.subscribe("comments")
			bob.subscribe("order:7")
			with := func(extra map[string]any) map[string]any {
				m := map[string]any{"entityType": "order", "entityId": "7"}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}
			type wireComment struct {
				ID, ParentID, UserID, Text string
				Resolved                   bool
			}
			var added struct{ Comment wireComment }
			decodeInto(t, alice.ack("comment.add", with(map[string]any{"text": "Check the address"})), &added)
			first := added.Comment
			// A resend with the same messageId adds nothing.
			dup := bob.c.nextID()
			f1, err := bob.c.roundTrip(context.Background(), "comment.add", "", dup, with(map[string]any{"text": "Call first", "parentId": first.ID}))
			if err != nil || f1.Type != "ack" {
				t.Fatalf("reply: %+v %v", f1, err)
			}
			f2, err := bob.c.roundTrip(context.Background(), "comment.add", "", dup, with(map[string]any{"text": "Call first", "parentId": first.ID}))
			if err != nil || string(f2.Payload) != string(f1.Payload) {
				t.Fatalf("resend got %s, want %s (%v)", f2.Payload, f1.Payload, err)
			}
			bob.ack("comment.add", with(map[string]any{"text": "ส่งด่วน"}))
			bob.refused("comment.add", with(map[string]any{"text": "x", "parentId": "0000000000000-none"}), "NOT_FOUND")
			bob.refused("comment.add", with(map[string]any{"text": "  "}), "BAD_REQUEST")
			for _, c := range []edT{alice, bob} {
				ev := c.event("comment", func(f frame) bool {
					return f.Type == "comment" && strings.Contains(string(f.Payload), "Check the address")
				})
				if c.c == bob.c && ev.Channel != "order:7" || c.c == alice.c && ev.Channel != "comments" {
					t.Fatalf("%s got the comment on %q", c.c.name, ev.Channel)
				}
			}
			var texts []string
			cursor := ""
			for range 5 {
				var page struct {
					Comments   []wireComment
					NextCursor string
				}
				decodeInto(t, alice.ack("comment.list", with(map[string]any{"limit": 2, "cursor": cursor})), &page)
				for _, c := range page.Comments {
					texts = append(texts, c.Text)
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			if want := []string{"ส่งด่วน", "Call first", "Check the address"}; !slices.Equal(texts, want) {
				t.Fatalf("comments newest first = %v, want %v", texts, want)
			}
			var res struct{ Comment wireComment }
			// Alice wrote the comment: she may resolve it (bob may not; see
			// TestOwnershipRules).
			decodeInto(t, alice.ack("comment.resolve", with(map[string]any{"commentId": first.ID})), &res)
			if !res.Comment.Resolved {
				t.Fatalf("resolve: %+v", res)
			}
			bob.refused("comment.resolve", with(map[string]any{"commentId": "0000000000000-none"}), "NOT_FOUND")
			alice.event("resolved comment", func(f frame) bool {
				return f.Type == "comment" && strings.Contains(string(f.Payload), `"action":"resolved"`)
			})
		})
	}
}

// TestCommentVersions: a comment is version 1 when added, and each resolve
// and reopen gives it the next version, in the ack, in the comment event
// every subscriber gets and in comment.list. The version is the server's:
// one a request carries is ignored.
func TestCommentVersions(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice, bob := edT{t, edDial(t, srv, "alice")}, edT{t, edDial(t, srv, "bob")}
			bob.subscribe("order:8")
			type wireComment struct {
				ID       string
				Resolved bool
				Version  json.Number
			}
			// event waits for bob's comment event of action, and returns its comment.
			event := func(action string) wireComment {
				t.Helper()
				var ev struct {
					Action  string
					Comment wireComment
				}
				bob.event(action, func(f frame) bool {
					return f.Type == "comment" && decodeExact(f.Payload, &ev) == nil && ev.Action == action
				})
				return ev.Comment
			}
			var r struct{ Comment wireComment }
			decodeInto(t, alice.bad().ack("comment.add", map[string]any{"entityType": "order", "entityId": "8",
				"text": "Check the address", "version": 7}), &r)
			id := r.Comment.ID
			if r.Comment.Version != "1" {
				t.Fatalf("comment.add ack: version %q, want 1", r.Comment.Version)
			}
			if ev := event("added"); ev.ID != id || ev.Version != "1" {
				t.Fatalf("added event: %+v, want version 1", ev)
			}
			for _, step := range []struct {
				resolved bool
				action   string
				version  json.Number
			}{{true, "resolved", "2"}, {false, "reopened", "3"}} {
				decodeInto(t, alice.bad().ack("comment.resolve", map[string]any{"entityType": "order", "entityId": "8",
					"commentId": id, "resolved": step.resolved, "version": 99}), &r)
				if r.Comment.Resolved != step.resolved || r.Comment.Version != step.version {
					t.Fatalf("comment.resolve %v ack: %+v, want version %s", step.resolved, r.Comment, step.version)
				}
				if ev := event(step.action); ev.ID != id || ev.Resolved != step.resolved || ev.Version != step.version {
					t.Fatalf("%s event: %+v, want version %s", step.action, ev, step.version)
				}
			}
			var page struct {
				Comments []wireComment
			}
			decodeInto(t, bob.ack("comment.list", map[string]any{"entityType": "order", "entityId": "8"}), &page)
			if len(page.Comments) != 1 || page.Comments[0].Version != "3" || page.Comments[0].Resolved {
				t.Fatalf("comment.list: %+v, want the reopened comment at version 3", page.Comments)
			}
		})
	}
}
