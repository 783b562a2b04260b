package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// roomCounter counts the counts of a room's users (each a read of every
// entry of the room).
type roomCounter struct {
	store.Store
	n atomic.Int64
}

func (s *roomCounter) CountPresence(ctx context.Context, tenant, room string) (int, error) {
	s.n.Add(1)
	return s.Store.CountPresence(ctx, tenant, room)
}

// TestSnapshotCountsTheRoomOnce: viv reads room big, of 12 users, one user
// a page. Every page with a cursor counted the whole room again, a read
// of every entry of the room: n pages cost n whole-room reads, and a
// forged cursor one per request. The first page counts the room and its
// cursor carries the count to the later pages, each of which still
// reports it; a cursor without it is refused and counts nothing.
func TestSnapshotCountsTheRoomOnce(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		const n = 12
		counted := &roomCounter{Store: st}
		users := []string{"viv"}
		for i := range n {
			users = append(users, fmt.Sprintf("u%02d", i))
		}
		e := newSweepEnv(t, clock, counted, users...)
		for _, u := range users[1:] {
			e.join(u, "big")
		}
		counted.n.Store(0)
		type page struct {
			Type    string
			Payload struct {
				UsersInRoom []struct{ UserID string }
				UserCount   int
				Next        string
				NextCursor  string
				Code        string
			}
		}
		read := func(cursor string) page {
			t.Helper()
			var p page
			body := e.send("viv", `{"type":"presence.snapshot","messageId":"s","payload":{"room":"big","limit":1,"cursor":"`+cursor+`"}}`)
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			return p
		}
		var (
			seen   []string
			cursor string
			pages  int
		)
		for {
			p := read(cursor)
			pages++
			if p.Type != "ack" || p.Payload.UserCount != n || p.Payload.Next != p.Payload.NextCursor {
				t.Fatalf("page %d: %+v; want an ack with userCount %d", pages, p, n)
			}
			for _, u := range p.Payload.UsersInRoom {
				seen = append(seen, u.UserID)
			}
			if cursor = p.Payload.Next; cursor == "" || pages > n {
				break
			}
		}
		if got := counted.n.Load(); got != 1 || pages != n || fmt.Sprint(seen) != fmt.Sprint(users[1:]) {
			t.Errorf("%d pages listed %v and counted the room %d times; want %d pages of one user each, counted once", pages, seen, got, n)
		}
		counted.n.Store(0)
		first := read("")
		storeCursor := store.PresenceCursor(store.Presence{UserID: "u00", ConnID: "u00"})
		if p := read(storeCursor); p.Type != "error" || p.Payload.Code != "BAD_REQUEST" {
			t.Errorf("a cursor without the count: %+v; want BAD_REQUEST", p)
		}
		if got := counted.n.Load(); got != 1 || first.Payload.Next == "" {
			t.Errorf("a first page and a refused cursor counted the room %d times; want once, for the first page", got)
		}
	})
}
