package handler_test

import (
	"context"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// TestHiddenUserStaysHiddenAfterASilentSpell: dave appears offline
// (hidden) in lobby; his laptop sleeps past the offline timeout with the
// socket open, and his session expires. When his tab spoke again, the
// session written anew started online: bob, who never saw him, was told
// that dave came online and joined lobby. The new session keeps the
// hidden status the connection's record holds, whether the sweeper
// claimed the expired session first or the tab's own frame did.
func TestHiddenUserStaysHiddenAfterASilentSpell(t *testing.T) {
	for _, sweep := range []bool{true, false} {
		name := "claimed by the tab's frame"
		if sweep {
			name = "claimed by the sweeper"
		}
		t.Run(name, func(t *testing.T) {
			sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
				e := newSweepEnv(t, clock, st, "bob", "dave")
				e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
				e.join("bob", "lobby")
				e.ok("dave", `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`)
				e.join("dave", "lobby")
				e.idle(4, []string{"bob"}, nil) // dave is silent for 2 minutes
				if sweep {
					if err := e.h.Sweep(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				e.ok("dave", `{"type":"ping","messageId":"p"}`)
				reply := e.send("dave", `{"type":"presence","messageId":"a","payload":{"active":true}}`)
				snap := e.send("bob", `{"type":"presence.snapshot","messageId":"s","payload":{"room":"lobby"}}`)
				statuses := e.poster.statuses("bob", "dave")
				lobby := e.poster.events("bob", "room:lobby", "dave")
				t.Logf("bob got %v and lobby events %v about dave; dave's reply %s; lobby %s", statuses, lobby, reply, snap)
				if len(statuses) > 0 || len(lobby) > 0 || strings.Contains(snap, `"dave"`) {
					t.Errorf("hidden dave was shown to bob after his tab woke: user-presence %v, lobby %v, snapshot %s", statuses, lobby, snap)
				}
				if !strings.Contains(reply, `"status":"offline"`) || !strings.Contains(reply, `"rooms":["lobby"]`) {
					t.Errorf("dave's presence after his tab woke: %s; want status offline in lobby", reply)
				}
			})
		})
	}
}
