package doc

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestOpJSONShapes(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		want string
	}{
		{"insert", Op{Kind: Insert, Path: "items[2]", Value: map[string]any{"sku": "A"}}, `{"op":"insert","path":"items[2]","value":{"sku":"A"}}`},
		{"update null", Op{Kind: Update, Path: "memo"}, `{"op":"update","path":"memo","value":null}`},
		{"delete", Op{Kind: Delete, Path: "items[0]", Value: "ignored"}, `{"op":"delete","path":"items[0]"}`},
		{"move zero indexes", Op{Kind: Move, Path: "items", From: 0, To: 0}, `{"op":"move","path":"items","from":0,"to":0}`},
		{"increment", Op{Kind: Increment, Path: "stock", Delta: "-2.5"}, `{"op":"increment","path":"stock","delta":-2.5}`},
		{"text", Op{Kind: Text, Path: "notes", Text: []TextComponent{TextRetain(4), TextDelete(2), TextInsert("ab")}},
			`{"op":"text","path":"notes","text":[{"retain":4},{"delete":2},{"insert":"ab"}]}`},
		{"empty text", Op{Kind: Text, Path: "notes"}, `{"op":"text","path":"notes","text":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("Marshal = %s, want %s", b, tt.want)
			}
			var back Op
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			again, _ := json.Marshal(back)
			if string(again) != tt.want {
				t.Fatalf("round trip = %s", again)
			}
		})
	}
}

func TestOpUnmarshalNumbers(t *testing.T) {
	var o Op
	if err := json.Unmarshal([]byte(`{"op":"update","path":"id","value":{"n":12345678901234567890}}`), &o); err != nil {
		t.Fatal(err)
	}
	if got := o.Value.(map[string]any)["n"]; got != json.Number("12345678901234567890") {
		t.Fatalf("value number = %#v", got)
	}
}

func TestOpUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"missing op", `{"path":"a"}`, ErrBadOp},
		{"missing path", `{"op":"delete"}`, ErrBadOp},
		{"unknown kind", `{"op":"upsert","path":"a"}`, ErrBadOp},
		{"insert without value", `{"op":"insert","path":"a"}`, ErrBadOp},
		{"move without to", `{"op":"move","path":"a","from":1}`, ErrBadOp},
		{"increment without delta", `{"op":"increment","path":"a"}`, ErrBadOp},
		{"text without text", `{"op":"text","path":"a"}`, ErrBadOp},
		{"misplaced delta", `{"op":"update","path":"a","value":1,"delta":1}`, ErrBadOp},
		{"misplaced value", `{"op":"delete","path":"a","value":1}`, ErrBadOp},
		{"bad path", `{"op":"delete","path":"a..b"}`, ErrBadPath},
		{"root path", `{"op":"delete","path":"$"}`, ErrBadPath},
		{"bad delta", `{"op":"increment","path":"a","delta":"x"}`, ErrBadOp},
		{"bad component", `{"op":"text","path":"a","text":[{"retain":1,"delete":1}]}`, ErrBadOp},
		{"negative retain", `{"op":"text","path":"a","text":[{"retain":-1}]}`, ErrBadOp},
		{"retain past the bound", `{"op":"text","path":"a","text":[{"retain":1048577},{"insert":"x"}]}`, ErrBadOp},
		{"largest retain", `{"op":"text","path":"a","text":[{"retain":9223372036854775807},{"insert":"x"}]}`, ErrBadOp},
		{"largest delete", `{"op":"text","path":"a","text":[{"delete":9223372036854775807}]}`, ErrBadOp},
		{"wrong type", `{"op":"move","path":"a","from":"1","to":2}`, ErrBadOp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Op
			if err := json.Unmarshal([]byte(tt.in), &o); !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal(%s) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestOpUnmarshalIgnoresUnknownFields(t *testing.T) {
	var o Op
	in := `{"op":"update","path":"status","value":"paid","before":"draft","baseVersion":7}`
	if err := json.Unmarshal([]byte(in), &o); err != nil {
		t.Fatal(err)
	}
	if o.Kind != Update || o.Value != "paid" {
		t.Fatalf("got %+v", o)
	}
}
