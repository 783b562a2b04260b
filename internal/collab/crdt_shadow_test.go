package collab_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
)

// TestChangeCRDTShadowedFieldsLeaveState: fields written below a key and
// then replaced by a write of the key, or hidden by an older stamp than
// its delete, can never show again; their registers stayed in the merge
// state for good. A writer repeating "a = {}; a.kN = <9 KB>" left a
// document of 8 bytes with a state at the head bound, and every later
// write to the entity was refused (BAD_REQUEST).
func TestChangeCRDTShadowedFieldsLeaveState(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("inventory", "sku-shadow")
	big := strings.Repeat("x", 9000)
	v := int64(0)
	for i := range 40 { // 360 KB written below a in all
		v = f.mustChange("u1", fmt.Sprintf("a%d", i), change(e, v, "update", "a", map[string]any{})).Version
		v = f.mustChange("u1", fmt.Sprintf("b%d", i), change(e, v, "insert", fmt.Sprintf("a.k%d", i), big)).Version
	}
	v = f.mustChange("u1", "reset", change(e, v, "update", "a", map[string]any{})).Version
	if ack := f.mustChange("u2", "qty", change(e, v, "insert", "qty", 5)); !ack.Applied {
		t.Fatalf("an unrelated write: %s", ack.Outcome)
	}
	st, err := f.st.LoadEntity(f.ctx, e, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Head.State); n > 2000 {
		t.Errorf("state of %d bytes for the document %s", n, st.Head.Doc)
	}

	// Writes below a deleted parent stamped before its delete.
	h := entity("inventory", "sku-hidden")
	f.mustChange("u1", "seed", change(h, 0, "insert", "a", map[string]any{}))
	f.mustChange("u1", "del", change(h, 1, "delete", "a", nil))
	before, err := f.st.LoadEntity(f.ctx, h, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		p := change(h, 2, "insert", fmt.Sprintf("a.k%d", i), big)
		p.HLC = &protocol.HLC{WallMs: f.now.UnixMilli() - 1000}
		if ack := f.mustChange("u2", fmt.Sprintf("h%d", i), p); ack.Outcome != string(editing.KindSuperseded) || ack.Applied {
			t.Fatalf("hidden write %d: %s, applied %v; want superseded", i, ack.Outcome, ack.Applied)
		}
	}
	after, err := f.st.LoadEntity(f.ctx, h, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(after.Head.State) != string(before.Head.State) || after.Head.Version != 2 {
		t.Errorf("hidden writes changed the head: version %d, state %d -> %d bytes", after.Head.Version, len(before.Head.State), len(after.Head.State))
	}
}
