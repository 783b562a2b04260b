package crdt

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/doc"
)

// TestShadowedRegisters: a register below a top-level key whose register
// is newer can never show again: the write or delete of the key drops
// those below it, and Set or Delete below it records nothing older than
// it. Below a deeper register that is newer, the path of a register may
// still show (it made the parents objects), so it keeps its path and
// stamp but not its value.
func TestShadowedRegisters(t *testing.T) {
	big := strings.Repeat("x", 1000)
	d := run(t, []edit{
		{kind: "set", path: "a.k1", value: big, at: stamp(1, "a")},
		{kind: "del", path: "a.k2", at: stamp(1, "a")},
		{kind: "set", path: "a.k3", value: big, at: stamp(3, "a")},
		{kind: "set", path: "a", value: map[string]any{}, at: stamp(2, "a")},
		{kind: "set", path: "a.k4", value: big, at: stamp(1, "b")},
		{kind: "del", path: "a.k5", at: stamp(1, "b")},
		{kind: "set", path: "a.k6", value: big, at: stamp(2, "a")}, // a tie: shows after a
	})
	if got := keys(d); got != "a a.k3 a.k6" {
		t.Errorf("registers %s; want a a.k3 a.k6 (older ones below a dropped or not recorded)", got)
	}
	if got := show(d.Materialize()); got != `{"a":{"k3":"`+big+`","k6":"`+big+`"}}` {
		t.Errorf("document %.80s", got)
	}
	for _, w := range []struct {
		path string
		at   HLC
		by   string
		gone bool
	}{
		{"a.k1", stamp(1, "z"), "a", true},
		{"a.k1.x", stamp(2, "a"), "", false}, // a tie with a
		{"a.k3.x", stamp(1, "a"), "a", true},
		{"a", stamp(1, "a"), "", false}, // a top-level key: the register there decides
		{"b.x", stamp(1, "a"), "", false},
	} {
		if by, gone := d.Hidden(w.path, w.at); by != w.by || gone != w.gone {
			t.Errorf("Hidden(%q, %s) = %q, %v; want %q, %v", w.path, w.at, by, gone, w.by, w.gone)
		}
	}

	// o has no register: o.a.k1 made o an object, which its delete
	// leaves behind, so o.a.k1 and the older o.a.k2 are kept, valueless.
	d = run(t, []edit{
		{kind: "set", path: "o.a.k1", value: big, at: stamp(1, "a")},
		{kind: "del", path: "o.a", at: stamp(3, "a")},
		{kind: "set", path: "o.a.k2", value: big, at: stamp(2, "b")},
	})
	if got := keys(d); got != "o.a o.a.k1 o.a.k2" {
		t.Errorf("registers %s; want o.a o.a.k1 o.a.k2", got)
	}
	for _, k := range []string{"o.a.k1", "o.a.k2"} {
		if r := d.Registers[k]; r.Value != nil || r.Deleted {
			t.Errorf("%s kept %.20v (deleted %v); want a register without its value", k, r.Value, r.Deleted)
		}
	}
	if got := show(d.Materialize()); got != `{"o":{}}` {
		t.Errorf("document %s, want {\"o\":{}}", got)
	}
}

// TestMergePrunes: Merge leaves out what Set and Delete would: a register
// below a newer one of its top-level key, and the value of one below a
// deeper newer register.
func TestMergePrunes(t *testing.T) {
	x := run(t, []edit{
		{kind: "set", path: "a.k", value: "old", at: stamp(1, "a")},
		{kind: "set", path: "o.p.k", value: "old", at: stamp(1, "a")},
	})
	y := run(t, []edit{
		{kind: "set", path: "a", value: map[string]any{}, at: stamp(2, "b")},
		{kind: "set", path: "o.p", value: 1, at: stamp(2, "b")},
	})
	for _, m := range []Doc{Merge(x, y), Merge(y, x)} {
		if got := keys(m); got != "a o.p o.p.k" || m.Registers["o.p.k"].Value != nil {
			t.Errorf("Merge = %s; want a, o.p and o.p.k without its value", show(m))
		}
		if got := show(m.Materialize()); got != `{"a":{},"o":{"p":1}}` {
			t.Errorf("document %s", got)
		}
	}
}

// keys lists d's register paths, sorted, separated by spaces.
func keys(d Doc) string {
	return strings.Join(slices.Sorted(maps.Keys(d.Registers)), " ")
}

// TestAncestorEnd: the proper ancestors of a canonical path end where a
// segment starts, never inside a bracketed key.
func TestAncestorEnd(t *testing.T) {
	for _, c := range []struct {
		path string
		want []string
	}{
		{"a", nil},
		{"a.b.c", []string{"a", "a.b"}},
		{`["x.y"].z`, []string{`["x.y"]`}},
		{`a["b[c"].d`, []string{"a", `a["b[c"]`}},
		{`["q\".["].r\.s`, []string{`["q\".["]`, `["q\".["].r\`}},
		{`["a.\\"].b`, []string{`["a.\\"]`}},
	} {
		p, err := doc.ParsePath(c.path)
		if err != nil || p.String() != c.path {
			t.Fatalf("%s is not a canonical path (%v)", c.path, err)
		}
		var got []string
		for end := ancestorEnd(c.path, 0); end > 0; end = ancestorEnd(c.path, end) {
			got = append(got, c.path[:end])
		}
		for i := 1; i < len(p); i++ { // what ParsePath says
			if i > len(got) || got[i-1] != p[:i].String() {
				t.Errorf("ancestors of %s: %q; want %q", c.path, got, p[:i].String())
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ancestors of %s: %q, want %q", c.path, got, c.want)
		}
	}
}

// TestNestedHiddenPathsStay: below a newer register of a field that is
// not top-level, the older registers keep their paths and stamps because
// the document still depends on them, whatever that register is. A
// write of o.a hides the older o.a.k, yet once o.a is deleted, o.a.k is
// what keeps o an object, in every order of arrival. And below a deleted
// o.a, o stays an object while any hidden write below o.a still holds its
// path: deleting o.a.k1 leaves {"o":{}}, deleting o.a.k2 too leaves {}.
// No state that forgets which hidden paths are still written can give
// both, so these registers are not collapsed.
func TestNestedHiddenPathsStay(t *testing.T) {
	edits := []edit{
		{kind: "set", path: "o.a.k", value: 1, at: stamp(1, "a")},
		{kind: "set", path: "o.a", value: map[string]any{}, at: stamp(2, "a")},
		{kind: "del", path: "o.a", at: stamp(3, "a")},
	}
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		var in []edit
		for _, k := range order {
			in = append(in, edits[k])
		}
		d := run(t, in)
		if r, ok := d.Registers["o.a.k"]; !ok || r.Value != nil || r.Stamp != stamp(1, "a") {
			t.Errorf("order %v: o.a.k is %+v (kept %v); want its path and stamp without its value", order, r, ok)
		}
		if got := show(d.Materialize()); got != `{"o":{}}` {
			t.Errorf("order %v: document %s, want {\"o\":{}}", order, got)
		}
	}

	d := run(t, []edit{
		{kind: "set", path: "o.a.k1", value: 1, at: stamp(1, "a")},
		{kind: "set", path: "o.a.k2", value: 2, at: stamp(2, "a")},
		{kind: "del", path: "o.a", at: stamp(3, "a")},
		{kind: "del", path: "o.a.k1", at: stamp(4, "a")},
	})
	if got := show(d.Materialize()); got != `{"o":{}}` {
		t.Errorf("o.a.k2 still written below the deleted o.a: document %s, want {\"o\":{}}", got)
	}
	if err := d.Delete("o.a.k2", stamp(5, "a")); err != nil {
		t.Fatal(err)
	}
	if got := show(d.Materialize()); got != `{}` {
		t.Errorf("no write left below the deleted o.a: document %s, want {}", got)
	}
}
