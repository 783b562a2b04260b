package protocol

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestCheckPayload(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	array := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("0,", n), ",") + "]" }
	object := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"k` + strconv.Itoa(i) + `":1`) // distinct names: a repeated one is refused first
		}
		b.WriteString("}")
		return b.String()
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"absent", ``, true},
		{"scalar", `42`, true},
		{"object", `{"a":[1,"x",{"b":null}],"c":true}`, true},
		{"depth at limit", nest(MaxPayloadDepth), true},
		{"depth over limit", nest(MaxPayloadDepth + 1), false},
		{"deep object", strings.Repeat(`{"a":`, MaxPayloadDepth+1) + "1" + strings.Repeat("}", MaxPayloadDepth+1), false},
		{"array at limit", array(MaxArrayLen), true},
		{"array over limit", array(MaxArrayLen + 1), false},
		{"object members at limit", object(MaxObjectMembers), true},
		{"object members over limit", object(MaxObjectMembers + 1), false},
		{"string at limit", `"` + strings.Repeat("x", MaxStringBytes) + `"`, true},
		{"string over limit", `"` + strings.Repeat("x", MaxStringBytes+1) + `"`, false},
		{"escaped string over limit", `"` + strings.Repeat(`\u00e9`, MaxStringBytes/2+1) + `"`, false},
		{"long key", `{"` + strings.Repeat("k", MaxKeyBytes+1) + `":1}`, false},
		{"huge integer", `123456789012345678901234567890`, true},
		{"number out of range", `1e400`, false},
		{"negative out of range", `{"a":[-1e309]}`, false},
		{"tiny number", `1e-400`, true},
		{"broken", `{"a":`, false},
		{"two values", `1 2`, false},
		{"bare word", `nope`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPayload(json.RawMessage(tt.in))
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckPayload: %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
				t.Fatalf("CheckPayload = %v, want BAD_REQUEST", err)
			}
			if len(pe.Message) > 100 {
				t.Fatalf("message echoes input: %q", pe.Message)
			}
		})
	}
}

func TestDecodePayload(t *testing.T) {
	type target struct {
		Path []string `json:"path"`
		Base int      `json:"baseVersion"`
	}
	tests := []struct {
		name string
		in   string
		code Code
		want target
	}{
		{"ok", `{"path":["a","b"],"baseVersion":3,"extra":1}`, "", target{Path: []string{"a", "b"}, Base: 3}},
		{"empty", ``, "", target{}},
		{"wrong type", `{"baseVersion":"3"}`, CodeBadRequest, target{}},
		{"wrong shape", `[1]`, CodeBadRequest, target{}},
		{"too deep", `{"path":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, CodeBadRequest, target{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got target
			err := DecodePayload(json.RawMessage(tt.in), &got)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("DecodePayload: %v", err)
				}
				if strings.Join(got.Path, "/") != strings.Join(tt.want.Path, "/") || got.Base != tt.want.Base {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tt.code {
				t.Fatalf("DecodePayload = %v, want %s", err, tt.code)
			}
		})
	}
}
