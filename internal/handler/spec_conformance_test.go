package handler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol/protocoltest"
	"github.com/omnisales/rtcollab/internal/ratelimit"
)

// specHandler connects an admin, "A=", to a handler on the memory store
// and returns the protocol document with the function that sends a frame
// from A= and returns the reply's body.
func specHandler(t *testing.T) (*protocoltest.Spec, func(body string) string) {
	t.Helper()
	s, err := protocoltest.Default()
	if err != nil {
		t.Fatal(err)
	}
	send := connectAll(t, handler.Config{
		RequestLimit: ratelimit.Config{Rate: 1e6, Burst: 1 << 20},
		CursorLimit:  ratelimit.Config{Rate: 1e6, Burst: 1 << 20},
	}, nil, map[string]map[string]string{"A=": {"userId": "alice", "tenant": "t", "role": "admin"}})
	return s, func(body string) string { return send("A=", body) }
}

// TestSyncSnapshotCarriesEmptyDocument checks that a snapshot of an entity
// whose document is empty (never changed, or every member deleted) holds
// "document": {}, as the protocol document requires of every snapshot,
// while a reply with changes leaves document out.
func TestSyncSnapshotCarriesEmptyDocument(t *testing.T) {
	s, send := specHandler(t)
	for _, f := range []string{
		`{"type":"change","messageId":"c1","payload":{"entityType":"note","entityId":"2","baseVersion":0,"operation":"update","path":"a","after":1}}`,
		`{"type":"change","messageId":"c2","payload":{"entityType":"note","entityId":"2","baseVersion":1,"operation":"delete","path":"a"}}`,
	} {
		var env struct{ Type string }
		if reply := send(f); json.Unmarshal([]byte(reply), &env) != nil || env.Type != "ack" {
			t.Fatalf("%s: %s", f, reply)
		}
	}
	tests := []struct {
		name, frame string
		snapshot    bool
	}{
		{"entity never changed", `{"type":"sync","messageId":"s1","payload":{"entityType":"note","entityId":"never"}}`, true},
		{"every member deleted", `{"type":"sync","messageId":"s2","payload":{"entityType":"note","entityId":"2"}}`, true},
		{"changes since a version", `{"type":"sync","messageId":"s3","payload":{"entityType":"note","entityId":"2","sinceVersion":1}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := send(tt.frame)
			var env struct {
				Type    string
				Payload map[string]json.RawMessage
			}
			if err := json.Unmarshal([]byte(reply), &env); err != nil || env.Type != "ack" {
				t.Fatalf("reply %s (%v)", reply, err)
			}
			doc, ok := env.Payload["document"]
			switch {
			case tt.snapshot && (!ok || string(doc) != "{}"):
				t.Errorf("snapshot reply has document %q (present %v), want {}: %s", doc, ok, reply)
			case !tt.snapshot && ok:
				t.Errorf("reply with changes has document %s, want none: %s", doc, reply)
			}
			if err := s.Reply("sync", []byte(reply)); err != nil {
				t.Error(err)
			}
		})
	}
}

// conformanceCases are frames near the edges of what the server accepts:
// each is refused by the server as malformed (BAD_REQUEST) exactly when
// refused is set, and docs/asyncapi.yaml must say the same of it.
var conformanceCases = []struct {
	name, frame string
	refused     bool
}{
	// Presence texts that others see hold no control, format or other
	// invisible character.
	{"presence activity", `{"type":"presence","payload":{"activity":"editing ✍️ ใบสั่งซื้อ"}}`, false},
	{"presence activity with an emoji ZWJ sequence", `{"type":"presence","payload":{"activity":"Coding \ud83d\udc69\u200d\ud83d\udcbb"}}`, false},
	{"presence page in Persian with a ZWNJ", `{"type":"presence","payload":{"location":{"page":"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"}}}`, false},
	{"presence section with a subdivision flag", `{"type":"presence","payload":{"location":{"page":"p","section":"\ud83c\udff4\udb40\udc67\udb40\udc62\udb40\udc73\udb40\udc63\udb40\udc74\udb40\udc7f fans"}}}`, false},
	{"presence activity with a zero-width space", `{"type":"presence","payload":{"activity":"a\u200bb"}}`, true},
	{"presence activity with a bidirectional override", `{"type":"presence","payload":{"activity":"a\u202eb"}}`, true},
	{"presence page with NUL", `{"type":"presence","payload":{"location":{"page":"p\u0000"}}}`, true},
	{"presence section with a line separator", `{"type":"presence","payload":{"location":{"page":"p","section":"a\u2028b"}}}`, true},
	{"presence currentLocation page with a tab", `{"type":"presence","payload":{"currentLocation":{"page":"a\tb"}}}`, true},
	{"presence avatar with a private-use character", `{"type":"presence","payload":{"avatar":"https://example.com/\ue000.png"}}`, true},
	// So is a cursor anchor's elementId, relayed to the room as sent.
	{"cursor anchor of visible text", `{"type":"cursor","payload":{"room":"dash","anchor":{"elementId":"cell \ud83d\udc69\u200d\ud83d\udcbb"}}}`, false},
	{"cursor anchor with a bidirectional override", `{"type":"cursor","payload":{"room":"dash","anchor":{"elementId":"a\u202eb"}}}`, true},
	{"cursor anchor with NUL and x, y", `{"type":"cursor","payload":{"room":"dash","x":1,"y":2,"anchor":{"elementId":"a\u0000"}}}`, true},
	// Room names.
	{"room.join", `{"type":"room.join","payload":{"room":"dash-1.a_b"}}`, false},
	{"room.join with the room: prefix", `{"type":"room.join","payload":{"room":"room:dash"}}`, false},
	{"room.join of 100 characters", `{"type":"room.join","payload":{"room":"room:` + strings.Repeat("r", 100) + `"}}`, false},
	{"room.join of 101 characters", `{"type":"room.join","payload":{"room":"` + strings.Repeat("r", 101) + `"}}`, true},
	{"room.join with a space", `{"type":"room.join","payload":{"room":"my room"}}`, true},
	{"room.join of room: alone", `{"type":"room.join","payload":{"room":"room:"}}`, true},
	{"room.join with the prefix twice", `{"type":"room.join","payload":{"room":"room:room:dash"}}`, true},
	{"room.join of an entity channel", `{"type":"room.join","payload":{"room":"order:1"}}`, true},
	{"presence with room: alone", `{"type":"presence","payload":{"room":"room:"}}`, true},
	{"presence with a room with a space", `{"type":"presence","payload":{"room":"my room"}}`, true},
	{"presence.snapshot of a room with a slash", `{"type":"presence.snapshot","payload":{"room":"a/b"}}`, true},
	{"room.leave of room: alone", `{"type":"room.leave","payload":{"room":"room:"}}`, true},
	{"cursor in a room with a colon", `{"type":"cursor","payload":{"room":"a:b","x":1,"y":2}}`, true},
	// An entity's type and id together are at most 127 characters.
	{"sync of type 64 and id 63", `{"type":"sync","payload":{"entityType":"` + name64 + `","entityId":"` + name64[1:] + `"}}`, false},
	{"sync of type 63 and id 64", `{"type":"sync","payload":{"entityType":"` + name64[1:] + `","entityId":"` + name64 + `"}}`, false},
	{"sync of type 64 and id 64", `{"type":"sync","payload":{"entityType":"` + name64 + `","entityId":"` + name64 + `"}}`, true},
	{"lock.acquire of type 64 and id 64", `{"type":"lock.acquire","payload":{"entityType":"` + name64 + `","entityId":"` + name64 + `"}}`, true},
	{"comment.add of type 64 and id 64", `{"type":"comment.add","payload":{"entityType":"` + name64 + `","entityId":"` + name64 + `","text":"x"}}`, true},
	{"undo of a change of type 64 and id 64", `{"type":"undo","payload":{"changeId":"` + name64 + `:` + name64 + `:1"}}`, true},
	{"undo of type 64 and id 64", `{"type":"undo","payload":{"entityType":"` + name64 + `","entityId":"` + name64 + `","version":1}}`, true},
	{"activity of type 64 and id 64", `{"type":"activity","payload":{"entityType":"` + name64 + `","entityId":"` + name64 + `"}}`, true},
	{"activity of an entity of type 64 and id 64", `{"type":"activity","payload":{"entity":{"type":"` + name64 + `","id":"` + name64 + `"}}}`, true},
	// The version of a changeId is an int64.
	{"undo of the largest version", `{"type":"undo","payload":{"changeId":"note:n:9223372036854775807"}}`, false},
	{"undo of a version past int64", `{"type":"undo","payload":{"changeId":"note:n:9223372036854775808"}}`, true},
	{"undo of a version of 20 digits", `{"type":"undo","payload":{"changeId":"note:n:10000000000000000000"}}`, true},
	{"undo of version 0", `{"type":"undo","payload":{"entityType":"note","entityId":"n","version":0}}`, true},
	{"undo of a changeId with version 0 beside it", `{"type":"undo","payload":{"changeId":"note:n:1","version":0}}`, false},
	// history: an entity's (without a channel) or a channel's.
	{"history before 0", `{"type":"history","payload":{"entityType":"note","entityId":"n","before":0}}`, false},
	{"history before -5", `{"type":"history","payload":{"entityType":"note","entityId":"n","before":-5}}`, true},
	{"history of a channel", `{"type":"history","channel":"order-updates","payload":{}}`, false},
	{"history of a channel without payload", `{"type":"history","channel":"order-updates"}`, false},
	{"history without channel or entity", `{"type":"history","payload":{}}`, true},
	{"history without channel or payload", `{"type":"history"}`, true},
	{"history since without channel", `{"type":"history","payload":{"since":{"offset":0,"epoch":"e"}}}`, true},
	// notify needs a title or a body that is not empty.
	{"notify with a body", `{"type":"notify","payload":{"title":"","body":"b"}}`, false},
	{"notify with text as body", `{"type":"notify","payload":{"body":"","text":"t"}}`, false},
	{"notify with an empty title", `{"type":"notify","payload":{"title":""}}`, true},
	{"notify with empty title, body and text", `{"type":"notify","payload":{"title":"","body":"","text":""}}`, true},
	// activity names its entity, by entity or by entityType and entityId.
	{"activity of an entity", `{"type":"activity","payload":{"entity":{"type":"order","id":"1","name":"O"}}}`, false},
	{"activity of entityType and entityId", `{"type":"activity","payload":{"entityType":"order","entityId":"1"}}`, false},
	{"activity without entity", `{"type":"activity","payload":{}}`, true},
	{"activity of an empty entity", `{"type":"activity","payload":{"entity":{},"entityType":"order","entityId":"1"}}`, true},
	{"activity of an entity without id", `{"type":"activity","payload":{"entity":{"type":"order"},"entityType":"order","entityId":"1"}}`, true},
	// Cursors are at most 1,024 characters.
	{"activity.list with a cursor of 1,025", `{"type":"activity.list","payload":{"cursor":"` + strings.Repeat("A", 1025) + `"}}`, true},
	{"presence.snapshot with a cursor of 1,025", `{"type":"presence.snapshot","payload":{"cursor":"` + strings.Repeat("A", 1025) + `"}}`, true},
	{"comment.list with a cursor of 1,025", `{"type":"comment.list","payload":{"entityType":"order","entityId":"1","cursor":"` + strings.Repeat("A", 1025) + `"}}`, true},
	{"sync with a conflictsCursor of 1,025", `{"type":"sync","payload":{"entityType":"order","entityId":"1","conflictsCursor":"` + strings.Repeat("A", 1025) + `"}}`, true},
}

// name64 is an entity type or id of the most characters.
var name64 = strings.Repeat("n", 64)

// TestSpecRefusesWhatTheServerRefuses sends conformanceCases to a handler
// and checks the reply and docs/asyncapi.yaml against each case.
func TestSpecRefusesWhatTheServerRefuses(t *testing.T) {
	s, send := specHandler(t)
	for i, tt := range conformanceCases {
		t.Run(tt.name, func(t *testing.T) {
			frame := strings.Replace(tt.frame, "{", fmt.Sprintf(`{"messageId":"k%d",`, i), 1)
			specErr := s.Request([]byte(frame))
			reply := send(frame)
			var env struct {
				Type    string
				Payload struct{ Code string }
			}
			if err := json.Unmarshal([]byte(reply), &env); err != nil {
				t.Fatal(err)
			}
			if tt.refused {
				if env.Type != "error" || env.Payload.Code != "BAD_REQUEST" {
					t.Errorf("server: %s, want BAD_REQUEST", reply)
				}
				if specErr == nil {
					t.Errorf("docs/asyncapi.yaml accepts the frame, which the server refuses: %s", reply)
				}
				return
			}
			if env.Payload.Code == "BAD_REQUEST" {
				t.Errorf("server refuses %s: %s", frame, reply)
			}
			if specErr != nil {
				t.Errorf("the server accepts a frame docs/asyncapi.yaml refuses: %v", specErr)
			}
			if err := s.Reply(strings.Split(strings.Split(frame, `"type":"`)[1], `"`)[0], []byte(reply)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestIntegersWithFractionOrExponentRefused pins what PROTOCOL.md
// ("Frames") and docs/asyncapi.yaml state: an integer field written with a
// fraction or an exponent is refused with BAD_REQUEST although its value
// is an integer. A JSON Schema cannot tell 30000.0 from 30000, so the
// document accepts these frames; the same frames with plain integers are
// not refused as malformed.
func TestIntegersWithFractionOrExponentRefused(t *testing.T) {
	s, send := specHandler(t)
	for i, f := range []string{
		`{"type":"lock.acquire","payload":{"entityType":"order","entityId":"1","ttl":N}}`,
		`{"type":"sync","payload":{"entityType":"note","entityId":"1","limit":N}}`,
		`{"type":"comment.list","payload":{"entityType":"note","entityId":"1","limit":N}}`,
		`{"type":"presence.snapshot","payload":{"limit":N}}`,
		`{"type":"activity.list","payload":{"limit":N}}`,
		`{"type":"subscribe","channel":"order-updates","payload":{"since":{"offset":N,"epoch":"e"}}}`,
		`{"type":"change","payload":{"entityType":"note","entityId":"2","baseVersion":N,"operation":"update","path":"a","after":1}}`,
	} {
		for j, n := range []string{"10", "10.0", "1e1", "1E+1", "10.00e0"} {
			frame := fmt.Sprintf(`{"messageId":"n%d-%d",`, i, j) + strings.Replace(f, "N", n, 1)[1:]
			if err := s.Request([]byte(frame)); err != nil {
				t.Errorf("docs/asyncapi.yaml refuses %s: %v", frame, err)
			}
			reply := send(frame)
			if refused := strings.Contains(reply, `"code":"BAD_REQUEST"`); refused != (n != "10") {
				t.Errorf("%s: %s, BAD_REQUEST %v", frame, reply, n != "10")
			}
		}
	}
}
