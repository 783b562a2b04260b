package crdt

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/omnisales/rtcollab/internal/doc"
)

func stamp(wall int64, node string) HLC { return HLC{WallMs: wall, Node: node} }

// edit is one step of a table test: set, delete or increment.
type edit struct {
	kind  string // "set", "del", "inc"
	path  string
	value any
	at    HLC
	node  string
	delta int64
}

func run(t *testing.T, edits []edit) Doc {
	t.Helper()
	var d Doc
	for _, e := range edits {
		var err error
		switch e.kind {
		case "set":
			err = d.Set(e.path, e.value, e.at)
		case "del":
			err = d.Delete(e.path, e.at)
		case "inc":
			err = d.Increment(e.path, e.node, e.delta)
		}
		if err != nil {
			t.Fatalf("%s %q: %v", e.kind, e.path, err)
		}
	}
	return d
}

func TestMaterialize(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		want  string
	}{
		{"empty", nil, `{}`},
		{"nested paths", []edit{
			{kind: "set", path: "customer.name", value: "Somchai", at: stamp(1, "a")},
			{kind: "set", path: "customer.tier", value: "gold", at: stamp(2, "a")},
		}, `{"customer":{"name":"Somchai","tier":"gold"}}`},
		{"last writer wins", []edit{
			{kind: "set", path: "status", value: "paid", at: stamp(5, "a")},
			{kind: "set", path: "status", value: "void", at: stamp(3, "b")},
		}, `{"status":"paid"}`},
		{"node breaks ties", []edit{
			{kind: "set", path: "status", value: "paid", at: stamp(5, "a")},
			{kind: "set", path: "status", value: "void", at: stamp(5, "b")},
		}, `{"status":"void"}`},
		{"later ancestor hides older child", []edit{
			{kind: "set", path: "customer.name", value: "A", at: stamp(1, "a")},
			{kind: "set", path: "customer", value: map[string]any{"id": 7}, at: stamp(2, "a")},
		}, `{"customer":{"id":7}}`},
		{"later child lands in ancestor", []edit{
			{kind: "set", path: "customer", value: map[string]any{"id": 7}, at: stamp(1, "a")},
			{kind: "set", path: "customer.name", value: "A", at: stamp(2, "a")},
		}, `{"customer":{"id":7,"name":"A"}}`},
		{"child under scalar", []edit{
			{kind: "set", path: "customer", value: "n/a", at: stamp(1, "a")},
			{kind: "set", path: "customer.name", value: "A", at: stamp(2, "a")},
		}, `{"customer":{"name":"A"}}`},
		{"delete wins when later", []edit{
			{kind: "set", path: "memo", value: "x", at: stamp(1, "a")},
			{kind: "del", path: "memo", at: stamp(2, "b")},
		}, `{}`},
		{"set after delete", []edit{
			{kind: "del", path: "memo", at: stamp(1, "b")},
			{kind: "set", path: "memo", value: "x", at: stamp(2, "a")},
		}, `{"memo":"x"}`},
		{"counter", []edit{
			{kind: "inc", path: "stock.onHand", node: "a", delta: 5},
			{kind: "inc", path: "stock.onHand", node: "b", delta: -2},
			{kind: "inc", path: "stock.onHand", node: "a", delta: 1},
		}, `{"stock":{"onHand":4}}`},
		{"counter adds to register", []edit{
			{kind: "set", path: "stock", value: 10, at: stamp(1, "a")},
			{kind: "inc", path: "stock", node: "b", delta: -3},
		}, `{"stock":7}`},
		{"counter replaces non-number", []edit{
			{kind: "set", path: "stock", value: "many", at: stamp(1, "a")},
			{kind: "inc", path: "stock", node: "b", delta: 2},
		}, `{"stock":2}`},
		{"canonical paths", []edit{
			{kind: "set", path: "$.a.b", value: 1, at: stamp(1, "a")},
			{kind: "set", path: `a["b"]`, value: 2, at: stamp(2, "a")},
		}, `{"a":{"b":2}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := run(t, tt.edits)
			got := d.Materialize()
			want, err := doc.Decode([]byte(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			if !doc.Equal(got, want) {
				b, _ := json.Marshal(got)
				t.Fatalf("Materialize = %s, want %s", b, tt.want)
			}
		})
	}
}

func TestDocErrors(t *testing.T) {
	var d Doc
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"set index path", d.Set("items[0]", 1, stamp(1, "a")), doc.ErrBadPath},
		{"set root", d.Set("$", 1, stamp(1, "a")), doc.ErrBadPath},
		{"set bad path", d.Set("a..b", 1, stamp(1, "a")), doc.ErrBadPath},
		{"set non-json value", d.Set("a", math.Inf(1), stamp(1, "a")), doc.ErrBadOp},
		{"delete index path", d.Delete("l[1]", stamp(1, "a")), doc.ErrBadPath},
		{"increment without node", d.Increment("stock", "", 1), ErrNode},
		{"increment index path", d.Increment("l[0]", "a", 1), doc.ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("error = %v, want %v", tt.err, tt.want)
			}
		})
	}
	if len(d.Registers) != 0 || len(d.Counters) != 0 {
		t.Fatalf("failed calls changed the state: %+v", d)
	}
}

// TestIncrementRefusesOverflow replaces the former saturation rule: a sum
// that would pass math.MaxInt64 is refused, so a counter is always the
// exact sum of the increments it accepted.
func TestIncrementRefusesOverflow(t *testing.T) {
	var d Doc
	for _, delta := range []int64{math.MaxInt64, -math.MaxInt64} {
		if err := d.Increment("x", "a", delta); err != nil {
			t.Fatal(err)
		}
	}
	want := d.Clone()
	tests := []struct {
		node  string
		delta int64
	}{
		{"a", 1},              // a's P sum
		{"b", 1},              // the counter's P total, through another node
		{"a", -1},             // a's N sum
		{"b", -1},             // the N total
		{"c", math.MinInt64},  // no int64 negation
		{"c", math.MaxInt64},  // the total again
		{"c", -math.MaxInt64}, // and its N
	}
	for _, tt := range tests {
		err := d.Increment("x", tt.node, tt.delta)
		if !errors.Is(err, ErrOverflow) {
			t.Fatalf("Increment(%s, %d) = %v, want ErrOverflow", tt.node, tt.delta, err)
		}
	}
	if !d.Equal(want) {
		t.Fatalf("refused increments changed the counter: %+v, want %+v", d.Counters, want.Counters)
	}
	if v := d.Counters["x"].Value(); v != 0 {
		t.Fatalf("Value = %d, want 0", v)
	}
	if err := d.Increment("y", "a", math.MinInt64+1); err != nil {
		t.Fatal(err)
	}
	if v := d.Counters["y"].Value(); v != math.MinInt64+1 {
		t.Fatalf("Value = %d, want %d", v, int64(math.MinInt64+1))
	}
}

func TestDocJSONRoundTrip(t *testing.T) {
	d := run(t, []edit{
		{kind: "set", path: "id", value: json.Number("12345678901234567890"), at: stamp(1, "a")},
		{kind: "del", path: "memo", at: stamp(2, "b")},
		{kind: "inc", path: "stock", node: "a", delta: 3},
		{kind: "del", path: "old", at: stamp(1, "b")},
	})
	d.DropTombstone("old") // the floor is stored too
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Doc
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(d) || back.Floor != stamp(1, "b") {
		t.Fatalf("round trip changed the state: %s", raw)
	}
	if v := back.Registers["id"].Value; v != json.Number("12345678901234567890") {
		t.Fatalf("id = %#v", v)
	}
}

func TestMergeDoesNotModifyInputs(t *testing.T) {
	a := run(t, []edit{{kind: "set", path: "x", value: 1, at: stamp(1, "a")}, {kind: "inc", path: "n", node: "a", delta: 1}})
	b := run(t, []edit{{kind: "set", path: "x", value: 2, at: stamp(2, "b")}, {kind: "inc", path: "n", node: "b", delta: 4}})
	a0, b0 := a.Clone(), b.Clone()
	m := Merge(a, b)
	if !a.Equal(a0) || !b.Equal(b0) {
		t.Fatal("Merge modified an input")
	}
	if got := m.Counters["n"].Value(); got != 5 {
		t.Fatalf("merged counter = %d, want 5", got)
	}
	_ = m.Increment("n", "a", 1)
	if !a.Equal(a0) {
		t.Fatal("the merged state shares a counter map with an input")
	}
}
