package doc

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestAddNumbers(t *testing.T) {
	tests := []struct {
		name string
		a, b any
		want json.Number
	}{
		{"ints", json.Number("2"), json.Number("3"), "5"},
		{"negative result", json.Number("2"), json.Number("-3"), "-1"},
		{"zero", json.Number("-2.5"), json.Number("2.5"), "0"},
		{"decimals exact", json.Number("0.1"), json.Number("0.2"), "0.3"},
		{"float operand", 0.1, json.Number("0.2"), "0.3"},
		{"int operand", 7, int64(-2), "5"},
		{"exponent", json.Number("1e3"), json.Number("1"), "1001"},
		{"trailing zeros", json.Number("1.50"), json.Number("1"), "2.5"},
		{"big int", json.Number("9007199254740993"), json.Number("1"), "9007199254740994"},
		{"small", json.Number("1e-30"), json.Number("0"), "1e-30"},
		{"huge", json.Number("1e300"), json.Number("0"), "1e300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AddNumbers(tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("AddNumbers(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		if _, err := AddNumbers("x", json.Number("1")); !errors.Is(err, ErrBadOp) {
			t.Fatalf("non-number: %v", err)
		}
		if _, err := AddNumbers(json.Number("1e5000"), json.Number("1")); !errors.Is(err, ErrRange) {
			t.Fatalf("far apart: %v", err)
		}
	})
}

func TestIncrementsCommute(t *testing.T) {
	// With binary floats (0.1+0.2)+0.3 != (0.1+0.3)+0.2; decimal sums agree.
	x, _ := AddNumbers(json.Number("0.1"), json.Number("0.2"))
	x, _ = AddNumbers(x, json.Number("0.3"))
	y, _ := AddNumbers(json.Number("0.1"), json.Number("0.3"))
	y, _ = AddNumbers(y, json.Number("0.2"))
	if x != y {
		t.Fatalf("%s != %s", x, y)
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b any
		want bool
	}{
		{"number forms", json.Number("1.50"), 1.5, true},
		{"exponent", json.Number("1e2"), json.Number("100"), true},
		{"int and number", 3, json.Number("3"), true},
		{"different numbers", json.Number("1"), json.Number("2"), false},
		{"number and string", json.Number("1"), "1", false},
		{"nil and nil", nil, nil, true},
		{"nil and empty", nil, map[string]any{}, false},
		{"nil map and empty", map[string]any(nil), map[string]any{}, true},
		{"objects", map[string]any{"a": []any{1, "x"}}, map[string]any{"a": []any{json.Number("1"), "x"}}, true},
		{"object keys differ", map[string]any{"a": 1}, map[string]any{"b": 1}, false},
		{"list order", []any{1, 2}, []any{2, 1}, false},
		{"bools", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Fatalf("Equal(%v, %v) = %v", tt.a, tt.b, got)
			}
			if got := Equal(tt.b, tt.a); got != tt.want {
				t.Fatalf("Equal(%v, %v) = %v (reversed)", tt.b, tt.a, got)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	type line struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"float", 2.5, json.Number("2.5")},
		{"int", 42, json.Number("42")},
		{"nested", map[string]any{"l": []any{1.0, "a"}}, map[string]any{"l": []any{json.Number("1"), "a"}}},
		{"struct", line{"A-1", 2}, map[string]any{"sku": "A-1", "qty": json.Number("2")}},
		{"typed slice", []string{"a", "b"}, []any{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(got, tt.want) {
				t.Fatalf("Normalize(%v) = %#v", tt.in, got)
			}
		})
	}
	bad := []struct {
		name string
		in   any
	}{
		{"nan", math.NaN()},
		{"inf", math.Inf(1)},
		{"channel", make(chan int)},
		{"bad number", json.Number("1x")},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Normalize(tt.in); !errors.Is(err, ErrBadOp) {
				t.Fatalf("Normalize: %v, want ErrBadOp", err)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	m, err := Decode([]byte(`{"id":12345678901234567890,"p":1.10}`))
	if err != nil {
		t.Fatal(err)
	}
	if m["id"] != json.Number("12345678901234567890") {
		t.Fatalf("id = %#v", m["id"])
	}
	for _, in := range []string{`[]`, `null`, `{"a":1} {}`, `{`} {
		t.Run(in, func(t *testing.T) {
			if _, err := Decode([]byte(in)); err == nil {
				t.Fatalf("Decode(%s) succeeded", in)
			}
		})
	}
}

// TestCheckNumbers: a number a client writes is held to the bounds of
// increments (below 1e308 in magnitude, no digit below 1e-324), where a
// float64, and so a browser, holds it: one that underflows to 0 or is too
// large is out of range, anywhere in the value. Validate still accepts
// it, so that the operations of changes stored before the check decode.
func TestCheckNumbers(t *testing.T) {
	tests := []struct {
		value any
		ok    bool
	}{
		{json.Number("0"), true},
		{json.Number("0.0"), true},
		{json.Number("-0"), true},
		{json.Number("0e-999999999"), true},
		{json.Number("1e-300"), true},
		{json.Number("5e-324"), true},
		{json.Number("-9.99e307"), true},
		{1e-300, true},
		{int64(-1 << 63), true},
		{map[string]any{"a": []any{"1e-999999999", nil, true}}, true},
		{json.Number("1e-999999999"), false},
		{json.Number("-1e-325"), false},
		{json.Number("1e308"), true},
		{json.Number("1.7976931348623157e308"), true},
		{json.Number("-1.7976931348623158e308"), true}, // rounds to the largest float64
		{json.Number("1." + strings.Repeat("0", 330) + "1"), true},
		{json.Number("3e-324"), true}, // rounds to the smallest float64
		{json.Number("2e-324"), false},
		{json.Number("1.8e308"), false},
		{json.Number("1e309"), false},
		{json.Number("1e999999999"), false},
		{map[string]any{"a": []any{json.Number("1"), json.Number("1e-999999999")}}, false},
		{[]any{map[string]any{"b": json.Number("-2e400")}}, false},
		{struct{ N json.Number }{json.Number("1e-999999999")}, false},
	}
	for _, tt := range tests {
		err := CheckNumbers(tt.value)
		if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrRange) {
			t.Errorf("CheckNumbers(%v) = %v; want ok %v", tt.value, err, tt.ok)
		}
		var op Op
		raw, _ := json.Marshal(Op{Kind: Update, Path: "n", Value: tt.value})
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Errorf("decode the stored update of %v: %v", tt.value, err)
		}
	}
	if err := CheckNumbers(json.Number("1x")); !errors.Is(err, ErrBadOp) {
		t.Errorf("CheckNumbers(1x) = %v; want a bad value", err)
	}
}
