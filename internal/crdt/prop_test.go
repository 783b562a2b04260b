package crdt_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/doc/doctest"
)

// Few paths, some nested in others, and few nodes and wall times, so that
// random states collide often, stamps tie, and ancestor/descendant writes
// interleave.
var (
	paths = []string{"a", "a.b", "a.c", "a.b.x", "b", "stock", "stock.v", "c.d"}
	nodes = []string{"n1", "n2", "n3"}
)

// randomState builds a state from random edits, then drops some of its
// tombstones (which sets its floor). Stamps are drawn at
// random (not from a clock), which may even repeat a stamp with another
// value: merge must stay deterministic then too.
func randomState(r *rand.Rand) crdt.Doc {
	g := doctest.NewGen(r)
	var d crdt.Doc
	for range r.IntN(10) {
		p := paths[r.IntN(len(paths))]
		st := crdt.HLC{WallMs: int64(r.IntN(4)), Counter: uint32(r.IntN(2)), Node: nodes[r.IntN(len(nodes))]}
		var err error
		switch r.IntN(4) {
		case 0, 1:
			err = d.Set(p, g.Value(1), st)
		case 2:
			err = d.Delete(p, st)
		default:
			err = d.Increment(p, nodes[r.IntN(len(nodes))], int64(r.IntN(11)-5))
		}
		if err != nil {
			panic(err)
		}
	}
	// Forget about half the tombstones, so that states carry floors.
	for _, p := range paths {
		if r.IntN(2) == 0 {
			d.DropTombstone(p)
		}
	}
	return d
}

func sameState(t *testing.T, what string, i int, seed uint64, x, y crdt.Doc) {
	t.Helper()
	if !x.Equal(y) {
		t.Fatalf("case %d (%s=%d): %s: states differ\n%s\n%s", i, doctest.SeedEnv, seed, what, show(x), show(y))
	}
	if mx, my := x.Materialize(), y.Materialize(); !doc.Equal(mx, my) {
		t.Fatalf("case %d (%s=%d): %s: documents differ\n%s\n%s", i, doctest.SeedEnv, seed, what, show(mx), show(my))
	}
}

// TestMergeLaws checks that Merge is commutative, associative and
// idempotent, on the states and on their materialized documents.
func TestMergeLaws(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 7)
	cases := doctest.Cases(t, os.Getenv, 5000)
	for i := range cases {
		r := doctest.Rand(seed, i)
		a, b, c := randomState(r), randomState(r), randomState(r)
		sameState(t, "commutative", i, seed, crdt.Merge(a, b), crdt.Merge(b, a))
		sameState(t, "associative", i, seed, crdt.Merge(crdt.Merge(a, b), c), crdt.Merge(a, crdt.Merge(b, c)))
		sameState(t, "idempotent", i, seed, crdt.Merge(a, a), a)
		ab := crdt.Merge(a, b)
		sameState(t, "absorbs", i, seed, crdt.Merge(ab, b), ab)
	}
}

// TestReplicasConverge simulates replicas that edit with their own clocks
// and exchange states in random order: after everyone has merged
// everything, all replicas hold the same state and document, and every
// counter equals the sum of all increments made to it.
func TestReplicasConverge(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 8)
	cases := doctest.Cases(t, os.Getenv, 500)
	for i := range cases {
		r := doctest.Rand(seed, i)
		g := doctest.NewGen(r)
		replicas := make([]crdt.Doc, len(nodes))
		clocks := make([]crdt.HLC, len(nodes))
		for k, n := range nodes {
			clocks[k] = crdt.HLC{Node: n}
		}
		wall := int64(1000)
		sums := map[string]int64{}
		for range 40 {
			k := r.IntN(len(nodes))
			wall += int64(r.IntN(3)) // clocks advance slowly: counters matter
			switch r.IntN(5) {
			case 0: // receive another replica's state
				from := r.IntN(len(nodes))
				replicas[k] = crdt.Merge(replicas[k], replicas[from])
				for _, reg := range replicas[from].Registers {
					clocks[k] = crdt.Update(clocks[k], reg.Stamp, timeMs(wall))
				}
			case 1:
				p := paths[r.IntN(len(paths))]
				delta := int64(r.IntN(11) - 5)
				if err := replicas[k].Increment(p, nodes[k], delta); err != nil {
					t.Fatal(err)
				}
				sums[p] += delta
			case 2:
				clocks[k] = crdt.Now(timeMs(wall), clocks[k])
				if err := replicas[k].Delete(paths[r.IntN(len(paths))], clocks[k]); err != nil {
					t.Fatal(err)
				}
			default:
				clocks[k] = crdt.Now(timeMs(wall), clocks[k])
				if err := replicas[k].Set(paths[r.IntN(len(paths))], g.Value(1), clocks[k]); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Everyone sends to everyone, twice, in a random order.
		for range 2 {
			for _, pair := range r.Perm(len(nodes) * len(nodes)) {
				to, from := pair/len(nodes), pair%len(nodes)
				replicas[to] = crdt.Merge(replicas[to], replicas[from])
			}
		}
		for k := 1; k < len(replicas); k++ {
			sameState(t, "replicas", i, seed, replicas[0], replicas[k])
		}
		for p, want := range sums {
			if got := replicas[0].Counters[p].Value(); got != want {
				t.Fatalf("case %d (%s=%d): counter %q = %d, want %d", i, doctest.SeedEnv, seed, p, got, want)
			}
		}
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// deepPaths nest four levels, so that a register can be hidden by a
// newer one at its top-level key or at a deeper ancestor (of depth two or
// three, with the hidden register one or two levels below it), and a
// delete can leave behind the objects a register below it made.
var deepPaths = []string{"a", "a.b", "a.b.c", "a.b.c.x", "a.b.d", "a.e", "b", "b.c.d", "b.c", "b.c.d.e"}

// step is one edit as a replica records it.
type step struct {
	kind  int // 0 set, 1 delete, 2 increment
	path  string
	value any
	at    crdt.HLC
	node  string
	delta int64
}

func randomSteps(r *rand.Rand, n int) []step {
	g := doctest.NewGen(r)
	out := make([]step, n)
	for i := range out {
		out[i] = step{
			kind: []int{0, 0, 1, 2}[r.IntN(4)], path: deepPaths[r.IntN(len(deepPaths))], value: g.Value(1),
			at:   crdt.HLC{WallMs: int64(r.IntN(5)), Counter: uint32(r.IntN(2)), Node: nodes[r.IntN(len(nodes))]},
			node: nodes[r.IntN(len(nodes))], delta: int64(r.IntN(11) - 5),
		}
	}
	return out
}

// apply records s in d with Set, Delete or Increment.
func (s step) apply(d *crdt.Doc) error {
	switch s.kind {
	case 0:
		return d.Set(s.path, s.value, s.at)
	case 1:
		return d.Delete(s.path, s.at)
	}
	return d.Increment(s.path, s.node, s.delta)
}

// keepAll records s in ref as a state that prunes nothing: every path
// keeps its winning register.
func (s step) keepAll(ref *crdt.Doc) error {
	if s.kind == 2 {
		return ref.Increment(s.path, s.node, s.delta)
	}
	if ref.Registers == nil {
		ref.Registers = map[string]crdt.Register{}
	}
	v, err := doc.Normalize(s.value)
	if err != nil {
		return err
	}
	r := crdt.Register{Value: v, Stamp: s.at}
	if s.kind == 1 {
		r = crdt.Register{Stamp: s.at, Deleted: true}
	}
	if cur, ok := ref.Registers[s.path]; !ok || r.Wins(cur) {
		ref.Registers[s.path] = r
	}
	return nil
}

// TestPruneShowsTheSame: a state that prunes what can never show (Set,
// Delete, Merge) materializes, after every edit and in every order of
// arrival, to the document of a state that keeps every winning register,
// and reports the same edits as Outdated; replicas that receive the same
// edits in different orders, or merge them, hold equal states.
func TestPruneShowsTheSame(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 9)
	cases := doctest.Cases(t, os.Getenv, 3000)
	for i := range cases {
		r := doctest.Rand(seed, i)
		steps := randomSteps(r, 4+r.IntN(12))
		var d, ref crdt.Doc
		for n, s := range steps {
			if err := s.apply(&d); err != nil {
				t.Fatal(err)
			}
			if err := s.keepAll(&ref); err != nil {
				t.Fatal(err)
			}
			if got, want := d.Materialize(), ref.Materialize(); !doc.Equal(got, want) {
				t.Fatalf("case %d (%s=%d), after %d edits: pruned %s, kept %s\npruned %s\nkept %s",
					i, doctest.SeedEnv, seed, n+1, show(got), show(want), show(d), show(ref))
			}
		}
		for _, p := range deepPaths {
			for w := range 6 {
				at := crdt.HLC{WallMs: int64(w), Node: nodes[r.IntN(len(nodes))]}
				by, ok := d.Outdated(p, at)
				wby, wok := ref.Outdated(p, at)
				if by != wby || ok != wok {
					t.Fatalf("case %d (%s=%d): Outdated(%q, %s) = %q, %v; kept: %q, %v", i, doctest.SeedEnv, seed, p, at, by, ok, wby, wok)
				}
			}
		}
		// Another order of arrival, and the edits split between two
		// replicas that merge.
		var other, x, y crdt.Doc
		for _, k := range r.Perm(len(steps)) {
			if err := steps[k].apply(&other); err != nil {
				t.Fatal(err)
			}
			half := &x
			if k%2 == 1 {
				half = &y
			}
			if steps[k].kind != 2 { // a counter's node increments on one replica only
				if err := steps[k].apply(half); err != nil {
					t.Fatal(err)
				}
			}
		}
		d.Counters, other.Counters = nil, nil
		sameState(t, "order of arrival", i, seed, d, other)
		sameState(t, "merged halves", i, seed, crdt.Merge(x, y), d)
	}
}
