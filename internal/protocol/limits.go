package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
)

// Bounds that every request payload must respect, whatever its type. They
// keep the work a frame can cause proportional to its size: a route never
// walks a structure deeper, longer or wider than these. Each route then
// checks its own fields (required members, enumerations, tighter lengths).
const (
	// MaxPayloadDepth bounds the nesting of arrays and objects; the
	// payload value itself is at depth 1.
	MaxPayloadDepth = 32
	// MaxArrayLen bounds the elements of one array.
	MaxArrayLen = 1000
	// MaxObjectMembers bounds the members of one object.
	MaxObjectMembers = 1000
	// MaxStringBytes bounds one string value, counted in UTF-8 bytes after
	// unescaping. Half a client frame: every string a route accepts has a
	// tighter bound of its own.
	MaxStringBytes = 16 << 10
	// MaxKeyBytes bounds one object member name.
	MaxKeyBytes = 256
)

// repeatedName is the violation of a payload object that names one member
// twice.
const repeatedName = "payload objects must not repeat a member name"

// container is one open array or object while a payload is walked.
type container struct {
	object bool
	n      int                 // elements or members so far
	key    bool                // object: the next token is a member name
	names  map[string]struct{} // object: its member names so far
	folded map[string]struct{} // object: the same, case-folded (foldName)
}

// CheckPayload reports whether p, the raw payload of a request, is one
// well-formed JSON value within the bounds above, with every number finite
// in float64, and whose objects each name a member at most once. An empty
// payload (absent or null) passes. Failures are BAD_REQUEST errors whose
// message names the bound, never the input.
//
// Two names that differ only in case ("id" and "ID") are two members
// here: in the values a route keeps as they are sent (a publish's
// payload, a change's after) they are the client's data. Where a route
// decodes an object into a struct they would name one field, and
// DecodePayload and CheckFieldNames refuse them (see checkFieldNames).
func CheckPayload(p json.RawMessage) error {
	_, err := checkPayload(p)
	return err
}

// checkPayload is CheckPayload; folded also reports whether an object of
// the payload holds two member names that differ but fold alike
// (foldName), as encoding/json matches names to a struct's fields.
func checkPayload(p json.RawMessage) (folded bool, err error) {
	if len(bytes.TrimSpace(p)) == 0 {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var (
		stack []container
		roots int // top-level values begun
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 && roots == 1 {
			return folded, nil
		}
		if err != nil {
			return false, NewError(CodeBadRequest, "payload is not valid JSON")
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if len(stack) == 0 {
			if roots++; roots > 1 {
				return false, NewError(CodeBadRequest, "payload is not one JSON value")
			}
		} else if c := &stack[len(stack)-1]; c.object && c.key {
			// A member name: the decoder guarantees it is a string.
			k, _ := tok.(string)
			if len(k) > MaxKeyBytes {
				return false, NewError(CodeBadRequest, "payload member names are limited to %d bytes", MaxKeyBytes)
			}
			if c.n++; c.n > MaxObjectMembers {
				return false, NewError(CodeBadRequest, "payload objects are limited to %d members", MaxObjectMembers)
			}
			if _, ok := c.names[k]; ok {
				return false, NewError(CodeBadRequest, repeatedName)
			}
			if c.names == nil {
				c.names = make(map[string]struct{})
			}
			c.names[k] = struct{}{}
			if !folded {
				f := string(foldName(nil, []byte(k)))
				_, folded = c.folded[f]
				if c.folded == nil {
					c.folded = make(map[string]struct{})
				}
				c.folded[f] = struct{}{}
			}
			c.key = false
			continue
		} else if c.object {
			c.key = true
		} else if c.n++; c.n > MaxArrayLen {
			return false, NewError(CodeBadRequest, "payload arrays are limited to %d elements", MaxArrayLen)
		}
		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			if len(stack) >= MaxPayloadDepth {
				return false, NewError(CodeBadRequest, "payload nests deeper than %d levels", MaxPayloadDepth)
			}
			stack = append(stack, container{object: v == '{', key: v == '{'})
		case string:
			if len(v) > MaxStringBytes {
				return false, NewError(CodeBadRequest, "payload strings are limited to %d bytes", MaxStringBytes)
			}
		case json.Number:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return false, NewError(CodeBadRequest, "payload numbers must be finite 64-bit floating-point values")
			}
		}
	}
}

// DecodePayload checks p with CheckPayload and decodes it into v, a
// pointer to the route's payload struct. Unknown members are ignored. A
// member of the wrong type yields BAD_REQUEST naming the field's path in v,
// never the input, and so do two member names of an object decoded into a
// struct that differ only in case and name one field (checkFieldNames);
// an empty payload leaves v unchanged.
func DecodePayload(p json.RawMessage, v any) error {
	folded, err := checkPayload(p)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(p)) == 0 {
		return nil
	}
	if folded {
		if err := checkFieldNames(p, reflect.TypeOf(v)); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(p, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return NewError(CodeBadRequest, "payload field %q has the wrong type", te.Field)
		}
		return NewError(CodeBadRequest, "payload has the wrong shape")
	}
	return nil
}

// Bounds of the identity fields that other users receive (presence,
// comments, changes, locks, activity, notifications). They are applied
// once, at $connect, to the claims of the token (or the development
// identity): a longer display name is cut to MaxUsernameBytes at a
// character boundary, and a longer avatar URL is dropped (a cut URL would
// point elsewhere). User ids and tenants are bounded by the authenticator
// (128 bytes, see internal/auth).
const (
	// MaxUsernameBytes bounds a display name, in UTF-8 bytes.
	MaxUsernameBytes = 128
	// MaxAvatarBytes bounds an avatar URL, in bytes; the presence route
	// applies the same bound to an avatar a client sets.
	MaxAvatarBytes = 1024
)
