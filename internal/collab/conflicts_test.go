package collab_test

import (
	"encoding/json"
	"testing"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/protocol"
)

// conflicted returns a fixture whose pricing entity holds price 2 (ann's
// version 2) and bob's conflicting price 3, based on version 1.
func conflicted(t *testing.T) (*fixture, protocol.Conflict) {
	t.Helper()
	f := newFixture(t, collab.Config{})
	e := entity("pricing", "p")
	f.mustChange("ann", "m0", change(e, 0, "insert", "price", 1))
	f.mustChange("ann", "m1", change(e, 1, "update", "price", 2))
	ack := f.mustChange("bob", "m2", change(e, 1, "update", "price", 3))
	if ack.Conflict == nil {
		t.Fatalf("outcome %s, want a conflict", ack.Outcome)
	}
	f.rec.take()
	return f, *ack.Conflict
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name       string
		resolution string
		merged     string
		price      any // the price after it
		version    int64
		code       protocol.Code
	}{
		{"local", "local", "", json.Number("3"), 3, ""},
		{"remote", "remote", "", json.Number("2"), 3, ""},
		{"merged", "merged", `4`, json.Number("4"), 3, ""},
		{"merged to the current value", "merged", ` 2 `, json.Number("2"), 3, ""},
		{"merged without a value", "merged", "", nil, 0, protocol.CodeBadRequest},
		{"merged not JSON", "merged", `{`, nil, 0, protocol.CodeBadRequest},
		{"unknown resolution", "mine", "", nil, 0, protocol.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, cf := conflicted(t)
			e := entity("pricing", "p")
			p := protocol.ResolvePayload{EntityRef: ref(e), ConflictID: cf.ID, Resolution: tt.resolution, MergedValue: json.RawMessage(tt.merged)}
			ack, err := f.svc.Resolve(f.ctx, f.call("cy", "r1"), e, p)
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ack.Version != tt.version || ack.Conflict == nil || !ack.Conflict.Resolved || ack.Conflict.ResolvedBy != "cy" {
				t.Fatalf("ack %+v, want version %d and the conflict resolved by cy", ack, tt.version)
			}
			if ack.Applied != (tt.version == 3) || (ack.Applied && ack.Conflict.ResolvedVersion != 3) {
				t.Errorf("applied %v, resolvedVersion %d", ack.Applied, ack.Conflict.ResolvedVersion)
			}
			events := f.rec.take()
			last := events[len(events)-1]
			if last.kind != "notify" || last.messageID != "cfl-"+cf.ID+"-resolved" || len(last.users) != 3 {
				t.Errorf("last event %+v, want the resolution to bob, ann and cy", last)
			}
			r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Document["price"] != tt.price || len(r.Conflicts) != 0 {
				t.Errorf("price %v (%T), conflicts %d; want %v and none", r.Document["price"], r.Document["price"], len(r.Conflicts), tt.price)
			}
			// Resolving it again under another messageId is refused.
			_, err = f.svc.Resolve(f.ctx, f.call("cy", "r2"), e, p)
			wantCode(t, err, protocol.CodeConflictResolved)
		})
	}
}

func TestResolveUnknown(t *testing.T) {
	f, _ := conflicted(t)
	e := entity("pricing", "p")
	for _, id := range []string{"nope", "", "a#b"} {
		_, err := f.svc.Resolve(f.ctx, f.call("cy", "r-"+id), e, protocol.ResolvePayload{EntityRef: ref(e), ConflictID: id, Resolution: "local"})
		want := protocol.CodeNotFound
		if id != "nope" {
			want = protocol.CodeBadRequest
		}
		wantCode(t, err, want)
	}
}

// TestConflictShiftedListElement: on a pricing entity, bob inserts a tier
// at the front and then changes tier 20 (now tiers[2]); ann, still at
// version 1, changes the same tier (tiers[1] in her copy). Her change is
// held back as a conflict, not merged over bob's price, and resolving it
// writes the tier where it now stands.
func TestConflictShiftedListElement(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("pricing", "p1")
	f.mustChange("bob", "b0", change(e, 0, "update", "tiers", []any{10, 20}))
	f.mustChange("bob", "b1", change(e, 1, "insert", "tiers[0]", 5))
	f.mustChange("bob", "b2", change(e, 2, "update", "tiers[2]", 22))
	ack := f.mustChange("ann", "a1", change(e, 1, "update", "tiers[1]", 25))
	if ack.Outcome != "conflict" || ack.Conflict == nil || ack.Conflict.RemoteChange.Version != 3 {
		t.Fatalf("outcome %q, conflict %+v; want a conflict with bob's version 3", ack.Outcome, ack.Conflict)
	}
	res, err := f.svc.Resolve(f.ctx, f.call("ann", "r1"), e, protocol.ResolvePayload{EntityRef: ref(e), ConflictID: ack.Conflict.ID,
		Resolution: "merged", MergedValue: json.RawMessage(`23`)})
	if err != nil || !res.Applied {
		t.Fatalf("resolve: %+v, %v", res, err)
	}
	r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e)})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(r.Document["tiers"]); string(b) != "[5,10,23]" {
		t.Errorf("tiers %s, want [5,10,23]", b)
	}
}
