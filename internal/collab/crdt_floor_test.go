package collab_test

import (
	"fmt"
	"testing"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
)

// TestChangeCRDTPrunedDeleteStaysDeleted: the floor that stands for the
// tombstones dropped past editing.MaxTombstones is stored with the
// entity's state, so that a write stamped before a dropped delete, sent
// later (a client that was offline), still loses; a write stamped after
// it applies.
func TestChangeCRDTPrunedDeleteStaysDeleted(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("inventory", "sku")
	t0 := epoch.UnixMilli()
	stamped := func(p protocol.ChangePayload, wallMs int64) protocol.ChangePayload {
		p.HLC = &protocol.HLC{WallMs: wallMs}
		return p
	}
	f.mustChange("ann", "m0", stamped(change(e, 0, "update", "memo", "secret"), t0-100_000))
	f.mustChange("ann", "m1", stamped(change(e, 1, "delete", "memo", nil), t0-99_000))
	for i := range editing.MaxTombstones {
		f.mustChange("ann", fmt.Sprintf("d%d", i), stamped(change(e, 2, "delete", fmt.Sprintf("other%03d", i), nil), t0-90_000+int64(i)))
	}
	memo := func() (any, bool) {
		t.Helper()
		st, err := f.st.LoadEntity(f.ctx, e, "", "")
		if err != nil {
			t.Fatal(err)
		}
		d, err := doc.Decode(st.Head.Doc)
		if err != nil {
			t.Fatal(err)
		}
		return doc.Get(d, "memo")
	}
	ack := f.mustChange("bob", "late", stamped(change(e, 2, "update", "memo", "secret"), t0-99_500))
	if v, ok := memo(); ok || ack.Outcome != string(editing.KindSuperseded) {
		t.Fatalf("a write stamped before the dropped delete: %s, memo = %v; want superseded, memo absent", ack.Outcome, v)
	}
	ack = f.mustChange("bob", "new", stamped(change(e, 2, "update", "memo", "again"), t0-1_000))
	if v, _ := memo(); !ack.Applied || v != "again" {
		t.Fatalf("a write stamped after the deletes: %s, memo = %v; want applied, again", ack.Outcome, v)
	}
}
