package handler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// TestLockReleaseSentAgain: a client that lost its connection sends its
// unanswered lock.release again, with the same messageId, after the first
// one landed. It used to be answered NOT_LOCK_HOLDER, for a release that
// succeeded. A release is idempotent for the holder: when the lock is gone
// and the entity's last grant went to the caller, the answer is the
// release's (released, the lock as granted), from any of the caller's
// connections, and nothing is announced again; so is a release of the
// caller's lock that expired, before and after the sweeper removes it.
// While another user holds the lock, or when the last grant went to
// another user, it is still NOT_LOCK_HOLDER.
func TestLockReleaseSentAgain(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "ann=a", "ann=b", "bob")
		e.ok("bob", `{"type":"subscribe","channel":"edit-locks","messageId":"s1"}`)
		frame := func(typ, id, extra string) string {
			return fmt.Sprintf(`{"type":%q,"messageId":"%s-%s","payload":{"entityType":"order","entityId":%q%s}}`, typ, typ, id, id, extra)
		}
		expect := func(conn, body string, want ...string) {
			t.Helper()
			b := e.send(conn, body)
			for _, w := range want {
				if !strings.Contains(b, w) {
					t.Fatalf("%s %s: %s, want %s", conn, body, b, w)
				}
			}
		}
		const (
			released  = `"released":true`
			notHolder = `"code":"NOT_LOCK_HOLDER"`
		)

		e.ok("ann=a", frame("lock.acquire", "1", ""))
		expect("ann=a", frame("lock.release", "1", ""), released, `"lockedBy":"ann"`, `"fencingToken":1`)
		expect("ann=a", frame("lock.release", "1", ""), released, `"lockedBy":"ann"`, `"fencingToken":1`)
		expect("ann=b", frame("lock.release", "1", ""), released, `"fencingToken":1`)
		if got := e.poster.lockEvents("bob", "edit-locks"); len(got) != 2 || got[1].Action != "released" {
			t.Fatalf("bob got lock events %+v, want acquired and one released", got)
		}

		// Bob holds it now: ann's resend is refused, naming him.
		e.ok("bob", frame("lock.acquire", "1", ""))
		expect("ann=a", frame("lock.release", "1", ""), notHolder, `"lockedBy":"bob"`)
		// Bob released it: the last grant was his, not ann's.
		e.ok("bob", frame("lock.release", "1", ""))
		expect("bob", frame("lock.release", "1", ""), released, `"lockedBy":"bob"`, `"fencingToken":2`)
		expect("ann=a", frame("lock.release", "1", ""), notHolder)

		// Ann's lock on order 2 expires: still stored, then swept.
		e.ok("ann=a", frame("lock.acquire", "2", `,"ttl":1000`))
		clock.Advance(2 * time.Second)
		expect("ann=b", frame("lock.release", "2", ""), released, `"lockedBy":"ann"`)
		if err := e.h.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		expect("ann=b", frame("lock.release", "2", ""), released, `"lockedBy":"ann"`)
		// Bob's lock on order 3 expires: ann is not its holder.
		e.ok("bob", frame("lock.acquire", "3", `,"ttl":1000`))
		clock.Advance(2 * time.Second)
		expect("ann=a", frame("lock.release", "3", ""), notHolder)

		// An entity never locked.
		expect("ann=a", frame("lock.release", "4", ""), notHolder)
	})
}
