package protocol

import (
	"encoding/json"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// This file is Decode's one-pass reader: a validating scanner that walks a
// frame once, checks it is one well-formed JSON object, picks out the
// envelope's members and applies CheckPayload's bounds to the payload as it
// goes. It gives the results encoding/json would give for the same frame
// (the reference implementation in the tests decodes with encoding/json and
// a differential fuzz test compares the two):
//   - member names match the envelope's fields as encoding/json matches
//     them: exactly, or else case-insensitively with Unicode simple folding;
//   - the last of repeated members wins;
//   - strings with escapes are unescaped by encoding/json itself, so that
//     invalid surrogates become U+FFFD as there;
//   - nesting deeper than encoding/json's limit (10,000) is invalid JSON.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// envelope fields the scanner picks out.
const (
	fieldOther = iota
	fieldType
	fieldChannel
	fieldPayload
	fieldTimestamp
	fieldMessageID
)

// span is the raw bytes of one member value, [start, end) in the frame;
// end == 0 means absent.
type span struct{ start, end int }

// frameScan is the outcome of scanning one frame.
type frameScan struct {
	typ, channel, messageID span // last occurrence of each
	payload, timestamp      span
	wrongType               bool  // type, channel or messageId held neither a string nor null
	payloadErr              error // CheckPayload's verdict on the last payload
}

// scanner walks one frame. data is the frame; pos the next byte.
type scanner struct {
	data []byte
	pos  int
	// Payload bounds: while limits is set, values are checked against
	// CheckPayload's bounds and the first violation is kept in limitErr.
	limits   bool
	limitErr error
}

// scanFrame scans data, which must be valid UTF-8 and start with '{' after
// trimming. ok is false when data is not one JSON object (BAD_FRAME).
func scanFrame(data []byte) (fs frameScan, ok bool) {
	s := scanner{data: data}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return fs, false
	}
	s.pos++
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			if s.peek() != '"' {
				return fs, false
			}
			kStart := s.pos
			escaped, ok := s.scanString()
			if !ok {
				return fs, false
			}
			field := matchField(s.data[kStart:s.pos], escaped)
			s.skipSpace()
			if s.peek() != ':' {
				return fs, false
			}
			s.pos++
			s.skipSpace()
			vStart := s.pos
			if field == fieldPayload {
				s.limits, s.limitErr = true, nil
			}
			if !s.scanValue(2, 0) {
				return fs, false
			}
			v := span{vStart, s.pos}
			switch field {
			case fieldPayload:
				fs.payload, fs.payloadErr = v, s.limitErr
				s.limits, s.limitErr = false, nil
			case fieldTimestamp:
				fs.timestamp = v
			case fieldType, fieldChannel, fieldMessageID:
				if c := s.data[vStart]; c != '"' && c != 'n' {
					fs.wrongType = true
				}
				switch field {
				case fieldType:
					fs.typ = v
				case fieldChannel:
					fs.channel = v
				default:
					fs.messageID = v
				}
			}
			done, ok := s.separator('}')
			if !ok {
				return fs, false
			}
			if done {
				break
			}
		}
	}
	s.skipSpace()
	return fs, s.pos == len(s.data)
}

// stringValue returns the string a span holds, and false when it holds
// another kind of value (null included).
func stringValue(data []byte, v span) (string, bool) {
	if v.end == 0 || data[v.start] != '"' {
		return "", false
	}
	raw := data[v.start+1 : v.end-1]
	for _, c := range raw {
		if c == '\\' {
			var s string
			if json.Unmarshal(data[v.start:v.end], &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(raw), true
}

// matchField names the envelope field a member name selects: raw is the
// quoted name, escaped whether it holds escapes.
func matchField(raw []byte, escaped bool) int {
	name := raw[1 : len(raw)-1]
	if escaped {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return fieldOther
		}
		name = []byte(s)
	}
	switch string(name) {
	case "type":
		return fieldType
	case "channel":
		return fieldChannel
	case "payload":
		return fieldPayload
	case "timestamp":
		return fieldTimestamp
	case "messageId":
		return fieldMessageID
	}
	if len(name) > len("messageId")*utf8.UTFMax {
		return fieldOther // too long to fold to any field name
	}
	var buf [64]byte
	switch string(foldName(buf[:0], name)) {
	case "TYPE":
		return fieldType
	case "CHANNEL":
		return fieldChannel
	case "PAYLOAD":
		return fieldPayload
	case "TIMESTAMP":
		return fieldTimestamp
	case "MESSAGEID":
		return fieldMessageID
	}
	return fieldOther
}

// foldName appends the case-folded form of name to out, as encoding/json
// folds member names: ASCII letters upper-cased, every other rune replaced
// by the smallest rune of its simple fold set.
func foldName(out, name []byte) []byte {
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// violate records the first payload bound violated.
func (s *scanner) violate(format string, args ...any) {
	if s.limitErr == nil {
		s.limitErr = NewError(CodeBadRequest, format, args...)
	}
}

// scanValue scans one value at nesting depth depth (the frame object is 1)
// and payload depth pdepth (the containers of the payload open so far).
func (s *scanner) scanValue(depth, pdepth int) bool {
	switch c := s.peek(); {
	case c == '"':
		start := s.pos
		escaped, ok := s.scanString()
		if ok && s.limits {
			s.checkString(start, escaped, MaxStringBytes, "payload strings are limited to %d bytes")
		}
		return ok
	case c == '{' || c == '[':
		if depth > maxJSONDepth {
			return false
		}
		if s.limits && pdepth >= MaxPayloadDepth {
			s.violate("payload nests deeper than %d levels", MaxPayloadDepth)
		}
		if c == '{' {
			return s.scanObject(depth, pdepth+1)
		}
		return s.scanArray(depth, pdepth+1)
	case c == '-' || ('0' <= c && c <= '9'):
		return s.scanNumber()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

func (s *scanner) scanObject(depth, pdepth int) bool {
	s.pos++ // '{'
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return true
	}
	for n := 1; ; n++ {
		if s.peek() != '"' {
			return false
		}
		start := s.pos
		escaped, ok := s.scanString()
		if !ok {
			return false
		}
		if s.limits {
			s.checkString(start, escaped, MaxKeyBytes, "payload member names are limited to %d bytes")
			if n > MaxObjectMembers {
				s.violate("payload objects are limited to %d members", MaxObjectMembers)
			}
		}
		s.skipSpace()
		if s.peek() != ':' {
			return false
		}
		s.pos++
		s.skipSpace()
		if !s.scanValue(depth+1, pdepth) {
			return false
		}
		if done, ok := s.separator('}'); done || !ok {
			return ok
		}
	}
}

func (s *scanner) scanArray(depth, pdepth int) bool {
	s.pos++ // '['
	s.skipSpace()
	if s.peek() == ']' {
		s.pos++
		return true
	}
	for n := 1; ; n++ {
		if s.limits && n > MaxArrayLen {
			s.violate("payload arrays are limited to %d elements", MaxArrayLen)
		}
		if !s.scanValue(depth+1, pdepth) {
			return false
		}
		if done, ok := s.separator(']'); done || !ok {
			return ok
		}
	}
}

// separator reads what follows an element of a container closed by
// close: done when the container ends, ok false when neither it nor a
// comma follows.
func (s *scanner) separator(close byte) (done, ok bool) {
	s.skipSpace()
	switch s.peek() {
	case close:
		s.pos++
		return true, true
	case ',':
		s.pos++
		s.skipSpace()
		return false, true
	}
	return false, false
}

// scanString scans a string literal and reports whether it holds escapes.
// The frame is valid UTF-8, so only control characters and escapes need
// checking.
func (s *scanner) scanString() (escaped, ok bool) {
	s.pos++ // opening quote
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return escaped, true
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.data) {
				return escaped, false
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) {
					return escaped, false
				}
				for _, h := range s.data[s.pos+2 : s.pos+6] {
					if !isHex(h) {
						return escaped, false
					}
				}
				s.pos += 6
			default:
				return escaped, false
			}
		case c < 0x20:
			return escaped, false
		default:
			s.pos++
		}
	}
	return escaped, false
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// checkString applies a payload bound to the string literal that starts at
// start and ends at s.pos, measured in bytes after unescaping.
func (s *scanner) checkString(start int, escaped bool, limit int, msg string) {
	n := s.pos - start - 2
	if escaped && n > limit {
		// Escapes shrink a string: measure the unescaped form.
		str, _ := stringValue(s.data, span{start, s.pos})
		n = len(str)
	}
	if n > limit {
		s.violate(msg, limit)
	}
}

// scanNumber scans a number literal; in a payload it must also be finite
// as a float64.
func (s *scanner) scanNumber() bool {
	start := s.pos
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return false
	}
	exp := false
	if s.peek() == '.' {
		s.pos++
		if !s.digits() {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		exp = true
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if !s.digits() {
			return false
		}
	}
	// Without an exponent, fewer than 300 characters cannot exceed
	// float64's range (about 1.8e308).
	if s.limits && (exp || s.pos-start >= 300) {
		if _, err := strconv.ParseFloat(string(s.data[start:s.pos]), 64); err != nil {
			s.violate("payload numbers must be finite 64-bit floating-point values")
		}
	}
	return true
}

// digits scans one or more decimal digits.
func (s *scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}
