package ident

import (
	"errors"
	"strings"
	"testing"
)

// hostile holds one code point, or byte, of every class the identifier
// rules refuse in text.
var hostile = map[string]string{
	"C0 NUL":                "\x00",
	"C0 ESC":                "\x1b",
	"C0 newline":            "\n",
	"DEL":                   "\x7f",
	"C1 NEL":                "\u0085",
	"C1 CSI":                "\u009b",
	"line separator":        "\u2028",
	"paragraph separator":   "\u2029",
	"bidi LRE":              "\u202a",
	"bidi RLO":              "\u202e",
	"bidi LRI":              "\u2066",
	"bidi PDI":              "\u2069",
	"bidi ALM":              "\u061c",
	"bidi RLM":              "\u200f",
	"zero-width space":      "\u200b",
	"zero-width joiner":     "\u200d",
	"word joiner":           "\u2060",
	"byte order mark":       "\ufeff",
	"soft hyphen":           "\u00ad",
	"invalid UTF-8":         "\xff",
	"truncated UTF-8":       "\xe2\x80",
	"encoded surrogate":     "\xed\xa0\x80",
	"replacement character": "\ufffd",
	"noncharacter FDD0":     "\ufdd0",
	"noncharacter FFFE":     "\ufffe",
	"noncharacter 1FFFF":    "\U0001ffff",
	"private use":           "\ue000",
	"key separator":         "#", // allowed in messageIds only, which are whole sort keys
	// Default-ignorable code points outside Cf, drawn as nothing, and the
	// braille blank: "alice" and "alice" with one of them look the same.
	"combining grapheme joiner":      "\u034f",
	"Hangul choseong filler":         "\u115f",
	"Hangul jungseong filler":        "\u1160",
	"Khmer inherent vowel AQ":        "\u17b4",
	"Khmer inherent vowel AA":        "\u17b5",
	"Mongolian variation selector 1": "\u180b",
	"Mongolian variation selector 4": "\u180f",
	"Hangul filler":                  "\u3164",
	"halfwidth Hangul filler":        "\uffa0",
	"variation selector 1":           "\ufe00",
	"variation selector 16":          "\ufe0f",
	"variation selector 17":          "\U000e0100",
	"variation selector 256":         "\U000e01ef",
	"unassigned ignorable E0002":     "\U000e0002",
	"unassigned ignorable FFF0":      "\ufff0",
	"braille pattern blank":          "\u2800",
}

func TestCheckRefusesEveryClass(t *testing.T) {
	kinds := []Kind{Tenant, UserID, MessageID, Channel, Name}
	for class, c := range hostile {
		for _, k := range kinds {
			if k == MessageID && c == "#" {
				continue
			}
			for _, s := range []string{c, "ab" + c, c + "ab", "a" + c + "b"} {
				err := Check(k, s)
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s: Check(%s, %q) = %v, want ErrInvalid", class, k.what, s, err)
				}
				if err != nil && len(s) > 1 && strings.Contains(err.Error(), s) {
					t.Errorf("%s: the error %q quotes the refused value", class, err)
				}
			}
		}
		if got := Clean("a"+c+"b", 10, true); got != "ab" {
			t.Errorf("%s: Clean = %q, want %q", class, got, "ab")
		}
	}
}

func TestCheckAccepts(t *testing.T) {
	tests := []struct {
		k Kind
		s string
	}{
		{Tenant, "acme"},
		{Tenant, "Société Générale"},
		{UserID, "9b2f6c1e-1b7a-4c55-9d63-3e0b1b9a7e10"},
		{UserID, "ann@example.com"},
		{UserID, "ユーザー"},
		{UserID, "مستخدم"}, // right-to-left letters are letters, not controls
		{UserID, strings.Repeat("é", MaxIDLen/2)},
		{Tenant, "Société\u00a0Générale"}, // spaces are seen, no-break and ideographic ones too
		{Tenant, "株式会社\u3000東京"},
		{UserID, "e\u0301"}, // a combining mark that is drawn
		{UserID, "\U0001f600"},
		{MessageID, "m-1:2/3?x=y"},
		{Channel, "order:123"},
		{Channel, "room:dashboard"},
		{Channel, "order-updates"},
		{Name, "order"},
		{Name, "A.b_c-1"},
		{Name, strings.Repeat("x", MaxNameLen)},
	}
	for _, tt := range tests {
		if err := Check(tt.k, tt.s); err != nil {
			t.Errorf("Check(%s, %q) = %v", tt.k.what, tt.s, err)
		}
	}
}

func TestCheckShape(t *testing.T) {
	tests := []struct {
		k Kind
		s string
	}{
		{Tenant, ""},
		{UserID, strings.Repeat("x", MaxIDLen+1)},
		{MessageID, "has space"},
		{MessageID, "ünicode"},
		{Channel, ":order"},
		{Channel, "order:"},
		{Channel, "a:b:c"},
		{Channel, "room:é"},
		{Name, "a:b"},
		{Name, "a b"},
		{Name, strings.Repeat("x", MaxNameLen+1)},
		{Kind{what: "zero"}, "x"},
	}
	for _, tt := range tests {
		if err := Check(tt.k, tt.s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%s, %q) = %v, want ErrInvalid", tt.k.what, tt.s, err)
		}
	}
}

// TestCleanKeepsVariationSequences: a display value keeps a variation
// selector after a base it varies (emoji, keycaps, Han variants, Mongolian
// forms) and drops one elsewhere; an identifier drops every one.
func TestCleanKeepsVariationSequences(t *testing.T) {
	for _, tc := range []struct{ in, display, id string }{
		{"Anna \u2764\ufe0f", "Anna \u2764\ufe0f", "Anna \u2764"},
		{"1\ufe0f\u20e3", "1\ufe0f\u20e3", "1\u20e3"},
		{"#\ufe0f\u20e3", "#\ufe0f\u20e3", "\u20e3"},
		{"\u845b\U000e0100", "\u845b\U000e0100", "\u845b"},
		{"\u1820\u180b", "\u1820\u180b", "\u1820"},
		{"Al\ufe0fice", "Alice", "Alice"},                // after a Latin letter: drawn as nothing
		{"\ufe0fAnna", "Anna", "Anna"},                   // leading
		{"\u2764\ufe0f\ufe0f", "\u2764\ufe0f", "\u2764"}, // repeated
		{"a\U000e0100", "a", "a"},                        // an ideographic selector after a letter
		{"\u2764\u200b\ufe0f", "\u2764\ufe0f", "\u2764"}, // once what is dropped is gone
	} {
		if got := Clean(tc.in, 64, false); got != tc.display {
			t.Errorf("Clean(%+q) = %+q, want %+q", tc.in, got, tc.display)
		}
		if got := Clean(tc.in, 64, true); got != tc.id {
			t.Errorf("Clean(%+q, noHash) = %+q, want %+q", tc.in, got, tc.id)
		}
	}
}

func TestCleanCutsWholeCharacters(t *testing.T) {
	if got := Clean("ééé", 5, false); got != "éé" {
		t.Fatalf("Clean = %q, want two whole characters", got)
	}
	if got := Clean("a#b", 5, false); got != "a#b" {
		t.Fatalf("Clean without noHash dropped '#': %q", got)
	}
}

// A display value keeps what human writing needs between visible
// characters: the ZWJ of an emoji sequence, the ZWNJ of Persian, the tags
// of a subdivision flag; elsewhere they are dropped, and an identifier
// (noHash) drops every one.
func TestCleanKeepsJoinersAndTagSequences(t *testing.T) {
	const scotland = "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"
	for _, tc := range []struct{ in, display, id string }{
		{"Coding \U0001F469\u200D\U0001F4BB", "Coding \U0001F469\u200D\U0001F4BB", "Coding \U0001F469\U0001F4BB"},
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u062e\u0648\u0627\u0647\u0645"},
		{"\u2764\ufe0f\u200d\U0001F525", "\u2764\ufe0f\u200d\U0001F525", "\u2764\U0001F525"}, // after a kept selector
		{scotland + " fans", scotland + " fans", "\U0001F3F4 fans"},
		{"\u200dAnna", "Anna", "Anna"},    // leading
		{"Anna\u200c", "Anna", "Anna"},    // trailing
		{"a\u200d\u200db", "ab", "ab"},    // repeated
		{"Al\u200dice", "Alice", "Alice"}, // between Latin letters
		{"\u0391\u200c\u0392 \u0434\u200d\u0436", "\u0391\u0392 \u0434\u0436", "\u0391\u0392 \u0434\u0436"},                // Greek, Cyrillic
		{"a\u200d\U0001F4BB", "a\U0001F4BB", "a\U0001F4BB"},                                                                // a letter and a pictograph
		{"\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937", "\u0915\u094d\u0937"},                                     // Devanagari half form
		{"\U0001F44B\U0001F3FD\u200d\u2642\ufe0f", "\U0001F44B\U0001F3FD\u200d\u2642\ufe0f", "\U0001F44B\U0001F3FD\u2642"}, // after a skin tone
		{"a\u200b\u200db", "ab", "ab"},                             // next to a dropped code point
		{"a\u200d\u200bb", "ab", "ab"},                             // before a dropped code point
		{"a\U000E0067\U000E007F", "a", "a"},                        // tags after no flag
		{"\U0001F3F4\U000E0067 x", "\U0001F3F4 x", "\U0001F3F4 x"}, // not ended by U+E007F
		{"\U0001F3F4\U000E007F", "\U0001F3F4", "\U0001F3F4"},       // no tag before the end
		{"\U0001F3F4\U000E0001\U000E007F", "\U0001F3F4", "\U0001F3F4"},
	} {
		if got := Clean(tc.in, 64, false); got != tc.display {
			t.Errorf("Clean(%+q) = %+q, want %+q", tc.in, got, tc.display)
		}
		if got := Clean(tc.in, 64, true); got != tc.id {
			t.Errorf("Clean(%+q, noHash) = %+q, want %+q", tc.in, got, tc.id)
		}
	}
	// A cut drops a joiner whose next character does not fit, and a tag
	// sequence with its flag rather than part of it.
	if got := Clean("\U0001F469\u200d\U0001F4BB", 7, false); got != "\U0001F469" {
		t.Errorf("cut after a joiner: %+q, want %+q", got, "\U0001F469")
	}
	if got := Clean("a"+scotland, 10, false); got != "a" {
		t.Errorf("cut in a tag sequence: %+q, want %+q", got, "a")
	}
}
