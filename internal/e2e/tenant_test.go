package e2e_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/store"
)

// subscribers lists the connection ids subscribed to channel in tenant,
// read from the store behind the server.
func subscribers(t *testing.T, srv *devserver.Server, tenant, channel string) []string {
	t.Helper()
	ids, _, err := srv.Built.Store.Subscribers(context.Background(), tenant, channel, store.Page{})
	if err != nil {
		t.Fatalf("subscribers %s/%s: %v", tenant, channel, err)
	}
	slices.Sort(ids)
	return ids
}

func wantSubscribers(t *testing.T, srv *devserver.Server, tenant, channel string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := subscribers(t, srv, tenant, channel); !slices.Equal(got, want) {
		t.Fatalf("subscribers of %s/%s = %v, want %v", tenant, channel, got, want)
	}
}

func wantCode(t *testing.T, f frame, code string) {
	t.Helper()
	if f.Type != "error" || f.code() != code {
		t.Fatalf("got %s %s %s, want error %s", f.Type, f.code(), f.Payload, code)
	}
}

// TestTenantSubscribe: a client of tenant A cannot subscribe to anything of
// tenant B. Channel names cannot carry a key separator, a channel that
// names B is just a channel of A, and a tenant claimed in the frame is
// ignored: every subscription lands in the subscriber's own tenant.
func TestTenantSubscribe(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice, bob := devDial(t, srv, "alice", "tenant-a"), devDial(t, srv, "bob", "tenant-b")
			aliceID, bobID := alice.hello().ConnectionID, bob.hello().ConnectionID
			bob.mustAck("subscribe", "order-updates", nil)
			bob.mustAck("subscribe", "order:1", nil)

			for _, ch := range []string{"tenant-b#order-updates", "CHAN#tenant-b#order-updates", "order-updates#tenant-b", "tenant-b:order:1"} {
				wantCode(t, alice.bad().request("subscribe", ch, nil), "INVALID_CHANNEL")
			}
			alice.mustAck("subscribe", "tenant-b:order-updates", nil)
			f := alice.bad().requestExtra("subscribe", "order-updates", map[string]any{"tenant": "tenant-b"},
				map[string]any{"tenant": "tenant-b", "userId": "bob", "connectionId": bobID})
			if f.Type != "ack" {
				t.Fatalf("subscribe = %+v", f)
			}
			alice.mustAck("subscribe", "order:1", nil)

			wantSubscribers(t, srv, "tenant-b", "order-updates", bobID)
			wantSubscribers(t, srv, "tenant-b", "order:1", bobID)
			wantSubscribers(t, srv, "tenant-a", "order-updates", aliceID)
			wantSubscribers(t, srv, "tenant-a", "order:1", aliceID)
			wantSubscribers(t, srv, "tenant-a", "tenant-b:order-updates", aliceID)

			// Unsubscribing touches only the caller's own tenant.
			alice.mustAck("unsubscribe", "order-updates", nil)
			var u struct{ WasSubscribed bool }
			_ = json.Unmarshal(alice.mustAck("unsubscribe", "order:1", nil).Payload, &u)
			if !u.WasSubscribed {
				t.Fatalf("unsubscribe order:1: wasSubscribed false")
			}
			wantSubscribers(t, srv, "tenant-b", "order-updates", bobID)
			wantSubscribers(t, srv, "tenant-b", "order:1", bobID)
			bob.quiet()
		})
	}
}

// TestTenantPublish: a publish reaches only subscribers of the publisher's
// tenant, and its ack counts only them, so tenant A learns nothing of
// tenant B's subscribers.
func TestTenantPublish(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice, carol := devDial(t, srv, "alice", "tenant-a"), devDial(t, srv, "carol", "tenant-a")
			bob := devDial(t, srv, "bob", "tenant-b")
			for _, c := range []*client{alice, carol, bob} {
				c.mustAck("subscribe", "order-updates", nil)
			}
			carol.mustAck("subscribe", "order:7", nil)

			// Bob's publish reaches only Bob, its one subscriber in tenant-b.
			id := bob.bad().send("publish", "order-updates", map[string]any{"secret": "b"}, map[string]any{"tenant": "tenant-a"})
			if f := bob.next(); f.Type != "update" || f.MessageID != id || f.UserID != "bob" {
				t.Fatalf("bob got %+v, want his own update", f)
			}
			var res struct{ Recipients, Delivered int }
			ack := bob.next()
			_ = json.Unmarshal(ack.Payload, &res)
			if ack.Type != "ack" || res.Recipients != 1 || res.Delivered != 1 {
				t.Fatalf("bob's publish ack = %+v", ack)
			}
			alice.quiet()
			carol.quiet()

			// A channel named after tenant-a is still bob's own.
			bob.mustAck("publish", "tenant-a:order-updates", map[string]any{"secret": "b2"})
			bob.mustAck("publish", "order:7", map[string]any{"secret": "b3"})
			alice.quiet()
			carol.quiet()

			// Alice's publish reaches tenant-a only.
			id = alice.send("publish", "order-updates", map[string]any{"n": 1}, nil)
			if f := alice.next(); f.Type != "update" || f.MessageID != id {
				t.Fatalf("alice got %+v, want her own update", f)
			}
			if ack := alice.next(); ack.Type != "ack" || json.Unmarshal(ack.Payload, &res) != nil || res.Recipients != 2 {
				t.Fatalf("alice's publish ack = %+v", ack)
			}
			if f := carol.next(); f.Type != "update" || f.UserID != "alice" {
				t.Fatalf("carol got %+v", f)
			}
			bob.quiet()
		})
	}
}

// TestFrameCannotClaimIdentity: identity, tenant and roles come from the
// connection record written at $connect; members of a frame that claim
// another user, tenant, role or connection change nothing.
func TestFrameCannotClaimIdentity(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			viewer := devDial(t, srv, "vera", "tenant-a", "viewer")
			member := devDial(t, srv, "mo", "tenant-a", "member")
			admin := devDial(t, srv, "ada", "tenant-b", "admin")
			adminID := admin.hello().ConnectionID
			forged := map[string]any{"userId": "ada", "tenant": "tenant-b", "roles": []string{"admin"}, "connectionId": adminID, "username": "ADA"}

			f := viewer.bad().requestExtra("hello", "", forged, forged)
			var w whoami
			if err := json.Unmarshal(f.Payload, &w); err != nil || w.UserID != "vera" || w.Tenant != "tenant-a" || w.ConnectionID == adminID || slices.Contains(w.Roles, "admin") {
				t.Fatalf("hello with forged members = %s", f.Payload)
			}
			// A viewer may not publish, whatever roles the frame claims.
			wantCode(t, viewer.bad().requestExtra("publish", "order-updates", forged, forged), "FORBIDDEN")

			viewer.mustAck("subscribe", "order-updates", nil)
			admin.mustAck("subscribe", "order-updates", nil)
			id := member.bad().send("publish", "order-updates", map[string]any{"x": 1}, forged)
			if ack := member.next(); ack.Type != "ack" || ack.ReplyTo != id {
				t.Fatalf("publish = %+v", ack)
			}
			if u := viewer.next(); u.Type != "update" || u.UserID != "mo" {
				t.Fatalf("update = %+v, want it attributed to mo", u)
			}
			admin.quiet()
		})
	}
}

// callAck sends a request, skipping pushed frames, and requires an ack.
func (c *client) callAck(typ string, payload any) frame {
	c.t.Helper()
	f := c.callSkip(typ, "", payload)
	if f.Type != "ack" {
		c.t.Fatalf("%s %s: got %s %s %s", c.name, typ, f.Type, f.code(), f.Payload)
	}
	return f
}

// wantNoLeak fails when a frame sent to tenant A mentions a marker that
// only tenant B's data contains.
func wantNoLeak(t *testing.T, f frame, markers ...string) {
	t.Helper()
	for _, m := range markers {
		if strings.Contains(string(f.Payload), m) {
			t.Fatalf("tenant A saw tenant B's %q: %s", m, f.Payload)
		}
	}
}

// tenantPair dials bob in tenant-b, who creates state, and alice in
// tenant-a, who then tries to reach it. Both are editors.
func tenantPair(t *testing.T, srv *devserver.Server) (alice, bob *client) {
	t.Helper()
	return devDial(t, srv, "alice", "tenant-a", "editor"), devDial(t, srv, "bob", "tenant-b", "editor")
}

// eachTenantRun runs body on every checked backend with a new server and a
// client of each tenant (tenantPair), then checks the store's consistency.
func eachTenantRun(t *testing.T, body func(t *testing.T, srv *devserver.Server, alice, bob *client)) {
	for _, r := range checkedRuns(t) {
		t.Run(r.name, func(t *testing.T) {
			srv := r.start(t, gateway.Config{})
			alice, bob := tenantPair(t, srv)
			body(t, srv, alice, bob)
			r.check(t)
		})
	}
}

// TestTenantPresenceSnapshot: tenant A's snapshot of a room, or of the
// whole tenant, never lists tenant B's users, and A joining the room of
// the same name leaves B's room as it was.
func TestTenantPresenceSnapshot(t *testing.T) {
	eachTenantRun(t, func(t *testing.T, srv *devserver.Server, alice, bob *client) {
		ctx := context.Background()
		bob.callAck("room.join", map[string]any{"room": "dashboard", "activity": "secret-b activity"})
		before, _, err := srv.Built.Store.ListPresence(ctx, "tenant-b", "dashboard", store.Page{})
		if err != nil || len(before) != 1 {
			t.Fatalf("tenant-b room = %+v, %v", before, err)
		}

		for _, p := range []map[string]any{{"room": "dashboard"}, {}} {
			f := alice.callAck("presence.snapshot", p)
			var snap struct {
				UsersInRoom []struct{ UserID string }
				UserCount   int
			}
			if err := json.Unmarshal(f.Payload, &snap); err != nil {
				t.Fatal(err)
			}
			for _, u := range snap.UsersInRoom {
				if u.UserID == "bob" {
					t.Fatalf("snapshot %v lists tenant-b's bob: %s", p, f.Payload)
				}
			}
			wantNoLeak(t, f, "bob", "secret-b")
		}
		if f := alice.bad().callSkip("presence.snapshot", "", map[string]any{"room": "tenant-b#dashboard"}); f.Type != "error" {
			t.Fatalf("snapshot of a room named with a key separator: %+v", f)
		}

		alice.callAck("room.join", map[string]any{"room": "dashboard"})
		after, _, err := srv.Built.Store.ListPresence(ctx, "tenant-b", "dashboard", store.Page{})
		if err != nil || len(after) != 1 || after[0].UserID != "bob" {
			t.Fatalf("tenant-b room after alice joined = %+v, %v", after, err)
		}
		f := bob.callAck("presence.snapshot", map[string]any{"room": "dashboard"})
		if strings.Contains(string(f.Payload), "alice") {
			t.Fatalf("tenant-b's snapshot lists alice: %s", f.Payload)
		}
	})
}

// TestTenantLock: a lock is per tenant. Tenant A acquiring, renewing or
// releasing the lock of an entity that tenant B holds under the same name
// touches only A's own lock: B's holder and fencing token are unchanged,
// and A is never told B's lock is held.
func TestTenantLock(t *testing.T) {
	eachTenantRun(t, func(t *testing.T, srv *devserver.Server, alice, bob *client) {
		ctx := context.Background()
		ref := map[string]any{"entityType": "order", "entityId": "1"}
		bob.callAck("lock.acquire", ref)
		bKey := store.EntityKey{Tenant: "tenant-b", Type: "order", ID: "1"}
		held, err := srv.Built.Store.GetLock(ctx, bKey)
		if err != nil || held.Holder != "bob" {
			t.Fatalf("tenant-b lock = %+v, %v", held, err)
		}

		// Release and renew of a lock alice does not hold fail in her
		// own tenant; acquiring gives her her own lock.
		for _, typ := range []string{"lock.release", "lock.renew"} {
			if f := alice.callSkip(typ, "", ref); f.Type != "error" || f.code() == "LOCK_HELD" {
				t.Fatalf("%s of tenant-b's lock: %+v", typ, f)
			} else {
				wantNoLeak(t, f, "bob")
			}
		}
		f := alice.callAck("lock.acquire", ref)
		wantNoLeak(t, f, "bob")
		alice.callAck("lock.release", ref)

		after, err := srv.Built.Store.GetLock(ctx, bKey)
		if err != nil || after.Holder != held.Holder || after.Token != held.Token || after.ConnID != held.ConnID {
			t.Fatalf("tenant-b lock after alice's attempts = %+v, %v; was %+v", after, err, held)
		}
		bob.callAck("lock.release", ref) // still bob's to release
	})
}

// TestTenantChangeAndSync: tenant A's change to an entity named like one
// of tenant B's creates A's own entity and leaves B's version and document
// alone; A's sync and history never return B's changes.
func TestTenantChangeAndSync(t *testing.T) {
	eachTenantRun(t, func(t *testing.T, srv *devserver.Server, alice, bob *client) {
		ctx := context.Background()
		change := func(c *client, base int, value string) frame {
			return c.callAck("change", map[string]any{"entityType": "note", "entityId": "1", "baseVersion": base,
				"operation": "update", "path": "status", "after": value})
		}
		change(bob, 0, "secret-b-1")
		change(bob, 1, "secret-b-2")
		bKey := store.EntityKey{Tenant: "tenant-b", Type: "note", ID: "1"}
		head, err := srv.Built.Store.GetHead(ctx, bKey)
		if err != nil || head.Version != 2 {
			t.Fatalf("tenant-b head = %+v, %v", head, err)
		}

		// Sync and history of the name in tenant A see nothing of B.
		for _, typ := range []string{"sync", "history"} {
			f := alice.callSkip(typ, "", map[string]any{"entityType": "note", "entityId": "1"})
			if f.Type == "ack" {
				var v struct{ Version int64 }
				_ = json.Unmarshal(f.Payload, &v)
				if v.Version != 0 {
					t.Fatalf("%s in tenant-a reports version %d: %s", typ, v.Version, f.Payload)
				}
			}
			wantNoLeak(t, f, "secret-b", "bob")
		}
		// A change based on B's version is stale in A: A has no such version.
		if f := alice.callSkip("change", "", map[string]any{"entityType": "note", "entityId": "1", "baseVersion": 2,
			"operation": "update", "path": "status", "after": "from-a"}); f.Type == "ack" {
			var v struct{ Version int64 }
			_ = json.Unmarshal(f.Payload, &v)
			if v.Version != 1 {
				t.Fatalf("alice's change based on tenant-b's version: %s", f.Payload)
			}
		} else {
			wantNoLeak(t, f, "secret-b", "bob")
		}
		f := alice.callAck("sync", map[string]any{"entityType": "note", "entityId": "1"})
		wantNoLeak(t, f, "secret-b", "bob")

		after, err := srv.Built.Store.GetHead(ctx, bKey)
		if err != nil || after.Version != 2 || string(after.Doc) != string(head.Doc) {
			t.Fatalf("tenant-b head after alice's attempts = %+v, %v; was %+v", after, err, head)
		}
		f = bob.callAck("sync", map[string]any{"entityType": "note", "entityId": "1"})
		if !strings.Contains(string(f.Payload), "secret-b-2") || strings.Contains(string(f.Payload), "from-a") {
			t.Fatalf("tenant-b's sync = %s", f.Payload)
		}
	})
}

// TestTenantComment: tenant A lists no comments of tenant B's entity of the
// same name, cannot resolve, reopen or reply to B's comment by its id, and
// B's comment stays as it was.
func TestTenantComment(t *testing.T) {
	eachTenantRun(t, func(t *testing.T, srv *devserver.Server, alice, bob *client) {
		ctx := context.Background()
		ref := map[string]any{"entityType": "order", "entityId": "1"}
		f := bob.callAck("comment.add", map[string]any{"entityType": "order", "entityId": "1", "text": "secret-b comment"})
		var added struct {
			ID      string
			Comment struct{ ID string }
		}
		_ = json.Unmarshal(f.Payload, &added)
		id := added.ID
		if id == "" {
			id = added.Comment.ID
		}
		if id == "" {
			t.Fatalf("comment.add reply has no id: %s", f.Payload)
		}
		bKey := store.EntityKey{Tenant: "tenant-b", Type: "order", ID: "1"}

		wantNoLeak(t, alice.callAck("comment.list", ref), "secret-b", "bob", id)
		for _, resolved := range []bool{true, false} {
			f := alice.callSkip("comment.resolve", "", map[string]any{"entityType": "order", "entityId": "1", "commentId": id, "resolved": resolved})
			wantCode(t, f, "NOT_FOUND")
			wantNoLeak(t, f, "secret-b", "bob")
		}
		// Nor can alice reply to it.
		f = alice.callSkip("comment.add", "", map[string]any{"entityType": "order", "entityId": "1", "text": "from-a", "parentId": id})
		wantCode(t, f, "NOT_FOUND")
		wantNoLeak(t, f, "secret-b", "bob")

		c, err := srv.Built.Store.GetComment(ctx, bKey, id)
		if err != nil || c.Resolved || c.Text != "secret-b comment" {
			t.Fatalf("tenant-b comment after alice's attempts = %+v, %v", c, err)
		}
		if list, _, err := srv.Built.Store.ListComments(ctx, bKey, store.Page{}); err != nil || len(list) != 1 {
			t.Fatalf("tenant-b comments = %+v, %v", list, err)
		}
	})
}
