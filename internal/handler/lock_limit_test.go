package handler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
)

// lockFrame is a lock request of type typ on order id.
func lockFrame(typ, id string) string {
	return fmt.Sprintf(`{"type":%q,"messageId":"%s-%s","payload":{"entityType":"order","entityId":%q}}`, typ, typ, id, id)
}

// TestLockLimitPerConnection: a connection holds at most
// MaxLocksPerConnection live locks. Past it a new grant, or a renewal
// that would move the user's lock from another of their connections to
// this one, is refused with TOO_MANY_LOCKS (not retryable); renewing a
// lock the connection holds works at the bound; releasing one frees a
// place; another connection of the same user has its own count.
func TestLockLimitPerConnection(t *testing.T) {
	ann := map[string]string{"userId": "ann", "tenant": "t1", "role": "editor"}
	send := connectAll(t, handler.Config{MaxLocksPerConnection: 3}, nil, map[string]map[string]string{
		"Ann1=": ann, "Ann2=": ann, "Bob=": {"userId": "bob", "tenant": "t1", "role": "editor"},
	})
	expect := func(conn, typ, id, want string) {
		t.Helper()
		if b := send(conn, lockFrame(typ, id)); !strings.Contains(b, want) {
			t.Fatalf("%s %s order:%s: %s, want %s", conn, typ, id, b, want)
		}
	}
	const (
		ack     = `"type":"ack"`
		tooMany = `{"code":"TOO_MANY_LOCKS","message":"at most 3 locks per connection","retryable":false}`
	)
	for _, id := range []string{"1", "2", "3"} {
		expect("Ann1=", "lock.acquire", id, ack)
	}
	expect("Ann1=", "lock.acquire", "4", tooMany)
	// Renewals of the connection's own locks at the bound.
	expect("Ann1=", "lock.acquire", "1", `"renewed":true`)
	expect("Ann1=", "lock.renew", "2", ack)
	// Requests refused anyway keep their own answers.
	expect("Ann1=", "lock.renew", "9", "NOT_LOCK_HOLDER")
	expect("Bob=", "lock.acquire", "5", ack)
	expect("Ann1=", "lock.acquire", "5", "LOCK_HELD")

	// The same user's other connection counts its own locks.
	for _, id := range []string{"4", "6", "7"} {
		expect("Ann2=", "lock.acquire", id, ack)
	}
	expect("Ann2=", "lock.acquire", "8", tooMany)
	// Moving a lock of Ann1 to the full Ann2 is a lock more for Ann2.
	expect("Ann2=", "lock.acquire", "1", tooMany)
	expect("Ann2=", "lock.renew", "1", tooMany)
	expect("Ann1=", "lock.renew", "1", ack) // still Ann1's

	// A release frees a place, for one grant.
	expect("Ann1=", "lock.release", "3", ack)
	expect("Ann1=", "lock.acquire", "8", ack)
	expect("Ann1=", "lock.acquire", "10", tooMany)
	// Ann2 freed one: Ann1's lock may move there, which frees one in Ann1.
	expect("Ann2=", "lock.release", "7", ack)
	expect("Ann2=", "lock.renew", "1", ack)
	expect("Ann1=", "lock.acquire", "10", ack)
}

// TestLockLimitDefault: without MaxLocksPerConnection a connection holds
// at most 20 locks.
func TestLockLimitDefault(t *testing.T) {
	send := connectAll(t, handler.Config{}, nil, map[string]map[string]string{"Ann=": {"userId": "ann", "tenant": "t1", "role": "editor"}})
	for i := range 20 {
		if b := send("Ann=", lockFrame("lock.acquire", fmt.Sprint(i))); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("lock %d: %s", i, b)
		}
	}
	if b := send("Ann=", lockFrame("lock.acquire", "20")); !strings.Contains(b, `"at most 20 locks per connection"`) {
		t.Fatalf("21st lock: %s, want TOO_MANY_LOCKS", b)
	}
}
