package doc

import (
	"encoding/json"
	"errors"
	"testing"
)

// order is the document most tests start from.
const order = `{
	"id": "SO-1001",
	"status": "draft",
	"customer": {"name": "Somchai", "tier": "gold"},
	"items": [
		{"sku": "A", "qty": 2},
		{"sku": "B", "qty": 1},
		{"sku": "C", "qty": 5}
	],
	"tags": ["rush", "b2b"],
	"notes": "ส่งด่วน please",
	"total": 10.5
}`

func mustDecode(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func TestApply(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		path string // where to look in the result
		want string // JSON of the value there; "" means absent
	}{
		{"insert list middle", Op{Kind: Insert, Path: "tags[1]", Value: "new"}, "tags", `["rush","new","b2b"]`},
		{"insert list append", Op{Kind: Insert, Path: "tags[2]", Value: "new"}, "tags", `["rush","b2b","new"]`},
		{"insert object key", Op{Kind: Insert, Path: "customer.email", Value: "s@x.th"}, "customer.email", `"s@x.th"`},
		{"update existing", Op{Kind: Update, Path: "customer.name", Value: "Malee"}, "customer.name", `"Malee"`},
		{"update creates key", Op{Kind: Update, Path: "customer.phone", Value: "081"}, "customer.phone", `"081"`},
		{"update list element", Op{Kind: Update, Path: "items[1].qty", Value: 7}, "items[1].qty", `7`},
		{"update to null", Op{Kind: Update, Path: "status", Value: nil}, "status", `null`},
		{"delete key", Op{Kind: Delete, Path: "customer.tier"}, "customer.tier", ``},
		{"delete element", Op{Kind: Delete, Path: "items[0]"}, "items[0].sku", `"B"`},
		{"move forward", Op{Kind: Move, Path: "items", From: 0, To: 2}, "items", `[{"sku":"B","qty":1},{"sku":"C","qty":5},{"sku":"A","qty":2}]`},
		{"move backward", Op{Kind: Move, Path: "items", From: 2, To: 0}, "items", `[{"sku":"C","qty":5},{"sku":"A","qty":2},{"sku":"B","qty":1}]`},
		{"move in place", Op{Kind: Move, Path: "tags", From: 1, To: 1}, "tags", `["rush","b2b"]`},
		{"increment", Op{Kind: Increment, Path: "items[2].qty", Delta: "-2"}, "items[2].qty", `3`},
		{"increment decimal", Op{Kind: Increment, Path: "total", Delta: "0.25"}, "total", `10.75`},
		{"increment missing", Op{Kind: Increment, Path: "customer.points", Delta: "10"}, "customer.points", `10`},
		{"text thai", Op{Kind: Text, Path: "notes", Text: []TextComponent{TextRetain(3), TextDelete(4), TextInsert("ด่วนมาก")}}, "notes", `"ส่งด่วนมาก please"`},
		{"text append", Op{Kind: Text, Path: "notes", Text: []TextComponent{TextRetain(14), TextInsert("!")}}, "notes", `"ส่งด่วน please!"`},
		{"text in list", Op{Kind: Text, Path: "tags[0]", Text: []TextComponent{TextInsert("very-")}}, "tags[0]", `"very-rush"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustDecode(t, order)
			snapshot := CloneDoc(before)
			after, err := Apply(before, tt.op)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !Equal(before, snapshot) {
				t.Fatal("Apply modified its input")
			}
			got, ok := Get(after, tt.path)
			if tt.want == "" {
				if ok {
					t.Fatalf("%s still present: %v", tt.path, got)
				}
				return
			}
			if !ok {
				t.Fatalf("%s absent", tt.path)
			}
			want, _ := decodeValue([]byte(tt.want))
			if !Equal(got, want) {
				b, _ := json.Marshal(got)
				t.Fatalf("%s = %s, want %s", tt.path, b, tt.want)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		want error
	}{
		{"unknown kind", Op{Kind: "replace", Path: "status"}, ErrBadOp},
		{"root path", Op{Kind: Update, Path: "$", Value: 1}, ErrBadPath},
		{"bad path", Op{Kind: Update, Path: "a[", Value: 1}, ErrBadPath},
		{"insert existing key", Op{Kind: Insert, Path: "status", Value: "x"}, ErrExists},
		{"insert past end", Op{Kind: Insert, Path: "tags[3]", Value: "x"}, ErrNoPath},
		{"update missing parent", Op{Kind: Update, Path: "shipping.city", Value: "BKK"}, ErrNoPath},
		{"update past end", Op{Kind: Update, Path: "tags[2]", Value: "x"}, ErrNoPath},
		{"delete missing", Op{Kind: Delete, Path: "customer.email"}, ErrNoPath},
		{"index into object", Op{Kind: Update, Path: "customer[0]", Value: 1}, ErrType},
		{"key into list", Op{Kind: Update, Path: "items.sku", Value: 1}, ErrType},
		{"into scalar", Op{Kind: Update, Path: "status.x", Value: 1}, ErrType},
		{"increment string", Op{Kind: Increment, Path: "status", Delta: "1"}, ErrType},
		{"increment no delta", Op{Kind: Increment, Path: "total"}, ErrBadOp},
		{"increment bad delta", Op{Kind: Increment, Path: "total", Delta: "1e"}, ErrBadOp},
		{"increment missing element", Op{Kind: Increment, Path: "tags[5]", Delta: "1"}, ErrNoPath},
		{"text on number", Op{Kind: Text, Path: "total", Text: []TextComponent{TextInsert("x")}}, ErrType},
		{"text too long", Op{Kind: Text, Path: "status", Text: []TextComponent{TextRetain(5), TextDelete(1)}}, ErrRange},
		{"text missing", Op{Kind: Text, Path: "memo", Text: []TextComponent{TextInsert("x")}}, ErrNoPath},
		{"text two fields", Op{Kind: Text, Path: "status", Text: []TextComponent{{Retain: 1, Insert: "x"}}}, ErrBadOp},
		{"text empty component", Op{Kind: Text, Path: "status", Text: []TextComponent{{}}}, ErrBadOp},
		{"move not list", Op{Kind: Move, Path: "customer", From: 0, To: 1}, ErrType},
		{"move out of range", Op{Kind: Move, Path: "tags", From: 0, To: 2}, ErrRange},
		{"move negative", Op{Kind: Move, Path: "tags", From: -1, To: 0}, ErrBadOp},
		{"value not json", Op{Kind: Update, Path: "status", Value: func() {}}, ErrBadOp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Apply(mustDecode(t, order), tt.op)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply(%v) error = %v, want %v", tt.op, err, tt.want)
			}
		})
	}
}

func TestApplyNilDocument(t *testing.T) {
	out, err := Apply(nil, Op{Kind: Insert, Path: "a", Value: []any{1}})
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(out, map[string]any{"a": []any{1}}) {
		t.Fatalf("got %v", out)
	}
}

func TestApplyCopiesValue(t *testing.T) {
	v := map[string]any{"sku": "Z"}
	out, err := Apply(nil, Op{Kind: Insert, Path: "line", Value: v})
	if err != nil {
		t.Fatal(err)
	}
	v["sku"] = "changed"
	if got, _ := Get(out, "line.sku"); got != "Z" {
		t.Fatalf("document shares the op's value: %v", got)
	}
}

func TestApplyText(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		comps []TextComponent
		want  string
	}{
		{"empty edit", "abc", nil, "abc"},
		{"insert front", "abc", []TextComponent{TextInsert("x")}, "xabc"},
		{"delete middle", "abcd", []TextComponent{TextRetain(1), TextDelete(2)}, "ad"},
		{"replace emoji", "a😀b", []TextComponent{TextRetain(1), TextDelete(1), TextInsert("🎉")}, "a🎉b"},
		{"thai combining marks", "กิน", []TextComponent{TextRetain(2), TextInsert("่")}, "กิ่น"},
		{"whole string", "ab", []TextComponent{TextDelete(2), TextInsert("z")}, "z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ApplyText(tt.in, tt.comps)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ApplyText = %q, want %q", got, tt.want)
			}
			inv, err := InvertText(tt.in, tt.comps)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ApplyText(got, inv)
			if err != nil || back != tt.in {
				t.Fatalf("inverse gave %q, %v", back, err)
			}
		})
	}
}

func TestNormalizeText(t *testing.T) {
	got := NormalizeText([]TextComponent{
		TextRetain(1), TextRetain(2), TextDelete(1), TextInsert("a"), TextInsert("b"), TextRetain(4),
	})
	want := []TextComponent{TextRetain(3), TextInsert("ab"), TextDelete(1)}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
