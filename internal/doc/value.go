package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// Decode parses data, which must hold exactly one JSON object, into a
// document whose numbers are json.Number.
func Decode(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("decode document: %w", errors.New("not a JSON object"))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode document: %w", errors.New("trailing data after the object"))
	}
	return m, nil
}

// decodeValue parses one JSON value with json.Number numbers.
func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Normalize returns a deep copy of v in document form: objects become
// map[string]any, arrays []any and numbers json.Number. Values of other Go
// types (structs, typed maps and slices) are converted through their JSON
// encoding. It fails with ErrBadOp when v has no JSON form (a channel, a
// NaN, an invalid json.Number).
func Normalize(v any) (any, error) {
	out, err := normalize(v)
	if err != nil {
		return nil, fmt.Errorf("normalize value: %w", err)
	}
	return out, nil
}

func normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		if _, ok := parseDecimal(string(x)); !ok {
			return nil, fmt.Errorf("number %q: %w", clip(string(x)), ErrBadOp)
		}
		return x, nil
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			c, err := normalize(e)
			if err != nil {
				return nil, err
			}
			m[k] = c
		}
		return m, nil
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			c, err := normalize(e)
			if err != nil {
				return nil, err
			}
			l[i] = c
		}
		return l, nil
	}
	if s, ok := numberText(v); ok {
		return json.Number(s), nil
	}
	if _, isFloat := v.(float64); isFloat {
		return nil, fmt.Errorf("number %v has no JSON form: %w", v, ErrBadOp)
	}
	if _, isFloat := v.(float32); isFloat {
		return nil, fmt.Errorf("number %v has no JSON form: %w", v, ErrBadOp)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value of type %T: %w: %w", v, ErrBadOp, err)
	}
	return decodeValue(raw)
}

// Clone returns a deep copy of v: maps and slices are copied, scalars are
// shared (they are immutable).
func Clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return CloneDoc(x)
	case []any:
		if x == nil {
			return []any(nil)
		}
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = Clone(e)
		}
		return l
	}
	return v
}

// CloneDoc returns a deep copy of the document m (nil stays nil).
func CloneDoc(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = Clone(e)
	}
	return out
}

// Equal reports whether a and b denote the same JSON value. Numbers compare
// by value whatever their Go type (json.Number "1.50" equals float64 1.5),
// objects by key set and members, arrays element by element. A nil map
// equals an empty object and a nil slice an empty array. Values of other
// Go types are compared with reflect.DeepEqual.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !Equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if isNumber(a) {
		return isNumber(b) && equalNumbers(a, b)
	}
	return reflect.DeepEqual(a, b)
}
