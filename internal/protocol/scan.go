package protocol

import (
	"bytes"
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
//
// Within the payload, an object that names a member twice is refused (see
// CheckPayload), and one with two names that differ only in case is
// noted, for the routes that decode it into a struct (see
// checkFieldNames).

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
	payloadFolded           bool  // an object of the last payload has names that differ only in case
}

// scanner walks one frame. data is the frame; pos the next byte.
type scanner struct {
	data []byte
	pos  int
	// Payload bounds: while limits is set, values are checked against
	// CheckPayload's bounds and the first violation is kept in limitErr.
	limits   bool
	limitErr error
	// folded is set when an object of the payload holds two member names
	// that differ but fold alike (foldName).
	folded bool
	// keys holds where the member names of the payload's open objects
	// start, innermost object last (see checkName).
	keys offsets
	// many holds the names of objects of more than linearNames members,
	// as they are and folded, keyed by the object's offset in the frame.
	many map[objectName]struct{}
}

// linearNames is how many member names of an object are compared one by
// one with the next; past it they are looked up in scanner.many.
const linearNames = 16

// objectName is a member name of the object at offset obj, as it is or
// folded.
type objectName struct {
	obj    int
	name   string
	folded bool
}

// offsets is a stack of offsets in a frame. The first ones are kept in
// place, so that a scanner on the stack needs no allocation for them.
type offsets struct {
	n     int
	first [32]int
	more  []int
}

func (o *offsets) push(v int) {
	if o.n < len(o.first) {
		o.first[o.n] = v
	} else {
		o.more = append(o.more, v)
	}
	o.n++
}

func (o *offsets) at(i int) int {
	if i < len(o.first) {
		return o.first[i]
	}
	return o.more[i-len(o.first)]
}

// truncate drops the offsets past the first n.
func (o *offsets) truncate(n int) {
	o.n = n
	if len(o.more) > 0 {
		o.more = o.more[:max(n-len(o.first), 0)]
	}
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
				s.limits, s.limitErr, s.folded = true, nil, false
			}
			if !s.scanValue(2, 0) {
				return fs, false
			}
			v := span{vStart, s.pos}
			switch field {
			case fieldPayload:
				fs.payload, fs.payloadErr, fs.payloadFolded = v, s.limitErr, s.folded
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

// FoldName is name case-folded as encoding/json folds member names
// (foldName): encoding/json decodes a member into a struct field named f
// exactly when FoldName of the member's name is FoldName(f).
func FoldName(name string) string { return string(foldName(nil, []byte(name))) }

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
	obj := s.pos
	s.pos++ // '{'
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return true
	}
	keys := s.keys.n
	var sums uint64 // the object's names so far: bit nameSum % 64 of each
	for n := 1; ; n++ {
		if s.peek() != '"' {
			return false
		}
		start := s.pos
		// A payload's names are checked while it has no violation (see
		// checkName); most are plain, read here with their sum.
		var sum uint32
		plain, escaped := s.limits && s.limitErr == nil, false
		if plain {
			sum, plain = s.scanPlainName()
		}
		if !plain {
			var ok bool
			if escaped, ok = s.scanString(); !ok {
				return false
			}
		}
		if s.limits {
			s.checkString(start, escaped, MaxKeyBytes, "payload member names are limited to %d bytes")
			if n > MaxObjectMembers {
				s.violate("payload objects are limited to %d members", MaxObjectMembers)
			}
			bit := uint64(1) << (sum % 64)
			switch {
			case s.limitErr != nil:
				// Refused already: names are no longer checked.
			case plain && sums&bit == 0 && s.keys.n-keys < linearNames:
				// The usual case, inline: a plain name whose sum's bit
				// no earlier name of the object has.
				sums |= bit
				s.keys.push(start)
			default:
				sums = s.checkName(start, plain, sum, obj, keys, sums)
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
			s.keys.truncate(keys)
			return ok
		}
	}
}

// nameMatch is how a member name compares with the earlier names of its
// object.
type nameMatch uint8

const (
	nameNew    nameMatch = iota // no earlier name folds like it
	nameFolded                  // an earlier name differs from it but folds alike
	nameEqual                   // an earlier name is the same
)

// checkName checks the member name whose literal starts at start and ends
// at s.pos (plain, with nameSum sum, or not, sum unset) against the
// earlier names of the payload object at offset obj, whose literals start
// at the offsets of s.keys from first and whose sums sums holds: a name
// equal to one of them is a violation; one that differs from one of them
// only in case (they fold alike) is noted in s.folded. It returns sums
// with the name's.
func (s *scanner) checkName(start int, plain bool, sum uint32, obj, first int, sums uint64) uint64 {
	if !plain {
		sum = s.literalSum(start, s.pos)
	}
	match := nameNew
	if s.keys.n-first < linearNames {
		// Only a name whose sum's bit is set may fold like one already
		// seen.
		bit := uint64(1) << (sum % 64)
		if sums&bit != 0 {
			match = s.hasName(first, start, s.pos)
		}
		sums |= bit
	} else {
		match = s.manyName(obj, first, start, s.pos)
	}
	switch match {
	case nameEqual:
		s.violate(repeatedName)
		return sums
	case nameFolded:
		s.folded = true
	}
	s.keys.push(start)
	return sums
}

// literalSum returns the nameSum of the string literal at [start, end)
// once folded.
func (s *scanner) literalSum(start, end int) uint32 {
	var buf [MaxKeyBytes]byte // checkString refused longer names
	return nameSum(foldName(buf[:0], s.nameOf(start, end)))
}

// hasName compares the name of the literal at [start, end) with the
// names whose literals start at the offsets of s.keys from first.
func (s *scanner) hasName(first, start, end int) nameMatch {
	var buf, other [MaxKeyBytes]byte
	name := s.nameOf(start, end)
	folded := foldName(buf[:0], name)
	match := nameNew
	for i := first; i < s.keys.n; i++ {
		k := s.keys.at(i)
		earlier := s.nameOf(k, s.literalEnd(k))
		if bytes.Equal(earlier, name) {
			return nameEqual
		}
		if match == nameNew && bytes.Equal(foldName(other[:0], earlier), folded) {
			match = nameFolded
		}
	}
	return match
}

// manyName is hasName for the names of an object of more than
// linearNames members, which it keeps in s.many, as they are and folded:
// it adds the literal at [start, end), and the earlier names when it has
// not yet.
func (s *scanner) manyName(obj, first, start, end int) nameMatch {
	if s.many == nil {
		s.many = make(map[objectName]struct{})
	}
	add := func(name []byte) (equal, folded bool) {
		var buf [MaxKeyBytes]byte
		same := objectName{obj, string(name), false}
		alike := objectName{obj, string(foldName(buf[:0], name)), true}
		_, equal = s.many[same]
		_, folded = s.many[alike]
		s.many[same], s.many[alike] = struct{}{}, struct{}{}
		return equal, folded
	}
	if s.keys.n-first == linearNames {
		for i := first; i < s.keys.n; i++ {
			k := s.keys.at(i)
			add(s.nameOf(k, s.literalEnd(k)))
		}
	}
	switch equal, folded := add(s.nameOf(start, end)); {
	case equal:
		return nameEqual
	case folded:
		return nameFolded
	}
	return nameNew
}

// literalEnd returns where the string literal that starts at start ends.
func (s *scanner) literalEnd(start int) int {
	t := scanner{data: s.data, pos: start}
	t.scanString()
	return t.pos
}

// nameOf returns the name the string literal at [start, end) holds.
func (s *scanner) nameOf(start, end int) []byte {
	raw := s.data[start+1 : end-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		str, _ := stringValue(s.data, span{start, end})
		return []byte(str)
	}
	return raw
}

// nameSum returns a checksum of a folded name, or of a plain one: it
// upper-cases ASCII letters.
func nameSum(name []byte) uint32 {
	var sum uint32
	for _, c := range name {
		sum = sum*31 + uint32(upperASCII(c))
	}
	return sum
}

// scanPlainName scans a plain member name (printable ASCII without
// escapes) and returns its nameSum; for another name it returns false
// and leaves s.pos where it was.
func (s *scanner) scanPlainName() (sum uint32, ok bool) {
	for i := s.pos + 1; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return sum, true
		case c < 0x20 || c >= utf8.RuneSelf || c == '\\':
			return 0, false
		default:
			sum = sum*31 + uint32(upperASCII(c))
		}
	}
	return 0, false
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
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
