package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestRequestHash(t *testing.T) {
	env := func(typ, ch, payload string) Envelope {
		e := Envelope{Type: typ, Channel: ch, MessageID: "m1"}
		if payload != "" {
			e.Payload = []byte(payload)
		}
		return e
	}
	base := env("change", "", `{"a":1,"b":[1,2],"baseVersion":3}`)
	same := []Envelope{
		env("change", "", `{ "b" : [1, 2], "a":1, "baseVersion":3 }`),
		env("change", "", `{"a":1,"b":[1,2],"baseVersion":4,"fencingToken":9}`), // a resend with refreshed preconditions
		func() Envelope { e := base; e.MessageID, e.Timestamp = "other", "2026-01-01T00:00:00Z"; return e }(),
	}
	for _, e := range same {
		if RequestHash(e) != RequestHash(base) {
			t.Errorf("%+v hashes differently from %+v", e, base)
		}
	}
	differ := []Envelope{
		env("change", "", `{"a":2,"b":[1,2]}`),
		env("change", "", `{"a":1,"b":[2,1]}`),
		env("change", "", `{"a":1.0,"b":[1,2]}`),
		env("undo", "", `{"a":1,"b":[1,2]}`),
		env("change", "x", `{"a":1,"b":[1,2]}`),
		env("change", "", ``),
		env("chang", "e", `{"a":1,"b":[1,2]}`),
		env("change", "", `{"a":1,"b":[1,2],"c":{"baseVersion":3}}`), // only top-level preconditions are left out
	}
	for _, e := range differ {
		if RequestHash(e) == RequestHash(base) {
			t.Errorf("%+v hashes like %+v", e, base)
		}
	}
}

// TestRequestHashKeepsDataNamedLikePreconditions: only the requests whose
// payload carries preconditions (change, undo, conflict.resolve) leave
// them out of the hash; in a publish, a notify or a comment a top-level
// baseVersion or fencingToken is data, and two such requests differ.
func TestRequestHashKeepsDataNamedLikePreconditions(t *testing.T) {
	env := func(typ, payload string) Envelope {
		return Envelope{Type: typ, Channel: "c", MessageID: "m1", Payload: []byte(payload)}
	}
	for _, typ := range []string{"publish", "notify", "comment.add", "activity"} {
		if RequestHash(env(typ, `{"a":1,"baseVersion":3}`)) == RequestHash(env(typ, `{"a":1,"baseVersion":4}`)) {
			t.Errorf("%s: payloads differing in baseVersion hash alike", typ)
		}
		if RequestHash(env(typ, `{"a":1,"fencingToken":3}`)) == RequestHash(env(typ, `{"a":1}`)) {
			t.Errorf("%s: payloads differing in fencingToken hash alike", typ)
		}
	}
	for _, typ := range []string{"change", "undo", "conflict.resolve"} {
		if RequestHash(env(typ, `{"changeId":"x","fencingToken":3}`)) != RequestHash(env(typ, `{"changeId":"x","fencingToken":4}`)) {
			t.Errorf("%s: a resend with a refreshed fencingToken hashes differently", typ)
		}
	}
}

// TestRequestHashOfRepeatedNames: payloads that give a struct's field
// twice, by names that differ only in case or by one name with null last,
// hash alike in another order while the route's struct decodes them to
// different requests. They never reach RequestHash: Decode refuses a name
// given twice, and CheckFieldNames (DecodePayload) names that differ only
// in case in an object decoded into a struct. In a value kept as it is
// sent, such names are two members, and the same members in another order
// are the same request.
func TestRequestHashOfRepeatedNames(t *testing.T) {
	for _, c := range []struct {
		pair   [2]string
		exact  bool
		opaque bool
	}{
		{[2]string{`{"entityType":"note","entityId":"n1","text":"approve","TEXT":"reject"}`, `{"entityType":"note","entityId":"n1","TEXT":"reject","text":"approve"}`}, false, false},
		{[2]string{`{"entityType":"note","entityId":"n1","text":"approve","text":null}`, `{"entityType":"note","entityId":"n1","text":"reject","text":null}`}, true, false},
		{[2]string{`{"entityType":"note","entityId":"n1","text":"a","metadata":{"k":1,"K":2}}`, `{"entityType":"note","entityId":"n1","text":"a","metadata":{"K":2,"k":1}}`}, false, true},
	} {
		var texts [2]string
		var decoded [2]any
		for i, p := range c.pair {
			var pl CommentAddPayload
			if err := json.Unmarshal([]byte(p), &pl); err != nil {
				t.Fatal(err)
			}
			texts[i] = pl.Text
			if err := json.Unmarshal([]byte(p), &decoded[i]); err != nil {
				t.Fatal(err)
			}
			env, err := Decode([]byte(`{"type":"comment.add","messageId":"dup","payload":` + p + `}`))
			switch {
			case c.exact:
				wantRepeatedName(t, p, err)
			case err != nil:
				t.Fatalf("payload %s: %v", p, err)
			case c.opaque:
				if err := CheckFieldNames(env, &pl); err != nil {
					t.Fatalf("payload %s: %v", p, err)
				}
			default:
				wantFieldTwice(t, p, "text", CheckFieldNames(env, &pl))
			}
		}
		a := Envelope{Type: TypeCommentAdd, MessageID: "dup", Payload: json.RawMessage(c.pair[0])}
		b := Envelope{Type: TypeCommentAdd, MessageID: "dup", Payload: json.RawMessage(c.pair[1])}
		if RequestHash(a) != RequestHash(b) {
			t.Fatalf("%s and %s hash differently", c.pair[0], c.pair[1])
		}
		if differ := texts[0] != texts[1]; differ == c.opaque || c.opaque && !reflect.DeepEqual(decoded[0], decoded[1]) {
			t.Fatalf("%s and %s: texts %q, decoded %v: not the case", c.pair[0], c.pair[1], texts, decoded)
		}
	}
}
