package protocol

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// A payload object may hold two member names that differ only in case
// ("id" and "ID", or "kind" and "\u212aind" with the Kelvin sign): in the
// values a route keeps as they are sent (a publish's payload, a change's
// after and metadata, an activity entry's values and metadata, a
// notification's data) they are two members of the client's data. In an
// object that a route decodes into a struct, encoding/json matches them to
// one field, exactly or else case-insensitively, and keeps the last (or
// merges two objects, or keeps the first when the last is null), while
// RequestHash keeps both as sent: two requests with the same members in
// another order would hash alike and decode differently. Those objects
// are refused (checkFieldNames). Decode notes, as it scans, whether any
// object of the payload holds two such names; only then are the payload's
// objects matched to the route's struct.

// payloadNames is what Decode found of the member names of a payload.
type payloadNames uint8

const (
	namesUnknown  payloadNames = iota // the envelope was not made by Decode
	namesDistinct                     // no object holds two names that fold alike
	namesFolded                       // some object holds two names that differ only in case
)

// fieldTwice is the violation of a struct field given twice, by member
// names that differ only in case; it names the field's path.
const fieldTwice = "payload field %q is given twice, by names that differ only in case"

// CheckFieldNames refuses env's payload, with BAD_REQUEST naming the
// field, when an object of it that decoding into v (a pointer to the
// route's payload struct) decodes into a struct holds two member names
// that differ only in case and name one field of that struct (see
// checkFieldNames). It is for routes that decode the payload themselves;
// DecodePayload applies it too. A payload in which Decode found no two
// such names in any object costs nothing.
func CheckFieldNames(env Envelope, v any) error {
	switch env.names {
	case namesDistinct:
		return nil
	case namesUnknown:
		folded, err := checkPayload(env.Payload)
		if err != nil || !folded {
			return err
		}
	}
	return checkFieldNames(env.Payload, reflect.TypeOf(v))
}

// checkFieldNames walks p, a payload that passed CheckPayload, along
// with the type t it is decoded into, and refuses two member names of an
// object decoded into a struct that encoding/json matches to one field
// of it (both names fold alike; CheckPayload refused equal ones). Names
// that match no field, which encoding/json ignores, and the members of
// objects decoded into maps, interfaces or types that decode themselves
// (json.RawMessage, json.Unmarshaler, encoding.TextUnmarshaler) are not
// matched to fields: they may differ only in case. The elements of
// arrays and the values of maps are walked with their element type.
//
// Names that match no field are not refused: decoding drops them, so two
// payloads that differ only in them decode alike, and RequestHash, which
// keeps them, can at worst take two payloads that decode alike for two
// requests (IDEMPOTENCY_MISMATCH), never give a request another's reply. A type that decodes itself must
// not match names case-insensitively in what it decodes into (none of the
// payload types does: their raw values are read as maps or kept as sent).
func checkFieldNames(p json.RawMessage, t reflect.Type) error {
	w := fieldWalk{s: scanner{data: p}}
	w.s.skipSpace()
	return w.value(t, "")
}

// fieldWalk walks a payload that passed CheckPayload.
type fieldWalk struct{ s scanner }

// value walks the value at the scanner's position, which is decoded
// into a value of type t (nil: discarded) at field path path.
func (w *fieldWalk) value(t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && !decodesItself(t) {
		switch c := w.s.peek(); {
		case c == '{' && t.Kind() == reflect.Struct:
			return w.object(fieldsOf(t), nil, path)
		case c == '{' && t.Kind() == reflect.Map:
			return w.object(nil, t.Elem(), path)
		case c == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			return w.array(t.Elem(), path)
		}
	}
	w.s.scanValue(1, 0)
	return nil
}

// object walks an object decoded into a struct with fields fs, or else
// into a map whose values are of type elem.
func (w *fieldWalk) object(fs *structFields, elem reflect.Type, path string) error {
	var seen []bool
	if fs != nil {
		seen = make([]bool, len(fs.list))
	}
	w.s.pos++ // '{'
	w.s.skipSpace()
	if w.s.peek() == '}' {
		w.s.pos++
		return nil
	}
	for {
		start := w.s.pos
		w.s.scanString()
		end := w.s.pos
		w.s.skipSpace()
		w.s.pos++ // ':'
		w.s.skipSpace()
		typ, sub := elem, path
		if fs != nil {
			typ = nil
			if i, ok := fs.lookup(w.s.data, start, end); ok {
				f := fs.list[i]
				sub = joinPath(path, f.name)
				if seen[i] {
					return NewError(CodeBadRequest, fieldTwice, sub)
				}
				seen[i], typ = true, f.typ
			}
		}
		if err := w.value(typ, sub); err != nil {
			return err
		}
		if done, _ := w.s.separator('}'); done {
			return nil
		}
	}
}

// array walks an array whose elements are decoded into type elem.
func (w *fieldWalk) array(elem reflect.Type, path string) error {
	w.s.pos++ // '['
	w.s.skipSpace()
	if w.s.peek() == ']' {
		w.s.pos++
		return nil
	}
	for {
		if err := w.value(elem, path); err != nil {
			return err
		}
		if done, _ := w.s.separator(']'); done {
			return nil
		}
	}
}

// joinPath is the path of field name within path, dotted as encoding/json
// names a field in an UnmarshalTypeError.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodesItself reports whether encoding/json hands a value of type t to
// its own method rather than matching member names to fields.
func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler)
}

// structFields are the fields encoding/json decodes an object into for
// one struct type, in its order (the order of their indexes, embedded
// structs' fields in their place).
type structFields struct {
	list   []structField
	exact  map[string]int // name → index in list
	folded map[string]int // folded name (foldName) → the first such field
}

// structField is one field: its JSON name and type.
type structField struct {
	name string
	typ  reflect.Type
}

// lookup returns the field that encoding/json decodes the member whose
// name is the string literal at [start, end) of data into: the field of
// that name, or else the first whose name folds alike.
func (fs *structFields) lookup(data []byte, start, end int) (int, bool) {
	name := data[start+1 : end-1]
	for _, c := range name {
		if c == '\\' {
			s, _ := stringValue(data, span{start, end})
			name = []byte(s)
			break
		}
	}
	if i, ok := fs.exact[string(name)]; ok {
		return i, true
	}
	var buf [MaxKeyBytes]byte
	i, ok := fs.folded[string(foldName(buf[:0], name))]
	return i, ok
}

// fieldCache holds the structFields of each struct type walked so far.
var fieldCache sync.Map // reflect.Type → *structFields

// fieldsOf returns the fields of struct type t.
func fieldsOf(t reflect.Type) *structFields {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*structFields)
	}
	// The candidates, embedded structs' fields included, in index order;
	// of those with one name, encoding/json keeps the least deep, and of
	// several as deep the one tagged with the name, else none.
	type candidate struct {
		structField
		depth  int
		tagged bool
	}
	var all []candidate
	var collect func(t reflect.Type, depth int, within map[reflect.Type]bool)
	collect = func(t reflect.Type, depth int, within map[reflect.Type]bool) {
		for i := range t.NumField() {
			sf := t.Field(i)
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if !sf.IsExported() && !(sf.Anonymous && ft.Kind() == reflect.Struct) {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if !validTagName(name) {
				name = ""
			}
			if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
				if !within[ft] {
					within[ft] = true
					collect(ft, depth+1, within)
					delete(within, ft)
				}
				continue
			}
			if !sf.IsExported() {
				continue
			}
			c := candidate{structField{name, sf.Type}, depth, name != ""}
			if name == "" {
				c.name = sf.Name
			}
			all = append(all, c)
		}
	}
	collect(t, 0, map[reflect.Type]bool{t: true})

	fs := &structFields{exact: map[string]int{}, folded: map[string]int{}}
	for i, c := range all {
		keep := true
		for j, o := range all {
			if j == i || o.name != c.name {
				continue
			}
			if o.depth < c.depth || (o.depth == c.depth && (o.tagged && !c.tagged || o.tagged == c.tagged)) {
				keep = false
				break
			}
		}
		if !keep {
			continue
		}
		fs.exact[c.name] = len(fs.list)
		if f := string(foldName(nil, []byte(c.name))); !hasKey(fs.folded, f) {
			fs.folded[f] = len(fs.list)
		}
		fs.list = append(fs.list, c.structField)
	}
	got, _ := fieldCache.LoadOrStore(t, fs)
	return got.(*structFields)
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// validTagName reports whether encoding/json takes name, from a json tag,
// as a field's name: letters, digits, and ASCII punctuation other than
// quotes, backslash and comma.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", r) {
			return false
		}
	}
	return true
}
