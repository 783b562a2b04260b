package handler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// invisibleByClass holds JSON escapes of one code point of each class
// ident.Clean drops, by class.
var invisibleByClass = map[string]string{
	"NUL":              `\u0000`,
	"C1 CSI":           `\u009b`,
	"bidi RLO":         `\u202e`,
	"bidi LRI":         `\u2066`,
	"zero-width space": `\u200b`,
	"line separator":   `\u2028`,
	"byte order mark":  `\ufeff`,
	"private use":      `\ue000`,
	"noncharacter":     `\ufdd0`,
}

// TestPresenceAvatarMustBeClean: the avatar a presence or room.join frame
// sets is held to the rule $connect applies to a token's avatar
// (ident.Clean): one holding a control, bidirectional, zero-width or other
// invisible character is refused with BAD_REQUEST, without being quoted,
// and reaches no other user; a clean one, non-ASCII letters included, is
// set and shown.
func TestPresenceAvatarMustBeClean(t *testing.T) {
	poster := &fuzzPoster{}
	send := connectAll(t, handler.Config{}, poster, map[string]map[string]string{
		"WatcherConn=": {"userId": "alice", "tenant": "t1", "role": "member"},
		"SenderConn=":  {"userId": "bob", "tenant": "t1", "role": "member"},
	})
	if b := send("WatcherConn=", `{"type":"subscribe","messageId":"s1","channel":"user-presence"}`); strings.Contains(b, `"error"`) {
		t.Fatal(b)
	}
	n := 0
	for class, c := range invisibleByClass {
		for _, typ := range []string{"presence", "room.join"} {
			n++
			b := send("SenderConn=", fmt.Sprintf(`{"type":%q,"messageId":"m%d","payload":{"room":"lobby","avatar":"https://example.test/refused%s.png"}}`, typ, n, c))
			if !strings.Contains(b, `"code":"BAD_REQUEST"`) || !strings.Contains(b, "avatar") {
				t.Errorf("%s: avatar with %s: %s; want BAD_REQUEST naming the avatar", typ, class, b)
			}
			if strings.Contains(b, "refused") {
				t.Errorf("%s: the refusal quotes the avatar: %s", typ, b)
			}
		}
	}
	snap := send("WatcherConn=", `{"type":"presence.snapshot","messageId":"s2","payload":{}}`)
	poster.mu.Lock()
	for _, f := range poster.frames {
		if strings.Contains(string(f), "example.test/refused") {
			t.Errorf("a refused avatar was posted: %.300s", f)
		}
	}
	poster.mu.Unlock()
	if strings.Contains(snap, "example.test/refused") {
		t.Errorf("a refused avatar is in the snapshot: %.300s", snap)
	}

	const clean = "https://example.test/Ünïcode avatar.png"
	if b := send("SenderConn=", `{"type":"presence","messageId":"ok1","payload":{"avatar":"`+clean+`"}}`); strings.Contains(b, `"error"`) {
		t.Fatalf("clean avatar: %s", b)
	}
	if snap := send("WatcherConn=", `{"type":"presence.snapshot","messageId":"s3","payload":{}}`); !strings.Contains(snap, clean) {
		t.Errorf("snapshot after a clean avatar: %.300s; want it", snap)
	}
	if b := send("SenderConn=", `{"type":"presence","messageId":"ok2","payload":{"avatar":""}}`); strings.Contains(b, `"error"`) {
		t.Fatalf("clearing the avatar: %s", b)
	}
}

// TestPresenceTextsOfHumanWriting: an activity, location page or section
// in ordinary writing that needs an invisible code point between visible
// ones is taken as sent: an emoji ZWJ sequence, Persian with its ZWNJ, a
// subdivision flag (a tag sequence). A joiner at either end, and tags
// after no flag, are still refused.
func TestPresenceTextsOfHumanWriting(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "dave")
		e.join("dave", "lobby")
		n := 0
		send := func(text string) string {
			b, _ := json.Marshal(text)
			var out []string
			for _, payload := range []string{`{"activity":` + string(b) + `}`, `{"location":{"page":` + string(b) + `}}`, `{"location":{"page":"p","section":` + string(b) + `}}`} {
				n++
				out = append(out, e.send("dave", fmt.Sprintf(`{"type":"presence","messageId":"p%d","payload":%s}`, n, payload)))
			}
			return strings.Join(out, "\n")
		}
		for _, text := range []string{
			"Coding \U0001F469\u200D\U0001F4BB",
			"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
			"\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F fans",
		} {
			if got := send(text); strings.Count(got, `"ack"`) != 3 {
				t.Errorf("%+q: %s; want three acks", text, got)
			}
		}
		for _, text := range []string{"Coding\u200D", "\u200Cx", "a\U000E0067\U000E007F"} {
			if got := send(text); strings.Count(got, `"BAD_REQUEST"`) != 3 {
				t.Errorf("%+q: %s; want three BAD_REQUEST", text, got)
			}
		}
	})
}
