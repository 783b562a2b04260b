package doc

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  Path
		canon string
	}{
		{"root empty", "", Path{}, ""},
		{"root dollar", "$", Path{}, ""},
		{"single key", "status", Path{KeySegment("status")}, "status"},
		{"nested keys", "customer.name", Path{KeySegment("customer"), KeySegment("name")}, "customer.name"},
		{"index then key", "items[2].qty", Path{KeySegment("items"), IndexSegment(2), KeySegment("qty")}, "items[2].qty"},
		{"dollar dot", "$.items[0]", Path{KeySegment("items"), IndexSegment(0)}, "items[0]"},
		{"dollar bracket", `$["a.b"]`, Path{KeySegment("a.b")}, `["a.b"]`},
		{"nested lists", "m[1][0]", Path{KeySegment("m"), IndexSegment(1), IndexSegment(0)}, "m[1][0]"},
		{"quoted key", `lines["unit.price"].v`, Path{KeySegment("lines"), KeySegment("unit.price"), KeySegment("v")}, `lines["unit.price"].v`},
		{"quoted escapes", `a["q\"]"]`, Path{KeySegment("a"), KeySegment(`q"]`)}, `a["q\"]"]`},
		{"empty key", `a[""]`, Path{KeySegment("a"), KeySegment("")}, `a[""]`},
		{"thai key", "ลูกค้า.ชื่อ", Path{KeySegment("ลูกค้า"), KeySegment("ชื่อ")}, "ลูกค้า.ชื่อ"},
		{"digit key", "a.0", Path{KeySegment("a"), KeySegment("0")}, "a.0"},
		{"dollar key", "$x.y", Path{KeySegment("$x"), KeySegment("y")}, `["$x"].y`},
		{"max index", "a[999999999]", Path{KeySegment("a"), IndexSegment(MaxIndex)}, "a[999999999]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("ParsePath(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.canon {
				t.Fatalf("String() = %q, want %q", s, tt.canon)
			}
			again, err := ParsePath(got.String())
			if err != nil || !again.Equal(got) {
				t.Fatalf("round trip of %q: %v %#v", got.String(), err, again)
			}
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	deep := strings.Repeat("a.", MaxDepth) + "a"
	tests := []struct {
		name string
		in   string
	}{
		{"leading dot", ".a"},
		{"trailing dot", "a."},
		{"double dot", "a..b"},
		{"dollar dot only", "$."},
		{"dollar dot bracket", "$.[0]"},
		{"root index", "[0]"},
		{"dollar root index", "$[0]"},
		{"key after bracket", "a[0]b"},
		{"unterminated bracket", "a[1"},
		{"empty index", "a[]"},
		{"negative index", "a[-1]"},
		{"leading zero", "a[01]"},
		{"index too large", "a[1000000000]"},
		{"stray close", "a]"},
		{"unterminated quote", `a["x]`},
		{"quote without close bracket", `a["x"`},
		{"bad escape", `a["\q"]`},
		{"dot before bracket", "a.[0]"},
		{"too deep", deep},
		{"key too long", strings.Repeat("k", MaxKeyLen+1)},
		{"too long", strings.Repeat("a", MaxPathLen+1)},
		{"invalid utf8", "a\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := ParsePath(tt.in); !errors.Is(err, ErrBadPath) {
				t.Fatalf("ParsePath(%q) = %v, %v; want ErrBadPath", clip(tt.in), p, err)
			}
		})
	}
}

func TestPathPrefix(t *testing.T) {
	p := mustPath(t, "items[2].qty")
	tests := []struct {
		name   string
		prefix string
		want   bool
	}{
		{"root", "", true},
		{"list", "items", true},
		{"element", "items[2]", true},
		{"self", "items[2].qty", true},
		{"other index", "items[1]", false},
		{"longer", "items[2].qty.x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.HasPrefix(mustPath(t, tt.prefix)); got != tt.want {
				t.Fatalf("HasPrefix(%q) = %v, want %v", tt.prefix, got, tt.want)
			}
		})
	}
}

func mustPath(t *testing.T, s string) Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
