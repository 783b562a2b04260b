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
