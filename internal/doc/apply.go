package doc

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Apply returns the document that results from applying op to document.
// It never modifies document or op: the containers along op's path are
// copied and every other subtree is shared between the input and the
// result, so callers must treat documents as immutable values (use
// CloneDoc before editing one in place). A nil document is an empty
// object. The inserted or updated value is normalized (see Normalize) and
// copied. Errors wrap ErrBadOp, ErrBadPath, ErrNoPath, ErrType, ErrExists or
// ErrRange and name the operation and path.
func Apply(document map[string]any, op Op) (map[string]any, error) {
	p, err := op.Validate()
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	a := applier{op: &op, path: p}
	if op.Kind == Insert || op.Kind == Update {
		if a.value, err = normalize(op.Value); err != nil {
			return nil, fmt.Errorf("apply %s %q: %w", op.Kind, clip(op.Path), err)
		}
	}
	var root any = document
	if document == nil {
		root = map[string]any{}
	}
	out, err := a.at(root, 0)
	if err != nil {
		return nil, fmt.Errorf("apply %s %q: %w", op.Kind, clip(op.Path), err)
	}
	return out.(map[string]any), nil
}

// Get returns the value at path in document and whether it exists. The
// result is shared with document, not copied. A malformed path yields
// false; "" and "$" yield the document itself.
func Get(document map[string]any, path string) (any, bool) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, false
	}
	return getPath(document, p)
}

func getPath(document map[string]any, p Path) (any, bool) {
	var cur any = document
	for _, s := range p {
		switch n := cur.(type) {
		case map[string]any:
			if s.IsIndex {
				return nil, false
			}
			v, ok := n[s.Key]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			if !s.IsIndex || s.Index >= len(n) {
				return nil, false
			}
			cur = n[s.Index]
		default:
			return nil, false
		}
	}
	return cur, true
}

// applier carries one Apply call down the path.
type applier struct {
	op    *Op
	path  Path
	value any // normalized Value for insert and update
}

// at returns a copy of node with the operation applied below it; node sits
// at depth d of the path (node is the parent of path[d]).
func (a *applier) at(node any, d int) (any, error) {
	seg := a.path[d]
	last := d == len(a.path)-1
	switch n := node.(type) {
	case map[string]any:
		if seg.IsIndex {
			return nil, fmt.Errorf("%s is an object, not a list: %w", a.where(d), ErrType)
		}
		if last {
			return a.leafObject(n, seg.Key, d)
		}
		child, ok := n[seg.Key]
		if !ok {
			return nil, fmt.Errorf("%s: %w", a.where(d+1), ErrNoPath)
		}
		c, err := a.at(child, d+1)
		if err != nil {
			return nil, err
		}
		out := copyMap(n, 0)
		out[seg.Key] = c
		return out, nil
	case []any:
		if !seg.IsIndex {
			return nil, fmt.Errorf("%s is a list, not an object: %w", a.where(d), ErrType)
		}
		if last {
			return a.leafList(n, seg.Index, d)
		}
		if seg.Index >= len(n) {
			return nil, fmt.Errorf("%s: list has %d elements: %w", a.where(d+1), len(n), ErrNoPath)
		}
		c, err := a.at(n[seg.Index], d+1)
		if err != nil {
			return nil, err
		}
		out := slices.Clone(n)
		out[seg.Index] = c
		return out, nil
	default:
		return nil, fmt.Errorf("%s is a %s, not a container: %w", a.where(d), typeName(node), ErrType)
	}
}

// where names the prefix of the path of length d for error messages.
func (a *applier) where(d int) string {
	if d == 0 {
		return "the document root"
	}
	return fmt.Sprintf("%q", a.path[:d].String())
}

func copyMap(m map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(m)+extra)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (a *applier) leafObject(n map[string]any, key string, d int) (any, error) {
	cur, exists := n[key]
	var next any
	switch a.op.Kind {
	case Insert:
		if exists {
			return nil, fmt.Errorf("%s: %w", a.where(d+1), ErrExists)
		}
		next = a.value
	case Update:
		next = a.value
	case Delete:
		if !exists {
			return nil, fmt.Errorf("%s: %w", a.where(d+1), ErrNoPath)
		}
		out := copyMap(n, 0)
		delete(out, key)
		return out, nil
	default:
		if !exists && a.op.Kind != Increment {
			return nil, fmt.Errorf("%s: %w", a.where(d+1), ErrNoPath)
		}
		v, err := a.modify(cur, exists, d+1)
		if err != nil {
			return nil, err
		}
		next = v
	}
	out := copyMap(n, 1)
	out[key] = next
	return out, nil
}

func (a *applier) leafList(n []any, i, d int) (any, error) {
	if a.op.Kind == Insert {
		if i > len(n) {
			return nil, fmt.Errorf("%s: insert index past the end of a list of %d: %w", a.where(d+1), len(n), ErrNoPath)
		}
		out := make([]any, 0, len(n)+1)
		out = append(out, n[:i]...)
		out = append(out, a.value)
		return append(out, n[i:]...), nil
	}
	if i >= len(n) {
		return nil, fmt.Errorf("%s: list has %d elements: %w", a.where(d+1), len(n), ErrNoPath)
	}
	switch a.op.Kind {
	case Update:
		out := slices.Clone(n)
		out[i] = a.value
		return out, nil
	case Delete:
		out := make([]any, 0, len(n)-1)
		out = append(out, n[:i]...)
		return append(out, n[i+1:]...), nil
	}
	v, err := a.modify(n[i], true, d+1)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(n)
	out[i] = v
	return out, nil
}

// modify computes the new value of the target for move, increment and
// text; cur is the current value at depth d (absent when !exists).
func (a *applier) modify(cur any, exists bool, d int) (any, error) {
	switch a.op.Kind {
	case Increment:
		if !exists {
			cur = json.Number("0")
		}
		if !isNumber(cur) {
			return nil, fmt.Errorf("%s is a %s, not a number: %w", a.where(d), typeName(cur), ErrType)
		}
		sum, err := AddNumbers(cur, a.op.Delta)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.where(d), err)
		}
		return sum, nil
	case Text:
		s, ok := cur.(string)
		if !ok {
			return nil, fmt.Errorf("%s is a %s, not a string: %w", a.where(d), typeName(cur), ErrType)
		}
		out, err := ApplyText(s, a.op.Text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.where(d), err)
		}
		return out, nil
	case Move:
		l, ok := cur.([]any)
		if !ok {
			return nil, fmt.Errorf("%s is a %s, not a list: %w", a.where(d), typeName(cur), ErrType)
		}
		f, t := a.op.From, a.op.To
		if f >= len(l) || t >= len(l) {
			return nil, fmt.Errorf("%s: move %d->%d in a list of %d: %w", a.where(d), f, t, len(l), ErrRange)
		}
		return moveElement(l, f, t), nil
	}
	return nil, fmt.Errorf("unexpected kind %q: %w", a.op.Kind, ErrBadOp)
}

// moveElement returns a copy of l with element f moved to index t.
func moveElement(l []any, f, t int) []any {
	out := slices.Clone(l)
	x := out[f]
	if f < t {
		copy(out[f:t], out[f+1:t+1])
	} else {
		copy(out[t+1:f+1], out[t:f])
	}
	out[t] = x
	return out
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "list"
	}
	if isNumber(v) {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}
