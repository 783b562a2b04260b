package e2e_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/gateway"
)

// TestEditingSurvivesRestart stops the local server and starts a new one
// on the same DynamoDB table: a manual-strategy conflict is still there
// to be resolved, and the next lock grant's fencing token is above every
// token granted before the restart.
func TestEditingSurvivesRestart(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: the restart test needs DynamoDB (make test starts moto)")
	}
	table := fmt.Sprintf("ed-restart-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	settings := app.Settings{DevIdentity: true, TableName: table, DynamoDBEndpoint: ep, Region: "us-east-1"}
	lock := map[string]any{"entityType": "order", "entityId": "r1"}

	srv := startServer(t, settings, gateway.Config{})
	alice, bob := edT{t, edDial(t, srv, "alice")}, edT{t, edDial(t, srv, "bob")}
	alice.ack("change", change("pricing", "r1", 0, "update", "price", after(100)))
	alice.ack("change", change("pricing", "r1", 1, "update", "price", after(110)))
	held := ackOf(t, bob.ack("change", change("pricing", "r1", 1, "update", "price", after(120))))
	if held.Conflict == nil {
		t.Fatalf("no conflict: %+v", held)
	}
	var got struct{ Lock wireLock }
	for range 3 {
		decodeInto(t, alice.ack("lock.acquire", lock), &got)
		alice.ack("lock.release", lock)
	}
	before := got.Lock.FencingToken
	decodeInto(t, bob.ack("lock.acquire", lock), &got) // held across the restart until bob's connection closes
	before = max(before, got.Lock.FencingToken)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Logf("close: %v", err)
	}

	srv2 := startServer(t, settings, gateway.Config{})
	carol := edT{t, edDial(t, srv2, "carol")}
	var s wireSync
	decodeInto(t, carol.ack("sync", syncReq("pricing", "r1", 0, 0)), &s)
	if len(s.Conflicts) != 1 || s.Conflicts[0].ID != held.Conflict.ID || s.Version != 2 {
		t.Fatalf("after the restart sync lists %+v at version %d, want the conflict at version 2", s.Conflicts, s.Version)
	}
	res := ackOf(t, carol.ack("conflict.resolve", map[string]any{"entityType": "pricing", "entityId": "r1",
		"conflictId": held.Conflict.ID, "resolution": "local"}))
	if !res.Applied || res.Version != 3 || string(res.Change.After) != "120" {
		t.Fatalf("resolution after the restart: %+v", res)
	}
	decodeInto(t, carol.ack("lock.acquire", lock), &got)
	if got.Lock.FencingToken <= before {
		t.Fatalf("token after the restart %d, want above %d", got.Lock.FencingToken, before)
	}
	t.Logf("conflict %s resolved after the restart; fencing token %d before, %d after", held.Conflict.ID, before, got.Lock.FencingToken)
}
