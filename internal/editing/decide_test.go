package editing_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/doc/doctest"
	"github.com/omnisales/rtcollab/internal/editing"
)

// mustDoc decodes a JSON object.
func mustDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	d, err := doc.Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return d
}

// mustOp decodes an operation.
func mustOp(t *testing.T, s string) doc.Op {
	t.Helper()
	var op doc.Op
	if err := json.Unmarshal([]byte(s), &op); err != nil {
		t.Fatalf("decode op %s: %v", s, err)
	}
	return op
}

// wantDoc fails unless got equals the JSON object want.
func wantDoc(t *testing.T, got map[string]any, want string) {
	t.Helper()
	if w := mustDoc(t, want); !doc.Equal(got, w) {
		b, _ := json.Marshal(got)
		t.Fatalf("document = %s, want %s", b, want)
	}
}

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestDecide(t *testing.T) {
	// Version 2 of the document; version 1 set the name, version 2 the
	// phone. A change based on version 0 is concurrent with both.
	base := `{"name":"Ann","phone":"1","tags":["a","b","c"],"notes":"hello","stock":5}`
	since := []editing.Applied{
		{Version: 1, UserID: "bob", Op: doc.Op{Kind: doc.Update, Path: "name", Value: "Ann"}},
		{Version: 2, UserID: "bob", Op: doc.Op{Kind: doc.Update, Path: "phone", Value: "1"}},
	}
	tests := []struct {
		name     string
		strategy editing.Strategy
		base     int64
		since    []editing.Applied
		op       string
		lock     *editing.Lock
		token    int64
		kind     editing.Kind
		err      error
		doc      string
		overwrot int
	}{
		{"lww current", editing.LastWriteWins, 2, nil, `{"op":"update","path":"name","value":"Bo"}`, nil, 0,
			editing.KindApplied, nil, `{"name":"Bo","phone":"1","tags":["a","b","c"],"notes":"hello","stock":5}`, 0},
		{"lww later arrival wins and reports the overwritten", editing.LastWriteWins, 0, since, `{"op":"update","path":"name","value":"Cy"}`, nil, 0,
			editing.KindApplied, nil, `{"name":"Cy","phone":"1","tags":["a","b","c"],"notes":"hello","stock":5}`, 1},
		{"lww does not apply", editing.LastWriteWins, 2, nil, `{"op":"delete","path":"missing"}`, nil, 0,
			"", editing.ErrInvalid, "", 0},
		{"lww stale does not apply", editing.LastWriteWins, 1, since[1:], `{"op":"delete","path":"missing"}`, nil, 0,
			"", editing.ErrStale, "", 0},
		{"lww trimmed history", editing.LastWriteWins, 0, since[1:], `{"op":"update","path":"name","value":"Cy"}`, nil, 0,
			"", editing.ErrStale, "", 0},
		{"lww nothing kept", editing.LastWriteWins, 1, nil, `{"op":"update","path":"name","value":"Cy"}`, nil, 0,
			"", editing.ErrStale, "", 0},
		{"base ahead", editing.LastWriteWins, 3, nil, `{"op":"update","path":"name","value":"x"}`, nil, 0,
			"", editing.ErrStale, "", 0},
		{"ot other path merges", editing.OperationalTransform, 0, since, `{"op":"update","path":"notes","value":"hi"}`, nil, 0,
			editing.KindMerged, nil, `{"name":"Ann","phone":"1","tags":["a","b","c"],"notes":"hi","stock":5}`, 0},
		{"ot trimmed history", editing.OperationalTransform, 0, since[1:], `{"op":"update","path":"notes","value":"hi"}`, nil, 0,
			"", editing.ErrStale, "", 0},
		{"ot update of a deleted path is dropped", editing.OperationalTransform, 1,
			[]editing.Applied{{Version: 2, UserID: "bob", Op: doc.Op{Kind: doc.Delete, Path: "notes"}}},
			`{"op":"text","path":"notes","text":[{"retain":5},{"insert":"!"}]}`, nil, 0,
			editing.KindDropped, nil, "", 0},
		{"manual same path conflicts", editing.Manual, 0, since, `{"op":"update","path":"phone","value":"2"}`, nil, 0,
			editing.KindConflict, nil, "", 0},
		{"manual other path merges", editing.Manual, 0, since, `{"op":"update","path":"notes","value":"x"}`, nil, 0,
			editing.KindMerged, nil, `{"name":"Ann","phone":"1","tags":["a","b","c"],"notes":"x","stock":5}`, 0},
		{"lock none", editing.LockBased, 2, nil, `{"op":"update","path":"name","value":"x"}`, nil, 0,
			"", editing.ErrLockRequired, "", 0},
		{"lock other holder", editing.LockBased, 2, nil, `{"op":"update","path":"name","value":"x"}`, &editing.Lock{Holder: "bob", Token: 4}, 0,
			"", editing.ErrLockRequired, "", 0},
		{"lock other holder old token", editing.LockBased, 2, nil, `{"op":"update","path":"name","value":"x"}`, &editing.Lock{Holder: "bob", Token: 4}, 3,
			"", editing.ErrStaleToken, "", 0},
		{"lock holder wrong token", editing.LockBased, 2, nil, `{"op":"update","path":"name","value":"x"}`, &editing.Lock{Holder: "ann", Token: 4}, 3,
			"", editing.ErrStaleToken, "", 0},
		{"lock holder", editing.LockBased, 2, nil, `{"op":"update","path":"name","value":"x"}`, &editing.Lock{Holder: "ann", Token: 4}, 4,
			editing.KindApplied, nil, `{"name":"x","phone":"1","tags":["a","b","c"],"notes":"hello","stock":5}`, 0},
		{"lock holder trimmed history", editing.LockBased, 0, since[1:], `{"op":"update","path":"name","value":"x"}`, &editing.Lock{Holder: "ann", Token: 4}, 4,
			"", editing.ErrStale, "", 0},
		{"crdt increment", editing.CRDT, 0, since, `{"op":"increment","path":"stock","delta":-2}`, nil, 0,
			editing.KindMerged, nil, `{"name":"Ann","phone":"1","tags":["a","b","c"],"notes":"hello","stock":3}`, 0},
		{"crdt refuses list paths", editing.CRDT, 2, nil, `{"op":"update","path":"tags[0]","value":"z"}`, nil, 0,
			"", editing.ErrInvalid, "", 0},
		{"crdt refuses text", editing.CRDT, 2, nil, `{"op":"text","path":"notes","text":[{"insert":"x"}]}`, nil, 0,
			"", editing.ErrInvalid, "", 0},
		{"crdt refuses fractional delta", editing.CRDT, 2, nil, `{"op":"increment","path":"stock","delta":0.5}`, nil, 0,
			"", editing.ErrInvalid, "", 0},
		{"crdt nested key creates parents", editing.CRDT, 2, nil, `{"op":"update","path":"address.city","value":"BKK"}`, nil, 0,
			editing.KindApplied, nil, `{"name":"Ann","phone":"1","tags":["a","b","c"],"notes":"hello","stock":5,"address":{"city":"BKK"}}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := editing.Input{
				Strategy: tt.strategy, Doc: mustDoc(t, base), Version: 2, Base: tt.base, Since: tt.since,
				Op: mustOp(t, tt.op), UserID: "ann", Lock: tt.lock, Token: tt.token, Now: now,
			}
			out, err := editing.Decide(in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Decide = %+v, %v; want %v", out.Kind, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if out.Kind != tt.kind {
				t.Fatalf("kind = %s, want %s (notices %v)", out.Kind, tt.kind, out.Notices)
			}
			if len(out.Overwrote) != tt.overwrot {
				t.Errorf("overwrote %v, want %d", out.Overwrote, tt.overwrot)
			}
			if !tt.kind.NewVersion() {
				return
			}
			wantDoc(t, out.Doc, tt.doc)
			back, err := doc.Apply(out.Doc, out.Inverse)
			if err != nil || !doctest.Restored(back, in.Doc, out.Op) {
				t.Errorf("inverse %v does not restore the document: %v", out.Inverse, err)
			}
			if replay, err := doc.Apply(in.Doc, out.Op); err != nil || !doc.Equal(replay, out.Doc) {
				t.Errorf("op %v does not replay to the document: %v", out.Op, err)
			}
		})
	}
}

// TestCRDTRegisters checks that crdt writes are ordered by their stamps,
// not by arrival, and that ties are broken by user id.
func TestCRDTRegisters(t *testing.T) {
	d := map[string]any{}
	var st *editing.State
	var version int64
	write := func(user string, wallMs int64, value string) editing.Outcome {
		t.Helper()
		out, err := editing.Decide(editing.Input{
			Strategy: editing.CRDT, Doc: d, Version: version, State: st, Base: version,
			Op: doc.Op{Kind: doc.Update, Path: "bin", Value: value}, UserID: user,
			Stamp: &crdt.HLC{WallMs: wallMs}, Now: now,
		})
		if err != nil {
			t.Fatalf("Decide(%s): %v", user, err)
		}
		if out.Kind.NewVersion() {
			d, st, version = out.Doc, out.State, version+1
		}
		return out
	}
	t0 := now.UnixMilli()
	if out := write("bob", t0-10, "B1"); out.Kind != editing.KindApplied {
		t.Fatalf("first write: %s", out.Kind)
	}
	if out := write("ann", t0-20, "A-old"); out.Kind != editing.KindSuperseded {
		t.Fatalf("older stamp arriving later: %s, want superseded", out.Kind)
	}
	wantDoc(t, d, `{"bin":"B1"}`)
	// Same stamp: the larger user id wins.
	if out := write("carl", t0-10, "C"); out.Kind != editing.KindApplied {
		t.Fatalf("tie won by larger user id: %s", out.Kind)
	}
	if out := write("al", t0-10, "AL"); out.Kind != editing.KindSuperseded {
		t.Fatalf("tie lost by smaller user id: %s", out.Kind)
	}
	wantDoc(t, d, `{"bin":"C"}`)
	if _, err := editing.Decide(editing.Input{
		Strategy: editing.CRDT, Doc: d, Version: version, State: st, Base: version,
		Op: doc.Op{Kind: doc.Update, Path: "bin", Value: "future"}, UserID: "eve",
		Stamp: &crdt.HLC{WallMs: t0 + time.Hour.Milliseconds()}, Now: now,
	}); !errors.Is(err, editing.ErrInvalid) {
		t.Fatalf("stamp an hour ahead: %v, want ErrInvalid", err)
	}
}

// TestCRDTIncrementOutOfRange: on a crdt entity an increment whose sum
// would leave a number's range (1e308 in magnitude) is refused, as on the
// other strategies, and changes nothing; the document used to show the
// counter alone in place of the number.
func TestCRDTIncrementOutOfRange(t *testing.T) {
	big := json.Number(strings.Repeat("9", 308))
	in := editing.Input{Strategy: editing.CRDT, Doc: map[string]any{}, UserID: "ann", Now: now,
		Op: doc.Op{Kind: doc.Insert, Path: "n", Value: big}}
	out, err := editing.Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, strategy := range []editing.Strategy{editing.CRDT, editing.LastWriteWins} {
		_, err := editing.Decide(editing.Input{Strategy: strategy, Doc: out.Doc, State: out.State, Version: 1, Base: 1,
			UserID: "ann", Now: now, Op: doc.Op{Kind: doc.Increment, Path: "n", Delta: "1"}})
		if !errors.Is(err, doc.ErrRange) {
			t.Errorf("%s: increment of %d nines by 1: %v, want ErrRange", strategy, len(big), err)
		}
	}
	// Within range, the same increment applies.
	out, err = editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: out.Doc, State: out.State, Version: 1, Base: 1,
		UserID: "ann", Now: now, Op: doc.Op{Kind: doc.Increment, Path: "n", Delta: "-1"}})
	if err != nil || !doc.Equal(out.Doc["n"], json.Number(strings.Repeat("9", 307)+"8")) {
		t.Fatalf("increment by -1: %v, %v", out.Doc["n"], err)
	}
}

// TestManualIntendedText: a text edit held back as a manual conflict
// records as its intended value the edit rebased over the changes since
// its base, applied to the current text; applied as it stood, it put the
// insert in the wrong place ("XhellYo").
func TestManualIntendedText(t *testing.T) {
	since := []editing.Applied{{Version: 2, UserID: "ann", Op: doc.Op{Kind: doc.Text, Path: "bio", Text: []doc.TextComponent{doc.TextInsert("X")}}}}
	out, err := editing.Decide(editing.Input{Strategy: editing.Manual, Doc: mustDoc(t, `{"bio":"Xhello"}`), Base: 1, Version: 2, Since: since,
		UserID: "bob", Now: now, Op: doc.Op{Kind: doc.Text, Path: "bio", Text: []doc.TextComponent{doc.TextRetain(5), doc.TextInsert("Y")}}})
	if err != nil || out.Kind != editing.KindConflict {
		t.Fatalf("Decide = %v, %v; want a conflict", out.Kind, err)
	}
	if out.Intended != "XhelloY" {
		t.Errorf("intended %q, want %q", out.Intended, "XhelloY")
	}
}

// TestManualShiftedElement: a manual-strategy change to a list element is
// compared with the changes since its base where the element stood at
// each of them. A change to the same element after an insert shifted it
// is a conflict (it was merged over the element's new index, overwriting
// the other value), a change to the element now at the old index is not,
// and the conflict is settled at the element's current index.
func TestManualShiftedElement(t *testing.T) {
	// Version 1: {"items":["a","b"]}; version 2 inserts "z" at 0, version 3
	// sets "b" (now items[2]) to "B2".
	cur := mustDoc(t, `{"items":["z","a","B2"]}`)
	since := []editing.Applied{
		{Version: 2, UserID: "bob", Op: doc.Op{Kind: doc.Insert, Path: "items[0]", Value: "z"}},
		{Version: 3, UserID: "bob", Op: doc.Op{Kind: doc.Update, Path: "items[2]", Value: "B2"}},
	}
	decide := func(op doc.Op) editing.Outcome {
		t.Helper()
		out, err := editing.Decide(editing.Input{Strategy: editing.Manual, Doc: cur, Version: 3, Base: 1, Since: since,
			Op: op, UserID: "ann", Now: now})
		if err != nil {
			t.Fatalf("Decide(%s): %v", op, err)
		}
		return out
	}
	held := doc.Op{Kind: doc.Update, Path: "items[1]", Value: "B1"}
	out := decide(held)
	if out.Kind != editing.KindConflict || out.Remote == nil || out.Remote.Version != 3 || out.Intended != "B1" {
		t.Fatalf("update of \"b\": %s with %+v, intended %v; want a conflict with version 3, intended B1", out.Kind, out.Remote, out.Intended)
	}
	if out.Rebased == nil || out.Rebased.Path != "items[2]" {
		t.Errorf("rebased %+v, want the update at items[2], where \"b\" stands now", out.Rebased)
	}
	for _, tt := range []struct {
		r      editing.Resolution
		merged any
		want   string
	}{
		{editing.ResolveLocal, nil, `{"items":["z","a","B1"]}`},
		{editing.ResolveRemote, nil, `{"items":["z","a","B2"]}`},
		{editing.ResolveMerged, "B3", `{"items":["z","a","B3"]}`},
	} {
		op, ok, err := editing.ResolveOp(cur, editing.ConflictInput{Local: held, Base: 1, Since: since, Current: 3, Intended: out.Intended}, tt.r, tt.merged)
		if err != nil || !ok {
			t.Fatalf("ResolveOp(%s) = %v, %v, %v", tt.r, op, ok, err)
		}
		got, err := doc.Apply(cur, op)
		if err != nil {
			t.Fatalf("apply %v: %v", op, err)
		}
		wantDoc(t, got, tt.want)
	}
	// "a" was items[0] at the base and nobody changed it since.
	out = decide(doc.Op{Kind: doc.Update, Path: "items[0]", Value: "A1"})
	if out.Kind != editing.KindMerged {
		t.Fatalf("update of \"a\": %s, want merged", out.Kind)
	}
	wantDoc(t, out.Doc, `{"items":["z","A1","B2"]}`)
}

// TestManualIntendedNone: a held-back move, increment or text edit of
// which nothing is left names no value to write in its place, and
// ResolveOp refuses to resolve it as local rather than write null; so
// does a conflict stored before IntendedNone (a nil Intended). An update
// still names its value.
func TestManualIntendedNone(t *testing.T) {
	cur := mustDoc(t, `{"l":[1,3],"n":null}`)
	since := []editing.Applied{
		{Version: 2, UserID: "bob", Op: mustOp(t, `{"op":"delete","path":"l[1]"}`)},
		{Version: 3, UserID: "bob", Op: mustOp(t, `{"op":"update","path":"n","value":null}`)},
	}
	for _, tt := range []struct {
		held string
		none bool
	}{
		{`{"op":"move","path":"l","from":1,"to":0}`, true},
		{`{"op":"increment","path":"n","delta":1}`, true},
		{`{"op":"text","path":"n","text":[{"insert":"x"}]}`, true},
		{`{"op":"update","path":"n","value":2}`, false},
	} {
		held := mustOp(t, tt.held)
		out, err := editing.Decide(editing.Input{Strategy: editing.Manual, Doc: cur, Version: 3, Base: 1, Since: since,
			Op: held, UserID: "ann", Now: now})
		if err != nil || out.Kind != editing.KindConflict {
			t.Fatalf("%s: %v, %v; want a conflict", held, out.Kind, err)
		}
		if out.IntendedNone != tt.none || out.IntendedDelete {
			t.Errorf("%s: intended %v, none %v, delete %v; want none %v", held, out.Intended, out.IntendedNone, out.IntendedDelete, tt.none)
		}
		for _, c := range []editing.ConflictInput{
			{Local: held, Base: 1, Since: since, Current: 3, Intended: out.Intended, IntendedNone: out.IntendedNone},
			{Local: held, Base: 1, Since: since, Current: 3, Intended: out.Intended}, // stored before IntendedNone
		} {
			op, ok, err := editing.ResolveOp(cur, c, editing.ResolveLocal, nil)
			if !tt.none {
				if err != nil || !ok || op.Kind != doc.Update || !doc.Equal(op.Value, json.Number("2")) {
					t.Errorf("%s: ResolveOp = %v, %v, %v; want the update of 2", held, op, ok, err)
				}
				continue
			}
			if !errors.Is(err, editing.ErrNoLongerApplies) || !errors.Is(err, editing.ErrInvalid) {
				t.Errorf("%s (none %v): ResolveOp = %v, %v, %v; want ErrNoLongerApplies", held, c.IntendedNone, op, ok, err)
			}
		}
	}
}

func TestUndoOp(t *testing.T) {
	tests := []struct {
		name    string
		inverse string
		later   []string
		want    string // "" for ErrUndoConflict
	}{
		{"no later change", `{"op":"update","path":"a","value":1}`, nil, `{"op":"update","path":"a","value":1}`},
		{"other path", `{"op":"update","path":"a","value":1}`, []string{`{"op":"update","path":"b","value":2}`}, `{"op":"update","path":"a","value":1}`},
		{"same path", `{"op":"update","path":"a","value":1}`, []string{`{"op":"update","path":"a","value":2}`}, ""},
		{"descendant", `{"op":"update","path":"a","value":{}}`, []string{`{"op":"update","path":"a.b","value":2}`}, ""},
		{"increments commute", `{"op":"increment","path":"n","delta":-2}`, []string{`{"op":"increment","path":"n","delta":5}`}, `{"op":"increment","path":"n","delta":-2}`},
		{"list shift", `{"op":"update","path":"l[1].q","value":1}`, []string{`{"op":"insert","path":"l[0]","value":"x"}`}, `{"op":"update","path":"l[2].q","value":1}`},
		{"element deleted", `{"op":"update","path":"l[1].q","value":1}`, []string{`{"op":"delete","path":"l[1]"}`}, ""},
		{"text over text", `{"op":"text","path":"s","text":[{"delete":2}]}`, []string{`{"op":"text","path":"s","text":[{"insert":"ab"}]}`}, `{"op":"text","path":"s","text":[{"retain":2},{"delete":2}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var later []editing.Applied
			for i, s := range tt.later {
				later = append(later, editing.Applied{Version: int64(i + 2), UserID: "bob", Op: mustOp(t, s)})
			}
			got, _, err := editing.UndoOp(mustOp(t, tt.inverse), later)
			if tt.want == "" {
				if !errors.Is(err, editing.ErrUndoConflict) {
					t.Fatalf("UndoOp = %v, %v; want ErrUndoConflict", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("UndoOp: %v", err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(mustOp(t, tt.want))
			if string(gb) != string(wb) {
				t.Fatalf("UndoOp = %s, want %s", gb, wb)
			}
		})
	}
}

func TestResolveOp(t *testing.T) {
	cur := mustDoc(t, `{"price":12,"gone":null}`)
	local := doc.Op{Kind: doc.Update, Path: "price", Value: json.Number("10")}
	since := []editing.Applied{{Version: 2, UserID: "bob", Op: doc.Op{Kind: doc.Update, Path: "price", Value: json.Number("12")}}}
	c := editing.ConflictInput{Local: local, Base: 1, Since: since, Current: 2, Intended: json.Number("10")}
	tests := []struct {
		r      editing.Resolution
		merged any
		want   string
	}{
		{editing.ResolveLocal, nil, `{"price":10,"gone":null}`},
		{editing.ResolveRemote, nil, `{"price":12,"gone":null}`},
		{editing.ResolveMerged, json.Number("11"), `{"price":11,"gone":null}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.r), func(t *testing.T) {
			op, ok, err := editing.ResolveOp(cur, c, tt.r, tt.merged)
			if err != nil || !ok {
				t.Fatalf("ResolveOp = %v, %v, %v", op, ok, err)
			}
			got, err := doc.Apply(cur, op)
			if err != nil {
				t.Fatalf("apply %v: %v", op, err)
			}
			wantDoc(t, got, tt.want)
		})
	}
	if _, _, err := editing.ResolveOp(cur, c, "both", nil); !errors.Is(err, editing.ErrInvalid) {
		t.Fatalf("unknown resolution: %v", err)
	}

	// A held-back text edit (insert "Y" after "hello", based on version 1)
	// is rebased over the changes since; with those no longer kept it is
	// not applied as it stands to the moved-on text, but its intended
	// value is written.
	text := mustDoc(t, `{"bio":"ZZZXhello"}`)
	held := doc.Op{Kind: doc.Text, Path: "bio", Text: []doc.TextComponent{doc.TextRetain(5), doc.TextInsert("Y")}}
	kept := []editing.Applied{
		{Version: 2, UserID: "ann", Op: doc.Op{Kind: doc.Text, Path: "bio", Text: []doc.TextComponent{doc.TextInsert("X")}}},
		{Version: 3, UserID: "cy", Op: doc.Op{Kind: doc.Text, Path: "bio", Text: []doc.TextComponent{doc.TextInsert("ZZZ")}}},
	}
	for _, tt := range []struct {
		name  string
		since []editing.Applied
		want  string
	}{
		{"history kept", kept, `{"bio":"ZZZXhelloY"}`},
		{"history trimmed", nil, `{"bio":"helloY"}`},
		{"history partly trimmed", kept[1:], `{"bio":"helloY"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := editing.ConflictInput{Local: held, Base: 1, Since: tt.since, Current: 3, Intended: "helloY"}
			op, ok, err := editing.ResolveOp(text, c, editing.ResolveLocal, nil)
			if err != nil || !ok {
				t.Fatalf("ResolveOp = %v, %v, %v", op, ok, err)
			}
			got, err := doc.Apply(text, op)
			if err != nil {
				t.Fatalf("apply %v: %v", op, err)
			}
			wantDoc(t, got, tt.want)
		})
	}
}

// TestResolveOpElementGone: a conflict whose list element cannot be
// followed to the current version (nothing was left of the change when
// the conflict was recorded, or the changes since are no longer kept) is
// not written at the index the element had: local and merged wrap
// ErrElementGone, remote writes nothing. The changes since the conflict
// suffice to follow it from where it stood then.
func TestResolveOpElementGone(t *testing.T) {
	cur := mustDoc(t, `{"l":[0,1,2,3]}`)
	held := mustOp(t, `{"op":"update","path":"l[1]","value":9}`)
	at2 := mustOp(t, `{"op":"update","path":"l[2]","value":9}`)
	later := []editing.Applied{{Version: 4, UserID: "cy", Op: mustOp(t, `{"op":"insert","path":"l[0]","value":0}`)}}
	for _, tt := range []struct {
		name string
		c    editing.ConflictInput
		want string // the path local writes; "" for ErrElementGone
	}{
		{"nothing left when recorded", editing.ConflictInput{Local: held, Base: 1, RebasedAt: 3, Since: later, Current: 4}, ""},
		{"changes since the conflict trimmed", editing.ConflictInput{Local: held, Base: 1, Rebased: &at2, RebasedAt: 3, Current: 4}, ""},
		{"base trimmed, stored before Rebased", editing.ConflictInput{Local: held, Base: 1, Since: later, Current: 4}, ""},
		{"followed from the conflict", editing.ConflictInput{Local: held, Base: 1, Rebased: &at2, RebasedAt: 3, Since: later, Current: 4}, "l[3]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Intended = json.Number("9")
			for _, r := range []editing.Resolution{editing.ResolveLocal, editing.ResolveMerged} {
				op, ok, err := editing.ResolveOp(cur, tt.c, r, json.Number("9"))
				if tt.want == "" {
					if !errors.Is(err, editing.ErrElementGone) || !errors.Is(err, editing.ErrInvalid) {
						t.Errorf("%s: ResolveOp = %v, %v, %v; want ErrElementGone", r, op, ok, err)
					}
					continue
				}
				if err != nil || !ok || op.Path != tt.want {
					t.Errorf("%s: ResolveOp = %v, %v, %v; want a write at %s", r, op, ok, err, tt.want)
				}
			}
			op, ok, err := editing.ResolveOp(cur, tt.c, editing.ResolveRemote, nil)
			if err != nil || ok != (tt.want != "") {
				t.Errorf("remote: ResolveOp = %v, %v, %v", op, ok, err)
			}
		})
	}
}

func TestParseStrategies(t *testing.T) {
	tests := []struct {
		spec     string
		types    map[string]editing.Strategy
		fallback editing.Strategy
		bad      bool
	}{
		{"", map[string]editing.Strategy{}, "", false},
		{"order=lock-based,inventory=crdt,customer=operational-transform,pricing=manual",
			map[string]editing.Strategy{"order": editing.LockBased, "inventory": editing.CRDT,
				"customer": editing.OperationalTransform, "pricing": editing.Manual}, "", false},
		{" order = LOCK , *=ot ,", map[string]editing.Strategy{"order": editing.LockBased}, editing.OperationalTransform, false},
		{"order", nil, "", true},
		{"order=best", nil, "", true},
		{"or#der=lww", nil, "", true},
		{"a=lww,a=ot", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			types, fallback, err := editing.ParseStrategies(tt.spec)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseStrategies(%q) accepted", tt.spec)
				}
				return
			}
			if err != nil || fallback != tt.fallback || len(types) != len(tt.types) {
				t.Fatalf("ParseStrategies(%q) = %v, %q, %v", tt.spec, types, fallback, err)
			}
			for k, v := range tt.types {
				if types[k] != v {
					t.Errorf("%s = %s, want %s", k, types[k], v)
				}
			}
		})
	}
	table := editing.Table{Types: editing.DefaultStrategies()}.Merge(map[string]editing.Strategy{"quote": editing.Manual}, "")
	for typ, want := range map[string]editing.Strategy{"order": editing.LockBased, "quote": editing.Manual, "note": editing.LastWriteWins} {
		if got := table.For(typ); got != want {
			t.Errorf("For(%q) = %s, want %s", typ, got, want)
		}
	}
}

// TestCRDTIncrementOfNonNumber: on a crdt entity an increment of a field
// that holds a string, or of a key below one, is refused as on the other
// strategies and changes nothing; the counter used to replace the string
// (or the string became an object holding the counter).
func TestCRDTIncrementOfNonNumber(t *testing.T) {
	for _, path := range []string{"location", "location.n", "tags.n"} {
		for _, s := range []editing.Strategy{editing.LastWriteWins, editing.CRDT} {
			out, err := editing.Decide(editing.Input{Strategy: s, Doc: mustDoc(t, `{"location":"B-4","tags":["a"]}`), Version: 1, Base: 1,
				Op: doc.Op{Kind: doc.Increment, Path: path, Delta: "1"}, UserID: "ann", Now: now})
			if !errors.Is(err, editing.ErrInvalid) || !errors.Is(err, doc.ErrType) {
				b, _ := json.Marshal(out.Doc)
				t.Errorf("%s: increment of %q: %s, document %s, %v; want ErrInvalid and ErrType", s, path, out.Kind, b, err)
			}
		}
	}
	// A missing field, or a key below a missing one, starts from zero.
	out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: mustDoc(t, `{"location":"B-4"}`), Version: 1, Base: 1,
		Op: doc.Op{Kind: doc.Increment, Path: "bins.b1", Delta: "2"}, UserID: "ann", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	wantDoc(t, out.Doc, `{"location":"B-4","bins":{"b1":2}}`)
}

// TestCRDTTombstonesBounded: a crdt delete is recorded even where nothing
// is held (a later write stamped before it must still lose), but an
// entity keeps at most MaxTombstones of them: deletes of ever new paths
// drop the oldest, and cannot fill the entity's state. A tombstone that
// hides a value of an older write of its parent is kept whatever its age.
func TestCRDTTombstonesBounded(t *testing.T) {
	t0 := now.UnixMilli()
	e := newCRDTEntity(t)
	e.step(doc.Op{Kind: doc.Update, Path: "a", Value: map[string]any{"x": 1.0, "y": 2.0}}, t0-100_000)
	e.step(doc.Op{Kind: doc.Delete, Path: "a.x"}, t0-99_000) // hides a.x of the older write of a
	wantDoc(t, e.doc, `{"a":{"y":2}}`)
	for i := range 3 * editing.MaxTombstones {
		e.step(doc.Op{Kind: doc.Delete, Path: fmt.Sprintf("gone%03d", i)}, t0-90_000+int64(i))
	}
	tombstones := 0
	for _, r := range e.st.CRDT.Registers {
		if r.Deleted {
			tombstones++
		}
	}
	if tombstones > editing.MaxTombstones+1 {
		t.Fatalf("%d tombstones kept, want at most %d (and the one hiding a.x)", tombstones, editing.MaxTombstones+1)
	}
	if r, ok := e.st.CRDT.Registers["a.x"]; !ok || !r.Deleted {
		t.Fatalf("the tombstone hiding a.x was dropped: %+v", e.st.CRDT.Registers["a.x"])
	}
	wantDoc(t, e.doc, `{"a":{"y":2}}`)
	// The newest tombstone still beats a write stamped before it.
	last := fmt.Sprintf("gone%03d", 3*editing.MaxTombstones-1)
	if out := e.step(doc.Op{Kind: doc.Update, Path: last, Value: 1.0}, t0-95_000); out.Kind != editing.KindSuperseded {
		t.Errorf("write older than the newest tombstone: %s, want superseded", out.Kind)
	}
}

// TestCRDTWriteKeepsLaterIncrements: a crdt write that wins its register
// with a stamp older than a user's latest increment of the field (it
// arrives late) keeps that user's increments on top of the written value,
// and clears those of users whose increments it follows; it used to clear
// every counter at or below its path. State stored without increment
// stamps still decodes, its counters counting as older than any write.
func TestCRDTWriteKeepsLaterIncrements(t *testing.T) {
	t0 := now.UnixMilli()
	type entity struct {
		d  map[string]any
		st *editing.State
		v  int64
	}
	step := func(e entity, user string, op doc.Op, stamp *crdt.HLC) entity {
		t.Helper()
		out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: e.d, State: e.st, Version: e.v, Base: e.v,
			Op: op, UserID: user, Stamp: stamp, Now: now})
		if err != nil {
			t.Fatalf("%s %s: %v", user, op, err)
		}
		if out.Kind.NewVersion() {
			return entity{out.Doc, out.State, e.v + 1}
		}
		return e
	}
	set := func(n int64) doc.Op {
		return doc.Op{Kind: doc.Update, Path: "stock", Value: json.Number(fmt.Sprint(n))}
	}
	inc := func(n int64) doc.Op {
		return doc.Op{Kind: doc.Increment, Path: "stock", Delta: json.Number(fmt.Sprint(n))}
	}
	at := func(ms int64) *crdt.HLC { return &crdt.HLC{WallMs: t0 + ms} }

	e := step(entity{d: map[string]any{}}, "bob", set(10), at(-120_000))
	e = step(e, "dave", inc(3), at(-90_000))
	e = step(e, "ann", inc(5), nil) // the server's stamp: now
	wantDoc(t, e.d, `{"stock":18}`)
	legacy := e
	// carl's write, stamped after bob's write and dave's increment but
	// before ann's, arrives last: 20 plus ann's 5.
	e = step(e, "carl", set(20), at(-60_000))
	wantDoc(t, e.d, `{"stock":25}`)
	// A write newer than every increment clears them all.
	e = step(e, "carl", set(7), nil)
	wantDoc(t, e.d, `{"stock":7}`)
	if len(e.st.Counted) != 0 || len(e.st.CRDT.Counters) != 0 {
		t.Errorf("counters %v, stamps %v left after a write newer than all", e.st.CRDT.Counters, e.st.Counted)
	}

	// The same state stored without increment stamps: carl's late write
	// clears the counters, as before they were kept.
	b, err := json.Marshal(legacy.st)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw["counted"] == nil {
		t.Fatalf("state %s: %v; want a counted field", b, err)
	}
	delete(raw, "counted")
	b, _ = json.Marshal(raw)
	var old editing.State
	if err := json.Unmarshal(b, &old); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	legacy.st = &old
	wantDoc(t, step(legacy, "carl", set(20), at(-60_000)).d, `{"stock":20}`)
}
