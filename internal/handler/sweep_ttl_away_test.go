package handler_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/store"
)

// stored reports whether the item (pk, sk) is in the table.
func (tt *ttlTable) stored(pk, sk string) bool {
	tt.t.Helper()
	out, err := tt.client.GetItem(tt.t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(tt.name), Key: itemKey(pk, sk), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		tt.t.Fatalf("GetItem %s %s: %v", pk, sk, err)
	}
	return out.Item != nil
}

// TestTTLRemovedAwayAlarmIsAnnounced: dave's client keeps its connection
// alive with heartbeats but sends no activity (a client without away
// detection of its own), so the server's away alarm turns him away for
// the others after 5 minutes. DynamoDB's TTL deletes the alarm, which is
// due, before a sweeper pass claims it: the pass never found it, and dave
// stayed online for bob until dave went offline. TTL's removal reaches the
// sweeper through the table's stream, and bob gets dave away (twice when
// the record is delivered twice, which clients take as once). When dave
// has been active again before the record is handled, no away follows
// his online. An alarm a pass claimed is deleted by the claim, so TTL never
// removes it and it is never announced again; and a removal whose
// connection is gone announces nothing.
func TestTTLRemovedAwayAlarmIsAnnounced(t *testing.T) {
	alarm := func() (string, string) { return store.ConnPK("dave"), store.SKAway }
	cases := []struct {
		name  string
		steps func(t *testing.T, tt *ttlTable, e *sweepEnv)
		want  string
	}{
		{"removed by TTL", func(t *testing.T, tt *ttlTable, e *sweepEnv) {
			tt.expire(alarm())
			e.pass()
			removal := ttlRemoval(t, store.ConnPK("dave"), store.SKAway, 2)
			e.deliver(removal)
			e.deliver(removal)
		}, "online away away"},
		{"active again before the record", func(t *testing.T, tt *ttlTable, e *sweepEnv) {
			tt.expire(alarm())
			e.ok("dave", `{"type":"presence","messageId":"a","payload":{"active":true}}`)
			e.deliver(ttlRemoval(t, store.ConnPK("dave"), store.SKAway, 2))
		}, "online online"}, // the second from his activity, as his status read away by then
		{"claimed by a pass", func(t *testing.T, tt *ttlTable, e *sweepEnv) {
			e.pass()
			if tt.stored(alarm()) {
				t.Error("the claimed alarm is still stored: TTL would remove it, and its removal be announced again")
			}
		}, "online away"},
		{"connection gone", func(t *testing.T, tt *ttlTable, e *sweepEnv) {
			tt.expire(alarm())
			if _, _, err := tt.st.DeleteConnection(t.Context(), "dave"); err != nil {
				t.Fatal(err)
			}
			if again := e.deliver(ttlRemoval(t, store.ConnPK("dave"), store.SKAway, 2)); len(again) != 0 {
				t.Errorf("the answer asks again for %v", again)
			}
		}, "online"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := newTTLTable(t)
			e := newSweepEnv(t, tt.clock, tt.st, "bob", "dave")
			e.ok("bob", `{"type":"subscribe","channel":"user-presence","messageId":"s1"}`)
			e.ok("dave", `{"type":"presence","messageId":"a","payload":{"active":true}}`)
			e.idle(11, []string{"bob"}, []string{"dave"}) // dave idle for 5.5 minutes, heartbeating
			c.steps(t, tt, e)
			got := e.poster.statuses("bob", "dave")
			t.Logf("user-presence events about dave: %v", got)
			if strings.Join(got, " ") != c.want {
				t.Errorf("bob got %v about dave, want [%s]", got, c.want)
			}
		})
	}
}
