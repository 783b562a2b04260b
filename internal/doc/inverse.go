package doc

import "fmt"

// Inverse returns the operation that undoes op, given the document op was
// applied to: Apply(Apply(before, op), inv) equals before (in the sense of
// Equal), except after an increment that created its number, which is
// left at 0. It fails, with Apply's error, when op does not apply to
// before.
//
//   - insert       -> delete at the same path
//   - update       -> update with the old value, or delete when the update
//     created the key
//   - delete       -> insert of the old value at the same path
//   - move f->t    -> move t->f
//   - increment d  -> increment -d, also when the increment created the
//     key: increments commute with each other, so the undo of any one of
//     them still applies after later increments of the same number (a
//     delete would not, and would drop what the later ones added)
//   - text         -> the inverse text edit (see InvertText)
//
// Values in the result are copies; before is not modified.
func Inverse(before map[string]any, op Op) (Op, error) {
	if _, err := Apply(before, op); err != nil {
		return Op{}, fmt.Errorf("invert: %w", err)
	}
	p, _ := ParsePath(op.Path) // Apply parsed it already
	cur, exists := getPath(before, p)
	switch op.Kind {
	case Insert:
		return Op{Kind: Delete, Path: op.Path}, nil
	case Update:
		if !exists {
			return Op{Kind: Delete, Path: op.Path}, nil
		}
		return Op{Kind: Update, Path: op.Path, Value: Clone(cur)}, nil
	case Delete:
		return Op{Kind: Insert, Path: op.Path, Value: Clone(cur)}, nil
	case Move:
		return Op{Kind: Move, Path: op.Path, From: op.To, To: op.From}, nil
	case Increment:
		neg, _ := negateNumber(op.Delta) // Validate checked the delta
		return Op{Kind: Increment, Path: op.Path, Delta: neg}, nil
	case Text:
		inv, err := InvertText(cur.(string), op.Text)
		if err != nil {
			return Op{}, fmt.Errorf("invert text %q: %w", clip(op.Path), err)
		}
		return Op{Kind: Text, Path: op.Path, Text: inv}, nil
	}
	return Op{}, fmt.Errorf("invert: unknown kind %q: %w", op.Kind, ErrBadOp)
}
