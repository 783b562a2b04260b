package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// payloadVerdict returns what Decode, in a frame, and CheckPayload say of
// payload, and whether they found two names that differ only in case,
// failing t when they disagree.
func payloadVerdict(t *testing.T, payload string) (folded bool, err error) {
	t.Helper()
	env, decErr := Decode([]byte(`{"type":"comment.add","messageId":"m1","payload":` + payload + `}`))
	folded, checkErr := checkPayload(json.RawMessage(payload))
	if (decErr == nil) != (checkErr == nil) || (decErr != nil && decErr.Error() != checkErr.Error()) {
		t.Fatalf("payload %s: Decode says %v, CheckPayload %v", payload, decErr, checkErr)
	}
	if err := CheckPayload(json.RawMessage(payload)); (err == nil) != (checkErr == nil) {
		t.Fatalf("payload %s: CheckPayload says %v, checkPayload %v", payload, err, checkErr)
	}
	if checkErr == nil && (env.names == namesFolded) != folded {
		t.Fatalf("payload %s: Decode noted %d, CheckPayload folded %t", payload, env.names, folded)
	}
	return folded, checkErr
}

// wantRepeatedName fails t unless err refuses a repeated member name.
func wantRepeatedName(t *testing.T, payload string, err error) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeBadRequest || pe.Message != repeatedName {
		t.Fatalf("payload %s: %v, want BAD_REQUEST %q", payload, err, repeatedName)
	}
}

// wantFieldTwice fails t unless err refuses field given twice.
func wantFieldTwice(t *testing.T, payload, field string, err error) {
	t.Helper()
	var pe *Error
	if want := fmt.Sprintf(fieldTwice, field); !errors.As(err, &pe) || pe.Code != CodeBadRequest || pe.Message != want {
		t.Fatalf("payload %s: %v, want BAD_REQUEST %q", payload, err, want)
	}
}

// namedMembers is an object of n distinct members named prefix0,
// prefix1..., then extra, if any.
func namedMembers(prefix string, n int, extra string) string {
	m := make([]string, n, n+1)
	for i := range m {
		m[i] = `"` + prefix + strconv.Itoa(i) + `":1`
	}
	if extra != "" {
		m = append(m, extra)
	}
	return "{" + strings.Join(m, ",") + "}"
}

// TestRepeatedMemberNames: an object of a payload, at any depth, may not
// name a member twice (equal names once unescaped); names that differ
// only in case are two members, and Decode notes them; the same names in
// different objects, and names that only full case mapping relates, are
// neither.
func TestRepeatedMemberNames(t *testing.T) {
	members := func(n int, extra string) string { return namedMembers("m", n, extra) }
	refused := []string{
		`{"text":"a","text":"b"}`,
		`{"text":"a","text":null}`,
		`{"hlc":{"wall":1},"hlc":{"logical":2}}`,
		`{"a":1,"\u0061":2}`,
		`{"\ud800":1,"\udc00":2}`, // both unescape to U+FFFD
		`{"ref":{"entityId":"a","entityId":"b"}}`,
		`[1,{"a":1},{"x":1,"y":2,"x":3}]`,
		`{"a":{"b":{"c":[{"d":1,"d":2}]}}}`,
		// An equal name after one that differs only in case.
		`{"a":1,"A":2,"a":3}`,
		`{"a":1,"A":2,"A":3}`,
		"{\"kind\":1,\"\u212aind\":2,\"kind\":3}",
		members(linearNames-1, `"m0":2`),
		members(linearNames, `"m0":2`),
		members(linearNames+1, `"m0":2`),
		members(linearNames+1, `"M0":2,"m0":3`),
		members(linearNames+1, `"M0":2,"M0":3`),
		members(linearNames-2, `"M0":2,"m0":3`),
		members(300, `"m299":2`),
		members(300, `"m150":2`),
		members(MaxObjectMembers-1, `"m5":2`),
		// Objects within objects, the names of all open ones past
		// the first offsets the scanner keeps in place.
		members(30, `"x":`+namedMembers("n", 10, `"n3":2`)),
		members(30, `"x":`+namedMembers("n", 25, `"n20":2`)),
		members(30, `"x":`+namedMembers("n", 25, "")+`,"m5":2`),
		members(10, `"x":`+namedMembers("m", 40, "")+`,"m9":2`),
	}
	for _, p := range refused {
		_, err := payloadVerdict(t, p)
		wantRepeatedName(t, p, err)
	}
	folded := []string{
		`{"text":"approve","TEXT":"reject"}`,
		`{"TEXT":"reject","text":"approve"}`,
		`{"text":"a","Text":null}`,
		"{\"kind\":1,\"\u212aind\":2}", // Kelvin sign
		`{"kind":1,"\u212Aind":2}`,
		"{\"sku\":1,\"\u017fku\":2}", // long s
		`{"text":1,"\u0054EXT":2}`,
		`{"ref":{"entityId":"a","ENTITYID":"b"}}`,
		`[1,{"a":1},{"x":1,"y":2,"X":3}]`,
		`{"a":{"b":{"c":[{"d":1,"D":2}]}}}`,
		members(linearNames-1, `"M0":2`),
		members(linearNames, `"M0":2`),
		members(linearNames+1, `"M0":2`),
		members(300, `"M299":2`),
		members(MaxObjectMembers-1, `"M5":2`),
		members(30, `"x":`+namedMembers("n", 10, `"N3":2`)),
		members(30, `"x":`+namedMembers("n", 25, `"N20":2`)),
		members(30, `"x":`+namedMembers("n", 25, "")+`,"M5":2`),
		members(10, `"x":`+namedMembers("m", 40, "")+`,"M9":2`),
	}
	for _, p := range folded {
		if f, err := payloadVerdict(t, p); err != nil || !f {
			t.Fatalf("payload %s: %v, names that differ in case found %t; want accepted, found", p, err, f)
		}
	}
	distinct := []string{
		`{"text":"approve"}`,
		`{"a":{"x":1},"b":{"X":1}}`,
		`[{"a":1},{"A":1}]`,
		`{"a":{"a":{"A":1}}}`,
		`{"a":1,"b":{"A":1,"c":2},"C":3}`,
		"{\"stra\u00dfe\":1,\"STRASSE\":2}", // ß upper-cases to SS, but does not fold to it
		"{\"a\u212a\":1}",
		members(MaxObjectMembers, ""),
		members(30, `"x":`+namedMembers("m", 40, "")+`,"n0":2`),
		members(10, `"x":`+namedMembers("m", 40, "")+`,"m10":2`),
	}
	for _, p := range distinct {
		if f, err := payloadVerdict(t, p); err != nil || f {
			t.Fatalf("payload %s: %v, names that differ in case found %t; want accepted, none found", p, err, f)
		}
	}
	// A repeated name in the envelope is not the payload's: the last
	// member wins, as before, and RequestHash hashes what Decode kept.
	env, err := Decode([]byte(`{"type":"ping","TYPE":"comment.add","messageId":"m1","payload":{"a":1},"Payload":{"b":2}}`))
	if err != nil || env.Type != "comment.add" || string(env.Payload) != `{"b":2}` {
		t.Fatalf("envelope with repeated members: %+v, %v", env, err)
	}
	// What Decode notes is of the payload it kept.
	for _, c := range []struct {
		frame string
		want  payloadNames
	}{
		{`{"type":"p","messageId":"m","payload":{"a":1,"A":2},"payload":{"a":1}}`, namesDistinct},
		{`{"type":"p","messageId":"m","payload":{"a":1},"payload":{"a":1,"A":2}}`, namesFolded},
		{`{"type":"p","messageId":"m","x":{"a":1,"A":2},"payload":{"a":1}}`, namesDistinct},
		{`{"type":"p","messageId":"m","payload":{"a":1,"A":2},"payload":null}`, namesDistinct},
	} {
		if env, err := Decode([]byte(c.frame)); err != nil || env.names != c.want {
			t.Fatalf("%s: noted %d, %v; want %d", c.frame, env.names, err, c.want)
		}
	}
}

// Payload types for the tests of field names: a struct at each level, an
// embedded one, one behind a pointer, in a list and in a map, and values
// the route keeps as they are.
type (
	namesRef struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	}
	namesLine struct {
		SKU  string          `json:"sku"`
		Qty  int             `json:"qty"`
		Data json.RawMessage `json:"data"`
	}
	namesPayload struct {
		namesRef
		Text    string               `json:"text"`
		Ref     *namesRef            `json:"ref"`
		Lines   []namesLine          `json:"lines"`
		ByCode  map[string]namesLine `json:"byCode"`
		After   json.RawMessage      `json:"after"`
		Value   any                  `json:"value"`
		Tags    map[string]int       `json:"tags"`
		Time    time.Time            `json:"time"`
		Grid    [2][]namesRef        `json:"grid"`
		Skipped string               `json:"-"`
		Plain   int
	}
)

// TestFieldNames: DecodePayload, and CheckFieldNames on a decoded
// envelope, refuse two names that differ only in case and name one field
// of a struct, at any depth, naming the field's path; they accept such
// names in values kept as they are sent and names that match no field.
func TestFieldNames(t *testing.T) {
	refused := []struct{ payload, field string }{
		{`{"text":"a","TEXT":"b"}`, "text"},
		{`{"TEXT":"b","text":"a"}`, "text"},
		{`{"text":"a","Text":null}`, "text"},
		{`{"kind":"a","KIND":"b"}`, "kind"},              // embedded
		{"{\"kind\":\"a\",\"\u212aind\":\"b\"}", "kind"}, // Kelvin sign
		{`{"ref":{"id":"a","ID":"b"}}`, "ref.id"},        // behind a pointer
		{`{"ref":{"id":"a"},"REF":{"kind":"b"}}`, "ref"},
		{`{"lines":[{"sku":"a"},{"sku":"b","SKU":"c"}]}`, "lines.sku"},
		{`{"byCode":{"a":{"qty":1},"A":{"qty":1,"QTY":2}}}`, "byCode.qty"},
		{`{"grid":[[],[{"kind":"a","Kind":"b"}]]}`, "grid.kind"},
		{`{"plain":1,"Plain":2}`, "Plain"},
		{`{"x":{"X":1},"after":{"a":1,"A":2},"text":"a","TeXt":"b"}`, "text"},
	}
	for _, c := range refused {
		var v namesPayload
		wantFieldTwice(t, c.payload, c.field, DecodePayload(json.RawMessage(c.payload), &v))
		if !reflect.DeepEqual(v, namesPayload{}) {
			t.Fatalf("payload %s: decoded %+v from a refused payload", c.payload, v)
		}
		env, err := Decode([]byte(`{"type":"t","messageId":"m","payload":` + c.payload + `}`))
		if err != nil {
			t.Fatalf("Decode of %s: %v", c.payload, err)
		}
		wantFieldTwice(t, c.payload, c.field, CheckFieldNames(env, &v))
		env.names = namesUnknown
		wantFieldTwice(t, c.payload, c.field, CheckFieldNames(env, &v))
	}
	accepted := []string{
		`{"after":{"ab":1,"AB":2},"value":{"id":1,"ID":2},"tags":{"a":1,"A":2}}`,
		`{"lines":[{"sku":"a","data":{"k":1,"K":2}}],"byCode":{"ab":{"qty":1},"AB":{"qty":2}}}`,
		`{"text":"a","extra":1,"EXTRA":2}`,
		`{"skipped":1,"SKIPPED":2,"-":1}`,
		`{"time":"2026-01-01T00:00:00Z","ref":{"kind":"a","id":"b","x":1,"X":2}}`,
		`{"after":[{"a":1,"A":2}],"value":[{"a":1,"A":2}]}`,
	}
	for _, p := range accepted {
		var v namesPayload
		if err := DecodePayload(json.RawMessage(p), &v); err != nil {
			t.Fatalf("payload %s: %v", p, err)
		}
		env, err := Decode([]byte(`{"type":"t","messageId":"m","payload":` + p + `}`))
		if err != nil || env.names != namesFolded {
			t.Fatalf("Decode of %s: noted %d, %v", p, env.names, err)
		}
		if err := CheckFieldNames(env, &v); err != nil {
			t.Fatalf("payload %s: %v", p, err)
		}
	}
	// Values kept as they are keep every member as sent.
	var v namesPayload
	if err := DecodePayload(json.RawMessage(`{"after":{"ab":1,"AB":2}}`), &v); err != nil || string(v.After) != `{"ab":1,"AB":2}` {
		t.Fatalf("after: %s, %v", v.After, err)
	}
	// Exact repeats are CheckPayload's, also where a field would match.
	for _, p := range []string{`{"text":"a","text":"b"}`, `{"after":{"a":1,"a":2}}`} {
		wantRepeatedName(t, p, DecodePayload(json.RawMessage(p), &v))
		wantRepeatedName(t, p, CheckFieldNames(Envelope{Payload: json.RawMessage(p)}, &v))
	}
}

// jsonMatchesName reports whether encoding/json decodes a member named
// key into a struct field named name, and false for a name that cannot
// be a field's (not valid UTF-8, or refused as a tag).
func jsonMatchesName(name, key string) (matches, ok bool) {
	if name == "" || name == "-" || !utf8.ValidString(name) || !utf8.ValidString(key) {
		return false, false
	}
	typ := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.TypeFor[int](),
		Tag: reflect.StructTag(`json:` + strconv.Quote(name))}})
	v := reflect.New(typ)
	if b, err := json.Marshal(v.Interface()); err != nil || string(b) != string(mustMarshal(map[string]int{name: 0})) {
		return false, false // the tag is not a valid name: encoding/json names the field F
	}
	if err := json.Unmarshal(mustMarshal(map[string]int{key: 1}), v.Interface()); err != nil {
		return false, false
	}
	return v.Elem().Field(0).Int() == 1, true
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// checkNamesLikeEncodingJSON fails t unless a payload object holding the
// members a and b is refused by CheckPayload exactly when a and b are
// equal, noted by Decode exactly when they differ but fold alike, and
// refused by DecodePayload into a struct with a field named a exactly
// when encoding/json would decode b into that field too.
func checkNamesLikeEncodingJSON(t *testing.T, a, b string) {
	t.Helper()
	matches, ok := jsonMatchesName(a, b)
	if !ok {
		return
	}
	p := `{` + string(mustMarshal(a)) + `:1,` + string(mustMarshal(b)) + `:2}`
	folded, err := payloadVerdict(t, p)
	if a == b {
		wantRepeatedName(t, p, err)
		return
	}
	if err != nil {
		t.Fatalf("payload %s: %v; the names differ", p, err)
	}
	if folded != (string(foldName(nil, []byte(a))) == string(foldName(nil, []byte(b)))) {
		t.Fatalf("payload %s: names that differ only in case found %t", p, folded)
	}
	typ := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.TypeFor[int](),
		Tag: reflect.StructTag(`json:` + strconv.Quote(a))}})
	err = DecodePayload(json.RawMessage(p), reflect.New(typ).Interface())
	if matches {
		wantFieldTwice(t, p, a, err)
	} else if err != nil {
		t.Fatalf("payload %s: %v; encoding/json keeps the two apart", p, err)
	}
}

// TestRepeatedNamesFoldLikeEncodingJSON checks the folding against
// encoding/json itself: for every rune with other case forms, a name
// with it and the same name with each other rune of its fold set, and
// the name upper-cased and lower-cased (strings.ToUpper, ToLower).
func TestRepeatedNamesFoldLikeEncodingJSON(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		match bool
	}{{"text", "TEXT", true}, {"kind", "\u212aind", true}, {"sku", "\u017fKU", true}, {"stra\u00dfe", "STRASSE", false}, {"a", "b", false}} {
		if m, ok := jsonMatchesName(c.a, c.b); !ok || m != c.match {
			t.Fatalf("encoding/json matching %q to a field %q: %t (usable %t), want %t", c.b, c.a, m, ok, c.match)
		}
	}
	for r := rune(0x41); r <= unicode.MaxRune; r++ {
		if unicode.SimpleFold(r) == r && unicode.ToUpper(r) == r && unicode.ToLower(r) == r {
			continue
		}
		name := "x" + string(r)
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			checkNamesLikeEncodingJSON(t, name, "x"+string(f))
		}
		checkNamesLikeEncodingJSON(t, name, strings.ToUpper(name))
		checkNamesLikeEncodingJSON(t, name, strings.ToLower(name))
	}
}

// FuzzPayloadNamesLikeEncodingJSON compares the repeated-name rule with
// encoding/json's matching of member names to fields on arbitrary names.
func FuzzPayloadNamesLikeEncodingJSON(f *testing.F) {
	for _, s := range [][2]string{{"text", "TEXT"}, {"kind", "\u212aind"}, {"sku", "\u017fku"},
		{"stra\u00dfe", "STRASSE"}, {"a", "a"}, {"entityId", "entityID"}, {"\u01c4", "\u01c5"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > MaxKeyBytes || len(b) > MaxKeyBytes {
			return
		}
		checkNamesLikeEncodingJSON(t, a, b)
	})
}

// namesFuzzPayload is a payload struct for FuzzFieldNamesOrderFree: the
// shapes of namesPayload whose decoded values compare with
// reflect.DeepEqual (no raw JSON).
type namesFuzzPayload struct {
	namesRef
	Text   *string              `json:"text"`
	Ref    *namesRef            `json:"ref"`
	Lines  []namesRef           `json:"lines"`
	ByCode map[string]*namesRef `json:"byCode"`
	Value  any                  `json:"value"`
	N      *float64             `json:"n"`
}

// reversedMembers returns the JSON value at the decoder's position with the
// members of every object in reverse order.
func reversedMembers(dec *json.Decoder) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		var parts [][]byte
		for dec.More() {
			var part []byte
			if v == '{' {
				name, err := dec.Token()
				if err != nil {
					return nil, err
				}
				part = append(mustMarshal(name), ':')
			}
			val, err := reversedMembers(dec)
			if err != nil {
				return nil, err
			}
			parts = append(parts, append(part, val...))
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		if v == '{' {
			slices.Reverse(parts)
			return []byte("{" + string(bytes.Join(parts, []byte(","))) + "}"), nil
		}
		return []byte("[" + string(bytes.Join(parts, []byte(","))) + "]"), nil
	case json.Number:
		return []byte(v), nil
	case nil:
		return []byte("null"), nil
	default:
		return json.Marshal(v)
	}
}

// FuzzFieldNamesOrderFree: a payload DecodePayload accepts decodes to the
// same value with the members of every object in reverse order, which
// RequestHash cannot tell from it: no field of a struct is given twice.
func FuzzFieldNamesOrderFree(f *testing.F) {
	for _, s := range []string{
		`{"text":"a","TEXT":"b"}`,
		`{"kind":"a","Kind":null}`,
		`{"ref":{"id":"a"},"REF":{"kind":"b"}}`,
		`{"lines":[{"id":"a","ID":"b"}],"byCode":{"a":{"id":"x"},"A":{"id":"y"}}}`,
		`{"value":{"a":1,"A":2},"extra":1,"EXTRA":2,"n":1,"N":2}`,
		"{\"kind\":\"a\",\"\\u212aind\":\"b\",\"text\":\"t\"}",
		`{"byCode":{"a":null,"a":{"id":"x"}}}`,
		`{"text":"t","lines":[{"id":"a","kind":"k"}],"value":{"a":1,"A":2},"x":1,"X":2,"byCode":{"b":{"id":"y"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var a namesFuzzPayload
		if !utf8.Valid(p) || len(bytes.TrimSpace(p)) == 0 || DecodePayload(p, &a) != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(p))
		dec.UseNumber()
		r, err := reversedMembers(dec)
		if err != nil {
			t.Fatalf("payload %q: %v", p, err)
		}
		var b namesFuzzPayload
		if err := DecodePayload(r, &b); err != nil {
			t.Fatalf("payload %q accepted, reversed %s refused: %v", p, r, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("payload %q decodes to %+v, reversed %s to %+v", p, a, r, b)
		}
		ea := Envelope{Type: "t", MessageID: "m", Payload: p}
		eb := Envelope{Type: "t", MessageID: "m", Payload: r}
		if RequestHash(ea) != RequestHash(eb) {
			t.Fatalf("payload %q and reversed %s hash differently", p, r)
		}
	})
}
