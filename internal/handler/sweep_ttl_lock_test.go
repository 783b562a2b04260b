package handler_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// ttlRemoval is a record of the table's stream, shaped as the sample's
// first one, of DynamoDB's TTL removing the item (pk, sk).
func ttlRemoval(t *testing.T, pk, sk string, seq int) events.DynamoDBEventRecord {
	t.Helper()
	r := ttlSample(t)[0]
	r.Change.Keys = map[string]events.DynamoDBAttributeValue{
		store.AttrPK: events.NewStringAttribute(pk),
		store.AttrSK: events.NewStringAttribute(sk),
	}
	r.Change.SequenceNumber = fmt.Sprintf("44215848000000000174504%05d", seq)
	return r
}

// lockNews is one lock event as a connection received it.
type lockNews struct {
	Action   string
	Token    int64
	LockedBy string
}

// lockEvents returns, in order, the lock events on channel that reached
// connection to.
func (p *sweepPoster) lockEvents(to, channel string) []lockNews {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []lockNews
	for _, po := range p.posts {
		var env struct {
			Type    string `json:"type"`
			Channel string `json:"channel"`
			Payload struct {
				Action string `json:"action"`
				Lock   struct {
					LockedBy     string `json:"lockedBy"`
					FencingToken int64  `json:"fencingToken"`
				} `json:"lock"`
			} `json:"payload"`
		}
		if po.to != to || json.Unmarshal(po.data, &env) != nil || env.Type != "lock" || env.Channel != channel {
			continue
		}
		out = append(out, lockNews{env.Payload.Action, env.Payload.Lock.FencingToken, env.Payload.Lock.LockedBy})
	}
	return out
}

// TestTTLRemovedLockIsAnnounced: ann locks order o1 and her tab goes
// quiet; the lock expires, and DynamoDB's TTL deletes it before a
// sweeper pass finds it. The pass never found what TTL took, so bob's SDK
// (which drops another user's lock only on an event) kept showing o1
// locked by ann until he reloaded. TTL's removal reaches the sweeper
// through the table's stream: bob gets the lock's expired, with its
// fencing token and holder, on the entity's channel and edit-locks. A
// record delivered twice repeats it, with the same token, which the SDK
// takes as once. When bob has taken the lock before the record is
// handled, nothing is announced: his grant replaced the one TTL removed.
func TestTTLRemovedLockIsAnnounced(t *testing.T) {
	const acquire = `{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"o1","ttl":1000}}`
	entity := store.EntityKey{Tenant: "t1", Type: "order", ID: "o1"}
	for _, regrant := range []bool{false, true} {
		t.Run(fmt.Sprintf("regranted=%v", regrant), func(t *testing.T) {
			tt := newTTLTable(t)
			e := newSweepEnv(t, tt.clock, tt.st, "ann", "bob")
			e.ok("bob", `{"type":"subscribe","channel":"order:o1","messageId":"s1"}`)
			e.ok("bob", `{"type":"subscribe","channel":"edit-locks","messageId":"s2"}`)
			e.ok("ann", acquire)
			e.clock.Advance(5 * time.Second)
			tt.expire(store.LockPK(entity), store.SKLock)
			e.pass()
			if regrant {
				e.ok("bob", acquire)
			}
			removal := ttlRemoval(t, store.LockPK(entity), store.SKLock, 1)
			e.deliver(removal)
			e.deliver(removal)
			for _, ch := range []string{"order:o1", "edit-locks"} {
				got := e.poster.lockEvents("bob", ch)
				t.Logf("%s: bob got %+v", ch, got)
				want := []lockNews{{"acquired", 1, "ann"}, {"expired", 1, "ann"}, {"expired", 1, "ann"}}
				if regrant {
					want = []lockNews{{"acquired", 1, "ann"}, {"acquired", 2, "bob"}}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: bob got %+v, want %+v", ch, got, want)
				}
			}
		})
	}
}

// lockFeed returns the change feed's lock events of entity e, in the
// outbox's order, as "<token> <event> <userId>".
func lockFeed(t *testing.T, st store.Store, e store.EntityKey) []string {
	t.Helper()
	items, err := st.ListOutbox(t.Context(), store.OutboxShard(e), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.Entity != e || it.Kind != store.OutboxLock {
			continue
		}
		var ev store.LockEvent
		if err := json.Unmarshal(it.Data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s %s", ev.Token, ev.Event, ev.UserID))
	}
	return out
}

// ann's and bob's frames about order o1's lock, and its key.
const (
	o1Acquire = `{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"o1","ttl":1000}}`
	o1Release = `{"type":"lock.release","messageId":"r1","payload":{"entityType":"order","entityId":"o1"}}`
)

var o1Entity = store.EntityKey{Tenant: "t1", Type: "order", ID: "o1"}

// TestTTLRemovedLockInChangeFeed: ann's lock on order o1 expires. When
// the sweeper's pass claims it, the change feed gets the grant's expired;
// when DynamoDB's TTL deleted it first, the feed got none, and a system of
// record following the feed never saw the lock end. The removal's record
// now writes the same expired as the claim, once however often it is
// delivered. When bob took the lock and released it before the record
// came, the counter's last grant is bob's, acquired after TTL's removal:
// it ended by its release, and the feed gets no expired for it.
func TestTTLRemovedLockInChangeFeed(t *testing.T) {
	const acquire, release = o1Acquire, o1Release
	entity := o1Entity
	cases := []struct {
		name  string
		steps func(tt *ttlTable, e *sweepEnv)
		want  string
	}{
		{"claimed by a pass", func(_ *ttlTable, e *sweepEnv) { e.pass() }, "[1 acquired ann 1 expired ann]"},
		{"removed by TTL", func(tt *ttlTable, e *sweepEnv) {
			tt.expire(store.LockPK(entity), store.SKLock)
			r := ttlRemoval(t, store.LockPK(entity), store.SKLock, 1)
			r.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: tt.clock.Now()}
			e.pass()
			e.deliver(r)
			e.deliver(r)
		}, "[1 acquired ann 1 expired ann]"},
		{"removed by TTL, then taken and released by bob", func(tt *ttlTable, e *sweepEnv) {
			tt.expire(store.LockPK(entity), store.SKLock)
			r := ttlRemoval(t, store.LockPK(entity), store.SKLock, 1)
			r.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: tt.clock.Now()}
			tt.clock.Advance(time.Second)
			e.ok("bob", acquire)
			e.ok("bob", release)
			e.deliver(r)
		}, "[1 acquired ann 2 acquired bob 2 released bob]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := newTTLTable(t)
			e := newSweepEnv(t, tt.clock, tt.st, "ann", "bob")
			e.ok("ann", acquire)
			e.clock.Advance(5 * time.Second)
			c.steps(tt, e)
			got := fmt.Sprint(lockFeed(t, tt.st, entity))
			t.Logf("change feed of o1: %s", got)
			if got != c.want {
				t.Errorf("change feed of o1: %s, want %s", got, c.want)
			}
		})
	}
}

// TestTTLRemovedLockOfAnotherGrant: ann's lock on o1 expires and TTL
// deletes it. When bob took the lock and released it before the record
// came, the counter's last grant is bob's: the record still announces
// its expired (clients drop nothing, bob's release came first), but that
// is no removal anyone acts on, and SweepRemoved counted it. When the
// counter was written before grants recorded their holder and time (it
// has the token only), its zero acquiredAt passed the check of the
// grant's time, and the change feed got an expired with no holder; it
// now gets none, while clients still get the expired, which they match
// by token.
func TestTTLRemovedLockOfAnotherGrant(t *testing.T) {
	const acquire, release = o1Acquire, o1Release
	entity := o1Entity
	cases := []struct {
		name    string
		steps   func(tt *ttlTable, e *sweepEnv)
		feed    string
		counted float64
	}{
		{"taken and released by bob", func(tt *ttlTable, e *sweepEnv) {
			tt.clock.Advance(time.Second)
			e.ok("bob", acquire)
			e.ok("bob", release)
		}, "[1 acquired ann 2 acquired bob 2 released bob]", 0},
		{"counter without holder", func(tt *ttlTable, _ *sweepEnv) {
			_, err := tt.client.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: aws.String(tt.name),
				Key: itemKey(store.LockPK(entity), store.SKFence), UpdateExpression: aws.String("REMOVE holder, holderName, acquiredAt")})
			if err != nil {
				t.Fatal(err)
			}
		}, "[1 acquired ann]", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := newTTLTable(t)
			var out bytes.Buffer
			e := newSweepEnvMetrics(t, tt.clock, tt.st, handler.PresenceConfig{}, &sweepPoster{}, &out, "ann", "bob")
			e.ok("ann", acquire)
			e.clock.Advance(5 * time.Second)
			tt.expire(store.LockPK(entity), store.SKLock)
			r := ttlRemoval(t, store.LockPK(entity), store.SKLock, 1)
			r.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: tt.clock.Now()}
			c.steps(tt, e)
			out.Reset()
			if again := e.deliver(r); len(again) != 0 {
				t.Fatalf("the answer asks again for %v", again)
			}
			var doc map[string]any
			if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &doc); err != nil {
				t.Fatalf("metrics %q: %v", out.String(), err)
			}
			got := fmt.Sprint(lockFeed(t, tt.st, entity))
			t.Logf("change feed of o1: %s; SweepRemoved %v", got, doc["SweepRemoved"])
			if got != c.feed {
				t.Errorf("change feed of o1: %s, want %s", got, c.feed)
			}
			if n, _ := doc["SweepRemoved"].(float64); n != c.counted {
				t.Errorf("SweepRemoved = %v, want %v", doc["SweepRemoved"], c.counted)
			}
		})
	}
}

// TestTTLRemovedLockGrantedAfterwards: ann's lock on o1 expires and TTL
// deletes it. Carol's acquire had started just before (its acquiredAt,
// the request's start, lies before the removal's whole second) and found
// the lock gone once TTL had removed it; she released before the
// record came. Her grant passed as the one TTL removed, and the change
// feed got an expired after her release. The counter now records when the
// store wrote the grant, after seeing the lock free: later than the
// removal, so her grant gets nothing. A counter written before grants
// recorded that time keeps the former rule, and the hole.
func TestTTLRemovedLockGrantedAfterwards(t *testing.T) {
	// legacy: the counter was last written by an earlier version, without
	// grantedAt; stale: an earlier version wrote carol's grant over a
	// counter whose grantedAt is an older grant's (a rollback, or
	// functions part-updated).
	for _, counter := range []string{"current", "legacy", "stale"} {
		t.Run(counter, func(t *testing.T) {
			tt := newTTLTable(t)
			var lag time.Duration // how long a request takes to reach the store
			tt.st = dynamo.New(tt.client, tt.name, func() time.Time { return tt.clock.Now().Add(lag) })
			e := newSweepEnv(t, tt.clock, tt.st, "ann", "carol")
			e.ok("ann", o1Acquire)
			e.clock.Advance(5*time.Second + 500*time.Millisecond)
			tt.expire(store.LockPK(o1Entity), store.SKLock)
			r := ttlRemoval(t, store.LockPK(o1Entity), store.SKLock, 1)
			r.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: tt.clock.Now().Add(600 * time.Millisecond)}
			lag = 800 * time.Millisecond
			e.ok("carol", o1Acquire)
			lag = 0
			e.clock.Advance(time.Second)
			e.ok("carol", o1Release)
			want := "[1 acquired ann 2 acquired carol 2 released carol]"
			if counter != "current" {
				in := &dynamodb.UpdateItemInput{TableName: aws.String(tt.name),
					Key: itemKey(store.LockPK(o1Entity), store.SKFence), UpdateExpression: aws.String("REMOVE grantedAt")}
				// The former rule applies, and its gap shows.
				want = "[1 acquired ann 2 acquired carol 2 expired carol 2 released carol]"
				if counter == "stale" {
					in.UpdateExpression = aws.String("SET grantedAt = :g")
					in.ExpressionAttributeValues = map[string]types.AttributeValue{
						":g": &types.AttributeValueMemberS{Value: tt.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)}}
					// A record from before carol's request: the former rule
					// tells her grant from the removed one, a stale
					// grantedAt would not.
					r.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: tt.clock.Now().Add(-1500 * time.Millisecond)}
					want = "[1 acquired ann 2 acquired carol 2 released carol]"
				}
				if _, err := tt.client.UpdateItem(t.Context(), in); err != nil {
					t.Fatal(err)
				}
			}
			e.deliver(r)
			got := fmt.Sprint(lockFeed(t, tt.st, o1Entity))
			t.Logf("change feed of o1: %s", got)
			if got != want {
				t.Errorf("change feed of o1: %s, want %s", got, want)
			}
		})
	}
}
