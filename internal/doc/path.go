package doc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Path limits enforced by ParsePath.
const (
	// MaxDepth is the largest number of segments in a path.
	MaxDepth = 32
	// MaxKeyLen is the longest object key in a path, in bytes.
	MaxKeyLen = 256
	// MaxIndex is the largest list index a path may name.
	MaxIndex = 999_999_999
	// MaxPathLen is the longest path string accepted, in bytes.
	MaxPathLen = 8192
)

// Segment is one step of a Path: an object key when IsIndex is false, a
// list index when it is true. The zero value is the object key "".
type Segment struct {
	Key     string // object key; meaningful when IsIndex is false
	Index   int    // list index; meaningful when IsIndex is true
	IsIndex bool
}

// KeySegment returns the segment for object key k.
func KeySegment(k string) Segment { return Segment{Key: k} }

// IndexSegment returns the segment for list index i.
func IndexSegment(i int) Segment { return Segment{Index: i, IsIndex: true} }

// String formats the segment as it appears after another segment:
// ".key", `["odd.key"]` or "[3]".
func (s Segment) String() string {
	var b strings.Builder
	s.write(&b, false)
	return b.String()
}

func (s Segment) write(b *strings.Builder, first bool) {
	if s.IsIndex {
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(s.Index))
		b.WriteByte(']')
		return
	}
	if plainKey(s.Key) {
		if !first {
			b.WriteByte('.')
		}
		b.WriteString(s.Key)
		return
	}
	b.WriteByte('[')
	b.WriteString(quoteKey(s.Key))
	b.WriteByte(']')
}

// Path is a parsed path: the segments from the document root to a value.
// The empty Path (and the nil Path) names the root. A Path is a plain
// slice: functions of this package never modify a Path they are given, so
// concurrent readers are safe.
type Path []Segment

// String formats p in the canonical dot/bracket syntax, without a leading
// "$". ParsePath(p.String()) returns a Path equal to p.
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		s.write(&b, i == 0)
	}
	return b.String()
}

// Equal reports whether p and q have the same segments.
func (p Path) Equal(q Path) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// HasPrefix reports whether q is a prefix of p (p equal to q included).
func (p Path) HasPrefix(q Path) bool {
	return len(q) <= len(p) && p[:len(q)].Equal(q)
}

// Clone returns a copy of p that shares no memory with it.
func (p Path) Clone() Path {
	if p == nil {
		return nil
	}
	return append(Path(make([]Segment, 0, len(p))), p...)
}

// plainKey reports whether k can be written without brackets.
func plainKey(k string) bool {
	if k == "" || k[0] == '$' {
		return false
	}
	for _, r := range k {
		if r == '.' || r == '[' || r == ']' || r == '"' || r < 0x20 || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func quoteKey(k string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(k) // encoding a string cannot fail
	return strings.TrimSuffix(buf.String(), "\n")
}

// ParsePath parses the dot/bracket syntax described in the package
// documentation. "" and "$" yield the empty (root) Path.
func ParsePath(s string) (Path, error) {
	fail := func(why string) (Path, error) {
		return nil, fmt.Errorf("parse path %q: %s: %w", clip(s), why, ErrBadPath)
	}
	if len(s) > MaxPathLen {
		return fail(fmt.Sprintf("longer than %d bytes", MaxPathLen))
	}
	if !utf8.ValidString(s) {
		return fail("not valid UTF-8")
	}
	rest := s
	switch {
	case rest == "" || rest == "$":
		return Path{}, nil
	case strings.HasPrefix(rest, "$."), strings.HasPrefix(rest, "$["):
		rest = rest[1:]
		if rest[0] == '.' {
			rest = rest[1:]
			if rest == "" || rest[0] == '[' || rest[0] == '.' {
				return fail(`"$." must be followed by a key`)
			}
		}
	}
	var p Path
	for i := 0; i < len(rest); {
		if len(p) == MaxDepth {
			return fail(fmt.Sprintf("more than %d segments", MaxDepth))
		}
		var seg Segment
		switch c := rest[i]; {
		case c == '[':
			n, sg, err := parseBracket(rest[i:])
			if err != "" {
				return fail(err)
			}
			seg, i = sg, i+n
		case c == '.':
			if len(p) == 0 {
				return fail("leading '.'")
			}
			i++
			k, n := plainRun(rest[i:])
			if n == 0 {
				return fail("'.' must be followed by a key")
			}
			seg, i = KeySegment(k), i+n
		case c == ']':
			return fail("unbalanced ']'")
		default:
			if len(p) > 0 {
				return fail("a key must follow '.'")
			}
			k, n := plainRun(rest[i:])
			seg, i = KeySegment(k), i+n
		}
		if !seg.IsIndex && len(seg.Key) > MaxKeyLen {
			return fail(fmt.Sprintf("key longer than %d bytes", MaxKeyLen))
		}
		if len(p) == 0 && seg.IsIndex {
			return fail("the document root is an object: the first segment must be a key")
		}
		p = append(p, seg)
	}
	return p, nil
}

// plainRun returns the unbracketed key at the start of s and its length.
// A ']' inside the run is left for the caller to reject.
func plainRun(s string) (string, int) {
	n := strings.IndexAny(s, ".[]")
	if n < 0 {
		n = len(s)
	}
	return s[:n], n
}

// parseBracket parses "[digits]" or `["json string"]` at the start of s and
// returns the consumed length, or a reason on failure.
func parseBracket(s string) (int, Segment, string) {
	if len(s) < 3 {
		return 0, Segment{}, "unterminated '['"
	}
	if s[1] == '"' {
		end := -1
		for j := 2; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == '"' {
				end = j
				break
			}
		}
		if end < 0 || end+1 >= len(s) || s[end+1] != ']' {
			return 0, Segment{}, `quoted key must be written ["..."]`
		}
		var k string
		if err := json.Unmarshal([]byte(s[1:end+1]), &k); err != nil {
			return 0, Segment{}, "quoted key is not a valid JSON string"
		}
		return end + 2, KeySegment(k), ""
	}
	j := 1
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	digits := s[1:j]
	switch {
	case j >= len(s) || s[j] != ']':
		return 0, Segment{}, "an index must be written [digits]"
	case digits == "":
		return 0, Segment{}, "empty index"
	case len(digits) > 1 && digits[0] == '0':
		return 0, Segment{}, "index with a leading zero"
	case len(digits) > len(strconv.Itoa(MaxIndex)):
		return 0, Segment{}, fmt.Sprintf("index above %d", MaxIndex)
	}
	n, _ := strconv.Atoi(digits) // at most 9 digits: cannot fail
	return j + 1, IndexSegment(n), ""
}
