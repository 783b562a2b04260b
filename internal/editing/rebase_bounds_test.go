package editing_test

import (
	"encoding/json"
	"errors"
	"strings"
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

// TestRebasedGrowsPastReachableBound: a change valid at the head, made one
// version behind a concurrent edit, whose rebased form grows past a bound
// that edits valid at the head do reach (a text edit of doc.MaxTextComponents
// components behind a one-character insert; a path of doc.MaxPathLen bytes
// whose index 9 a concurrent insert makes 10) is stale (VERSION_CONFLICT,
// retried on the current version), not an invalid change (BAD_REQUEST),
// and with manual editing no conflict.
func TestRebasedGrowsPastReachableBound(t *testing.T) {
	comps := []doc.TextComponent{doc.TextDelete(2)}
	for len(comps) < doc.MaxTextComponents {
		comps = append(comps, doc.TextRetain(1), doc.TextDelete(1))
	}
	comps = comps[:doc.MaxTextComponents]
	// A path of 8192 bytes: 16 keys of escaped quotes, then p[9].
	list := make([]any, 10)
	for i := range list {
		list[i] = json.Number("1")
	}
	d := map[string]any{"t": strings.Repeat("a", 10000)}
	key, cur := "a", map[string]any{}
	d["a"] = cur
	for i := 0; i < 16; i++ {
		k := 256
		if i == 15 {
			k = 221
		}
		key += `["` + strings.Repeat(`\"`, k) + `"]`
		next := map[string]any{}
		cur[strings.Repeat(`"`, k)] = next
		cur = next
	}
	key += ".p"
	cur["p"] = list
	if n := len(key + "[9]"); n != doc.MaxPathLen {
		t.Fatalf("path of %d bytes, want %d", n, doc.MaxPathLen)
	}
	tests := []struct {
		name      string
		op, since doc.Op
	}{
		{"text", doc.Op{Kind: doc.Text, Path: "t", Text: comps},
			doc.Op{Kind: doc.Text, Path: "t", Text: []doc.TextComponent{doc.TextRetain(1), doc.TextInsert("y")}}},
		{"path", doc.Op{Kind: doc.Update, Path: key + "[9]", Value: json.Number("5")},
			doc.Op{Kind: doc.Insert, Path: key + "[0]", Value: json.Number("0")}},
	}
	for _, tt := range tests {
		if _, err := tt.op.Validate(); err != nil {
			t.Fatalf("%s: invalid at the head: %v", tt.name, err)
		}
		for _, s := range []editing.Strategy{editing.OperationalTransform, editing.Manual} {
			out, err := editing.Decide(editing.Input{Strategy: s, Doc: d, Version: 1, Base: 0, UserID: "ann", Now: now, Op: tt.op,
				Since: []editing.Applied{{Version: 1, UserID: "bob", Op: tt.since}}})
			if !errors.Is(err, editing.ErrStale) || errors.Is(err, editing.ErrInvalid) {
				t.Errorf("%s/%s: Decide = %s (remote %+v), %v; want stale, not invalid", tt.name, s, out.Kind, out.Remote, err)
			}
		}
	}
}
