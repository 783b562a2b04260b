// Package dynamocheck is test tooling: a consistency checker that reads the
// whole single table (store/schema.go) with Scan and reports every broken
// invariant. No production path may scan the table; the fault-injection
// tests call Check after each run, once traffic has stopped.
//
// Invariants checked:
//
//   - every subscription item (CHAN#<tenant>#<channel>, CONN#<id>) has its
//     reverse item (CONN#<id>, SUB#<tenant>#<channel>) and the other way
//     round, with the same tenant, channel, connection and expiry;
//   - every connection item has its user index entry and every user index
//     entry its connection item, with the same tenant and user;
//   - a connection's subCount equals the number of its reverse
//     subscription items;
//   - no subscription of one tenant is filed under another tenant's keys;
//   - every version has its change: an entity head at version N has the
//     changes of the last Options.HistoryWindow versions up to N, no change
//     lies above N, and no change exists without its head;
//   - no lock has two holders: every reverse lock item (CONN#<id>,
//     LOCK#...) belongs to the connection the lock item names, every lock
//     item has its reverse item, and no lock's fencing token is above its
//     entity's fencing counter;
//   - every room entry has its connection's session and the session lists
//     the room, and every room a session lists has its entry;
//   - a connection counted in a user's connection count (USER#<tenant>#
//     <userId>, CONNS) whose item exists belongs to that user.
//
// Items of kinds it does not know are counted and otherwise ignored, so
// features can add items before the checker learns their invariants.
//
// Entry points: Check returns the violations; Require fails a test on any.
package dynamocheck

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// attrFencingToken names the token of a lock item and of an entity's
// fencing counter, as the dynamo store writes them.
const attrFencingToken = "fencingToken"

// Report is the outcome of one Check.
type Report struct {
	// Items is the number of items scanned.
	Items int
	// Kinds counts the items by kind ("connection", "subscription", ...,
	// "other:<prefix>").
	Kinds map[string]int
	// Violations describes each broken invariant, sorted.
	Violations []string
}

// OK reports whether no invariant is broken.
func (r Report) OK() bool { return len(r.Violations) == 0 }

type item = map[string]types.AttributeValue

// Options tune Check. A nil *Options means every default.
type Options struct {
	// HistoryWindow is how many of an entity's latest versions must have
	// their change item (the handler's history limit; older changes are
	// trimmed). Default 1: the head version's change only.
	HistoryWindow int64
}

// Check scans table and checks the invariants above. It returns an error
// only when the table cannot be read.
func Check(ctx context.Context, client *dynamodb.Client, table string, o *Options) (Report, error) {
	items, err := scan(ctx, client, table)
	if err != nil {
		return Report{}, err
	}
	return checkItems(items, o), nil
}

// Require runs Check and fails t on an error or any violation. It logs the
// item counts.
func Require(t testing.TB, client *dynamodb.Client, table string, o *Options) Report {
	t.Helper()
	r, err := Check(context.Background(), client, table, o)
	if err != nil {
		t.Fatalf("consistency check of %q: %v", table, err)
	}
	t.Logf("consistency check of %q: %d items %v", table, r.Items, r.Kinds)
	for _, v := range r.Violations {
		t.Errorf("inconsistent: %s", v)
	}
	if !r.OK() {
		t.FailNow()
	}
	return r
}

// scan reads every item with consistent reads.
func scan(ctx context.Context, client *dynamodb.Client, table string) ([]item, error) {
	var (
		out   []item
		start item
	)
	for {
		page, err := client.Scan(ctx, &dynamodb.ScanInput{
			TableName:         aws.String(table),
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("dynamocheck: scan %q: %w", table, err)
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// sub is one side of a subscription pair, as found.
type sub struct {
	tenant, channel, connID, expires string
}

func checkItems(items []item, o *Options) Report {
	window := int64(1)
	if o != nil && o.HistoryWindow > 0 {
		window = o.HistoryWindow
	}
	r := Report{Items: len(items), Kinds: map[string]int{}}
	bad := func(format string, args ...any) { r.Violations = append(r.Violations, fmt.Sprintf(format, args...)) }

	type conn struct {
		tenant, userID string
		subCount       int64
	}
	var (
		conns    = map[string]conn{}            // connection id -> connection item
		index    = map[string]string{}          // connection id -> user index pk
		forward  = map[[3]string]sub{}          // (tenant, channel, conn) -> forward item
		reverse  = map[[3]string]sub{}          // (tenant, channel, conn) -> reverse item
		revCount = map[string]int64{}           // connection id -> reverse items
		indexOf  = map[string]map[string]bool{} // user index pk -> connection ids
		counted  = map[string][]string{}        // user pk -> connection ids in its count

		locks       = map[string]lockInfo{}           // lock pk -> lock item
		fences      = map[string]int64{}              // lock pk -> fencing counter
		revLocks    = map[string][]string{}           // lock pk -> connections with a reverse item
		heads       = map[string]int64{}              // entity pk -> head version
		changes     = map[string]map[int64]bool{}     // entity pk -> change versions
		sessions    = map[[3]string]map[string]bool{} // (tenant, user, conn) -> rooms listed
		roomEntries []roomEntry
	)
	for _, it := range items {
		pk, sk := s(it, store.AttrPK), s(it, store.AttrSK)
		switch {
		case strings.HasPrefix(pk, store.PrefixConn) && sk == store.SKMeta:
			r.Kinds["connection"]++
			id := strings.TrimPrefix(pk, store.PrefixConn)
			conns[id] = conn{tenant: s(it, "tenant"), userID: s(it, "userId"), subCount: n(it, "subCount")}
			if got := s(it, "id"); got != "" && got != id {
				bad("connection %q: id attribute %q", pk, got)
			}
		case strings.HasPrefix(pk, store.PrefixUser) && sk == store.SKConnCount:
			r.Kinds["connection count"]++
			if m, ok := it["conns"].(*types.AttributeValueMemberM); ok {
				for id := range m.Value {
					counted[pk] = append(counted[pk], id)
				}
			}
		case strings.HasPrefix(pk, store.PrefixUser) && strings.HasPrefix(sk, store.PrefixConn):
			r.Kinds["user index"]++
			id := strings.TrimPrefix(sk, store.PrefixConn)
			if prev, dup := index[id]; dup {
				bad("connection %q has two user index entries, %q and %q", id, prev, pk)
			}
			index[id] = pk
			if indexOf[pk] == nil {
				indexOf[pk] = map[string]bool{}
			}
			indexOf[pk][id] = true
		case strings.HasPrefix(pk, store.PrefixChan) && strings.HasPrefix(sk, store.PrefixConn):
			r.Kinds["subscription"]++
			f := sub{tenant: s(it, "tenant"), channel: s(it, "channel"), connID: s(it, "connId"), expires: raw(it, store.AttrExpiresAt)}
			if pk != store.ChanPK(f.tenant, f.channel) || sk != store.ConnPK(f.connID) {
				bad("subscription %q/%q: attributes say tenant %q channel %q connection %q", pk, sk, f.tenant, f.channel, f.connID)
			}
			forward[[3]string{f.tenant, f.channel, f.connID}] = f
		case strings.HasPrefix(pk, store.PrefixConn) && strings.HasPrefix(sk, store.PrefixSub):
			r.Kinds["reverse subscription"]++
			id := strings.TrimPrefix(pk, store.PrefixConn)
			b := sub{tenant: s(it, "tenant"), channel: s(it, "channel"), connID: s(it, "connId"), expires: raw(it, store.AttrExpiresAt)}
			if sk != store.SubSK(b.tenant, b.channel) || (b.connID != "" && b.connID != id) {
				bad("reverse subscription %q/%q: attributes say tenant %q channel %q connection %q", pk, sk, b.tenant, b.channel, b.connID)
			}
			b.connID = id
			reverse[[3]string{b.tenant, b.channel, id}] = b
			revCount[id]++
		case strings.HasPrefix(pk, store.PrefixConn) && strings.HasPrefix(sk, store.PrefixLock):
			r.Kinds["reverse lock"]++
			revLocks[sk] = append(revLocks[sk], strings.TrimPrefix(pk, store.PrefixConn))
		case strings.HasPrefix(pk, store.PrefixLock) && sk == store.SKLock:
			r.Kinds["lock"]++
			locks[pk] = lockInfo{connID: s(it, "connId"), holder: s(it, "holder"), token: n(it, attrFencingToken)}
		case strings.HasPrefix(pk, store.PrefixLock) && sk == store.SKFence:
			r.Kinds["fencing counter"]++
			fences[pk] = n(it, attrFencingToken)
		case strings.HasPrefix(pk, store.PrefixEntity) && sk == store.SKHead:
			r.Kinds["entity head"]++
			heads[pk] = n(it, "version")
		case strings.HasPrefix(pk, store.PrefixEntity) && strings.HasPrefix(sk, store.PrefixChange):
			r.Kinds["change"]++
			v, err := strconv.ParseInt(strings.TrimPrefix(sk, store.PrefixChange), 10, 64)
			if err != nil || store.ChangeSK(v) != sk {
				bad("change %q/%q: malformed version", pk, sk)
			} else if got := n(it, "version"); got != v {
				bad("change %q/%q: version attribute %d", pk, sk, got)
			}
			if changes[pk] == nil {
				changes[pk] = map[int64]bool{}
			}
			changes[pk][v] = true
		case strings.HasPrefix(pk, store.PrefixPresence) && strings.HasPrefix(sk, store.PrefixUser):
			r.Kinds["session"]++
			key := [3]string{s(it, "tenant"), s(it, "userId"), s(it, "connId")}
			if pk != store.PresencePK(key[0]) || sk != store.PresenceSK(key[1], key[2]) {
				bad("session %q/%q: attributes say tenant %q user %q connection %q", pk, sk, key[0], key[1], key[2])
			}
			rooms := map[string]bool{}
			if l, ok := it["rooms"].(*types.AttributeValueMemberL); ok {
				for _, v := range l.Value {
					if rs, ok := v.(*types.AttributeValueMemberS); ok {
						rooms[rs.Value] = true
					}
				}
			}
			sessions[key] = rooms
		case strings.HasPrefix(pk, store.PrefixRoom) && strings.HasPrefix(sk, store.PrefixUser):
			r.Kinds["room entry"]++
			e := roomEntry{tenant: s(it, "tenant"), room: s(it, "room"), userID: s(it, "userId"), connID: s(it, "connId")}
			if pk != store.RoomPK(e.tenant, e.room) || sk != store.PresenceSK(e.userID, e.connID) {
				bad("room entry %q/%q: attributes say tenant %q room %q user %q connection %q", pk, sk, e.tenant, e.room, e.userID, e.connID)
			}
			roomEntries = append(roomEntries, e)
		case strings.HasPrefix(pk, store.PrefixEntity) && strings.HasPrefix(sk, store.PrefixComment):
			r.Kinds["comment"]++
		case strings.HasPrefix(pk, store.PrefixEntity) && strings.HasPrefix(sk, store.PrefixConflict):
			r.Kinds["conflict"]++
		case strings.HasPrefix(pk, store.PrefixIdem):
			r.Kinds["idempotency"]++
		case strings.HasPrefix(pk, store.PrefixActivity):
			r.Kinds["activity"]++
		case strings.HasPrefix(pk, store.PrefixConn) && sk == store.SKAway:
			r.Kinds["away alarm"]++
		case strings.HasPrefix(pk, store.PrefixConn) && sk == store.SKToken:
			r.Kinds["token alarm"]++
		default:
			kind := pk
			if i := strings.IndexByte(pk, '#'); i >= 0 {
				kind = pk[:i]
			}
			r.Kinds["other:"+kind]++
		}
	}

	for k, f := range forward {
		b, ok := reverse[k]
		switch {
		case !ok:
			bad("subscription of connection %q to %q/%q has no reverse item", k[2], k[0], k[1])
		case b.expires != f.expires:
			bad("subscription of connection %q to %q/%q: expiry %s, reverse item %s", k[2], k[0], k[1], f.expires, b.expires)
		}
	}
	for k := range reverse {
		if _, ok := forward[k]; !ok {
			bad("reverse subscription of connection %q to %q/%q has no subscription item", k[2], k[0], k[1])
		}
	}
	for id, c := range conns {
		want := store.UserPK(c.tenant, c.userID)
		switch got, ok := index[id]; {
		case !ok:
			bad("connection %q (%s/%s) has no user index entry", id, c.tenant, c.userID)
		case got != want:
			bad("connection %q (%s/%s) is indexed under %q", id, c.tenant, c.userID, got)
		}
		if c.subCount != revCount[id] {
			bad("connection %q: subCount %d, %d subscriptions", id, c.subCount, revCount[id])
		}
		for k := range reverse {
			if k[2] == id && k[0] != c.tenant {
				bad("connection %q of tenant %q is subscribed to %q of tenant %q", id, c.tenant, k[1], k[0])
			}
		}
	}
	for pk, ids := range counted {
		for _, id := range ids {
			if c, ok := conns[id]; ok && store.UserPK(c.tenant, c.userID) != pk {
				bad("connection %q of %s/%s is counted in %q", id, c.tenant, c.userID, pk)
			}
		}
	}
	for id, pk := range index {
		if _, ok := conns[id]; !ok {
			bad("user index entry %q names connection %q, which does not exist", pk, id)
		}
	}
	for pk, l := range locks {
		if !slices.Contains(revLocks[pk], l.connID) {
			bad("lock %q held by %q on connection %q has no reverse item", pk, l.holder, l.connID)
		}
		if f, ok := fences[pk]; !ok || l.token > f {
			bad("lock %q has fencing token %d above its counter %d", pk, l.token, f)
		}
	}
	for pk, conns := range revLocks {
		for _, c := range conns {
			if l, ok := locks[pk]; !ok || l.connID != c {
				bad("connection %q has a reverse item for lock %q, which it does not hold", c, pk)
			}
		}
	}
	for pk, v := range heads {
		for w := max(v-window+1, 1); w <= v; w++ {
			if !changes[pk][w] {
				bad("entity %q at version %d has no change for version %d", pk, v, w)
			}
		}
	}
	for pk, vs := range changes {
		head, ok := heads[pk]
		for v := range vs {
			if !ok || v > head {
				bad("entity %q has a change for version %d beyond its head (version %d, present %v)", pk, v, head, ok)
			}
		}
	}
	for _, e := range roomEntries {
		rooms, ok := sessions[[3]string{e.tenant, e.userID, e.connID}]
		if !ok || !rooms[e.room] {
			bad("room entry of connection %q in %q/%q has no session listing the room", e.connID, e.tenant, e.room)
		}
	}
	for key, rooms := range sessions {
		for room := range rooms {
			if !slices.ContainsFunc(roomEntries, func(e roomEntry) bool {
				return e.tenant == key[0] && e.userID == key[1] && e.connID == key[2] && e.room == room
			}) {
				bad("session of connection %q in %q lists room %q, which has no entry", key[2], key[0], room)
			}
		}
	}
	sort.Strings(r.Violations)
	return r
}

// lockInfo is what the checker reads of a lock item.
type lockInfo struct {
	connID, holder string
	token          int64
}

// roomEntry is what the checker reads of a room entry.
type roomEntry struct {
	tenant, room, userID, connID string
}

func s(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func n(it item, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		x, _ := strconv.ParseInt(v.Value, 10, 64)
		return x
	}
	return 0
}

// raw renders a number or string attribute for comparison; "" when absent.
func raw(it item, name string) string {
	switch v := it[name].(type) {
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberS:
		return v.Value
	}
	return ""
}
