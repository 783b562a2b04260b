package doc

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Kind names an operation.
type Kind string

// The operation kinds.
const (
	Insert    Kind = "insert"
	Update    Kind = "update"
	Delete    Kind = "delete"
	Move      Kind = "move"
	Increment Kind = "increment"
	Text      Kind = "text"
)

// Valid reports whether k is one of the operation kinds.
func (k Kind) Valid() bool {
	switch k {
	case Insert, Update, Delete, Move, Increment, Text:
		return true
	}
	return false
}

// Op is one operation on a document. Path is in the syntax of ParsePath
// and never names the root. The fields each kind uses:
//
//   - insert (Value): on a list index, inserts Value before that element;
//     the index may equal the list length to append. On an object key,
//     adds the key; it fails with ErrExists when the key is present.
//   - update (Value): replaces the value at Path. On an object key the key
//     is created when missing (its parent object must exist); on a list
//     index the element must exist.
//   - delete: removes the object key or list element at Path.
//   - move (From, To): Path names a list; the element at index From is
//     removed and re-inserted so that it ends at index To. Both indexes are
//     in 0..len-1.
//   - increment (Delta): adds Delta to the number at Path using exact
//     decimal arithmetic (see AddNumbers); a missing object key counts as
//     0. The result is stored as json.Number.
//   - text (Text): applies a text edit to the string at Path (see
//     TextComponent); positions count Unicode code points.
//
// Fields a kind does not use are ignored by Apply and rejected by
// UnmarshalJSON. The zero Op is invalid. An Op is a plain value; Apply
// never modifies it nor keeps references into Value.
type Op struct {
	Kind  Kind            `json:"op"`
	Path  string          `json:"path"`
	Value any             `json:"value,omitempty"`
	From  int             `json:"from,omitempty"`
	To    int             `json:"to,omitempty"`
	Delta json.Number     `json:"delta,omitempty"`
	Text  []TextComponent `json:"text,omitempty"`
}

// String formats o for logs and notices, e.g. `update "customer.name"`.
func (o Op) String() string {
	switch o.Kind {
	case Move:
		return fmt.Sprintf("move %q %d->%d", o.Path, o.From, o.To)
	case Increment:
		return fmt.Sprintf("increment %q by %s", o.Path, o.Delta)
	}
	return fmt.Sprintf("%s %q", o.Kind, o.Path)
}

// Validate checks o without a document: a known kind, a parseable non-root
// path, and well-formed kind-specific fields (non-negative move indexes, a
// valid delta, well-formed text components, a JSON-compatible value). It
// returns the parsed path. Errors wrap ErrBadOp or ErrBadPath.
func (o Op) Validate() (Path, error) {
	if !o.Kind.Valid() {
		return nil, fmt.Errorf("validate op: unknown kind %q: %w", clip(string(o.Kind)), ErrBadOp)
	}
	p, err := ParsePath(o.Path)
	if err != nil {
		return nil, fmt.Errorf("validate %s: %w", o.Kind, err)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("validate %s %q: the path must name a field: %w", o.Kind, o.Path, ErrBadPath)
	}
	bad := func(why string) (Path, error) {
		return nil, fmt.Errorf("validate %s %q: %s: %w", o.Kind, clip(o.Path), why, ErrBadOp)
	}
	switch o.Kind {
	case Move:
		if o.From < 0 || o.To < 0 || o.From > MaxIndex || o.To > MaxIndex {
			return bad(fmt.Sprintf("from and to must be in 0..%d", MaxIndex))
		}
	case Increment:
		if o.Delta == "" {
			return bad("missing delta")
		}
		d, ok := parseDecimal(string(o.Delta))
		if !ok {
			return bad(fmt.Sprintf("delta %q is not a number", clip(string(o.Delta))))
		}
		if !d.inRange() {
			return bad("delta must be below 1e308 in magnitude, with no digit below 1e-324")
		}
	case Text:
		if why := checkText(o.Text); why != "" {
			return bad(why)
		}
	case Insert, Update:
		if err := checkValue(o.Value, false); err != nil {
			return nil, fmt.Errorf("validate %s %q: %w", o.Kind, clip(o.Path), err)
		}
	}
	return p, nil
}

// checkValue reports whether v has a JSON form, without copying the common
// document types; with bounded, also whether its numbers are in range
// (CheckNumbers).
func checkValue(v any, bounded bool) error {
	switch x := v.(type) {
	case nil, bool, string:
		return nil
	case map[string]any:
		for _, e := range x {
			if err := checkValue(e, bounded); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for _, e := range x {
			if err := checkValue(e, bounded); err != nil {
				return err
			}
		}
		return nil
	}
	if s, ok := numberText(v); ok {
		if d, ok := parseDecimal(s); ok {
			if bounded && !d.float64Holds() {
				return fmt.Errorf("number %s: a float64 reads it as infinity or as 0: %w", clip(s), ErrRange)
			}
			return nil
		}
	}
	n, err := normalize(v)
	if err != nil || !bounded {
		return err
	}
	return checkValue(n, bounded) // in document form, which the cases above take
}

// opWire is the JSON shape of an Op; pointers tell absent fields apart.
type opWire struct {
	Kind  *Kind            `json:"op"`
	Path  *string          `json:"path"`
	Value json.RawMessage  `json:"value,omitempty"`
	From  *int             `json:"from,omitempty"`
	To    *int             `json:"to,omitempty"`
	Delta *json.Number     `json:"delta,omitempty"`
	Text  *[]TextComponent `json:"text,omitempty"`
}

// MarshalJSON writes the fields o's kind uses and nothing else: "value"
// (null included) for insert and update, "from" and "to" for move, "delta"
// for increment, "text" for text.
func (o Op) MarshalJSON() ([]byte, error) {
	kind, path := o.Kind, o.Path
	w := opWire{Kind: &kind, Path: &path}
	switch o.Kind {
	case Insert, Update:
		raw, err := json.Marshal(o.Value)
		if err != nil {
			return nil, fmt.Errorf("marshal %s %q: %w", o.Kind, clip(o.Path), err)
		}
		w.Value = raw
	case Move:
		from, to := o.From, o.To
		w.From, w.To = &from, &to
	case Increment:
		d := o.Delta
		w.Delta = &d
	case Text:
		t := o.Text
		if t == nil {
			t = []TextComponent{}
		}
		w.Text = &t
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the shape MarshalJSON writes. Numbers inside "value"
// decode as json.Number. Unknown fields are ignored; a known field that the
// kind does not use, or a missing required field, is an error wrapping
// ErrBadOp. The result is checked with Validate.
func (o *Op) UnmarshalJSON(data []byte) error {
	var w opWire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("decode op: %w: %w", ErrBadOp, err)
	}
	if w.Kind == nil || w.Path == nil {
		return fmt.Errorf("decode op: fields %q and %q are required: %w", "op", "path", ErrBadOp)
	}
	out := Op{Kind: *w.Kind, Path: *w.Path}
	present := map[string]bool{
		"value": len(w.Value) > 0, "from": w.From != nil, "to": w.To != nil,
		"delta": w.Delta != nil, "text": w.Text != nil,
	}
	var want []string
	switch out.Kind {
	case Insert, Update:
		want = []string{"value"}
		v, err := decodeValue(w.Value)
		if len(w.Value) > 0 && err != nil {
			return fmt.Errorf("decode %s %q: value: %w: %w", out.Kind, clip(out.Path), ErrBadOp, err)
		}
		out.Value = v
	case Move:
		want = []string{"from", "to"}
		if w.From != nil && w.To != nil {
			out.From, out.To = *w.From, *w.To
		}
	case Increment:
		want = []string{"delta"}
		if w.Delta != nil {
			out.Delta = *w.Delta
		}
	case Text:
		want = []string{"text"}
		if w.Text != nil {
			out.Text = *w.Text
		}
	case Delete:
	default:
		return fmt.Errorf("decode op: unknown kind %q: %w", clip(string(out.Kind)), ErrBadOp)
	}
	for _, f := range want {
		if !present[f] {
			return fmt.Errorf("decode %s %q: missing field %q: %w", out.Kind, clip(out.Path), f, ErrBadOp)
		}
		delete(present, f)
	}
	for _, f := range []string{"value", "from", "to", "delta", "text"} {
		if present[f] {
			return fmt.Errorf("decode %s %q: field %q does not apply: %w", out.Kind, clip(out.Path), f, ErrBadOp)
		}
	}
	if _, err := out.Validate(); err != nil {
		return fmt.Errorf("decode op: %w", err)
	}
	*o = out
	return nil
}
