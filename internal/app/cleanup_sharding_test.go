package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// The functions that announce what a removed connection leaves ($connect
// at the per-user limit, $disconnect, the sweeper) make up to 23
// broadcasts per connection (a leave in each of 20 rooms, offline, a lock
// release on two channels), and $connect removes up to 5 connections in
// one step. Posting the first shard of each broadcast themselves, as the
// message function does, took them far past their time (one connection in
// 20 rooms of 1,000: 20,000 posts, 19 s at the delivery budget of 1,000/s;
// $connect has 10 s). The template gives them FANOUT_INLINE_MAX: each posts
// to at most that many recipients of a broadcast itself and hands the rest
// to the fan-out function. internal/deploy's
// TestFanoutShardSizeFitsTheTimeouts checks that the template's values fit
// the budget; these tests check that the functions, built as their mains
// build them, keep to the bound and still reach every subscriber once.

// annAuth authenticates every $connect as ann of tenant t, an editor.
type annAuth struct{}

func (annAuth) Authenticate(context.Context, events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	return auth.Identity{UserID: "ann", Tenant: "t", Roles: []string{"editor"}}, nil
}

// buildCleanup builds a handler as functions/connect, functions/disconnect
// and functions/sweeper do (Lambda.ShardingPosters), with the fan-out
// settings the template gives them and FANOUT_INLINE_MAX inline. The
// delivery budget is raised so that setting up is quick: whether the
// bound fits the template's budget is internal/deploy's to check.
func (a *shardingAPIs) buildCleanup(t *testing.T, st store.Store, clock store.Clock, inline string) *Built {
	t.Helper()
	b, _ := a.buildWith(t, st, clock, annAuth{}, map[string]string{"FANOUT_INLINE_MAX": inline, "MAX_CONNECTIONS_PER_USER": "5"})
	return b
}

// requestIDs numbers the events of wsEvent.
var requestIDs atomic.Int64

// wsEvent is an API Gateway event of connection conn.
func wsEvent(conn, route, body string) events.APIGatewayWebsocketProxyRequest {
	typ := map[string]string{"$connect": "CONNECT", "$disconnect": "DISCONNECT"}[route]
	if typ == "" {
		typ = "MESSAGE"
	}
	return events.APIGatewayWebsocketProxyRequest{Body: body, RequestContext: events.APIGatewayWebsocketProxyRequestContext{
		ConnectionID: conn, RequestID: fmt.Sprintf("req-%d", requestIDs.Add(1)), RouteKey: route, EventType: typ, Stage: "prod"}}
}

// cleanupRooms are the rooms a connection may be in at most (the presence
// MaxRooms default).
const cleanupRooms = 20

// joinAndLock connects conn as ann, joins it to every room of
// cleanupRooms and has it lock order entity.
func joinAndLock(t *testing.T, b *Built, conn, entity string) {
	t.Helper()
	ctx := context.Background()
	if resp, _ := b.Handler.Connect(ctx, wsEvent(conn, "$connect", "")); resp.StatusCode != http.StatusOK {
		t.Fatalf("connect %s: %d %s", conn, resp.StatusCode, resp.Body)
	}
	for r := range cleanupRooms {
		body := fmt.Sprintf(`{"type":"room.join","messageId":"j%d","payload":{"room":"r%d"}}`, r, r)
		if resp, _ := b.Handler.Message(ctx, wsEvent(conn, "$default", body)); !strings.Contains(resp.Body, `"ack"`) {
			t.Fatalf("%s joins r%d: %s", conn, r, resp.Body)
		}
	}
	body := `{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"` + entity + `"}}`
	if resp, _ := b.Handler.Message(ctx, wsEvent(conn, "$default", body)); !strings.Contains(resp.Body, `"ack"`) {
		t.Fatalf("%s locks order %s: %s", conn, entity, resp.Body)
	}
}

// watch subscribes watchers to every room (perRoom each) and to
// edit-locks, and returns how many watch each channel.
func watch(t *testing.T, st store.Store, now time.Time, perRoom, locks int) map[string]int {
	t.Helper()
	watchers := map[string]int{protocol.ChannelLocks: locks}
	subscribeMany(t, st, now, protocol.ChannelLocks, locks)
	for r := range cleanupRooms {
		ch := protocol.RoomChannel(fmt.Sprintf("r%d", r))
		subscribeMany(t, st, now, ch, perRoom)
		watchers[ch] = perRoom
	}
	return watchers
}

// checkCleanupFrames fails unless every frame the APIs recorded reached
// each watcher of its channel exactly once, no recipient twice, with at
// most inline posted by the invocation itself; and unless the frames
// include a leave in every room and wantLocks lock events on edit-locks.
func checkCleanupFrames(t *testing.T, what string, a *shardingAPIs, watchers map[string]int, inline, wantLocks int) {
	t.Helper()
	frames, own := a.takeFrames()
	perChannel := map[string]int{}
	for frame, rcpts := range frames {
		var env struct {
			Channel string `json:"channel"`
		}
		if err := json.Unmarshal([]byte(frame), &env); err != nil {
			t.Fatalf("%s: frame %q: %v", what, frame, err)
		}
		perChannel[env.Channel]++
		if own[frame] > inline {
			t.Errorf("%s: the invocation posted a broadcast on %s to %d of its %d recipients itself, want at most %d (FANOUT_INLINE_MAX)",
				what, env.Channel, own[frame], len(rcpts), inline)
		}
		reached := 0
		for id, k := range rcpts {
			if k != 1 {
				t.Errorf("%s: %s got a broadcast on %s %d times", what, id, env.Channel, k)
			}
			if strings.HasPrefix(id, "Conn") {
				reached++
			}
		}
		if n, ok := watchers[env.Channel]; ok && reached != n {
			t.Errorf("%s: a broadcast on %s reached %d of its %d watchers", what, env.Channel, reached, n)
		}
	}
	t.Logf("%s: broadcasts per channel %v; the invocation's own posts %d", what, perChannel, sumValues(own))
	for ch := range watchers {
		if strings.HasPrefix(ch, "room:") && perChannel[ch] == 0 {
			t.Errorf("%s: no broadcast on %s; frames per channel: %v", what, ch, perChannel)
		}
	}
	if perChannel[protocol.ChannelLocks] != wantLocks {
		t.Errorf("%s: %d broadcasts on %s, want %d; frames per channel: %v", what, perChannel[protocol.ChannelLocks], protocol.ChannelLocks, wantLocks, perChannel)
	}
}

// TestConnectCleanupPostsFewOfEachBroadcast: ann is at her limit of 5
// connections, all gone without $disconnect, each in 20 rooms of 30
// watchers and holding a lock that 2,500 connections watch on edit-locks.
// Her next $connect removes all 5 and announces what they leave, about a
// hundred broadcasts: built as functions/connect builds it, with the
// template's FANOUT_INLINE_MAX (4), it posts to at most 4 recipients of
// each itself, and every watcher still gets each broadcast once. (The
// connect function posted every broadcast whole itself: 5 x 2,500 lock
// releases and 5 x 20 x 30 room leaves, past its 10 s at the delivery
// budget for a larger edit-locks.)
func TestConnectCleanupPostsFewOfEachBroadcast(t *testing.T) {
	a := newShardingAPIs(t)
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(clock.Now)
	watchers := watch(t, st, clock.Now(), 30, 2500)
	setup := a.buildCleanup(t, st, clock.Now, "4")
	const gone = 5
	for i := range gone {
		joinAndLock(t, setup, fmt.Sprintf("Gone%d=", i), fmt.Sprintf("o%d", i))
	}
	a.mu.Lock()
	for i := range gone {
		a.gone[fmt.Sprintf("Gone%d=", i)] = true
	}
	a.mu.Unlock()
	a.takeFrames()

	connect := a.buildCleanup(t, st, clock.Now, "4") // functions/connect: FANOUT_INLINE_MAX 4
	if resp, _ := connect.Handler.Connect(context.Background(), wsEvent("NewConn=", "$connect", "")); resp.StatusCode != http.StatusOK {
		t.Fatalf("ann's new connection: %d %s", resp.StatusCode, resp.Body)
	}
	checkCleanupFrames(t, "$connect", a, watchers, 4, gone)
}

// TestDisconnectAndSweeperPostFewOfEachBroadcast: a connection in 20
// rooms of 60 watchers, holding a lock watched by 1,500 on edit-locks,
// closes ($disconnect) or goes away unannounced and expires (the
// sweeper). Built as their mains build them, with the template's
// FANOUT_INLINE_MAX (20), each function posts to at most 20 recipients of
// a broadcast itself and hands the rest to the fan-out function; every
// watcher gets each leave and the release once. (They posted the first
// shard of each broadcast, up to 1,000, themselves: a sweeper step for a
// session in 20 rooms of 1,000 took 19 s, past the 10 s a pass keeps for
// its last step, and the leaves not posted by the end were lost.)
func TestDisconnectAndSweeperPostFewOfEachBroadcast(t *testing.T) {
	for _, fn := range []string{"$disconnect", "sweeper"} {
		t.Run(fn, func(t *testing.T) {
			a := newShardingAPIs(t)
			clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			st := memory.New(clock.Now)
			watchers := watch(t, st, clock.Now(), 60, 1500)
			joinAndLock(t, a.buildCleanup(t, st, clock.Now, "20"), "AnnConn=", "o1")
			a.takeFrames()

			b := a.buildCleanup(t, st, clock.Now, "20") // functions/disconnect, functions/sweeper: FANOUT_INLINE_MAX 20
			ctx := context.Background()
			if fn == "$disconnect" {
				if resp, err := b.Handler.Disconnect(ctx, wsEvent("AnnConn=", "$disconnect", "")); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("disconnect: %v %d", err, resp.StatusCode)
				}
			} else {
				a.mu.Lock()
				a.gone["AnnConn="] = true
				a.mu.Unlock()
				clock.Advance(10 * time.Minute) // past the offline timeout
				if err := b.Handler.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
			}
			checkCleanupFrames(t, fn, a, watchers, 20, 1)
		})
	}
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
