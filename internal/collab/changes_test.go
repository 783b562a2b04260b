package collab_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestChangeRefusals lists requests refused before anything is written:
// each answers its code and leaves the entity at version 1.
func TestChangeRefusals(t *testing.T) {
	e := entity("customer", "c1")
	big := strings.Repeat("x", 11<<10)
	tests := []struct {
		name   string
		edit   func(p *protocol.ChangePayload)
		code   protocol.Code
		domain error // a domain error the handler maps, instead of code
	}{
		{"missing baseVersion", func(p *protocol.ChangePayload) { p.BaseVersion = nil }, protocol.CodeBadRequest, nil},
		{"unknown operation", func(p *protocol.ChangePayload) { p.Operation = "replace" }, protocol.CodeBadRequest, nil},
		{"update without after", func(p *protocol.ChangePayload) { p.After = nil }, protocol.CodeBadRequest, nil},
		{"after not JSON", func(p *protocol.ChangePayload) { p.After = json.RawMessage(`{`) }, protocol.CodeBadRequest, nil},
		{"after over 10 KiB", func(p *protocol.ChangePayload) { p.After, _ = json.Marshal(big) }, protocol.CodeBadRequest, nil},
		{"move without indexes", func(p *protocol.ChangePayload) { p.Operation = "move" }, protocol.CodeBadRequest, nil},
		{"increment without delta", func(p *protocol.ChangePayload) { p.Operation = "increment" }, protocol.CodeBadRequest, nil},
		{"text without text", func(p *protocol.ChangePayload) { p.Operation = "text" }, protocol.CodeBadRequest, nil},
		{"path too long", func(p *protocol.ChangePayload) { p.Path = strings.Repeat("a.", 600) + "a" }, "", nil},
		{"metadata not an object", func(p *protocol.ChangePayload) { p.Metadata = json.RawMessage(`[1]`) }, protocol.CodeBadRequest, nil},
		{"metadata too large", func(p *protocol.ChangePayload) {
			p.Metadata = json.RawMessage(`{"a":"` + strings.Repeat("<", 1000) + `"}`)
		}, protocol.CodeBadRequest, nil},
		{"base ahead of the entity", func(p *protocol.ChangePayload) { v := int64(5); p.BaseVersion = &v }, "", editing.ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			f.mustChange("ann", "m0", change(e, 0, "insert", "name", "Ann"))
			p := change(e, 1, "update", "name", "Bo")
			tt.edit(&p)
			_, err := f.svc.Change(f.ctx, f.call("ann", "m1"), e, p)
			switch {
			case tt.domain != nil:
				if !errors.Is(err, tt.domain) {
					t.Fatalf("Change = %v, want %v", err, tt.domain)
				}
				if d := protocol.DetailsOf(err); d["version"] != int64(1) {
					t.Errorf("details %v, want the version", d)
				}
			case tt.code != "":
				wantCode(t, err, tt.code)
			case err == nil:
				t.Fatal("Change accepted it")
			}
			if h, _ := f.st.GetHead(f.ctx, e); h.Version != 1 {
				t.Errorf("head version %d after a refusal, want 1", h.Version)
			}
		})
	}
}

// TestChangeOutcomes runs two writers, the second based on the version
// before the first's change, under each strategy.
func TestChangeOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		typ       string // its strategy: editing.DefaultStrategies
		second    protocol.ChangePayload
		outcome   editing.Kind
		version   int64
		overwrote int
	}{
		{"lww same path overwrites", "note", change(entity("note", "n"), 1, "update", "title", "Cy"), editing.KindApplied, 3, 1},
		{"ot other path merges", "customer", change(entity("customer", "n"), 1, "update", "phone", "2"), editing.KindMerged, 3, 0},
		{"manual same path conflicts", "pricing", change(entity("pricing", "n"), 1, "update", "title", "Cy"), editing.KindConflict, 2, 0},
		{"manual other path merges", "pricing", change(entity("pricing", "n"), 1, "update", "phone", "2"), editing.KindMerged, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			e := entity(tt.typ, "n")
			f.mustChange("ann", "m0", change(e, 0, "insert", "title", "Ann"))
			f.mustChange("bob", "m1", change(e, 1, "update", "title", "Bo"))
			f.rec.take()
			ack := f.mustChange("cy", "m2", tt.second)
			if editing.Kind(ack.Outcome) != tt.outcome || ack.Version != tt.version || len(ack.Overwrote) != tt.overwrote {
				t.Fatalf("ack = %s v%d overwrote %v; want %s v%d %d overwritten", ack.Outcome, ack.Version, ack.Overwrote, tt.outcome, tt.version, tt.overwrote)
			}
			if ack.Applied != tt.outcome.NewVersion() {
				t.Errorf("applied = %v", ack.Applied)
			}
			events := f.rec.take()
			switch tt.outcome {
			case editing.KindConflict:
				if ack.Conflict == nil || len(events) != 1 || events[0].kind != "notify" || events[0].typ != protocol.TypeEventConflict ||
					strings.Join(events[0].users, ",") != "cy,bob" {
					t.Fatalf("conflict %v, events %+v; want one conflict event to cy and bob", ack.Conflict, events)
				}
				c, err := f.st.GetConflict(f.ctx, e, ack.Conflict.ID)
				if err != nil || c.Resolved {
					t.Errorf("stored conflict %+v, %v", c, err)
				}
			default:
				if events[0].kind != "broadcast" || events[0].channel != "note:n" && events[0].channel != collab.Channel(e) ||
					events[0].typ != protocol.TypeEventChange || events[0].messageID != "chg-"+ack.Change.ID {
					t.Errorf("first event %+v, want the change on the entity channel", events[0])
				}
				if last := events[len(events)-1]; last.kind != "activity" || last.activity.Action != store.ActionUpdated {
					t.Errorf("last event %+v, want an updated activity", last)
				}
				if tt.overwrote > 0 && (events[1].kind != "notify" || events[1].users[0] != "bob" ||
					!strings.HasPrefix(events[1].messageID, "cfl-superseded-")) {
					t.Errorf("event %+v, want the overwritten writer told", events[1])
				}
			}
		})
	}
}

// TestChangeIdempotency: a resend of the same request gets the recorded
// reply, once written, and announces the change again under the same ids;
// another request under the same messageId is IDEMPOTENCY_MISMATCH.
func TestChangeIdempotency(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("note", "n")
	p := change(e, 0, "insert", "body", map[string]any{"n": json.Number("1.50"), "s": "<&>"})
	first := f.mustChange("ann", "m1", p)
	announced := ids(f.rec.take())
	again, err := f.svc.Change(f.ctx, f.call("ann", "m1"), e, p)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Errorf("resend reply\n%s\nwant\n%s", b, a)
	}
	if got := ids(f.rec.take()); !slices.Equal(got, announced) {
		t.Errorf("a resend announced %q, want %q", got, announced)
	}
	c := f.call("ann", "m1")
	c.RequestHash = "another request"
	_, err = f.svc.Change(f.ctx, c, e, change(e, 1, "update", "body", 2))
	wantCode(t, err, protocol.CodeIdempotencyMismatch)
	if h, _ := f.st.GetHead(f.ctx, e); h.Version != 1 {
		t.Errorf("version %d, want 1", h.Version)
	}
}

// TestChangeLockBased: orders are lock-based; a write needs the lock's
// current fencing token.
func TestChangeLockBased(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("order", "o1")
	_, err := f.svc.Change(f.ctx, f.call("ann", "m1"), e, change(e, 0, "insert", "qty", 1))
	if !errors.Is(err, editing.ErrLockRequired) {
		t.Fatalf("write without the lock = %v, want ErrLockRequired", err)
	}
	lock, err := f.svc.Acquire(f.ctx, f.call("ann", "l1"), e, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := change(e, 0, "insert", "qty", 1)
	p.FencingToken = lock.Lock.FencingToken + 1
	_, err = f.svc.Change(f.ctx, f.call("ann", "m2"), e, p)
	if !errors.Is(err, editing.ErrStaleToken) {
		t.Fatalf("write with another token = %v, want ErrStaleToken", err)
	}
	if d := protocol.DetailsOf(err); d["lock"] == nil {
		t.Errorf("details %v, want the lock", d)
	}
	p.FencingToken = lock.Lock.FencingToken
	if ack := f.mustChange("ann", "m3", p); ack.Version != 1 {
		t.Errorf("version %d", ack.Version)
	}
}

// TestChangeBaseOlderThanHistory: a change based on a version older than
// the history kept (0 too, on an entity changed more often than the
// history holds) is VERSION_CONFLICT with the version under every strategy
// but crdt, which merges by stamps. Last-write-wins and lock-based applied
// it, with none of the changes it replaced in overwrote.
func TestChangeBaseOlderThanHistory(t *testing.T) {
	for _, typ := range []string{"note", "order", "customer", "pricing", "inventory"} {
		t.Run(typ, func(t *testing.T) {
			f := newFixture(t, collab.Config{HistoryLimit: 3})
			e := entity(typ, "x")
			var token int64
			if typ == "order" {
				lock, err := f.svc.Acquire(f.ctx, f.call("ann", "l1"), e, 0)
				if err != nil {
					t.Fatal(err)
				}
				token = lock.Lock.FencingToken
			}
			write := func(id string, base int64, value any) (protocol.ChangeAck, error) {
				p := change(e, base, "update", "title", value)
				p.FencingToken = token
				return f.svc.Change(f.ctx, f.call("ann", id), e, p)
			}
			for i := range 5 {
				if _, err := write(fmt.Sprint("s", i), int64(i), i); err != nil {
					t.Fatal(err)
				}
			}
			for _, base := range []int64{0, 1} {
				ack, err := write(fmt.Sprint("old", base), base, "old")
				if typ == "inventory" {
					if err != nil {
						t.Fatalf("crdt at base %d: %v", base, err)
					}
					continue
				}
				if !errors.Is(err, editing.ErrStale) {
					t.Fatalf("base %d at version 5, 3 changes kept: %s v%d overwrote %v, %v; want ErrStale", base, ack.Outcome, ack.Version, ack.Overwrote, err)
				}
				if d := protocol.DetailsOf(err); d["version"] != int64(5) {
					t.Errorf("details %v, want the version", d)
				}
			}
			if typ != "note" && typ != "order" {
				return
			}
			// The oldest base whose later changes are all kept.
			ack, err := write("kept", 2, "kept")
			if err != nil || !ack.Applied || len(ack.Overwrote) != 3 {
				t.Fatalf("base 2: %s v%d overwrote %v, %v; want applied over 3", ack.Outcome, ack.Version, ack.Overwrote, err)
			}
		})
	}
}

// TestChangeCRDTStamp: a crdt stamp too far ahead of the server's clock is
// refused, and one within the skew is accepted.
func TestChangeCRDTStamp(t *testing.T) {
	tests := []struct {
		name string
		hlc  protocol.HLC
		ok   bool
	}{
		{"now", protocol.HLC{WallMs: epoch.UnixMilli()}, true},
		{"far future", protocol.HLC{WallMs: epoch.Add(time.Hour).UnixMilli()}, false},
		{"largest", protocol.HLC{WallMs: 1<<63 - 1, Counter: 1<<32 - 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			e := entity("inventory", "sku")
			p := change(e, 0, "update", "stock", 5)
			hlc := tt.hlc
			p.HLC = &hlc
			_, err := f.svc.Change(f.ctx, f.call("ann", "m1"), e, p)
			if tt.ok != (err == nil) {
				t.Fatalf("Change = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestChangeCRDTDeleteOfNothing: on a crdt entity a delete of a field that
// holds nothing is unchanged; its tombstone is kept among the newest
// editing.MaxTombstones only. Each used to be kept for good, so that a few
// hundred of them filled the merge state and every later write that added
// to it was refused.
func TestChangeCRDTDeleteOfNothing(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("inventory", "sku")
	f.mustChange("ann", "m0", change(e, 0, "update", "stock", 5))
	before, err := f.st.LoadEntity(f.ctx, e, "", "")
	if err != nil {
		t.Fatal(err)
	}
	seg := strings.Repeat("k", 240)
	pad := seg + "." + seg + "." + seg + "." + seg
	for i := range 400 {
		ack := f.mustChange("eve", fmt.Sprintf("d%d", i), change(e, 1, "delete", fmt.Sprintf("%s%04d", pad, i), nil))
		if ack.Outcome != string(editing.KindUnchanged) || ack.Applied {
			t.Fatalf("delete #%d: outcome %s, applied %v; want unchanged", i, ack.Outcome, ack.Applied)
		}
	}
	after, err := f.st.LoadEntity(f.ctx, e, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// Each delete leaves a tombstone (about 1 KB here), the newest
	// editing.MaxTombstones of them: far from the state's bound.
	if n := len(after.Head.State) - len(before.Head.State); n > (editing.MaxTombstones+1)*1200 {
		t.Errorf("state grew from %d to %d bytes", len(before.Head.State), len(after.Head.State))
	}
	if ack := f.mustChange("bob", "b1", change(e, 1, "update", "location", "B-4")); !ack.Applied {
		t.Fatalf("bob's write after the deletes: %s", ack.Outcome)
	}
	// A delete of a field that exists still applies.
	if ack := f.mustChange("eve", "d-loc", change(e, 2, "delete", "location", nil)); !ack.Applied {
		t.Fatalf("delete of location: %s", ack.Outcome)
	}
}

// TestTextEditBehindAnInsert: a text edit of the most components an edit
// may have (and one fewer), valid at the head, sent one version behind a
// one-character insert by another user, grows past that bound when
// rebased: it is stale (VERSION_CONFLICT, which the writer retries on the
// current version), not an invalid change (BAD_REQUEST), with
// operational transform and with manual editing (no conflict stored).
func TestTextEditBehindAnInsert(t *testing.T) {
	edit := func(n int) []doc.TextComponent {
		comps := []doc.TextComponent{doc.TextDelete(2)}
		for len(comps) < n {
			comps = append(comps, doc.TextRetain(1), doc.TextDelete(1))
		}
		return comps[:n]
	}
	for _, typ := range []string{"customer", "pricing"} {
		for _, n := range []int{doc.MaxTextComponents, doc.MaxTextComponents - 1} {
			f := newFixture(t, collab.Config{})
			e := entity(typ, "t")
			f.mustChange("ann", "m0", change(e, 0, "insert", "t", strings.Repeat("a", 4200)))
			ins := change(e, 1, "text", "t", nil)
			ins.Text = []doc.TextComponent{doc.TextRetain(1), doc.TextInsert("y")}
			f.mustChange("cy", "m1", ins)
			p := change(e, 1, "text", "t", nil)
			p.Text = edit(n)
			_, err := f.svc.Change(f.ctx, f.call("bob", "behind"), e, p)
			if !errors.Is(err, editing.ErrStale) || errors.Is(err, editing.ErrInvalid) {
				t.Errorf("%s: %d components one version behind: %v; want stale, not invalid", typ, n, err)
			}
			if cs, _, err := f.st.ListConflicts(f.ctx, e, false, store.Page{}); err != nil || len(cs) != 0 {
				t.Errorf("%s: conflicts stored: %d (%v)", typ, len(cs), err)
			}
			p.BaseVersion = ptr(int64(2))
			if _, err := f.svc.Change(f.ctx, f.call("bob", "head"), e, p); err != nil {
				t.Errorf("%s: %d components at the head: %v", typ, n, err)
			}
		}
	}
}

// TestChangeRebasedPastMaxIndex: a manual-strategy change whose list
// index rebasing pushes past doc.MaxIndex is an invalid change: no
// conflict is stored with the unrelated change after it, and no one is
// told of one.
func TestChangeRebasedPastMaxIndex(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("pricing", "max")
	f.mustChange("ann", "m0", change(e, 0, "insert", "l", []int{1}))
	f.mustChange("ann", "m1", change(e, 1, "insert", "x", 1))
	f.mustChange("bob", "b0", change(e, 2, "insert", "l[0]", 0))
	f.mustChange("bob", "b1", change(e, 3, "update", "x", 2))
	f.rec.take()
	_, err := f.svc.Change(f.ctx, f.call("ann", "far"), e, change(e, 2, "update", "l[999999999]", 5))
	if !errors.Is(err, editing.ErrInvalid) {
		t.Errorf("change = %v; want an invalid change", err)
	}
	cs, _, err := f.st.ListConflicts(f.ctx, e, false, store.Page{})
	if err != nil || len(cs) != 0 {
		t.Errorf("conflicts stored: %d (%v)", len(cs), err)
	}
	if ev := f.rec.take(); len(ev) != 0 {
		t.Errorf("events: %+v", ev)
	}
}

// TestChangeNumberOutOfRange: a value with a number that a float64 reads
// as 0 although it is not, or as infinity, is refused, not stored where no
// client reads it; 1e-300, 1e308, the largest float64 and a decimal with
// more digits than a float64 keeps are numbers like any other. Increments
// keep their own bounds: 1 added to 1e308 is refused.
func TestChangeNumberOutOfRange(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("customer", "u")
	for i, n := range []string{`1e-999999999`, `-1e-400`, `{"a":[1e309]}`, `-1.8e308`} {
		p := change(e, 0, "insert", "n", nil)
		p.After = json.RawMessage(n)
		if _, err := f.svc.Change(f.ctx, f.call("ann", fmt.Sprint("bad", i)), e, p); codeOf(err) != protocol.CodeBadRequest {
			t.Errorf("insert of %s: %v; want BAD_REQUEST", n, err)
		}
	}
	e = entity("customer", "small")
	p := change(e, 0, "insert", "n", nil)
	p.After = json.RawMessage(`1e-300`)
	f.mustChange("ann", "m0", p)
	inc := change(e, 1, "increment", "n", nil)
	inc.Delta = "1"
	if ack := f.mustChange("bob", "m1", inc); ack.Change == nil || ack.Change.After != json.Number("1"+"."+strings.Repeat("0", 299)+"1") {
		t.Errorf("increment of 1e-300: %+v", ack.Change)
	}
	for i, n := range []string{`1.7976931348623157e308`, `1e308`, `1.` + strings.Repeat("0", 330) + `1`} {
		e := entity("customer", fmt.Sprint("held", i))
		p := change(e, 0, "insert", "n", nil)
		p.After = json.RawMessage(n)
		f.mustChange("ann", fmt.Sprint("held", i), p)
	}
	inc = change(entity("customer", "held1"), 1, "increment", "n", nil)
	inc.Delta = "1"
	if _, err := f.svc.Change(f.ctx, f.call("bob", "inc-big"), entity("customer", "held1"), inc); !errors.Is(err, doc.ErrRange) {
		t.Errorf("increment of 1e308 by 1: %v; want out of range", err)
	}
}
