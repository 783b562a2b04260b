package editing_test

import (
	"math"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// TestCRDTFrozenFieldRecovers starts from state that an older server let
// through: a register and the clock stamped at the end of int64. The next
// write, with a client stamp or none, wins the register, and the new
// state holds no stamp beyond the server's clock plus the skew.
func TestCRDTFrozenFieldRecovers(t *testing.T) {
	frozen := crdt.HLC{WallMs: math.MaxInt64, Counter: math.MaxUint32, Node: "mallory"}
	var st editing.State
	if err := st.CRDT.Set("bin", "X", frozen); err != nil {
		t.Fatal(err)
	}
	st.Clock = frozen
	limit := crdt.Limit(now, editing.DefaultMaxSkew)
	for _, stamp := range []*crdt.HLC{nil, {WallMs: now.UnixMilli()}} {
		state := st
		out, err := editing.Decide(editing.Input{
			Strategy: editing.CRDT, Doc: map[string]any{"bin": "X"}, Version: 1, State: &state, Base: 1,
			Op: doc.Op{Kind: doc.Update, Path: "bin", Value: "B2"}, UserID: "bob", Stamp: stamp, Now: now,
		})
		if err != nil || out.Kind != editing.KindApplied {
			t.Fatalf("write after a frozen stamp (client stamp %v): %v %v, want applied", stamp, out.Kind, err)
		}
		wantDoc(t, out.Doc, `{"bin":"B2"}`)
		if c := out.State.Clock; c.WallMs > limit || c.WallMs < 0 {
			t.Fatalf("clock %v beyond the limit %d", c, limit)
		}
		for k, r := range out.State.CRDT.Registers {
			if r.Stamp.WallMs > limit || r.Stamp.WallMs < 0 {
				t.Fatalf("register %s stamped %v, beyond the limit %d", k, r.Stamp, limit)
			}
		}
	}
}
