package dynamocheck

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

func S(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func N(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }

func connIt(id, tenant, user string, subs int64) item {
	return item{"pk": S(store.ConnPK(id)), "sk": S(store.SKMeta), "id": S(id), "tenant": S(tenant), "userId": S(user), "subCount": N(subs), "expiresAt": N(100)}
}

func indexIt(id, tenant, user string) item {
	return item{"pk": S(store.UserPK(tenant, user)), "sk": S(store.ConnPK(id)), "connId": S(id)}
}

func fwdIt(id, tenant, ch string, exp int64) item {
	return item{"pk": S(store.ChanPK(tenant, ch)), "sk": S(store.ConnPK(id)), "connId": S(id), "tenant": S(tenant), "channel": S(ch), "expiresAt": N(exp)}
}

func revIt(id, tenant, ch string, exp int64) item {
	return item{"pk": S(store.ConnPK(id)), "sk": S(store.SubSK(tenant, ch)), "connId": S(id), "tenant": S(tenant), "channel": S(ch), "expiresAt": N(exp)}
}

func countIt(tenant, user string, ids ...string) item {
	m := map[string]types.AttributeValue{}
	for _, id := range ids {
		m[id] = N(100)
	}
	return item{"pk": S(store.UserPK(tenant, user)), "sk": S(store.SKConnCount), "conns": &types.AttributeValueMemberM{Value: m}, "ver": N(1)}
}

func TestCheckItems(t *testing.T) {
	good := []item{
		connIt("c1", "a", "u1", 2), indexIt("c1", "a", "u1"),
		fwdIt("c1", "a", "order-updates", 100), revIt("c1", "a", "order-updates", 100),
		fwdIt("c1", "a", "order:1", 100), revIt("c1", "a", "order:1", 100),
		// Leftover pair of a removed connection: consistent on its own.
		fwdIt("gone", "a", "x", 50), revIt("gone", "a", "x", 50),
		{"pk": S("OTHER#a#order#1"), "sk": S("META")},
	}
	tests := []struct {
		name  string
		items []item
		want  []string // substrings of the violations, in order
	}{
		{"consistent", good, nil},
		{"missing reverse", append(clone(good[:4]), fwdIt("c1", "a", "y", 100)), []string{"subCount 2, 1", "no reverse item"}},
		{"missing forward", []item{connIt("c1", "a", "u1", 1), indexIt("c1", "a", "u1"), revIt("c1", "a", "y", 100)}, []string{"has no subscription item"}},
		{"expiry differs", []item{fwdIt("z", "a", "y", 100), revIt("z", "a", "y", 99)}, []string{"expiry 100, reverse item 99"}},
		{"no index", []item{connIt("c1", "a", "u1", 0)}, []string{"no user index entry"}},
		{"index without connection", []item{indexIt("c1", "a", "u1")}, []string{"does not exist"}},
		{"wrong index", []item{connIt("c1", "a", "u1", 0), indexIt("c1", "b", "u1")}, []string{"is indexed under"}},
		{"counted for its user, and gone", append(clone(good), countIt("a", "u1", "c1", "gone")), nil},
		{"counted for another user", append(clone(good), countIt("a", "u2", "c1")), []string{"is counted in"}},
		{"cross tenant", []item{connIt("c1", "a", "u1", 1), indexIt("c1", "a", "u1"), fwdIt("c1", "b", "y", 100), revIt("c1", "b", "y", 100)}, []string{"of tenant \"b\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkItems(tt.items, nil)
			if len(r.Violations) != len(tt.want) {
				t.Fatalf("violations = %q, want %d", r.Violations, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(r.Violations[i], w) {
					t.Errorf("violation %d = %q, want it to mention %q", i, r.Violations[i], w)
				}
			}
		})
	}
	if r := checkItems(good, nil); r.Kinds["other:OTHER"] != 1 || r.Kinds["subscription"] != 3 {
		t.Fatalf("kinds = %v", r.Kinds)
	}
}

func clone(items []item) []item { return append([]item(nil), items...) }

// newTable creates a table named after prefix on the server
// DYNAMODB_TEST_ENDPOINT names (make test), and the store on it; without
// one the test is skipped.
func newTable(t *testing.T, prefix string) (*dynamodb.Client, string, *dynamo.Store) {
	t.Helper()
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT not set")
	}
	client, err := dynamo.NewClient(t.Context(), ep, "us-east-1", dynamo.SerialHTTP())
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if err := dynamo.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	return client, table, dynamo.New(client, table, nil)
}

// TestCheckOnDynamoDB builds state through the real store, checks it, then
// breaks one pair behind the store's back and expects the checker to see
// it. It runs when DYNAMODB_TEST_ENDPOINT names a server (make test).
func TestCheckOnDynamoDB(t *testing.T) {
	ctx := context.Background()
	client, table, st := newTable(t, "check")
	now := time.Now()
	for i, tenant := range []string{"a", "b"} {
		c := store.Connection{ID: fmt.Sprintf("conn%d=", i), UserID: "u", Tenant: tenant, ConnectedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"order-updates", "order:1"} {
			if _, err := st.Subscribe(ctx, tenant, ch, c.ID, 10); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.Unsubscribe(ctx, "a", "order:1", "conn0="); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.DeleteConnection(ctx, "conn1="); err != nil {
		t.Fatal(err)
	}
	r := Require(t, client, table, nil)
	if r.Kinds["subscription"] != 1 || r.Kinds["connection"] != 1 {
		t.Fatalf("kinds = %v", r.Kinds)
	}

	_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(table),
		Key:       item{"pk": S(store.ConnPK("conn0=")), "sk": S(store.SubSK("a", "order-updates"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err = Check(ctx, client, table, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Violations) != 2 || !strings.Contains(r.Violations[0], "subCount 1, 0") || !strings.Contains(r.Violations[1], "no reverse item") {
		t.Fatalf("violations = %q", r.Violations)
	}
}

// TestCheckLockTokensOnDynamoDB takes a lock through the real store,
// then lowers its entity's fencing counter behind the store's back: the
// checker reads the tokens under the names the store writes them.
func TestCheckLockTokensOnDynamoDB(t *testing.T) {
	ctx := context.Background()
	client, table, st := newTable(t, "check-locks")
	now := time.Now()
	c := store.Connection{ID: "conn0=", UserID: "u", Tenant: "a", ConnectedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.PutConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	e := store.EntityKey{Tenant: "a", Type: "order", ID: "1"}
	for range 2 { // the second grant takes token 2
		l, err := st.AcquireLock(ctx, store.Lock{Entity: e, Holder: "u", ConnID: c.ID, AcquiredAt: now, ExpiresAt: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if l.Token == 1 {
			if _, err := st.ReleaseLock(ctx, e, "u"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r := Require(t, client, table, nil); r.Kinds["lock"] != 1 || r.Kinds["fencing counter"] != 1 {
		t.Fatalf("kinds = %v", r.Kinds)
	}
	_, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       item{"pk": S(store.LockPK(e)), "sk": S(store.SKFence)},
		UpdateExpression:          aws.String("SET #t = :t"),
		ExpressionAttributeNames:  map[string]string{"#t": attrFencingToken},
		ExpressionAttributeValues: item{":t": N(1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Check(ctx, client, table, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Violations) != 1 || !strings.Contains(r.Violations[0], "fencing token 2 above its counter 1") {
		t.Fatalf("violations = %q, want the lock's token 2 above its counter 1", r.Violations)
	}
}

func lockIt(tenant, id, conn, holder string, token int64) item {
	return item{"pk": S("LOCK#" + tenant + "#order#" + id), "sk": S(store.SKLock), "connId": S(conn), "holder": S(holder), attrFencingToken: N(token)}
}

func fenceIt(tenant, id string, token int64) item {
	return item{"pk": S("LOCK#" + tenant + "#order#" + id), "sk": S(store.SKFence), attrFencingToken: N(token)}
}

func revLockIt(conn, tenant, id string) item {
	return item{"pk": S(store.ConnPK(conn)), "sk": S("LOCK#" + tenant + "#order#" + id)}
}

func headIt(tenant, id string, v int64) item {
	return item{"pk": S("ENT#" + tenant + "#order#" + id), "sk": S(store.SKHead), "version": N(v)}
}

func changeIt(tenant, id string, v int64) item {
	return item{"pk": S("ENT#" + tenant + "#order#" + id), "sk": S(store.ChangeSK(v)), "version": N(v)}
}

func sessionIt(tenant, user, conn string, rooms ...string) item {
	it := item{"pk": S(store.PresencePK(tenant)), "sk": S(store.PresenceSK(user, conn)), "tenant": S(tenant), "userId": S(user), "connId": S(conn)}
	if len(rooms) > 0 {
		l := &types.AttributeValueMemberL{}
		for _, r := range rooms {
			l.Value = append(l.Value, S(r))
		}
		it["rooms"] = l
	}
	return it
}

func roomIt(tenant, room, user, conn string) item {
	return item{"pk": S(store.RoomPK(tenant, room)), "sk": S(store.PresenceSK(user, conn)), "tenant": S(tenant), "room": S(room), "userId": S(user), "connId": S(conn)}
}

func TestCheckFeatureItems(t *testing.T) {
	tests := []struct {
		name   string
		window int64
		items  []item
		want   []string
	}{
		{"consistent", 2, []item{
			lockIt("a", "1", "c1", "u1", 3), fenceIt("a", "1", 3), revLockIt("c1", "a", "1"), fenceIt("a", "2", 7),
			headIt("a", "1", 3), changeIt("a", "1", 2), changeIt("a", "1", 3), changeIt("a", "1", 1),
			sessionIt("a", "u1", "c1", "dash", "room:x"), roomIt("a", "dash", "u1", "c1"), roomIt("a", "room:x", "u1", "c1"),
			sessionIt("a", "u2", "c2"),
		}, nil},
		{"second holder", 1, []item{lockIt("a", "1", "c1", "u1", 3), fenceIt("a", "1", 3), revLockIt("c1", "a", "1"), revLockIt("c2", "a", "1")},
			[]string{`connection "c2" has a reverse item for lock`}},
		{"lock without reverse", 1, []item{lockIt("a", "1", "c1", "u1", 3), fenceIt("a", "1", 3)}, []string{"has no reverse item"}},
		{"token above counter", 1, []item{lockIt("a", "1", "c1", "u1", 4), fenceIt("a", "1", 3), revLockIt("c1", "a", "1")}, []string{"above its counter"}},
		{"missing change", 2, []item{headIt("a", "1", 3), changeIt("a", "1", 3)}, []string{"no change for version 2"}},
		{"change beyond head", 1, []item{headIt("a", "1", 1), changeIt("a", "1", 1), changeIt("a", "1", 2)}, []string{"beyond its head"}},
		{"change without head", 1, []item{changeIt("a", "9", 1)}, []string{"beyond its head"}},
		{"room entry without session", 1, []item{roomIt("a", "dash", "u1", "c1")}, []string{"no session listing"}},
		{"session room without entry", 1, []item{sessionIt("a", "u1", "c1", "dash")}, []string{"which has no entry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkItems(tt.items, &Options{HistoryWindow: tt.window})
			if len(r.Violations) != len(tt.want) {
				t.Fatalf("violations = %q, want %d", r.Violations, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(r.Violations[i], w) {
					t.Errorf("violation %d = %q, want it to mention %q", i, r.Violations[i], w)
				}
			}
		})
	}
}
