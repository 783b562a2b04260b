package collab_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
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
		{"merged with a number that underflows", "merged", `{"p":[1e-999999999]}`, nil, 0, protocol.CodeBadRequest},
		{"merged with a number too large", "merged", `1e309`, nil, 0, protocol.CodeBadRequest},
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

// heldBack returns a fixture of cfg whose pricing entity "p" has bob's changes
// (version i+1 based on version i) and, held back as a conflict, ann's
// change held, based on version 1.
func heldBack(t *testing.T, cfg collab.Config, bob []protocol.ChangePayload, held protocol.ChangePayload) (*fixture, protocol.Conflict) {
	t.Helper()
	f := newFixture(t, cfg)
	for i, c := range bob {
		base := int64(i)
		c.BaseVersion = &base
		f.mustChange("bob", fmt.Sprintf("b%d", i), c)
	}
	base := int64(1)
	held.BaseVersion = &base
	ack := f.mustChange("ann", "a1", held)
	if ack.Outcome != "conflict" || ack.Conflict == nil {
		t.Fatalf("outcome %q, want a conflict", ack.Outcome)
	}
	return f, *ack.Conflict
}

// storedBefore stores a copy of conflict id of e under a new id, without
// the record's fields named by omit, as a conflict stored before those
// fields existed, and returns the new id.
func storedBefore(t *testing.T, f *fixture, e store.EntityKey, id string, omit ...string) string {
	t.Helper()
	c, err := f.st.GetConflict(f.ctx, e, id)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(c.Data, &rec); err != nil {
		t.Fatal(err)
	}
	for _, k := range omit {
		if _, ok := rec[k]; !ok {
			t.Errorf("the stored conflict has no field %q: %s", k, c.Data)
		}
		delete(rec, k)
	}
	head, err := f.st.GetHead(f.ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	c.ID += "-old"
	if c.Data, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Commit(f.ctx, store.Commit{Entity: e, BaseVersion: head.Version, Conflict: &c}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// docOf is the JSON of e's document now.
func docOf(t *testing.T, f *fixture, e store.EntityKey) string {
	t.Helper()
	r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r.Document)
	return string(b)
}

// TestResolveLocalNoIntendedValue: a held-back move, increment or text
// edit whose target was deleted or replaced names no value to write in
// its place. Resolving it as local is refused (it wrote null over the
// list, number or string, which neither change asked for), also for a
// conflict stored before the record said so; remote still settles it.
func TestResolveLocalNoIntendedValue(t *testing.T) {
	e := entity("pricing", "p")
	tiers := change(e, 0, "update", "tiers", []any{10, 20, 30})
	move := func(from, to int) protocol.ChangePayload {
		mv := change(e, 1, "move", "tiers", nil)
		mv.From, mv.To = &from, &to
		return mv
	}
	inc := change(e, 1, "increment", "price", nil)
	inc.Delta = "5"
	text := change(e, 1, "text", "note", nil)
	text.Text = []doc.TextComponent{doc.TextInsert("x")}
	tests := []struct {
		name string
		bob  []protocol.ChangePayload
		held protocol.ChangePayload
		want string // the document, unchanged
	}{
		{"move of a deleted element", []protocol.ChangePayload{tiers, change(e, 1, "delete", "tiers[1]", nil)}, move(1, 2), `{"tiers":[10,30]}`},
		{"move of a replaced list", []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers", []any{7, 8, 9})}, move(0, 2), `{"tiers":[7,8,9]}`},
		{"increment of a deleted number", []protocol.ChangePayload{change(e, 0, "update", "price", 100), change(e, 1, "delete", "price", nil)}, inc, `{}`},
		{"text edit of a replaced string", []protocol.ChangePayload{change(e, 0, "update", "note", "ab"), change(e, 1, "update", "note", "cd")}, text, `{"note":"cd"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, cf := heldBack(t, collab.Config{}, tt.bob, tt.held)
			old := storedBefore(t, f, e, cf.ID, "intendedNone")
			for i, id := range []string{cf.ID, old} {
				_, err := f.svc.Resolve(f.ctx, f.call("ann", fmt.Sprintf("r%d", i)), e,
					protocol.ResolvePayload{EntityRef: ref(e), ConflictID: id, Resolution: "local"})
				wantCode(t, err, protocol.CodeBadRequest)
				if !strings.Contains(err.Error(), "no longer applies") {
					t.Errorf("message %q, want it to say the change no longer applies", err)
				}
				if got := docOf(t, f, e); got != tt.want {
					t.Fatalf("document %s after the refusal, want %s", got, tt.want)
				}
				ack, err := f.svc.Resolve(f.ctx, f.call("ann", fmt.Sprintf("q%d", i)), e,
					protocol.ResolvePayload{EntityRef: ref(e), ConflictID: id, Resolution: "remote"})
				if err != nil || ack.Conflict == nil || !ack.Conflict.Resolved {
					t.Fatalf("resolve as remote: %+v, %v", ack, err)
				}
				if got := docOf(t, f, e); got != tt.want {
					t.Fatalf("document %s after remote, want %s", got, tt.want)
				}
			}
		})
	}
}

// TestConflictBeforeFollowsElement: the held-back change of a conflict
// records as its before the value where it would write now: its list
// element's value where the element stands now (it was the value of the
// element now at the index it had at its base), none when the element was
// deleted (it was its neighbour's), and at an object key the key's value.
func TestConflictBeforeFollowsElement(t *testing.T) {
	e := entity("pricing", "p")
	tiers := change(e, 0, "update", "tiers", []any{10, 20, 30})
	tests := []struct {
		name string
		bob  []protocol.ChangePayload
		held protocol.ChangePayload
		want string
	}{
		{"shifted element", []protocol.ChangePayload{tiers, change(e, 1, "insert", "tiers[0]", 5), change(e, 2, "update", "tiers[2]", 22)},
			change(e, 1, "update", "tiers[1]", 25), "22"},
		{"deleted element", []protocol.ChangePayload{tiers, change(e, 1, "delete", "tiers[1]", nil)},
			change(e, 1, "update", "tiers[1]", 25), "null"},
		{"replaced key", []protocol.ChangePayload{change(e, 0, "update", "note", "ab"), change(e, 1, "update", "note", "cd")},
			change(e, 1, "update", "note", "ef"), `"cd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cf := heldBack(t, collab.Config{}, tt.bob, tt.held)
			if b, _ := json.Marshal(cf.LocalChange.Before); string(b) != tt.want {
				t.Errorf("localChange.before = %s, want %s", b, tt.want)
			}
		})
	}
}

// TestResolveFollowsElement: a conflict about a list element is settled
// where the element stands now, as followed from where it stood when the
// conflict was recorded; it is never written onto the element that slid
// into its old index. When the element was deleted (before or after the
// conflict), or the changes since the conflict are no longer kept, local
// and merged are refused and remote closes the conflict without a write;
// a held-back delete of an element that is gone needs no write. A
// held-back list insert inserts, where it would insert now, or clamped
// to the list's length when its list was replaced; as remote it writes
// nothing. Conflicts stored before the record kept where the change
// stood are followed from its base as far as the changes are kept.
func TestResolveFollowsElement(t *testing.T) {
	e := entity("pricing", "p")
	tiers := change(e, 0, "update", "tiers", []any{10, 20, 30})
	ins := func(i, v int) protocol.ChangePayload { return change(e, 0, "insert", fmt.Sprintf("tiers[%d]", i), v) }
	const refused = ""
	tests := []struct {
		name    string
		limit   int
		bob     []protocol.ChangePayload // versions 1.. before the conflict
		held    protocol.ChangePayload   // ann's, based on version 1
		later   []protocol.ChangePayload // cy's, after the conflict
		stored  bool                     // the conflict as stored before Rebased, RebasedAt and IntendedNone
		local   string                   // the tiers after each resolution; refused for a BAD_REQUEST
		merged  string                   // mergedValue 26
		remote  string
		applied bool // remote writes a version
	}{
		{name: "deleted before the conflict", bob: []protocol.ChangePayload{tiers, change(e, 1, "delete", "tiers[1]", nil)},
			held: change(e, 1, "update", "tiers[1]", 25), local: refused, merged: refused, remote: "[10,30]"},
		{name: "deleted after the conflict", bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers[1]", 21)},
			held: change(e, 1, "update", "tiers[1]", 25), later: []protocol.ChangePayload{change(e, 0, "delete", "tiers[1]", nil)},
			local: refused, merged: refused, remote: "[10,30]"},
		{name: "deleted after a conflict stored before", bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers[1]", 21)},
			held: change(e, 1, "update", "tiers[1]", 25), later: []protocol.ChangePayload{change(e, 0, "delete", "tiers[1]", nil)},
			stored: true, local: refused, merged: refused, remote: "[10,30]"},
		{name: "delete of a deleted element", bob: []protocol.ChangePayload{tiers, change(e, 1, "delete", "tiers[1]", nil)},
			held: change(e, 1, "delete", "tiers[1]", nil), local: "[10,30]", merged: refused, remote: "[10,30]"},
		{name: "shifted, base no longer kept", limit: 3, bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers[1]", 21)},
			held: change(e, 1, "update", "tiers[1]", 25), later: []protocol.ChangePayload{ins(0, 1), ins(0, 2), ins(0, 3)},
			local: "[3,2,1,10,25,30]", merged: "[3,2,1,10,26,30]", remote: "[3,2,1,10,21,30]", applied: true},
		{name: "shifted, changes since the conflict no longer kept", limit: 3, bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers[1]", 21)},
			held: change(e, 1, "update", "tiers[1]", 25), later: []protocol.ChangePayload{ins(0, 1), ins(0, 2), ins(0, 3), ins(0, 4)},
			local: refused, merged: refused, remote: "[4,3,2,1,10,21,30]"},
		{name: "shifted, stored before, base no longer kept", limit: 3, bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers[1]", 21)},
			held: change(e, 1, "update", "tiers[1]", 25), later: []protocol.ChangePayload{ins(0, 1), ins(0, 2), ins(0, 3)},
			stored: true, local: refused, merged: refused, remote: "[3,2,1,10,21,30]"},
		{name: "shifted, stored before, history kept", bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers[1]", 21)},
			held: change(e, 1, "update", "tiers[1]", 25), later: []protocol.ChangePayload{ins(0, 1)}, stored: true,
			local: "[1,10,25,30]", merged: "[1,10,26,30]", remote: "[1,10,21,30]", applied: true},
		{name: "insert, shifted", bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers[1]", 21)},
			held: ins(1, 15), later: []protocol.ChangePayload{ins(0, 5)},
			local: "[5,10,15,21,30]", merged: "[5,10,26,21,30]", remote: "[5,10,21,30]"},
		{name: "insert into a replaced list", bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers", []any{7, 8, 9})},
			held: ins(1, 15), local: "[7,15,8,9]", merged: "[7,26,8,9]", remote: "[7,8,9]"},
		{name: "insert into a list replaced by a shorter one", bob: []protocol.ChangePayload{tiers, change(e, 1, "update", "tiers", []any{7})},
			held: ins(3, 15), local: "[7,15]", merged: "[7,26]", remote: "[7]"},
	}
	for _, tt := range tests {
		for _, res := range []string{"local", "merged", "remote"} {
			t.Run(tt.name+"/"+res, func(t *testing.T) {
				f, cf := heldBack(t, collab.Config{HistoryLimit: tt.limit}, tt.bob, tt.held)
				id := cf.ID
				if tt.stored {
					id = storedBefore(t, f, e, cf.ID, "rebased", "rebasedAt")
				}
				for i, c := range tt.later {
					head, err := f.st.GetHead(f.ctx, e)
					if err != nil {
						t.Fatal(err)
					}
					c.BaseVersion = &head.Version
					f.mustChange("cy", fmt.Sprintf("c%d", i), c)
				}
				before := tiersOf(t, f, e)
				want := map[string]string{"local": tt.local, "merged": tt.merged, "remote": tt.remote}[res]
				p := protocol.ResolvePayload{EntityRef: ref(e), ConflictID: id, Resolution: res}
				if res == "merged" {
					p.MergedValue = json.RawMessage(`26`)
				}
				ack, err := f.svc.Resolve(f.ctx, f.call("ann", "r1"), e, p)
				got := tiersOf(t, f, e)
				if want == refused {
					wantCode(t, err, protocol.CodeBadRequest)
					if !strings.Contains(err.Error(), "list element the conflict is about was deleted") || got != before {
						t.Fatalf("error %v, tiers %s; want the element gone and the tiers unchanged (%s)", err, got, before)
					}
					return
				}
				if err != nil || ack.Conflict == nil || !ack.Conflict.Resolved {
					t.Fatalf("resolve: %+v, %v", ack, err)
				}
				if got != want {
					t.Errorf("tiers %s, want %s", got, want)
				}
				if res == "remote" && ack.Applied != tt.applied {
					t.Errorf("remote applied %v, want %v", ack.Applied, tt.applied)
				}
			})
		}
	}
}

// tiersOf is the JSON of the tiers of e now.
func tiersOf(t *testing.T, f *fixture, e store.EntityKey) string {
	t.Helper()
	r, err := f.svc.Sync(f.ctx, e, protocol.SyncPayload{EntityRef: ref(e)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r.Document["tiers"])
	return string(b)
}
