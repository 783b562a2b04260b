package doc_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/doc/doctest"
)

// TestInverseProperty checks, for random documents and random valid
// operations, that Apply never modifies its input, that the result is still
// a document, and that applying Inverse restores the original (an
// increment that created its number leaves a 0, see doctest.Restored).
func TestInverseProperty(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 20240601)
	cases := doctest.Cases(t, os.Getenv, 5000)
	for i := range cases {
		g := doctest.NewGen(doctest.Rand(seed, i))
		d := g.Doc()
		op := g.Op(d)
		snapshot := doc.CloneDoc(d)
		after, err := doc.Apply(d, op)
		if err != nil {
			t.Fatalf("case %d (seed %d): generated op %s does not apply: %v\ndoc: %s", i, seed, show(op), err, show(d))
		}
		if !doc.Equal(d, snapshot) {
			t.Fatalf("case %d (seed %d): Apply(%s) modified its input", i, seed, show(op))
		}
		inv, err := doc.Inverse(d, op)
		if err != nil {
			t.Fatalf("case %d (seed %d): Inverse(%s): %v", i, seed, show(op), err)
		}
		back, err := doc.Apply(after, inv)
		if err != nil {
			t.Fatalf("case %d (seed %d): inverse %s of %s does not apply: %v", i, seed, show(inv), show(op), err)
		}
		if !doctest.Restored(back, d, op) {
			t.Fatalf("case %d (seed %d): op %s then inverse %s\n got %s\nwant %s", i, seed, show(op), show(inv), show(back), show(d))
		}
		// The wire form round-trips.
		raw, err := json.Marshal(op)
		if err != nil {
			t.Fatalf("case %d: marshal %v: %v", i, op, err)
		}
		var decoded doc.Op
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatalf("case %d: unmarshal %s: %v", i, raw, err)
		}
		again, err := doc.Apply(d, decoded)
		if err != nil || !doc.Equal(again, after) {
			t.Fatalf("case %d: decoded op %s applies differently: %v", i, raw, err)
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
