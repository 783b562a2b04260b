package editing_test

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// TestCRDTZeroIncrementUnchanged: an increment by zero changes nothing
// and loses to nothing, so it is reported unchanged, not superseded by
// a "newer write" that does not exist (with or without a counter of its
// writer already at the path).
func TestCRDTZeroIncrementUnchanged(t *testing.T) {
	t0 := now.UnixMilli()
	for _, tt := range []struct {
		name  string
		prior []doc.Op // by ann, before the zero increment
	}{
		{"over a plain value", []doc.Op{{Kind: doc.Update, Path: "qty", Value: 3.0}}},
		{"over the writer's own counter", []doc.Op{{Kind: doc.Update, Path: "qty", Value: 3.0}, {Kind: doc.Increment, Path: "qty", Delta: "2"}}},
		{"at a new field", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, st, v := map[string]any{}, (*editing.State)(nil), int64(0)
			for i, op := range tt.prior {
				out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: d, State: st, Version: v, Base: v,
					Op: op, UserID: "ann", Stamp: &crdt.HLC{WallMs: t0 - 100 + int64(i)}, Now: now})
				if err != nil || !out.Kind.NewVersion() {
					t.Fatalf("prior %s: %v, %v", op, out.Kind, err)
				}
				d, st, v = out.Doc, out.State, v+1
			}
			out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: d, State: st, Version: v, Base: v,
				Op: doc.Op{Kind: doc.Increment, Path: "qty", Delta: "0"}, UserID: "ann", Stamp: &crdt.HLC{WallMs: t0 - 10}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if out.Kind != editing.KindUnchanged || len(out.Notices) != 0 {
				t.Fatalf("zero increment: %s %q, want unchanged without a notice", out.Kind, out.Notices)
			}
		})
	}
}
