package ot_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/ot"
)

func ins(path string, v any) doc.Op { return doc.Op{Kind: doc.Insert, Path: path, Value: v} }
func upd(path string, v any) doc.Op { return doc.Op{Kind: doc.Update, Path: path, Value: v} }
func del(path string) doc.Op        { return doc.Op{Kind: doc.Delete, Path: path} }
func mov(path string, from, to int) doc.Op {
	return doc.Op{Kind: doc.Move, Path: path, From: from, To: to}
}
func inc(path, delta string) doc.Op {
	return doc.Op{Kind: doc.Increment, Path: path, Delta: json.Number(delta)}
}
func txt(path string, comps ...doc.TextComponent) doc.Op {
	return doc.Op{Kind: doc.Text, Path: path, Text: comps}
}

func TestTransformSide(t *testing.T) {
	tests := []struct {
		name   string
		a, b   doc.Op
		aWins  bool
		want   doc.Op // ignored when dropped
		ok     bool
		notice string // substring expected in the notice
	}{
		{"disjoint paths", upd("customer.name", "A"), upd("status", "paid"), true, upd("customer.name", "A"), true, ""},
		{"insert shifts path through list", upd("items[3].qty", 4), ins("items[1]", "x"), true, upd("items[4].qty", 4), true, ""},
		{"insert after target leaves it", upd("items[0].qty", 4), ins("items[1]", "x"), true, upd("items[0].qty", 4), true, ""},
		{"insert at target index shifts it", upd("items[1]", 4), ins("items[1]", "x"), true, upd("items[2]", 4), true, ""},
		{"delete shifts later sibling", del("items[3]"), del("items[1]"), true, del("items[2]"), true, ""},
		{"delete before insert gap", ins("items[3]", 1), del("items[1]"), true, ins("items[2]", 1), true, ""},
		{"insert gap at deleted index stays", ins("items[1]", 1), del("items[1]"), true, ins("items[1]", 1), true, ""},
		{"insert tie, a wins", ins("items[1]", "a"), ins("items[1]", "b"), true, ins("items[1]", "a"), true, ""},
		{"insert tie, b wins", ins("items[1]", "a"), ins("items[1]", "b"), false, ins("items[2]", "a"), true, ""},
		{"update of deleted element", upd("items[2].qty", 1), del("items[2]"), true, doc.Op{}, false, "element deleted"},
		{"update under deleted key", upd("customer.name", "A"), del("customer"), true, doc.Op{}, false, "ancestor deleted"},
		{"update under replaced key", upd("customer.name", "A"), upd("customer", map[string]any{}), true, doc.Op{}, false, "ancestor replaced"},
		{"delete twice", del("items[2]"), del("items[2]"), true, doc.Op{}, false, "already deleted"},
		{"delete key twice", del("memo"), del("memo"), true, doc.Op{}, false, "already deleted"},
		{"delete wins over update", del("memo"), upd("memo", "x"), false, del("memo"), true, ""},
		{"update loses to delete", upd("memo", "x"), del("memo"), true, doc.Op{}, false, "target deleted"},
		{"update/update a wins", upd("status", "paid"), upd("status", "void"), true, upd("status", "paid"), true, ""},
		{"update/update b wins", upd("status", "paid"), upd("status", "void"), false, doc.Op{}, false, "overwritten"},
		{"object insert race won", ins("customer.email", "a@x"), ins("customer.email", "b@x"), true, upd("customer.email", "a@x"), true, "became an update"},
		{"increment vs update", inc("stock", "2"), upd("stock", 10), true, doc.Op{}, false, "value replaced"},
		{"update vs increment", upd("stock", 10), inc("stock", "2"), false, upd("stock", 10), true, ""},
		{"increments commute", inc("stock", "2"), inc("stock", "-1"), true, inc("stock", "2"), true, ""},
		{"ancestor update beats nested edit", txt("customer.name", doc.TextInsert("x")), upd("customer", nil), true, doc.Op{}, false, "ancestor replaced"},
		{"nested edit does not stop update", upd("customer", nil), txt("customer.name", doc.TextInsert("x")), false, upd("customer", nil), true, ""},
		{"text shifted by insert", txt("notes", doc.TextRetain(5), doc.TextInsert("!")), txt("notes", doc.TextInsert("ab")), true,
			txt("notes", doc.TextRetain(7), doc.TextInsert("!")), true, ""},
		{"text insert tie a wins", txt("notes", doc.TextRetain(2), doc.TextInsert("A")), txt("notes", doc.TextRetain(2), doc.TextInsert("B")), true,
			txt("notes", doc.TextRetain(2), doc.TextInsert("A")), true, ""},
		{"text insert tie b wins", txt("notes", doc.TextRetain(2), doc.TextInsert("A")), txt("notes", doc.TextRetain(2), doc.TextInsert("B")), false,
			txt("notes", doc.TextRetain(3), doc.TextInsert("A")), true, ""},
		{"overlapping deletes", txt("notes", doc.TextRetain(1), doc.TextDelete(4)), txt("notes", doc.TextRetain(3), doc.TextDelete(4)), true,
			txt("notes", doc.TextRetain(1), doc.TextDelete(2)), true, ""},
		{"insert inside deleted range survives", txt("notes", doc.TextRetain(3), doc.TextInsert("x")), txt("notes", doc.TextRetain(1), doc.TextDelete(4)), true,
			txt("notes", doc.TextRetain(1), doc.TextInsert("x")), true, ""},
		{"element follows move", upd("items[0].qty", 1), mov("items", 0, 3), true, upd("items[3].qty", 1), true, ""},
		{"sibling shifted by move", upd("items[2].qty", 1), mov("items", 0, 3), true, upd("items[1].qty", 1), true, ""},
		{"move after insert", mov("items", 2, 0), ins("items[0]", "x"), true, mov("items", 3, 1), true, ""},
		{"move of deleted element", mov("items", 2, 0), del("items[2]"), true, doc.Op{}, false, "moved element deleted"},
		{"same element moved, a wins", mov("items", 1, 3), mov("items", 1, 0), true, mov("items", 0, 3), true, ""},
		{"same element moved, b wins", mov("items", 1, 3), mov("items", 1, 0), false, doc.Op{}, false, "moved elsewhere"},
		{"move vs replaced list", mov("items", 1, 3), upd("items", []any{}), true, doc.Op{}, false, "value replaced"},
		{"invalid a", upd("a..b", 1), upd("c", 1), true, doc.Op{}, false, "bad path"},
		{"invalid b ignored", upd("c", 1), upd("a..b", 1), true, upd("c", 1), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, notice := ot.TransformSide(tt.a, tt.b, tt.aWins)
			if ok != tt.ok {
				t.Fatalf("ok = %v (notice %q), want %v", ok, notice, tt.ok)
			}
			if ok && show(got) != show(tt.want) {
				t.Fatalf("got %s, want %s", show(got), show(tt.want))
			}
			if !strings.Contains(notice, tt.notice) {
				t.Fatalf("notice %q does not mention %q", notice, tt.notice)
			}
		})
	}
}

func TestTransformIncomingWins(t *testing.T) {
	got, ok, _ := ot.Transform(upd("status", "paid"), upd("status", "void"))
	if !ok || got.Value != "paid" {
		t.Fatalf("Transform = %v %v; the incoming update should win", ok, show(got))
	}
}

func TestTransformAgainst(t *testing.T) {
	tests := []struct {
		name    string
		a       doc.Op
		history []doc.Op
		want    doc.Op
		ok      bool
		notices int
	}{
		{"empty history", upd("items[1].qty", 3), nil, upd("items[1].qty", 3), true, 0},
		{"two inserts before", upd("items[1].qty", 3), []doc.Op{ins("items[0]", 1), ins("items[0]", 2)}, upd("items[3].qty", 3), true, 0},
		{"insert then delete", upd("items[1].qty", 3), []doc.Op{ins("items[0]", 1), del("items[2]")}, doc.Op{}, false, 1},
		{"insert then move", del("items[1]"), []doc.Op{ins("items[0]", 1), mov("items", 2, 0)}, del("items[0]"), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, notices := ot.TransformAgainst(tt.a, tt.history)
			if ok != tt.ok || len(notices) != tt.notices {
				t.Fatalf("ok = %v, notices %q; want %v and %d notices", ok, notices, tt.ok, tt.notices)
			}
			if ok && show(got) != show(tt.want) {
				t.Fatalf("got %s, want %s", show(got), show(tt.want))
			}
		})
	}
}

func TestTransformSeq(t *testing.T) {
	d, err := doc.Decode([]byte(`{"items":["a","b","c"],"notes":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	as := []doc.Op{ins("items[1]", "x"), txt("notes", doc.TextRetain(5), doc.TextInsert("!"))}
	bs := []doc.Op{del("items[0]"), txt("notes", doc.TextInsert(">"))}
	as2, bs2, _ := ot.TransformSeq(as, bs, true)
	left, err := applyAll(d, append(append([]doc.Op{}, as...), bs2...))
	if err != nil {
		t.Fatal(err)
	}
	right, err := applyAll(d, append(append([]doc.Op{}, bs...), as2...))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := doc.Decode([]byte(`{"items":["x","b","c"],"notes":">hello!"}`))
	if !doc.Equal(left, want) || !doc.Equal(right, want) {
		t.Fatalf("as then bs' = %s, bs then as' = %s, want %s", show(left), show(right), show(want))
	}
	if show(as) != `[{"op":"insert","path":"items[1]","value":"x"},{"op":"text","path":"notes","text":[{"retain":5},{"insert":"!"}]}]` {
		t.Fatalf("TransformSeq modified its input: %s", show(as))
	}
}

// TestTransformTextLargestCounts transforms text edits made of the largest
// counts validation lets through, against history that lengthens and
// merges them: every count stays positive (no sum overflows) and the
// result still validates.
func TestTransformTextLargestCounts(t *testing.T) {
	most := doc.TextRetain(doc.MaxTextCount)
	edits := []doc.Op{
		txt("notes", most, most, doc.TextInsert("x")),
		txt("notes", most, doc.TextDelete(doc.MaxTextCount), doc.TextDelete(doc.MaxTextCount)),
		txt("notes", doc.TextDelete(doc.MaxTextCount), most, doc.TextInsert("y")),
	}
	history := []doc.Op{
		txt("notes", doc.TextInsert(strings.Repeat("a", 1000))),
		txt("notes", most, most, doc.TextInsert("b")),
		txt("notes", doc.TextDelete(doc.MaxTextCount)),
	}
	for _, a := range edits {
		if _, err := a.Validate(); err != nil {
			t.Fatalf("%s does not validate: %v", show(a), err)
		}
		got, ok, _ := ot.TransformAgainst(a, history)
		if !ok {
			continue
		}
		for _, c := range got.Text {
			if c.Retain < 0 || c.Delete < 0 {
				t.Fatalf("%s transformed to %s: a count overflowed", show(a), show(got))
			}
		}
	}
	over := txt("notes", doc.TextRetain(doc.MaxTextCount+1), doc.TextInsert("x"))
	if _, err := over.Validate(); err == nil {
		t.Fatalf("%s validates; want a refusal past MaxTextCount", show(over))
	}
}
