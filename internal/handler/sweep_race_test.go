package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/presence"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// sweepPoster records every post with its recipient.
type sweepPoster struct {
	mu    sync.Mutex
	posts []sweepPost
}

type sweepPost struct {
	to   string
	data []byte
}

func (p *sweepPoster) PostToConnection(_ context.Context, id string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.posts = append(p.posts, sweepPost{id, append([]byte(nil), data...)})
	return nil
}

// statuses returns, in order, the user-presence events about user that
// reached connection to.
func (p *sweepPoster) statuses(to, user string) []string {
	return p.events(to, "user-presence", user)
}

// events returns, in order, the kinds of the presence events on channel
// about user that reached connection to.
func (p *sweepPoster) events(to, channel, user string) []string {
	var out []string
	for _, ev := range p.presenceEvents(to, channel, user) {
		out = append(out, ev.Event)
	}
	return out
}

// seenEvent is the payload of a presence event as its recipient reads it.
type seenEvent struct {
	Event string        `json:"event"`
	User  presence.User `json:"user"`
}

// presenceEvents returns, in order, the presence events on channel about
// user that reached connection to.
func (p *sweepPoster) presenceEvents(to, channel, user string) []seenEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []seenEvent
	for _, po := range p.posts {
		if po.to != to {
			continue
		}
		var env struct {
			Channel string    `json:"channel"`
			Payload seenEvent `json:"payload"`
		}
		if json.Unmarshal(po.data, &env) != nil || env.Channel != channel || env.Payload.User.UserID != user {
			continue
		}
		out = append(out, env.Payload)
	}
	return out
}

// claimHookStore runs hook once, right after the first successful
// DeleteExpiredSession (the sweeper's claim), before the claimer goes on.
type claimHookStore struct {
	*memory.Store
	once sync.Once
	hook func()
}

func (s *claimHookStore) DeleteExpiredSession(ctx context.Context, ses store.Session, now time.Time) (bool, error) {
	ok, err := s.Store.DeleteExpiredSession(ctx, ses, now)
	if ok && s.hook != nil {
		s.once.Do(s.hook)
	}
	return ok, err
}

// TestSweeperClaimRacesLiveFrame: the sweeper claims dave's expired
// session; before it announces, dave's connection speaks again (another
// Lambda instance), writes a fresh session and announces "online". The
// sweeper's announcement then leaves the fresh session in the picture: the
// last status observers get about dave is "online", not "offline".
func TestSweeperClaimRacesLiveFrame(t *testing.T) {
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &claimHookStore{Store: memory.New(clock.Now)}
	poster := &sweepPoster{}
	deps := handler.Deps{Store: st, Clock: clock.Now,
		Posters: func(string) broadcast.Poster { return poster }, IsGone: func(error) bool { return false },
		Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg := handler.Config{ManagementEndpoint: "https://mgmt.example/prod"}
	hMsg, err := handler.New(cfg, deps) // the message function's instance
	if err != nil {
		t.Fatal(err)
	}
	hSweep, err := handler.New(cfg, deps) // the sweeper's instance
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := map[string]map[string]string{
		"BobConn=":  {"userId": "bob", "tenant": "t1", "role": "editor"},
		"DaveConn=": {"userId": "dave", "tenant": "t1", "role": "editor"},
	}
	send := func(conn, body string) string {
		t.Helper()
		resp, err := hMsg.Message(ctx, fuzzEvent(conn, body, q[conn]))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Body
	}
	for id := range q {
		if resp, _ := hMsg.Connect(ctx, fuzzEvent(id, "", q[id])); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d", id, resp.StatusCode)
		}
	}
	if b := send("BobConn=", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`); !strings.Contains(b, `"ack"`) {
		t.Fatalf("subscribe: %s", b)
	}
	send("BobConn=", `{"type":"ping","messageId":"p0"}`)
	if b := send("DaveConn=", `{"type":"room.join","messageId":"j1","payload":{"room":"lobby"}}`); !strings.Contains(b, `"ack"`) {
		t.Fatalf("join: %s", b)
	}
	for i := range 4 { // bob keeps pinging; dave is silent, his session expires
		clock.Advance(30 * time.Second)
		send("BobConn=", `{"type":"ping","messageId":"p`+string(rune('1'+i))+`"}`)
	}
	// Dave's frame arrives (served by the message instance) right after the
	// sweeper's claim, before the sweeper announces.
	st.hook = func() { send("DaveConn=", `{"type":"ping","messageId":"d1"}`) }
	if err := hSweep.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	live, err := st.UserSessions(ctx, "t1", "dave")
	if err != nil {
		t.Fatal(err)
	}
	got := poster.statuses("BobConn=", "dave")
	t.Logf("dave's live sessions: %d; user-presence events bob got about dave: %v", len(live), got)
	if len(live) == 1 && (len(got) == 0 || got[len(got)-1] != "online") {
		t.Errorf("dave has a live session, but the last status bob received is %v (want online)", got)
	}
}

// TestSweepRemovedMetric: a pass that removes an expired
// session (and its room entry and away alarm) and an expired lock reports
// them in the SweepRemoved metric that the dashboard's "Sweeper" widget
// charts as "items removed".
func TestSweepRemovedMetric(t *testing.T) {
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(clock.Now)
	var metricsOut bytes.Buffer
	h, err := handler.New(handler.Config{ManagementEndpoint: "https://mgmt.example/prod"}, handler.Deps{Store: st, Clock: clock.Now,
		Posters: func(string) broadcast.Poster { return &sweepPoster{} }, IsGone: func(error) bool { return false },
		Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: &metricsOut})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := map[string]string{"userId": "dave", "tenant": "t1", "role": "editor"}
	if resp, _ := h.Connect(ctx, fuzzEvent("DaveConn=", "", q)); resp.StatusCode != 200 {
		t.Fatalf("connect: %d", resp.StatusCode)
	}
	for _, body := range []string{
		`{"type":"room.join","messageId":"j1","payload":{"room":"lobby"}}`,
		`{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"o1","ttl":1000}}`,
	} {
		resp, _ := h.Message(ctx, fuzzEvent("DaveConn=", body, q))
		if !strings.Contains(resp.Body, `"ack"`) {
			t.Fatalf("%s: %s", body, resp.Body)
		}
	}
	clock.Advance(2 * time.Minute)
	metricsOut.Reset()
	if err := h.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if ss, _ := st.UserSessions(ctx, "t1", "dave"); len(ss) != 0 {
		t.Fatalf("the session was not swept: %+v", ss)
	}
	var doc map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(metricsOut.Bytes()), &doc); err != nil {
		t.Fatalf("metrics %q: %v", metricsOut.String(), err)
	}
	t.Logf("sweeper EMF document: %s", metricsOut.String())
	if n, _ := doc["SweepRemoved"].(float64); n != 2 {
		t.Errorf("SweepRemoved = %v after a pass that removed a session and a lock, want 2", doc["SweepRemoved"])
	}
}
