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

// RequestHash returns a hash (hex SHA-256) of the canonical form of the
// request env carries: its type, its channel and its payload with object
// keys sorted, insignificant whitespace removed and the top-level
// resendFields left out; numbers are kept as written. The messageId and
// timestamp are not part of it. Two frames get the same hash exactly when
// they ask for the same thing, so an idempotency record can tell a resend
// from another request reusing its messageId.
func RequestHash(env Envelope) string {
	h := sha256.New()
	canon := canonicalPayload(env.Payload)
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
// numbers; a payload that does not decode (Decode refuses those) is used
// as it is.
func canonicalPayload(p json.RawMessage) []byte {
	if len(p) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return p
	}
	if obj, ok := v.(map[string]any); ok {
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
