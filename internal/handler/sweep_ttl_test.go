package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// ttlTable is a table on DynamoDB (moto, scripts/with-moto.sh) that a
// test can delete items of as DynamoDB's TTL does: without the store.
type ttlTable struct {
	t      *testing.T
	client *dynamodb.Client
	name   string
	clock  *storetest.FakeClock
	st     store.Store
}

func newTTLTable(t *testing.T) *ttlTable {
	t.Helper()
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DynamoDB's TTL removes items of the DynamoDB store only: run with scripts/with-moto.sh")
	}
	client, name := motoTable(t, ep, "sweep-ttl")
	clock := storetest.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	return &ttlTable{t: t, client: client, name: name, clock: clock, st: dynamo.New(client, name, clock.Now)}
}

// expire deletes the item (pk, sk), which must have expired, as TTL does.
func (tt *ttlTable) expire(pk, sk string) {
	tt.t.Helper()
	_, err := tt.client.DeleteItem(tt.t.Context(), &dynamodb.DeleteItemInput{
		TableName:                 aws.String(tt.name),
		Key:                       itemKey(pk, sk),
		ConditionExpression:       aws.String("expiresAt <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: fmt.Sprint(tt.clock.Now().Unix())}},
	})
	if err != nil {
		tt.t.Fatalf("TTL's delete of %s %s: %v", pk, sk, err)
	}
}

// itemKey is the key of the item (pk, sk).
func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: pk},
		store.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// ttlSample is testdata/dynamodb-stream-ttl.json, a batch of the table's
// stream in the shape AWS documents: TTL's removal of user dave's session
// (connection dave) in tenant t1, then of its entry in room lobby, then a
// removal of the same session by a function's role (no userIdentity).
func ttlSample(t *testing.T) []events.DynamoDBEventRecord {
	t.Helper()
	raw, err := os.ReadFile("testdata/dynamodb-stream-ttl.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 3 {
		t.Fatalf("sample has %d records, want 3", len(ev.Records))
	}
	return ev.Records
}

// onConn returns sample record r about connection conn of its user.
func onConn(r events.DynamoDBEventRecord, conn string) events.DynamoDBEventRecord {
	keys := map[string]events.DynamoDBAttributeValue{}
	for k, v := range r.Change.Keys {
		keys[k] = v
	}
	user, _, _ := strings.Cut(conn, "=")
	keys[store.AttrSK] = events.NewStringAttribute(store.PresenceSK(user, conn))
	r.Change.Keys = keys
	return r
}

// deliver hands records to the sweeper function's entry point as the
// event source mapping does, and returns the records it asks for again.
func (e *sweepEnv) deliver(records ...events.DynamoDBEventRecord) []string {
	e.t.Helper()
	raw, err := json.Marshal(events.DynamoDBEvent{Records: records})
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.h.SweeperEvent(context.Background(), raw)
	if err != nil || resp == nil {
		e.t.Fatalf("stream batch: %+v, %v", resp, err)
	}
	var again []string
	for _, f := range resp.BatchItemFailures {
		again = append(again, f.ItemIdentifier)
	}
	return again
}

// pass runs a scheduled sweeper pass through the function's entry point.
func (e *sweepEnv) pass() {
	e.t.Helper()
	raw, err := os.ReadFile("../../events/sweeper.json")
	if err != nil {
		e.t.Fatal(err)
	}
	if resp, err := e.h.SweeperEvent(context.Background(), raw); err != nil || resp != nil {
		e.t.Fatalf("sweeper pass: %+v, %v", resp, err)
	}
}

// newTTLWatch returns a table whose items a test deletes as TTL does,
// and a handler on it with connections bob and dave, where bob watches
// user-presence and is in room lobby.
func newTTLWatch(t *testing.T) (*ttlTable, *sweepEnv) {
	t.Helper()
	tt := newTTLTable(t)
	e := newSweepEnv(t, tt.clock, tt.st, "bob", "dave")
	e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
	e.join("bob", "lobby")
	return tt, e
}

// TestTTLRemovedSessionIsAnnounced: dave is in room lobby with bob and
// falls silent; his session expires, and DynamoDB's TTL deletes it, or
// its room entry, before a sweeper pass finds it. The sweeper never found
// what TTL took, so bob kept seeing dave online and in lobby. TTL's
// removals reach the sweeper through the table's stream: bob gets dave
// offline, once, and dave leaving lobby, in whatever order TTL takes the
// items (a later removal of the room entry repeats the leave, which
// clients take as once). A removal by a function's role is not TTL's and
// announces nothing.
func TestTTLRemovedSessionIsAnnounced(t *testing.T) {
	sample := ttlSample(t)
	session, entry, byRole := sample[0], sample[1], sample[2]
	cases := []struct {
		name   string
		steps  func(tt *ttlTable, e *sweepEnv)
		leaves int
	}{
		{"session, then its room entry", func(tt *ttlTable, e *sweepEnv) {
			tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
			e.pass()
			e.deliver(session, byRole)
			if got := e.poster.statuses("bob", "dave"); strings.Join(got, " ") != "online offline" {
				t.Errorf("after TTL took the session, bob got %v about dave, want [online offline]", got)
			}
			if n := e.poster.roomEvents("bob", "lobby", "dave", "leave"); n != 1 {
				t.Errorf("after TTL took the session, bob got %d leaves of lobby, want 1", n)
			}
			tt.expire(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
			e.deliver(entry)
		}, 2},
		{"room entry, then the session is claimed", func(tt *ttlTable, e *sweepEnv) {
			tt.expire(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
			e.deliver(entry)
			e.pass()
			e.deliver(byRole)
		}, 1},
		{"both, the session's record first", func(tt *ttlTable, e *sweepEnv) {
			tt.expire(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
			tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
			e.pass()
			e.deliver(session)
			e.deliver(entry)
		}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt, e := newTTLWatch(t)
			e.join("dave", "lobby")
			e.idle(4, []string{"bob"}, nil) // dave is silent for 2 minutes
			c.steps(tt, e)
			got := e.poster.statuses("bob", "dave")
			leaves := e.poster.roomEvents("bob", "lobby", "dave", "leave")
			t.Logf("user-presence events about dave: %v; lobby leaves of dave: %d", got, leaves)
			if strings.Join(got, " ") != "online offline" || leaves != c.leaves {
				t.Errorf("bob got %v and %d leaves of lobby about dave, want [online offline] and %d", got, leaves, c.leaves)
			}
		})
	}
}

// TestTTLRemovedTabBesideAnUnclaimedOne: both of dave's tabs are in lobby
// and fall silent; TTL takes tab a's session. Tab b has not been
// announced gone, so dave is neither offline nor out of lobby yet; the
// sweeper's claim of tab b announces both, once.
func TestTTLRemovedTabBesideAnUnclaimedOne(t *testing.T) {
	tt := newTTLTable(t)
	e := newSweepEnv(t, tt.clock, tt.st, "bob", "dave=a", "dave=b")
	e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
	for _, c := range []string{"bob", "dave=a", "dave=b"} {
		e.join(c, "lobby")
	}
	e.idle(4, []string{"bob"}, nil)
	tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave=a"))
	e.deliver(onConn(ttlSample(t)[0], "dave=a"))
	early := e.poster.statuses("bob", "dave")
	e.pass()
	got := e.poster.statuses("bob", "dave")
	leaves := e.poster.roomEvents("bob", "lobby", "dave", "leave")
	t.Logf("about dave, bob got %v after TTL took tab a, %v and %d leaves after the pass", early, got, leaves)
	if strings.Join(early, " ") != "online" || strings.Join(got, " ") != "online offline" || leaves != 1 {
		t.Errorf("bob got %v, then %v and %d leaves about dave; want [online], then [online offline] and 1", early, got, leaves)
	}
}

// newTTLLobby returns a handler on st, a store over tt's table, where bob
// watches user-presence and is in lobby with dave, who has been silent
// for 2 minutes: his session expired, and TTL has just deleted it.
func newTTLLobby(t *testing.T, tt *ttlTable, st store.Store) *sweepEnv {
	t.Helper()
	e := newSweepEnv(t, tt.clock, st, "bob", "dave")
	e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
	e.join("bob", "lobby")
	e.join("dave", "lobby")
	e.idle(4, []string{"bob"}, nil)
	tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
	return e
}

// TestTTLRemovalHandledAgainAfterAFailedRead: reading dave's sessions
// fails while the sweeper handles TTL's removal of his session. Nothing
// was announced, so the answer asks Lambda for that record again, and the
// next delivery announces dave offline and leaving lobby, once.
func TestTTLRemovalHandledAgainAfterAFailedRead(t *testing.T) {
	tt := newTTLTable(t)
	st := &sessionReadFaults{Store: tt.st}
	e := newTTLLobby(t, tt, st)
	session := ttlSample(t)[0]
	st.goDown()
	again := e.deliver(session)
	if len(again) != 1 || again[0] != session.Change.SequenceNumber {
		t.Fatalf("with reads failing, the answer asks again for %v, want [%s]", again, session.Change.SequenceNumber)
	}
	if got := e.poster.statuses("bob", "dave"); strings.Join(got, " ") != "online" {
		t.Fatalf("with reads failing, bob got %v about dave, want nothing new", got)
	}
	st.reset()
	if again := e.deliver(session); len(again) != 0 {
		t.Fatalf("the answer asks again for %v", again)
	}
	got := e.poster.statuses("bob", "dave")
	leaves := e.poster.roomEvents("bob", "lobby", "dave", "leave")
	if strings.Join(got, " ") != "online offline" || leaves != 1 {
		t.Errorf("bob got %v and %d leaves of lobby about dave, want [online offline] and 1", got, leaves)
	}
}

// TestTTLRemovedHiddenSessionAnnouncesNothing: dave chose to appear
// offline (hidden) and falls silent, in no room or in lobby with bob; a
// sweeper pass announces nothing for him, since nobody saw him there.
// When DynamoDB's TTL deleted his session first, and his room entry with
// or after it, nothing of the session's data was left: the sweeper
// rebuilt a visible session and told bob that dave went offline, or left
// lobby, about a user who had hidden himself. It announces nothing, also
// when dave hid after showing himself; a visible dave is still announced
// offline and leaving lobby, also after he hid and showed himself again.
// Once his connection's record is gone too, nothing tells whether he was
// hidden, and nothing is announced.
func TestTTLRemovedHiddenSessionAnnouncesNothing(t *testing.T) {
	const (
		hide = `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`
		show = `{"type":"presence","messageId":"o","payload":{"status":"online"}}`
		ping = `{"type":"ping","messageId":"p"}`
	)
	session, entry := ttlSample(t)[0], ttlSample(t)[1]
	sessionGone := func(tt *ttlTable, e *sweepEnv) {
		tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
		e.deliver(session)
	}
	bothGone := func(tt *ttlTable, e *sweepEnv) {
		tt.expire(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
		tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
		e.deliver(session)
		e.deliver(entry)
	}
	cases := []struct {
		name   string
		frames []string // dave's, before he joins lobby (room) and falls silent
		room   bool
		steps  func(tt *ttlTable, e *sweepEnv)
		want   string // user-presence events about dave that bob gets
		leaves int    // lobby leaves of dave that bob gets
	}{
		{"hidden, in no room: session", []string{hide}, false, sessionGone, "", 0},
		{"hidden, in lobby: session, then its room entry", []string{hide}, true, func(tt *ttlTable, e *sweepEnv) {
			sessionGone(tt, e)
			tt.expire(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
			e.deliver(entry)
		}, "", 0},
		{"hidden, in lobby: both, the session's record first", []string{hide}, true, bothGone, "", 0},
		{"hidden, in lobby: a pass", []string{hide}, true, func(_ *ttlTable, e *sweepEnv) { e.pass() }, "", 0},
		{"hidden after showing, in lobby: both", []string{ping, hide}, true, bothGone, "online offline", 0},
		{"visible, in no room: session", []string{ping}, false, sessionGone, "online offline", 0},
		{"shown after hiding, in lobby: both", []string{hide, show}, true, bothGone, "online offline", 1},
		{"visible, in lobby: both, and the connection's record", []string{ping}, true, func(tt *ttlTable, e *sweepEnv) {
			tt.clock.Advance(3 * time.Hour) // past the record's expiry
			tt.expire(store.ConnPK("dave"), store.SKMeta)
			bothGone(tt, e)
		}, "online", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt, e := newTTLWatch(t)
			for _, f := range c.frames {
				e.ok("dave", f)
			}
			if c.room {
				e.join("dave", "lobby")
			}
			e.idle(4, []string{"bob"}, nil) // dave is silent for 2 minutes
			c.steps(tt, e)
			got := strings.Join(e.poster.statuses("bob", "dave"), " ")
			lobby := e.poster.events("bob", "room:lobby", "dave")
			t.Logf("user-presence events about dave: %q; lobby events about dave: %v", got, lobby)
			if got != c.want || e.poster.roomEvents("bob", "lobby", "dave", "leave") != c.leaves {
				t.Errorf("bob got %q and lobby events %v about dave; want %q and %d leaves", got, lobby, c.want, c.leaves)
			}
		})
	}
}

// TestTTLRemovalsCountedWhenAnnounced: SweepRemoved, the dashboard's
// "items removed", counts the items of a batch of TTL's removals that
// the sweeper announced: ann's expired lock on o1 and eve's departure.
// The removal of o2's lock, which bob holds again, and of dave's session,
// hidden, announce nothing and are not counted; they were, as if every
// record handled had been announced.
func TestTTLRemovalsCountedWhenAnnounced(t *testing.T) {
	const lockFrame = `{"type":"lock.acquire","messageId":"l","payload":{"entityType":"order","entityId":"%s","ttl":1000}}`
	tt := newTTLTable(t)
	var out bytes.Buffer
	e := newSweepEnvMetrics(t, tt.clock, tt.st, handler.PresenceConfig{}, &sweepPoster{}, &out, "ann", "bob", "dave", "eve")
	e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
	e.ok("dave", `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`)
	e.ok("eve", `{"type":"ping","messageId":"p"}`)
	e.ok("ann", fmt.Sprintf(lockFrame, "o1"))
	e.ok("bob", fmt.Sprintf(lockFrame, "o2"))
	e.idle(4, []string{"bob"}, nil) // ann, dave and eve are silent for 2 minutes
	e.ok("bob", fmt.Sprintf(lockFrame, "o2"))
	o1, o2 := store.EntityKey{Tenant: "t1", Type: "order", ID: "o1"}, store.EntityKey{Tenant: "t1", Type: "order", ID: "o2"}
	tt.expire(store.LockPK(o1), store.SKLock)
	tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
	tt.expire(store.PresencePK("t1"), store.PresenceSK("eve", "eve"))
	dave, eve := onConn(ttlSample(t)[0], "dave"), onConn(ttlSample(t)[0], "eve")
	eve.Change.SequenceNumber += "1"
	out.Reset()
	if again := e.deliver(ttlRemoval(t, store.LockPK(o1), store.SKLock, 1), ttlRemoval(t, store.LockPK(o2), store.SKLock, 2), dave, eve); len(again) != 0 {
		t.Fatalf("the answer asks again for %v", again)
	}
	var doc map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &doc); err != nil {
		t.Fatalf("metrics %q: %v", out.String(), err)
	}
	t.Logf("sweeper EMF document: %s; o2: %v; bob got %v about dave, %v about eve", out.String(),
		e.poster.lockEvents("bob", "order:o2"), e.poster.statuses("bob", "dave"), e.poster.statuses("bob", "eve"))
	if n, _ := doc["SweepRemoved"].(float64); n != 2 {
		t.Errorf("SweepRemoved = %v after a batch that announced o1's expiry and eve's departure, want 2", doc["SweepRemoved"])
	}
}

// nthReadFault is a store whose reads of a user's sessions fail once,
// after the number of them that failAfter names pass: a read failing at
// a given step of handling a record, which the table cannot be made to do
// on demand.
type nthReadFault struct {
	store.Store
	mu    sync.Mutex
	armed bool
	pass  int
}

// failAfter makes the read that comes after the next n fail.
func (s *nthReadFault) failAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed, s.pass = true, n
}

func (s *nthReadFault) UserSessionsWithExpired(ctx context.Context, tenant, userID string) ([]store.Session, []store.Session, error) {
	s.mu.Lock()
	fail := s.armed && s.pass == 0
	if fail {
		s.armed = false
	}
	s.pass--
	s.mu.Unlock()
	if fail {
		return nil, nil, store.ErrUnavailable
	}
	return s.Store.UserSessionsWithExpired(ctx, tenant, userID)
}

// TestTTLRemovedEntryHandledAgainAfterItsClaim: TTL took dave's session,
// and its record announced him offline and leaving lobby; he came back in
// no room, his expired lobby entry left behind, and fell silent again. TTL's removal of that entry claims his expired
// session, which announces him offline, and then reads his sessions again
// for lobby; when that read fails, the record is sent again. The second
// handling finds the session claimed and only announces lobby's leave
// (as the first would have): bob gets what one clean handling gives him,
// nothing of the claim twice.
func TestTTLRemovedEntryHandledAgainAfterItsClaim(t *testing.T) {
	session, entry := ttlSample(t)[0], ttlSample(t)[1]
	run := func(t *testing.T, fail bool) string {
		tt := newTTLTable(t)
		st := &nthReadFault{Store: tt.st}
		e := newTTLLobby(t, tt, st)
		// The lobby entry of the session TTL took, expired: a frame of
		// dave's writes a new session in the rooms he is still subscribed
		// to (the entry rewritten), and leaving lobby removes it. The entry
		// is left behind when the new session does not re-enter the room
		// (one dave may no longer enter, or one past MaxRooms): it is put
		// back as it was.
		entryKey := itemKey(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
		left, err := tt.client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(tt.name), Key: entryKey, ConsistentRead: aws.Bool(true)})
		if err != nil || left.Item == nil {
			t.Fatalf("dave's lobby entry: %+v, %v", left, err)
		}
		e.deliver(session)
		e.ok("dave", `{"type":"room.leave","messageId":"lv","payload":{"room":"lobby"}}`)
		if _, err := tt.client.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(tt.name), Item: left.Item}); err != nil {
			t.Fatal(err)
		}
		e.idle(4, []string{"bob"}, nil)
		tt.expire(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
		if fail {
			// The read for the record, the claim's read after it, then
			// the read again for lobby fails.
			st.failAfter(2)
			again := e.deliver(entry)
			first := fmt.Sprintf("%v %v", e.poster.statuses("bob", "dave"), e.poster.events("bob", "room:lobby", "dave"))
			t.Logf("after the failed handling, bob got about dave: %s", first)
			if len(again) != 1 || again[0] != entry.Change.SequenceNumber {
				t.Fatalf("the answer asks again for %v, want [%s]", again, entry.Change.SequenceNumber)
			}
		}
		if again := e.deliver(entry); len(again) != 0 {
			t.Fatalf("the answer asks again for %v", again)
		}
		return fmt.Sprintf("%v %v", e.poster.statuses("bob", "dave"), e.poster.events("bob", "room:lobby", "dave"))
	}
	clean := run(t, false)
	again := run(t, true)
	t.Logf("bob got about dave (user-presence, lobby): handled once %s; handled again after a failed read %s", clean, again)
	if again != clean {
		t.Errorf("handled again after a failed read, bob got %s about dave; handled once, %s", again, clean)
	}
}

// TestTTLRemovedEntryOfAHiddenSessionLeftBehind: dave appears offline
// (hidden) in lobby, so bob never sees him join; dave unsubscribes from
// lobby's channel (still in the room, as a plain unsubscription leaves
// it) and falls silent. TTL takes his session, whose removal cannot name
// lobby, and dave shows himself again, back in no room. When TTL then
// takes his lobby entry, left behind, its removal told bob that dave left
// lobby, a room bob never saw him in, because his connection's record
// now says visible. Nothing is announced in lobby; a visible dave's entry
// left behind the same way is still announced leaving it.
func TestTTLRemovedEntryOfAHiddenSessionLeftBehind(t *testing.T) {
	const (
		hide  = `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`
		show  = `{"type":"presence","messageId":"o","payload":{"status":"online"}}`
		ping  = `{"type":"ping","messageId":"p"}`
		unsub = `{"type":"unsubscribe","channel":"room:lobby","messageId":"u"}`
	)
	session, entry := ttlSample(t)[0], ttlSample(t)[1]
	cases := []struct {
		name   string
		first  string // dave's frame before he joins lobby
		back   string // dave's frame after TTL took his session
		events string // lobby events about dave that bob gets
	}{
		{"hidden, back visible", hide, show, "[]"},
		{"hidden, back hidden, then visible", hide, hide + "\n" + show, "[]"},
		{"visible", ping, ping, "[join leave]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt, e := newTTLWatch(t)
			e.ok("dave", c.first)
			e.join("dave", "lobby")
			e.ok("dave", unsub)
			e.idle(4, []string{"bob"}, nil) // dave is silent for 2 minutes
			tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
			e.deliver(session)
			for _, f := range strings.Split(c.back, "\n") {
				e.ok("dave", f)
			}
			tt.expire(store.RoomPK("t1", "lobby"), store.PresenceSK("dave", "dave"))
			if again := e.deliver(entry); len(again) != 0 {
				t.Fatalf("the answer asks again for %v", again)
			}
			got := fmt.Sprint(e.poster.events("bob", "room:lobby", "dave"))
			t.Logf("user-presence events about dave: %v; lobby events about dave: %s", e.poster.statuses("bob", "dave"), got)
			if got != c.events {
				t.Errorf("bob got lobby events %s about dave, want %s", got, c.events)
			}
		})
	}
}

// TestTTLRemovedEntryOfAVisibleSessionAfterAHiddenOne: dave appears
// offline in lobby, leaves its channel (still in the room) and falls
// silent; TTL takes his session, and his lobby entry stays behind. Each
// later presence of his connection does the same in a room (phases).
// Once his connection had been hidden, its record said so for the rest
// of its life, and TTL's removal of any entry left behind was taken as
// the hidden one's: when a later, visible presence left deck (or lobby,
// entered again) the same way, bob never got dave's leave and kept seeing
// him there. Only the rooms a hidden presence was in stay quiet: lobby's
// entry of the hidden presence (or deck's of a second hidden one) is not
// announced, a visible presence's entry is, in deck or in lobby. A record
// that says the connection was hidden before without naming the rooms
// (written by an earlier version), or whose rooms of hidden presences
// outgrew the limit on rooms, keeps the earlier rule: nothing is
// announced.
func TestTTLRemovedEntryOfAVisibleSessionAfterAHiddenOne(t *testing.T) {
	const (
		hide = `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`
		show = `{"type":"presence","messageId":"o","payload":{"status":"online"}}`
		// earlier is no frame: the record's rooms of hidden presences
		// are removed, as an earlier version, which kept none, left it.
		earlier = "earlier"
	)
	in := func(room string) []string {
		return []string{
			`{"type":"room.join","messageId":"j","payload":{"room":"` + room + `"}}`,
			`{"type":"unsubscribe","channel":"room:` + room + `","messageId":"u"}`,
		}
	}
	phase := func(frames ...[]string) []string { return slices.Concat(frames...) }
	cases := []struct {
		name     string
		maxRooms int
		phases   [][]string // dave's frames in each of his presences
		want     map[string]string
	}{
		{"hidden in lobby, then visible in deck", 0,
			[][]string{phase([]string{hide}, in("lobby")), phase([]string{show}, in("deck"))},
			map[string]string{"lobby": "[]", "deck": "[join leave]"}},
		{"hidden in lobby, then visible in lobby", 0,
			[][]string{phase([]string{hide}, in("lobby")), phase([]string{show}, in("lobby"))},
			map[string]string{"lobby": "[join leave]"}},
		{"hidden in lobby, hidden in deck, then visible in den", 0,
			[][]string{phase([]string{hide}, in("lobby")), phase([]string{hide}, in("deck")), phase([]string{show}, in("den"))},
			map[string]string{"lobby": "[]", "deck": "[]", "den": "[join leave]"}},
		{"hidden in lobby, then visible in deck, on an earlier version's record", 0,
			[][]string{phase([]string{hide}, in("lobby")), phase([]string{show, earlier}, in("deck"))},
			map[string]string{"lobby": "[]", "deck": "[join]"}},
		{"hidden in lobby, hidden in deck, past the limit, then visible in den", 1,
			[][]string{phase([]string{hide}, in("lobby")), phase([]string{hide}, in("deck")), phase([]string{show}, in("den"))},
			map[string]string{"lobby": "[]", "deck": "[]", "den": "[join]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := newTTLTable(t)
			e := newSweepEnvWith(t, tt.clock, tt.st, handler.PresenceConfig{MaxRooms: c.maxRooms}, "bob", "dave")
			rooms := slices.Sorted(maps.Keys(c.want))
			for _, room := range rooms {
				// bob watches the room (MaxRooms may not let him in them all).
				e.ok("bob", `{"type":"subscribe","channel":"room:`+room+`","messageId":"s"}`)
			}
			for _, frames := range c.phases {
				for _, f := range frames {
					if f == earlier {
						tt.removeAttr(store.ConnPK("dave"), store.SKMeta, "hiddenRooms")
						continue
					}
					e.ok("dave", f)
				}
				e.idle(4, []string{"bob"}, nil) // dave is silent for 2 minutes
				tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
				e.deliver(ttlSample(t)[0])
			}
			for seq, room := range rooms {
				tt.expire(store.RoomPK("t1", room), store.PresenceSK("dave", "dave"))
				if again := e.deliver(ttlRemoval(t, store.RoomPK("t1", room), store.PresenceSK("dave", "dave"), seq+1)); len(again) != 0 {
					t.Fatalf("the answer asks again for %v", again)
				}
			}
			for _, room := range rooms {
				want := c.want[room]
				got := fmt.Sprint(e.poster.events("bob", "room:"+room, "dave"))
				t.Logf("%s events about dave: %s", room, got)
				if got != want {
					t.Errorf("bob got %s events %s about dave, want %s", room, got, want)
				}
			}
		})
	}
}

// removeAttr removes attribute name from the item (pk, sk), if present.
func (tt *ttlTable) removeAttr(pk, sk, name string) {
	tt.t.Helper()
	_, err := tt.client.UpdateItem(tt.t.Context(), &dynamodb.UpdateItemInput{
		TableName:                aws.String(tt.name),
		Key:                      itemKey(pk, sk),
		UpdateExpression:         aws.String("REMOVE #a"),
		ConditionExpression:      aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: map[string]string{"#a": name},
	})
	if err != nil {
		tt.t.Fatalf("remove %s of %s %s: %v", name, pk, sk, err)
	}
}

// sessionsReadHook is a store that runs the hook it is armed with once,
// before the next read of a user's sessions: another instance's write
// landing between a frame's read of its connection and its read of the
// sessions, an order the table cannot be made to take on demand.
type sessionsReadHook struct {
	store.Store
	hook atomic.Pointer[func()]
}

func (s *sessionsReadHook) UserSessionsWithExpired(ctx context.Context, tenant, userID string) ([]store.Session, []store.Session, error) {
	if f := s.hook.Swap(nil); f != nil {
		(*f)()
	}
	return s.Store.UserSessionsWithExpired(ctx, tenant, userID)
}

// TestTTLRemovedEntryOfAHiddenSessionAfterAConcurrentFrame: dave was
// hidden in lobby, then hidden in deck, and each time TTL took his
// session and left the room's entry behind. He shows himself on one
// instance, whose new session notes lobby and deck as rooms of hidden
// sessions, while another instance, which read his connection's record
// before that, enters him into lobby. That frame's write must not undo
// deck from the record: TTL's removal of deck's entry, a hidden
// session's, announces nothing; lobby, where dave showed himself, sees
// him join and leave.
func TestTTLRemovedEntryOfAHiddenSessionAfterAConcurrentFrame(t *testing.T) {
	const (
		hide = `{"type":"presence","messageId":"h","payload":{"status":"offline"}}`
		show = `{"type":"presence","messageId":"o","payload":{"status":"online"}}`
	)
	tt := newTTLTable(t)
	st := &sessionsReadHook{Store: tt.st}
	e := newSweepEnv(t, tt.clock, st, "bob", "dave")
	other := newSweepEnvPosting(t, tt.clock, tt.st, handler.PresenceConfig{}, e.poster)
	silent := func() {
		e.idle(4, []string{"bob"}, nil) // dave is silent for 2 minutes
		tt.expire(store.PresencePK("t1"), store.PresenceSK("dave", "dave"))
		e.deliver(ttlSample(t)[0])
	}
	for _, room := range []string{"lobby", "deck"} {
		e.ok("bob", `{"type":"subscribe","channel":"room:`+room+`","messageId":"s"}`)
	}
	for _, room := range []string{"lobby", "deck"} {
		e.ok("dave", hide)
		e.join("dave", room)
		e.ok("dave", `{"type":"unsubscribe","channel":"room:`+room+`","messageId":"u"}`)
		silent()
	}
	showing := func() { other.ok("dave", show) }
	st.hook.Store(&showing)
	e.join("dave", "lobby")
	if st.hook.Load() != nil {
		t.Fatal("the frame read no sessions")
	}
	e.ok("dave", `{"type":"unsubscribe","channel":"room:lobby","messageId":"u"}`)
	silent()
	for i, room := range []string{"lobby", "deck"} {
		tt.expire(store.RoomPK("t1", room), store.PresenceSK("dave", "dave"))
		if again := e.deliver(ttlRemoval(t, store.RoomPK("t1", room), store.PresenceSK("dave", "dave"), i+1)); len(again) != 0 {
			t.Fatalf("the answer asks again for %v", again)
		}
	}
	lobby, deck := fmt.Sprint(e.poster.events("bob", "room:lobby", "dave")), fmt.Sprint(e.poster.events("bob", "room:deck", "dave"))
	t.Logf("lobby events about dave: %s; deck events about dave: %s", lobby, deck)
	if lobby != "[join leave]" || deck != "[]" {
		t.Errorf("bob got lobby events %s and deck events %s about dave, want [join leave] and []", lobby, deck)
	}
}
