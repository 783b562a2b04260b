package handler_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// lastEvent returns the last presence event on channel about user that
// reached connection to (a zero one when none did).
func (p *sweepPoster) lastEvent(to, channel, user string) seenEvent {
	if evs := p.presenceEvents(to, channel, user); len(evs) > 0 {
		return evs[len(evs)-1]
	}
	return seenEvent{}
}

// sessionWrites counts the session writes of one instance.
type sessionWrites struct {
	store.Store
	n atomic.Int64
}

func (s *sessionWrites) PutSession(ctx context.Context, w store.SessionWrite) (store.Session, error) {
	s.n.Add(1)
	return s.Store.PutSession(ctx, w)
}

// count returns the number of posts so far.
func (p *sweepPoster) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.posts)
}

// TestPresenceRestatedThroughAnotherInstance: dave's frames reach two
// warm instances of the message function, A and B, each with its own
// copy of his session. He sets a value through A, another through B, and
// the first again through A. A's copy still held the first value, so the
// frame used to be taken as changing nothing: nothing was written, the
// store kept B's value, bob was never told, and A's reply showed a value
// no one else saw. The third frame is stored and announced; sent once
// more, it announces nothing. Heartbeat frames, which set nothing, still
// write nothing until the refresh is due.
func TestPresenceRestatedThroughAnotherInstance(t *testing.T) {
	presence := func(id, fields string) string {
		return `{"type":"presence","messageId":"` + id + `","payload":{` + fields + `}}`
	}
	tests := []struct {
		name                 string
		first, second, third string // through A, B and A
		reply                string // in A's reply to the third frame
		// check reports what differs from the third frame's value in
		// dave's stored session and in what bob was last told.
		check func(ses store.Session, bob *sweepPoster) string
	}{
		{"status", `"status":"away"`, `"status":"online"`, `"status":"away"`, `"status":"away"`,
			func(ses store.Session, bob *sweepPoster) string {
				st := bob.statuses("bob", "dave")
				ev := bob.lastEvent("bob", "room:lobby", "dave")
				if ses.Status != store.StatusAway || len(st) == 0 || st[len(st)-1] != store.StatusAway || ev.Event != "update" || ev.User.Status != store.StatusAway {
					return fmt.Sprintf("stored status %q; bob's user-presence events %v, last lobby event %+v", ses.Status, st, ev)
				}
				return ""
			}},
		{"location", `"location":{"page":"orders","section":"list"}`, `"location":{"page":"dashboard"}`,
			`"currentLocation":{"page":"orders","section":"list"}`, `"currentLocation":{"page":"orders","section":"list"}`,
			func(ses store.Session, bob *sweepPoster) string {
				ev := bob.lastEvent("bob", "room:lobby", "dave")
				if loc := ev.User.CurrentLocation; ses.Page != "orders" || ses.Section != "list" || ev.Event != "update" || loc.Page != "orders" || loc.Section != "list" {
					return fmt.Sprintf("stored location %q/%q; bob's last lobby event %+v", ses.Page, ses.Section, ev)
				}
				return ""
			}},
		{"activity", `"activity":"editing order 1"`, `"activity":"reviewing"`, `"activity":"editing order 1"`, `"activity":"editing order 1"`,
			func(ses store.Session, bob *sweepPoster) string {
				ev := bob.lastEvent("bob", "room:lobby", "dave")
				if ses.Activity != "editing order 1" || ev.Event != "update" || ev.User.Activity != "editing order 1" {
					return fmt.Sprintf("stored activity %q; bob's last lobby event %+v", ses.Activity, ev)
				}
				return ""
			}},
		// A room entered through A and left through B: A's copy still
		// lists it, and entering it again through A did nothing.
		{"room", `"room":"den"`, "", `"room":"den"`, `"rooms":["den","lobby"]`,
			func(ses store.Session, bob *sweepPoster) string {
				ev := bob.lastEvent("bob", "room:den", "dave")
				if !slices.Contains(ses.Rooms, "den") || ev.Event != "join" {
					return fmt.Sprintf("stored rooms %v; bob's last den event %+v", ses.Rooms, ev)
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
				writesA := &sessionWrites{Store: st}
				a := newSweepEnv(t, clock, writesA, "bob", "dave")
				b := newSweepEnvPosting(t, clock, st, handler.PresenceConfig{}, a.poster)
				a.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
				a.join("bob", "lobby")
				a.join("bob", "den")
				a.join("dave", "lobby")
				second := presence("m2", tt.second)
				if tt.second == "" {
					second = `{"type":"room.leave","messageId":"m2","payload":{"room":"den"}}`
				}
				for i, step := range []struct {
					via   *sweepEnv
					frame string
				}{{a, presence("m1", tt.first)}, {b, second}, {a, presence("m3", tt.third)}} {
					clock.Advance(time.Second)
					if i < 2 {
						step.via.ok("dave", step.frame)
						continue
					}
					if reply := step.via.send("dave", step.frame); !strings.Contains(reply, tt.reply) {
						t.Errorf("A's reply to the third frame: %s; want %s in it", reply, tt.reply)
					}
				}
				ctx := context.Background()
				ses, err := st.UserSessions(ctx, "t1", "dave")
				if err != nil || len(ses) != 1 {
					t.Fatalf("dave's sessions: %+v, %v; want one", ses, err)
				}
				if diff := tt.check(ses[0], a.poster); diff != "" {
					t.Errorf("after the third frame, through the instance whose copy held its value: %s", diff)
				}
				if tt.name == "room" {
					if chans, err := st.ChannelsOf(ctx, "dave"); err != nil || !slices.Contains(chans, "room:den") {
						t.Errorf("dave's channels %v, %v; want room:den among them", chans, err)
					}
				}
				// Sent again, the frame changes nothing: nothing is announced.
				posts := a.poster.count()
				clock.Advance(time.Second)
				a.ok("dave", presence("m4", tt.third))
				if n := a.poster.count() - posts; n != 0 {
					t.Errorf("the third frame sent again announced %d events; want none", n)
				}
				writes := writesA.n.Load()
				for _, hb := range []string{presence("h1", ""), presence("h2", `"active":true`)} {
					clock.Advance(time.Second)
					a.ok("dave", hb)
				}
				if n := writesA.n.Load() - writes; n != 0 {
					t.Errorf("two heartbeat presence frames wrote the session %d times; want none before the refresh is due", n)
				}
			})
		})
	}
}
