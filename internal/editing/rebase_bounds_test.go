package editing_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
)

// TestRebasedPastBounds: a change that rebasing past a concurrent list
// insert or text edit pushes past a bound (a list index above
// doc.MaxIndex, a move's from or to, a text count above doc.MaxTextCount)
// names nothing a document can hold: it is an invalid change, as it is at
// the head, not one that the next change dropped, nor (manual) a conflict
// with a change that did not touch it.
func TestRebasedPastBounds(t *testing.T) {
	d := map[string]any{"l": []any{json.Number("1")}, "x": json.Number("1"), "t": "ab"}
	tests := []struct {
		name  string
		op    doc.Op
		since doc.Op // the change that shifts op past the bound
	}{
		{"index", doc.Op{Kind: doc.Update, Path: "l[999999999]", Value: json.Number("5")},
			doc.Op{Kind: doc.Insert, Path: "l[0]", Value: json.Number("0")}},
		{"move", doc.Op{Kind: doc.Move, Path: "l", From: doc.MaxIndex, To: 0},
			doc.Op{Kind: doc.Insert, Path: "l[0]", Value: json.Number("0")}},
		{"text", doc.Op{Kind: doc.Text, Path: "t", Text: []doc.TextComponent{doc.TextRetain(doc.MaxTextCount), doc.TextInsert("z")}},
			doc.Op{Kind: doc.Text, Path: "t", Text: []doc.TextComponent{doc.TextInsert("y")}}},
	}
	for _, tt := range tests {
		for _, s := range []editing.Strategy{editing.Manual, editing.OperationalTransform} {
			t.Run(tt.name+"/"+string(s), func(t *testing.T) {
				since := []editing.Applied{
					{Version: 1, UserID: "bob", Op: tt.since},
					// A change to another path, which a manual conflict
					// was recorded with.
					{Version: 2, UserID: "bob", Op: doc.Op{Kind: doc.Update, Path: "x", Value: json.Number("2")}},
				}
				out, err := editing.Decide(editing.Input{Strategy: s, Doc: d, Version: 2, Base: 0, Since: since,
					UserID: "ann", Now: now, Op: tt.op})
				if !errors.Is(err, editing.ErrInvalid) || errors.Is(err, editing.ErrStale) {
					t.Errorf("Decide = %s (remote %+v, notices %q), %v; want an invalid change", out.Kind, out.Remote, out.Notices, err)
				}
				_, err = editing.Decide(editing.Input{Strategy: s, Doc: d, Version: 2, Base: 2, UserID: "ann", Now: now, Op: tt.op})
				if !errors.Is(err, editing.ErrInvalid) {
					t.Errorf("at the head: %v; want an invalid change", err)
				}
			})
		}
	}
}
