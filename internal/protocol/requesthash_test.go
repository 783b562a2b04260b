package protocol

import "testing"

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
