package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// resendFields are payload fields that a client refreshes when it resends
// a request under its messageId: the preconditions of the write, not what
// it asks for. The SDK sends a change again with the entity's current
// baseVersion and the lock's current fencing token after a timeout or a
// lost lock; the resend must still get the original reply.
var resendFields = []string{"baseVersion", "fencingToken"}

// withPreconditions are the request types whose payload carries
// resendFields. In any other request (a publish's or a notification's
// data, a comment) a member of that name is data, and part of the hash.
var withPreconditions = map[string]bool{TypeChange: true, TypeUndo: true, TypeConflictSolve: true}

// RequestHash returns a hash (hex SHA-256) of the canonical form of the
// request env carries: its type, its channel and its payload with object
// keys sorted, insignificant whitespace removed and, in the requests that
// have them (change, undo, conflict.resolve), the top-level resendFields
// left out; numbers are kept as written. The messageId and
// timestamp are not part of it. Two frames get the same hash exactly when
// they ask for the same thing, so an idempotency record can tell a resend
// from another request reusing its messageId.
func RequestHash(env Envelope) string {
	h := sha256.New()
	canon := canonicalPayload(env.Payload, withPreconditions[env.Type])
	for _, part := range [][]byte{[]byte(env.Type), []byte(env.Channel), canon} {
		var n [8]byte
		for i, l := 0, len(part); i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:]) // length-prefixed, so no two splits of the same bytes collide
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalPayload re-encodes a payload with sorted keys and exact
// numbers, leaving out the top-level resendFields when preconditions is
// true; a payload that does not decode (Decode refuses those) is used as
// it is.
func canonicalPayload(p json.RawMessage, preconditions bool) []byte {
	v, ok := decodeExact(p)
	if !ok {
		return p
	}
	if obj, ok := v.(map[string]any); ok && preconditions {
		for _, k := range resendFields {
			delete(obj, k)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return p
	}
	return b
}

// CanonicalPayload returns p in canonical form: object keys sorted,
// insignificant white space removed, numbers as written and strings as
// Marshal writes them (without HTML escaping). Two payloads that
// RequestHash takes for the same request's (in any request but those
// with preconditions) have the same canonical form, and a payload already
// in it is returned as it is, byte for byte. An empty payload, or one
// that does not decode, is returned as it is.
func CanonicalPayload(p json.RawMessage) []byte {
	v, ok := decodeExact(p)
	if !ok {
		return p
	}
	b, err := Marshal(v)
	if err != nil {
		return p
	}
	return b
}

// decodeExact decodes a payload with its numbers as written (json.Number);
// false for an empty payload or one that does not decode.
func decodeExact(p json.RawMessage) (any, bool) {
	if len(p) == 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}
