package collab_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// storeFixture is a Service over st, a store of either kind, with a clock
// the test sets.
type storeFixture struct {
	t   *testing.T
	ctx context.Context
	st  store.Store
	svc *collab.Service // over st
	rec *recorder
	now time.Time
	cfg collab.Config
}

// serve returns a Service of the fixture's configuration and clock over
// st (the fixture's store, or one wrapping it).
func (sf *storeFixture) serve(st store.Editing) *collab.Service {
	return collab.New(sf.cfg, st, func() time.Time { return sf.now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// eachStore runs f on the memory store and, when DYNAMODB_TEST_ENDPOINT is
// set, on DynamoDB (moto) too, each in a subtest named after it.
func eachStore(t *testing.T, cfg collab.Config, f func(t *testing.T, sf *storeFixture)) {
	run := func(name string, open func(clock store.Clock) store.Store) {
		t.Run(name, func(t *testing.T) {
			sf := &storeFixture{t: t, ctx: t.Context(), rec: &recorder{}, now: epoch, cfg: cfg}
			sf.cfg.NoWriteQueue = true
			sf.st = open(func() time.Time { return sf.now })
			sf.svc = sf.serve(sf.st)
			f(t, sf)
		})
	}
	run("memory", func(clock store.Clock) store.Store { return memory.New(clock) })
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		return
	}
	run("dynamo", func(clock store.Clock) store.Store {
		client, err := dynamo.NewClient(t.Context(), ep, "")
		if err != nil {
			t.Fatal(err)
		}
		table := fmt.Sprintf("collab-%d", time.Now().UnixNano())
		if err := dynamo.CreateTable(t.Context(), client, table); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		return dynamo.New(client, table, clock)
	})
}

// call is a request by user (connection "c-"+user, stored) with messageId
// id.
func (sf *storeFixture) call(user, id string) collab.Call {
	conn := store.Connection{ID: "c-" + user, UserID: user, Username: user + " name", Tenant: "acme", ExpiresAt: sf.now.Add(time.Hour)}
	if err := sf.st.PutConnection(sf.ctx, conn); err != nil {
		sf.t.Fatal(err)
	}
	return collab.Call{Conn: conn, MessageID: id, RequestHash: "hash-" + id, Now: sf.now, Notify: sf.rec}
}

// TestChangeCRDTUnchangedFirst: a first change of a crdt entity that
// leaves the document as it is (a delete of a field never written, an
// increment by zero) stores only its merge state, with the entity still
// at version 0; the changes after it, based on version 0, and their undo
// are accepted on either store.
func TestChangeCRDTUnchangedFirst(t *testing.T) {
	zero := func(e store.EntityKey) protocol.ChangePayload {
		p := change(e, 0, "increment", "qty", nil)
		p.Delta = "0"
		return p
	}
	firsts := []struct {
		name  string
		first func(e store.EntityKey) protocol.ChangePayload
	}{
		{"delete of a missing field", func(e store.EntityKey) protocol.ChangePayload { return change(e, 0, "delete", "gone", nil) }},
		{"increment by zero", zero},
	}
	eachStore(t, collab.Config{}, func(t *testing.T, sf *storeFixture) {
		for i, tt := range firsts {
			t.Run(tt.name, func(t *testing.T) {
				e := entity("inventory", fmt.Sprintf("sku-%d", i))
				ack, err := sf.svc.Change(sf.ctx, sf.call("ann", tt.name+"/first"), e, tt.first(e))
				if err != nil || ack.Outcome != string(editing.KindUnchanged) || ack.Version != 0 {
					t.Fatalf("first change: %+v, %v; want unchanged at version 0", ack, err)
				}
				ack, err = sf.svc.Change(sf.ctx, sf.call("bob", tt.name+"/second"), e, change(e, 0, "insert", "name", "bolt"))
				if err != nil || !ack.Applied || ack.Version != 1 {
					t.Fatalf("change on base 0 after it: %+v, %v; want version 1", ack, err)
				}
				ack, err = sf.svc.Undo(sf.ctx, sf.call("bob", tt.name+"/undo"), e, 1, 0, nil)
				if err != nil || !ack.Applied || ack.Version != 2 {
					t.Fatalf("undo of version 1: %+v, %v; want version 2", ack, err)
				}
			})
		}
	})
}

// betweenReadAndCommit runs hook once, right after the LoadEntity of
// request messageID has read the entity: another instance's request that
// commits while this one decides.
type betweenReadAndCommit struct {
	store.Store
	messageID string
	hook      func()
}

func (s *betweenReadAndCommit) LoadEntity(ctx context.Context, e store.EntityKey, userID, messageID string) (store.EntityState, error) {
	st, err := s.Store.LoadEntity(ctx, e, userID, messageID)
	if h := s.hook; h != nil && messageID == s.messageID {
		s.hook = nil
		h()
	}
	return st, err
}

// TestChangeCRDTUnchangedNotLostToConcurrentWrite: a crdt delete of a
// field that holds no value leaves the document as it is (unchanged) and
// stores its tombstone in the head without a new version. A change
// decided on the head read before that commit is decided again, so the
// tombstone stays: a write stamped before the delete, arriving later,
// loses to it as it would have without the race.
func TestChangeCRDTUnchangedNotLostToConcurrentWrite(t *testing.T) {
	eachStore(t, collab.Config{}, func(t *testing.T, sf *storeFixture) {
		race := &betweenReadAndCommit{Store: sf.st, messageID: "write-y"}
		svc := sf.serve(race)
		e := entity("inventory", "sku-race")
		if _, err := svc.Change(sf.ctx, sf.call("ann", "seed"), e, change(e, 0, "insert", "y", 0)); err != nil {
			t.Fatal(err)
		}
		var del protocol.ChangeAck
		race.hook = func() {
			var err error
			del, err = svc.Change(sf.ctx, sf.call("bob", "delete-x"), e, change(e, 1, "delete", "x", nil))
			if err != nil {
				t.Errorf("concurrent delete of x: %v", err)
			}
		}
		ack, err := svc.Change(sf.ctx, sf.call("ann", "write-y"), e, change(e, 1, "update", "y", 1))
		if err != nil || !ack.Applied || ack.Version != 2 {
			t.Fatalf("write of y: %+v, %v; want version 2", ack, err)
		}
		if del.Outcome != string(editing.KindUnchanged) || del.Version != 1 {
			t.Fatalf("concurrent delete of x: %+v; want unchanged at version 1", del)
		}
		late := change(e, 2, "insert", "x", 5)
		late.HLC = &protocol.HLC{WallMs: sf.now.UnixMilli() - 1}
		ack, err = svc.Change(sf.ctx, sf.call("cai", "late-x"), e, late)
		if err != nil || ack.Outcome != string(editing.KindSuperseded) {
			t.Fatalf("write of x stamped before the accepted delete: %+v, %v; want superseded (the tombstone was lost)", ack, err)
		}
	})
}
