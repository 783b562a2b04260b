package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// disconnectBeforeSessionWrite is the store of the instance handling a
// frame: just before the first session write that match accepts it runs
// between (the same connection's $disconnect on another instance, which
// API Gateway runs in parallel with the connection's last frames), after
// the frame has read the connection and its sessions.
type disconnectBeforeSessionWrite struct {
	store.Store
	mu      sync.Mutex
	match   func(store.SessionWrite) bool // nil: disarmed
	between func()
}

func (s *disconnectBeforeSessionWrite) PutSession(ctx context.Context, w store.SessionWrite) (store.Session, error) {
	s.mu.Lock()
	run := s.match != nil && s.match(w)
	if run {
		s.match = nil
	}
	s.mu.Unlock()
	if run {
		s.between()
	}
	return s.Store.PutSession(ctx, w)
}

// presenceRace is two handler instances on one memory store and one
// poster: racing handles frames, and its store runs other's $disconnect
// of conn before the session write once armed.
type presenceRace struct {
	racing, other *handler.Handler
	mem           *memory.Store
	poster        *fuzzPoster
	ws            *disconnectBeforeSessionWrite
}

func newPresenceRace(t *testing.T, conn string, q map[string]string) *presenceRace {
	t.Helper()
	r := &presenceRace{mem: memory.New(nil), poster: &fuzzPoster{}}
	deps := func(st store.Store) handler.Deps {
		return handler.Deps{Store: st, Posters: func(string) broadcast.Poster { return r.poster },
			IsGone: func(error) bool { return false }, Auth: fuzzAuth{}, Logger: slog.New(slog.DiscardHandler)}
	}
	var err error
	if r.other, err = handler.New(handler.Config{}, deps(r.mem)); err != nil {
		t.Fatal(err)
	}
	r.ws = &disconnectBeforeSessionWrite{Store: r.mem}
	if r.racing, err = handler.New(handler.Config{}, deps(r.ws)); err != nil {
		t.Fatal(err)
	}
	if resp, _ := r.other.Connect(context.Background(), fuzzEvent(conn, "", q)); resp.StatusCode != http.StatusOK {
		t.Fatalf("connect %s: %d", conn, resp.StatusCode)
	}
	return r
}

// arm makes the next session write of racing that match accepts run
// $disconnect of conn first.
func (r *presenceRace) arm(t *testing.T, conn string, q map[string]string, match func(store.SessionWrite) bool) {
	r.ws.mu.Lock()
	defer r.ws.mu.Unlock()
	r.ws.match = match
	r.ws.between = func() {
		if resp, _ := r.other.Disconnect(context.Background(), fuzzEvent(conn, "", q)); resp.StatusCode != http.StatusOK {
			t.Errorf("disconnect %s: %d", conn, resp.StatusCode)
		}
	}
}

// send sends a frame of conn through h and returns the reply body.
func send(t *testing.T, h *handler.Handler, conn, body string, q map[string]string) string {
	t.Helper()
	resp, err := h.Message(context.Background(), fuzzEvent(conn, body, q))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Body
}

// userEvents returns the user-presence events posted about user, in
// order ("online", "away", "offline").
func (r *presenceRace) userEvents(t *testing.T, user string) []string {
	t.Helper()
	r.poster.mu.Lock()
	defer r.poster.mu.Unlock()
	var out []string
	for _, f := range r.poster.frames {
		var ev struct {
			Type, Channel string
			Payload       struct {
				Event string
				User  struct{ UserID string }
			}
		}
		if json.Unmarshal(f, &ev) == nil && ev.Type == "presence" && ev.Channel == "user-presence" && ev.Payload.User.UserID == user {
			out = append(out, ev.Payload.Event)
		}
	}
	return out
}

// TestPresenceWriteRacingDisconnect: a frame of a connection reads the
// connection and its user's sessions; the connection's $disconnect runs
// to the end on another instance; then the frame writes the session. The
// write must not bring back a session for the gone connection: the user
// would be listed and announced online after the offline event, until
// the sweeper expired the session 90 s later and announced the departure
// again.
func TestPresenceWriteRacingDisconnect(t *testing.T) {
	alice := map[string]string{"userId": "alice", "tenant": "acme", "role": "admin"}
	bob := map[string]string{"userId": "bob", "tenant": "acme", "role": "admin"}
	anyWrite := func(store.SessionWrite) bool { return true }
	joinsLobby := func(w store.SessionWrite) bool { return slices.Contains(w.Session.Rooms, "lobby") }
	tests := []struct {
		name  string
		setup string // a frame sent before the race; "" for none
		frame string // the frame racing $disconnect
		race  func(store.SessionWrite) bool
		// wantReply is in the reply to frame: the route's refusal, or
		// its own answer when presence bookkeeping is a side effect.
		wantReply string
	}{
		// The frame's presence refresh finds no session: the write would
		// create one.
		{"first frame", "", `{"type":"ping","messageId":"m1"}`, anyWrite, `"pong"`},
		// The write entering the room finds the session it read removed
		// by $disconnect; read again, there is none: it would create one.
		{"room.join", "", `{"type":"room.join","messageId":"m1","payload":{"room":"lobby"}}`, joinsLobby, `"UNAUTHORIZED"`},
		{"presence over an existing session", `{"type":"room.join","messageId":"m0","payload":{"room":"lobby"}}`,
			`{"type":"presence","messageId":"m1","payload":{"activity":"editing order 1"}}`, anyWrite, `"UNAUTHORIZED"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPresenceRace(t, "alice-1", alice)
			if resp, _ := r.other.Connect(context.Background(), fuzzEvent("bob-1", "", bob)); resp.StatusCode != http.StatusOK {
				t.Fatalf("connect bob: %d", resp.StatusCode)
			}
			if b := send(t, r.other, "bob-1", `{"type":"subscribe","channel":"user-presence","messageId":"s"}`, bob); !strings.Contains(b, `"ack"`) {
				t.Fatalf("bob subscribe: %s", b)
			}
			if tt.setup != "" {
				if b := send(t, r.racing, "alice-1", tt.setup, alice); !strings.Contains(b, `"ack"`) {
					t.Fatalf("setup: %s", b)
				}
			}
			r.arm(t, "alice-1", alice, tt.race)
			reply := send(t, r.racing, "alice-1", tt.frame, alice)
			if !strings.Contains(reply, tt.wantReply) {
				t.Errorf("reply %.300s; want %s", reply, tt.wantReply)
			}
			ctx := context.Background()
			if _, err := r.mem.GetConnection(ctx, "alice-1"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the racing $disconnect did not run: connection lookup = %v", err)
			}
			if ses, err := r.mem.UserSessions(ctx, "acme", "alice"); err != nil || len(ses) != 0 {
				t.Errorf("sessions of alice after her only connection's $disconnect = %+v, %v; want none", ses, err)
			}
			if got, _, err := r.mem.ListPresence(ctx, "acme", "lobby", store.Page{}); err != nil || len(got) != 0 {
				t.Errorf("lobby lists %+v, %v after the $disconnect; want nobody", got, err)
			}
			if ev := r.userEvents(t, "alice"); len(ev) > 0 && ev[len(ev)-1] != "offline" {
				t.Errorf("user-presence events about alice: %v; the last must be offline", ev)
			}
		})
	}
}
