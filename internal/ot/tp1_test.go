package ot_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/doc/doctest"
	"github.com/omnisales/rtcollab/internal/ot"
)

// apply applies op, or nothing when ok is false (a dropped operation is a
// no-op).
func apply(t *testing.T, d map[string]any, op doc.Op, ok bool) (map[string]any, error) {
	t.Helper()
	if !ok {
		return d, nil
	}
	return doc.Apply(d, op)
}

// relation classifies how the paths of a and b relate, for coverage.
func relation(a, b doc.Op) string {
	pa, _ := doc.ParsePath(a.Path)
	pb, _ := doc.ParsePath(b.Path)
	switch {
	case pa.Equal(pb):
		return "same"
	case pa.HasPrefix(pb) || pb.HasPrefix(pa):
		return "nested"
	case len(pa) > 1 && len(pb) > 1 && pa[:len(pa)-1].Equal(pb[:len(pb)-1]):
		return "siblings"
	}
	return "other"
}

// TestTP1 checks convergence for random concurrent pairs: for a and b
// generated against the same document d,
//
//	Apply(Apply(d, a), TransformSide(b, a, s)) == Apply(Apply(d, b), TransformSide(a, b, !s))
//
// where a dropped operation counts as a no-op. Every pair of kinds is
// generated, moves included, and both transformed operations must apply
// without error.
func TestTP1(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 1)
	cases := doctest.Cases(t, os.Getenv, 20000)
	coverage := map[string]int{}
	for i := range cases {
		r := doctest.Rand(seed, i)
		g := doctest.NewGen(r)
		d := g.Doc()
		a, b := g.Op(d), g.Op(d)
		side := r.IntN(2) == 0
		coverage[fmt.Sprintf("%s/%s/%s", a.Kind, b.Kind, relation(a, b))]++
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("case %d (%s=%d): %s\n doc: %s\n   a: %s\n   b: %s\nside: %v",
				i, doctest.SeedEnv, seed, fmt.Sprintf(format, args...), show(d), show(a), show(b), side)
		}
		da, err := doc.Apply(d, a)
		if err != nil {
			fail("a does not apply: %v", err)
		}
		db, err := doc.Apply(d, b)
		if err != nil {
			fail("b does not apply: %v", err)
		}
		b2, okB, _ := ot.TransformSide(b, a, side)
		a2, okA, _ := ot.TransformSide(a, b, !side)
		left, err := apply(t, da, b2, okB)
		if err != nil {
			fail("b' = %s does not apply after a: %v", show(b2), err)
		}
		right, err := apply(t, db, a2, okA)
		if err != nil {
			fail("a' = %s does not apply after b: %v", show(a2), err)
		}
		if !doc.Equal(left, right) {
			fail("diverged\n a then b' (%v %s): %s\n b then a' (%v %s): %s",
				okB, show(b2), show(left), okA, show(a2), show(right))
		}
	}
	logCoverage(t, coverage)
}

// TestTP1Sequences checks TransformSeq on random sequences of up to three
// operations per side.
func TestTP1Sequences(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 2)
	cases := doctest.Cases(t, os.Getenv, 3000)
	for i := range cases {
		r := doctest.Rand(seed, i)
		g := doctest.NewGen(r)
		d := g.Doc()
		as, da := randomSeq(t, g, d, 1+r.IntN(3))
		bs, db := randomSeq(t, g, d, 1+r.IntN(3))
		asWin := r.IntN(2) == 0
		as2, bs2, _ := ot.TransformSeq(as, bs, asWin)
		left, errL := applyAll(da, bs2)
		right, errR := applyAll(db, as2)
		if errL != nil || errR != nil || !doc.Equal(left, right) {
			t.Fatalf("case %d (%s=%d): sequences diverged (asWin %v)\n doc: %s\n  as: %s\n  bs: %s\n bs': %s -> %s (%v)\n as': %s -> %s (%v)",
				i, doctest.SeedEnv, seed, asWin, show(d), show(as), show(bs), show(bs2), show(left), errL, show(as2), show(right), errR)
		}
	}
}

// TestTransformAgainstMatchesSeq checks that folding one operation over a
// history agrees with TransformSeq and converges with the history rebased
// over it.
func TestTransformAgainstMatchesSeq(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 3)
	cases := doctest.Cases(t, os.Getenv, 2000)
	for i := range cases {
		r := doctest.Rand(seed, i)
		g := doctest.NewGen(r)
		d := g.Doc()
		a := g.Op(d)
		history, current := randomSeq(t, g, d, 1+r.IntN(4))
		a2, ok, _ := ot.TransformAgainst(a, history)
		as2, _, _ := ot.TransformSeq([]doc.Op{a}, history, true)
		if ok != (len(as2) == 1) || (ok && show(as2[0]) != show(a2)) {
			t.Fatalf("case %d (%s=%d): TransformAgainst = %v %s, TransformSeq = %s", i, doctest.SeedEnv, seed, ok, show(a2), show(as2))
		}
		if _, err := apply(t, current, a2, ok); err != nil {
			t.Fatalf("case %d (%s=%d): rebased %s does not apply: %v", i, doctest.SeedEnv, seed, show(a2), err)
		}
	}
}

// randomSeq generates n operations, each valid after the previous ones,
// and returns them with the resulting document.
func randomSeq(t *testing.T, g *doctest.Gen, d map[string]any, n int) ([]doc.Op, map[string]any) {
	t.Helper()
	var ops []doc.Op
	for range n {
		op := g.Op(d)
		next, err := doc.Apply(d, op)
		if err != nil {
			t.Fatalf("generated op %s does not apply: %v", show(op), err)
		}
		ops, d = append(ops, op), next
	}
	return ops, d
}

func applyAll(d map[string]any, ops []doc.Op) (map[string]any, error) {
	for _, op := range ops {
		var err error
		if d, err = doc.Apply(d, op); err != nil {
			return nil, fmt.Errorf("%s: %w", show(op), err)
		}
	}
	return d, nil
}

func logCoverage(t *testing.T, coverage map[string]int) {
	t.Helper()
	keys := make([]string, 0, len(coverage))
	for k := range coverage {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, coverage[k])
	}
	t.Logf("pairs by kind/kind/relation: %s", b.String())
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
