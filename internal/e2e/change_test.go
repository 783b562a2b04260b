package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
)

// TestChangeIdempotent sends the same change (same messageId) twice on
// one connection and once more after a reconnect, and a second change
// whose connection drops right after it was sent and is resent after a
// reconnect: each yields exactly one version, and every resend gets the
// original reply.
func TestChangeIdempotent(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			ctx := context.Background()
			alice := edDial(t, srv, "alice")
			msg := alice.nextID()
			payload := change("note", "idem", 0, "update", "title", after("hello"))
			first, err := alice.roundTrip(ctx, "change", "", msg, payload)
			if err != nil || first.Type != "ack" {
				t.Fatalf("change: %+v %v", first, err)
			}
			again, err := alice.roundTrip(ctx, "change", "", msg, payload)
			if err != nil || string(again.Payload) != string(first.Payload) || again.ReplyTo != msg {
				t.Fatalf("resend on the same connection got %s, want %s (%v)", again.Payload, first.Payload, err)
			}
			alice.drop()
			alice2 := edDial(t, srv, "alice")
			later, err := alice2.roundTrip(ctx, "change", "", msg, payload)
			if err != nil || string(later.Payload) != string(first.Payload) {
				t.Fatalf("resend after a reconnect got %s, want %s (%v)", later.Payload, first.Payload, err)
			}
			// Dropped before the reply: the client cannot know whether it was
			// applied, and sends it again after reconnecting.
			msg2 := alice2.nextID()
			payload2 := change("note", "idem", 1, "update", "body", after("world"))
			if _, err := alice2.sendAsync(ctx, "change", "", msg2, payload2); err != nil {
				t.Fatal(err)
			}
			alice2.drop()
			alice3 := edDial(t, srv, "alice")
			resent, err := alice3.roundTrip(ctx, "change", "", msg2, payload2)
			if err != nil || resent.Type != "ack" {
				t.Fatalf("resend after a drop: %+v %v", resent, err)
			}
			if a := ackOf(t, resent); a.Version != 2 || a.Change.MessageID != msg2 {
				t.Fatalf("resend after a drop: %+v", a)
			}
			d, v := serverDoc(t, srv.Built.Store, "note", "idem")
			if v != 2 {
				t.Fatalf("head at version %d after two changes sent five times, want 2", v)
			}
			wantJSON(t, "the server", d, `{"title":"hello","body":"world"}`)
			var h struct{ Changes []wireChange }
			decodeInto(t, edT{t, alice3}.ack("history", map[string]any{"entityType": "note", "entityId": "idem"}), &h)
			if len(h.Changes) != 2 || h.Changes[0].MessageID != msg2 || h.Changes[1].MessageID != msg {
				t.Fatalf("history holds %+v, want each change once", h.Changes)
			}
		})
	}
}

// loadClient pushes changes to one entity as the client SDK does: each
// change keeps its messageId until it is acknowledged, and is sent again
// after a reconnect or an UNAVAILABLE reply; a VERSION_CONFLICT makes it
// sync and send the change again on the new base. It follows the entity
// through the change events it receives and sync after every reconnect.
type loadClient struct {
	t          *testing.T
	user       string
	srv        *edTuned
	c          *client
	rep        *edReplica
	r          *rand.Rand
	acks       map[string]int64 // messageId -> acknowledged version
	reconnects int
	resends    int
	duplicates int // resends answered with the reply of an earlier send
}

const loadType, loadID = "customer", "load"

func (lc *loadClient) connect(ctx context.Context) error {
	if lc.c != nil {
		lc.c.drop()
	}
	c, err := edConnect(ctx, lc.t, lc.srv.Server, lc.user)
	if err != nil {
		return err
	}
	lc.c = c
	if f, err := c.roundTrip(ctx, "subscribe", loadType+":"+loadID, "", nil); err != nil || f.Type != "ack" {
		return fmt.Errorf("%s subscribe: %+v %v", lc.user, f, err)
	}
	_, err = lc.rep.catchUp(ctx, c, loadType, loadID)
	return err
}

// payload inserts msg at a random place of the log, as seen by the
// replica.
func (lc *loadClient) payload(msg string) map[string]any {
	n := 0
	if l, ok := lc.rep.doc["log"].([]any); ok {
		n = len(l)
	}
	return change(loadType, loadID, lc.rep.version, "insert", fmt.Sprintf("log[%d]", lc.r.IntN(n+1)), after(msg))
}

// push sends change n until it is acknowledged, dropping the connection
// at random: now and then while idle, more often right after sending,
// before the reply could arrive.
func (lc *loadClient) push(ctx context.Context, n int) error {
	msg := fmt.Sprintf("%s-%04d", lc.user, n)
	if err := lc.rep.absorb(lc.c.takeEvents()); err != nil {
		return err
	}
	if lc.r.IntN(100) < 3 {
		lc.c.drop()
	}
	payload := lc.payload(msg)
	for attempt := range 100 {
		if attempt > 0 {
			lc.resends++
		}
		sentAt := time.Now()
		ch, err := lc.c.sendAsync(ctx, "change", "", msg, payload)
		if err == nil && lc.r.IntN(100) < 7 {
			lc.c.drop()
		}
		var f frame
		if err == nil {
			select {
			case f = <-ch:
			case <-lc.c.done:
				err = errClosed
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("%s: no reply to %s within 30s", lc.user, msg)
			}
		}
		if err != nil {
			lc.reconnects++
			if err := lc.connect(ctx); err != nil {
				return err
			}
			continue
		}
		switch {
		case f.Type == "ack":
			var a wireAck
			if err := decodeExact(f.Payload, &a); err != nil {
				return err
			}
			if !a.Applied || a.Change == nil || a.Change.MessageID != msg {
				return fmt.Errorf("%s: %s was acknowledged as %s", lc.user, msg, f.Payload)
			}
			lc.acks[msg] = a.Version
			// A change stamped before this send was applied by an earlier
			// one: this reply came from the idempotency record.
			if ts, err := time.Parse(time.RFC3339, a.Change.Timestamp); err == nil && attempt > 0 && ts.Before(sentAt.Add(-time.Millisecond)) {
				lc.duplicates++
			}
			return nil
		case f.code() == "UNAVAILABLE":
			time.Sleep(time.Duration(1+lc.r.IntN(20)) * time.Millisecond)
		case f.code() == "VERSION_CONFLICT":
			if err := lc.rep.absorb(lc.c.takeEvents()); err != nil {
				return err
			}
			if _, err := lc.rep.catchUp(ctx, lc.c, loadType, loadID); err != nil {
				// The connection may have been dropped above after the
				// reply had arrived: reconnect, which catches up too.
				lc.reconnects++
				if err := lc.connect(ctx); err != nil {
					return err
				}
			}
			payload = lc.payload(msg)
		default:
			return fmt.Errorf("%s: %s refused: %s %s", lc.user, msg, f.code(), f.Payload)
		}
	}
	return fmt.Errorf("%s: %s not acknowledged after 100 attempts", lc.user, msg)
}

// TestChangesNothingLost has 10 clients push changes to one entity (an
// operational-transform entity: each change inserts its messageId into a
// list at a random index of the client's possibly stale copy) while their
// connections are dropped at random, idle or right after a change was
// sent, and they send it again after reconnecting, as the client SDK
// does. 1,000 changes on the memory store, 300 on DynamoDB in make test:
// moto serves one request at a time at 6-10 ms each and a change costs
// about 11 requests, so 1,000 changes take about 3 minutes there; make
// soak runs them (RTCOLLAB_SOAK=1). At the end:
//
//   - every acknowledged change is stored exactly once: the list holds
//     each messageId once, and no two messageIds were acknowledged with
//     the same version;
//   - the versions have no gaps: the acknowledged versions and the
//     version that created the list are 1..head;
//   - every client's document, followed through change events and sync,
//     equals the server's.
//
// The handler runs with a request limit above the default 20 per second
// per connection. On memory it runs without its per-entity write queue,
// so that the writes race through the conditional write and its retries;
// on DynamoDB with it, as deployed.
func TestChangesNothingLost(t *testing.T) {
	const clients = 10
	for _, b := range edBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			perClient := 100
			if b.endpoint != "" && os.Getenv("RTCOLLAB_SOAK") == "" {
				perClient = 30 // make soak runs the full 1,000 on DynamoDB too
			}
			cfg := fastRequests(handler.Config{})
			// On memory, without the write queue, the clients' writes race
			// through the conditional write and its retries.
			cfg.Editing.NoWriteQueue = b.endpoint == ""
			srv := edStartTuned(t, b, cfg, "")
			ctx := context.Background()
			setup := edT{t, edDial(t, srv.Server, "setup")}
			setup.ack("change", change(loadType, loadID, 0, "update", "log", after([]any{})))
			started := time.Now()
			lcs := pushLoad(t, srv, "loader%02d", 7, clients, perClient)
			pushed := time.Since(started)
			server, head := serverDoc(t, srv.store, loadType, loadID)
			total := clients * perClient
			if head != int64(total)+1 {
				t.Fatalf("head at version %d after %d changes and the setup, want %d", head, total, total+1)
			}
			versions := []int64{1}
			reconnects, resends, duplicates := 0, 0, 0
			for _, lc := range lcs {
				for _, v := range lc.acks {
					versions = append(versions, v)
				}
				reconnects += lc.reconnects
				resends += lc.resends
				duplicates += lc.duplicates
			}
			slices.Sort(versions)
			for i, v := range versions {
				if v != int64(i+1) {
					t.Fatalf("acknowledged versions are not 1..%d without gaps or repeats: %v", head, versions)
				}
			}
			logList, _ := server["log"].([]any)
			seen := map[string]int{}
			for _, e := range logList {
				seen[e.(string)]++
			}
			for _, lc := range lcs {
				for msg := range lc.acks {
					if seen[msg] != 1 {
						t.Errorf("%s is stored %d times", msg, seen[msg])
					}
				}
			}
			if len(logList) != total || len(seen) != total {
				t.Fatalf("the list holds %d entries, %d distinct; want %d", len(logList), len(seen), total)
			}
			for _, lc := range lcs {
				if err := lc.rep.absorb(lc.c.takeEvents()); err != nil {
					t.Fatal(err)
				}
				// The last push may have dropped its connection after the
				// acknowledgement had arrived.
				select {
				case <-lc.c.done:
					if err := lc.connect(ctx); err != nil {
						t.Fatal(err)
					}
				default:
				}
				if _, err := lc.rep.catchUp(ctx, lc.c, loadType, loadID); err != nil {
					t.Fatal(err)
				}
				if lc.rep.version != head || !doc.Equal(lc.rep.doc, server) {
					t.Fatalf("%s holds version %d, which differs from the server's %d", lc.user, lc.rep.version, head)
				}
			}
			t.Logf("%d clients pushed %d changes in %v: %d reconnects, %d resends (%d answered from the idempotency record); all stored once, versions 1..%d, every copy equal",
				clients, total, pushed.Round(time.Millisecond), reconnects, resends, duplicates, head)
			srv.logRequests(t)
			if duplicates == 0 {
				t.Errorf("no resend of an applied change: the run did not exercise idempotency")
			}
		})
	}
}

// pushLoad connects clients load clients (names from nameFormat, random
// streams from seed) to the load entity and has each push perClient
// changes concurrently, dropping connections at random (see push); it
// fails t on any error and returns the clients.
func pushLoad(t *testing.T, srv *edTuned, nameFormat string, seed uint64, clients, perClient int) []*loadClient {
	t.Helper()
	ctx := context.Background()
	lcs := make([]*loadClient, clients)
	for i := range lcs {
		lc := &loadClient{t: t, user: fmt.Sprintf(nameFormat, i), srv: srv, rep: newReplica(),
			r: rand.New(rand.NewPCG(uint64(i), seed)), acks: map[string]int64{}}
		if err := lc.connect(ctx); err != nil {
			t.Fatal(err)
		}
		lcs[i] = lc
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, lc := range lcs {
		wg.Go(func() {
			for n := range perClient {
				if err := lc.push(ctx, n); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	return lcs
}
