// Package doctest generates random documents and random operations that
// are valid against them, for the property tests of the packages built on
// package doc (ot, crdt) and of doc itself.
//
// Entry points: Seed and Cases read the reproducibility settings from the
// environment; NewGen returns a generator; Gen.Doc, Gen.Value and Gen.Op
// produce documents, values and operations.
//
// Property tests run a fixed number of cases from a fixed seed, so a run is
// reproducible. Set RTCOLLAB_SEED to try another seed (or to replay the one
// a failure printed) and RTCOLLAB_CASES to run more or fewer cases.
package doctest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/doc"
)

// Environment variables read by Seed and Cases.
const (
	SeedEnv  = "RTCOLLAB_SEED"
	CasesEnv = "RTCOLLAB_CASES"
)

// Seed returns the seed for a property test: the value of RTCOLLAB_SEED
// (read with getenv, which the test passes in: os.Getenv) when set, def
// otherwise. It logs the seed so that it shows up with any
// failure, and fails the test when the variable does not parse.
func Seed(t testing.TB, getenv func(string) string, def uint64) uint64 {
	t.Helper()
	seed := def
	if s := getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", SeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("property seed %d (replay with %s=%d)", seed, SeedEnv, seed)
	return seed
}

// Cases returns the number of cases for a property test: RTCOLLAB_CASES
// (read with getenv) when set, def otherwise.
func Cases(t testing.TB, getenv func(string) string, def int) int {
	t.Helper()
	if s := getenv(CasesEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("%s=%q: want a positive integer", CasesEnv, s)
		}
		return v
	}
	return def
}

// Rand returns the generator for case i of a run with the given seed; each
// case gets its own stream so that one case can be replayed alone.
func Rand(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(i)))
}

// Gen generates small random documents and operations. Documents are kept
// small, with few distinct keys, so that two operations generated against
// the same document often touch the same list, string or field.
//
// Kinds restricts the operation kinds Op produces (nil means all). A Gen
// is not safe for concurrent use (its *rand.Rand is not).
type Gen struct {
	R     *rand.Rand
	Kinds []doc.Kind
}

// NewGen returns a Gen drawing from r and producing every kind.
func NewGen(r *rand.Rand) *Gen { return &Gen{R: r} }

var (
	keys   = []string{"a", "b", "l", "s", "n", "o"}
	runes  = []rune("abxyกข่😀")
	deltas = []string{"1", "-1", "2", "-3", "0.5", "-0.25", "10"}
	nums   = []string{"0", "1", "2", "5", "-4", "1.5", "0.1", "100"}
)

// Doc returns a random document. Most documents have a list "l", a string
// "s", a number "n" and an object "o" at the root, plus random keys.
func (g *Gen) Doc() map[string]any {
	d := map[string]any{}
	if g.R.IntN(10) < 8 {
		d["l"] = g.list(2)
	}
	if g.R.IntN(10) < 8 {
		d["s"] = g.str()
	}
	if g.R.IntN(10) < 6 {
		d["n"] = g.num()
	}
	if g.R.IntN(10) < 6 {
		d["o"] = g.object(2)
	}
	for range g.R.IntN(3) {
		d[g.key()] = g.Value(2)
	}
	return d
}

// Value returns a random JSON value nested at most depth levels.
func (g *Gen) Value(depth int) any {
	n := 5
	if depth > 0 {
		n = 7
	}
	switch g.R.IntN(n) {
	case 0:
		return g.num()
	case 1:
		return g.str()
	case 2:
		return g.R.IntN(2) == 0
	case 3:
		return nil
	case 4:
		return g.num()
	case 5:
		return g.list(depth - 1)
	default:
		return g.object(depth - 1)
	}
}

func (g *Gen) key() string        { return keys[g.R.IntN(len(keys))] }
func (g *Gen) num() json.Number   { return json.Number(nums[g.R.IntN(len(nums))]) }
func (g *Gen) delta() json.Number { return json.Number(deltas[g.R.IntN(len(deltas))]) }
func (g *Gen) str() string        { return g.strN(g.R.IntN(6)) }
func (g *Gen) strN(n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(runes[g.R.IntN(len(runes))])
	}
	return b.String()
}

func (g *Gen) list(depth int) []any {
	l := make([]any, g.R.IntN(5))
	for i := range l {
		l[i] = g.Value(depth)
	}
	return l
}

func (g *Gen) object(depth int) map[string]any {
	m := map[string]any{}
	for range g.R.IntN(4) {
		m[g.key()] = g.Value(depth)
	}
	return m
}

// entry is one addressable value of a document.
type entry struct {
	path  doc.Path
	value any
}

// entries lists every value below the root of d, in a deterministic order.
func entries(d map[string]any) []entry {
	var out []entry
	var walk func(p doc.Path, v any)
	walk = func(p doc.Path, v any) {
		if len(p) > 0 {
			out = append(out, entry{p.Clone(), v})
		}
		if len(p) >= doc.MaxDepth-1 {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				walk(append(p, doc.KeySegment(k)), x[k])
			}
		case []any:
			for i, e := range x {
				walk(append(p, doc.IndexSegment(i)), e)
			}
		}
	}
	walk(doc.Path{}, d)
	return out
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ { // insertion sort: maps here are tiny
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// Op returns a random operation that applies to d without error. The kind
// is drawn from g.Kinds; when d offers no target for the drawn kind
// another kind is drawn, and as a last resort an update of a root key is
// returned.
func (g *Gen) Op(d map[string]any) doc.Op {
	kinds := g.Kinds
	if len(kinds) == 0 {
		kinds = []doc.Kind{doc.Insert, doc.Update, doc.Delete, doc.Move, doc.Increment, doc.Text}
	}
	es := entries(d)
	for range 20 {
		if op, ok := g.opOfKind(kinds[g.R.IntN(len(kinds))], d, es); ok {
			return op
		}
	}
	return doc.Op{Kind: doc.Update, Path: g.key(), Value: g.Value(1)}
}

// objectsOf returns the paths of the objects of d, the root included.
func objectsOf(d map[string]any, es []entry) []entry {
	out := []entry{{doc.Path{}, d}}
	for _, e := range es {
		if _, ok := e.value.(map[string]any); ok && len(e.path) < doc.MaxDepth-1 {
			out = append(out, e)
		}
	}
	return out
}

func filter(es []entry, keep func(any) bool) []entry {
	var out []entry
	for _, e := range es {
		if keep(e.value) {
			out = append(out, e)
		}
	}
	return out
}

func isList(v any) bool   { _, ok := v.([]any); return ok }
func isString(v any) bool { _, ok := v.(string); return ok }
func isNum(v any) bool    { _, ok := v.(json.Number); return ok }

// absentKey picks an object and a key it lacks.
func (g *Gen) absentKey(d map[string]any, es []entry) (doc.Path, bool) {
	objs := objectsOf(d, es)
	for range 8 {
		o := objs[g.R.IntN(len(objs))]
		k := g.key()
		if _, ok := o.value.(map[string]any)[k]; !ok {
			return append(o.path.Clone(), doc.KeySegment(k)), true
		}
	}
	return nil, false
}

func (g *Gen) pick(es []entry) entry { return es[g.R.IntN(len(es))] }

func (g *Gen) opOfKind(k doc.Kind, d map[string]any, es []entry) (doc.Op, bool) {
	switch k {
	case doc.Insert:
		lists := filter(es, isList)
		if len(lists) > 0 && g.R.IntN(3) > 0 {
			l := g.pick(lists)
			n := len(l.value.([]any))
			p := append(l.path.Clone(), doc.IndexSegment(g.R.IntN(n+1)))
			return doc.Op{Kind: doc.Insert, Path: p.String(), Value: g.Value(1)}, true
		}
		if p, ok := g.absentKey(d, es); ok {
			return doc.Op{Kind: doc.Insert, Path: p.String(), Value: g.Value(1)}, true
		}
	case doc.Update:
		if g.R.IntN(4) == 0 {
			if p, ok := g.absentKey(d, es); ok {
				return doc.Op{Kind: doc.Update, Path: p.String(), Value: g.Value(1)}, true
			}
		}
		if len(es) > 0 {
			return doc.Op{Kind: doc.Update, Path: g.pick(es).path.String(), Value: g.Value(1)}, true
		}
	case doc.Delete:
		if len(es) > 0 {
			return doc.Op{Kind: doc.Delete, Path: g.pick(es).path.String()}, true
		}
	case doc.Move:
		lists := filter(es, func(v any) bool { return isList(v) && len(v.([]any)) > 0 })
		if len(lists) > 0 {
			l := g.pick(lists)
			n := len(l.value.([]any))
			return doc.Op{Kind: doc.Move, Path: l.path.String(), From: g.R.IntN(n), To: g.R.IntN(n)}, true
		}
	case doc.Increment:
		nums := filter(es, isNum)
		if len(nums) > 0 && g.R.IntN(4) > 0 {
			return doc.Op{Kind: doc.Increment, Path: g.pick(nums).path.String(), Delta: g.delta()}, true
		}
		if p, ok := g.absentKey(d, es); ok {
			return doc.Op{Kind: doc.Increment, Path: p.String(), Delta: g.delta()}, true
		}
	case doc.Text:
		strs := filter(es, isString)
		if len(strs) > 0 {
			e := g.pick(strs)
			return doc.Op{Kind: doc.Text, Path: e.path.String(), Text: g.TextEdit(e.value.(string))}, true
		}
	default:
		panic(fmt.Sprintf("doctest: unknown kind %q", k))
	}
	return doc.Op{}, false
}

// TextEdit returns a random normalized text edit that applies to s.
func (g *Gen) TextEdit(s string) []doc.TextComponent {
	left := utf8.RuneCountInString(s)
	var comps []doc.TextComponent
	for range 1 + g.R.IntN(3) {
		if left > 0 {
			n := g.R.IntN(left + 1)
			comps = append(comps, doc.TextRetain(n))
			left -= n
		}
		if left > 0 && g.R.IntN(2) == 0 {
			n := 1 + g.R.IntN(min(left, 3))
			comps = append(comps, doc.TextDelete(n))
			left -= n
		}
		if g.R.IntN(3) > 0 {
			comps = append(comps, doc.TextInsert(g.strN(1+g.R.IntN(3))))
		}
	}
	return doc.NormalizeText(comps)
}

// Restored reports whether back, the result of applying the inverse of op
// to the document op made from before, is before again. An increment that
// created its number is undone by the opposite increment, which leaves the
// number at 0 (see doc.Inverse): that 0 is the only difference allowed.
func Restored(back, before map[string]any, op doc.Op) bool {
	if _, existed := doc.Get(before, op.Path); op.Kind == doc.Increment && !existed {
		v, ok := doc.Get(back, op.Path)
		if !ok || !doc.Equal(v, json.Number("0")) {
			return false
		}
		var err error
		if back, err = doc.Apply(back, doc.Op{Kind: doc.Delete, Path: op.Path}); err != nil {
			return false
		}
	}
	return doc.Equal(back, before)
}
