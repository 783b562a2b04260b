package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		code    Code // "" means success
		replyTo string
	}{
		{"ping", `{"type":"ping","messageId":"m1"}`, "", "m1"},
		{"publish", `{"type":"publish","channel":"order-updates","payload":{"a":1},"messageId":"m2"}`, "", "m2"},
		{"entity channel", `{"type":"subscribe","channel":"order:123","messageId":"m3"}`, "", "m3"},
		{"not json", `hello`, CodeBadFrame, ""},
		{"array", `[1,2]`, CodeBadFrame, ""},
		{"broken json", `{"type":"ping",`, CodeBadFrame, ""},
		{"trailing", `{"type":"ping","messageId":"m"} {}`, CodeBadFrame, ""},
		{"missing type", `{"messageId":"m4"}`, CodeBadRequest, "m4"},
		{"type wrong kind", `{"type":5,"messageId":"m5"}`, CodeBadRequest, "m5"},
		{"missing messageId", `{"type":"ping"}`, CodeBadRequest, ""},
		{"messageId with space", `{"type":"ping","messageId":"a b"}`, CodeBadRequest, ""},
		{"channel with hash", `{"type":"subscribe","channel":"a#b","messageId":"m6"}`, CodeInvalidChannel, "m6"},
		{"channel too long", `{"type":"subscribe","channel":"` + strings.Repeat("a", 200) + `","messageId":"m7"}`, CodeInvalidChannel, "m7"},
		{"two colons", `{"type":"subscribe","channel":"a:b:c","messageId":"m8"}`, CodeInvalidChannel, "m8"},
		{"invalid utf8", "{\"type\":\"ping\",\"messageId\":\"\xff\"}", CodeBadFrame, ""},
		{"too large", `{"type":"publish","messageId":"m9","payload":"` + strings.Repeat("x", MaxFrameBytes) + `"}`, CodeFrameTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Decode([]byte(tt.in))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
			} else {
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != tt.code {
					t.Fatalf("Decode error = %v, want code %s", err, tt.code)
				}
				if !errors.Is(err, ErrDecode) {
					t.Errorf("error does not wrap ErrDecode")
				}
			}
			if env.MessageID != tt.replyTo {
				t.Errorf("MessageID = %q, want %q", env.MessageID, tt.replyTo)
			}
		})
	}
}

func TestDecodeDropsClientUserID(t *testing.T) {
	env, err := Decode([]byte(`{"type":"publish","channel":"order-updates","userId":"admin","messageId":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	if env.UserID != "" {
		t.Fatalf("UserID = %q, want it discarded", env.UserID)
	}
}

func TestReplyShapes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	b, err := Reply(Envelope{Type: TypePing, MessageID: "p1"}, map[string]any{}, now)
	if err != nil {
		t.Fatal(err)
	}
	var got Envelope
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != TypePong || got.ReplyTo != "p1" || got.Timestamp != "2026-01-02T03:04:05.006Z" {
		t.Fatalf("pong = %s", b)
	}
	e := ErrorReply("x1", NewError(CodeLockHeld, "held by %q", "u2"), now)
	var ge struct {
		Type    string `json:"type"`
		ReplyTo string `json:"replyTo"`
		Payload struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Retryable bool   `json:"retryable"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(e, &ge); err != nil {
		t.Fatal(err)
	}
	if ge.Type != "error" || ge.ReplyTo != "x1" || ge.Payload.Code != "LOCK_HELD" || !ge.Payload.Retryable {
		t.Fatalf("error frame = %s", e)
	}
}

func TestCodesAreUnique(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Fatalf("duplicate code %s", c)
		}
		seen[c] = true
	}
}

// TestFramesKeepMarkup: the frames the server builds write '<', '>' and
// '&' of a payload as they are, not as six-byte escapes: a client's
// publish of 22,000 such characters (within the 32 KB client frame) is
// broadcast in a frame of about that size, where escaping made it 132 KB,
// past MaxFrameBytes, and refused.
func TestFramesKeepMarkup(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	markup := strings.Repeat("<&>", 22_000/3)
	payload := json.RawMessage(`{"html":"` + markup + `"}`)
	for name, build := range map[string]func() ([]byte, error){
		"Event": func() ([]byte, error) { return Event(TypeUpdate, "order-updates", "u1", "m1", payload, now) },
		"UpdateEvent": func() ([]byte, error) {
			return UpdateEvent("order-updates", "u1", "m1", payload, now, Position{Offset: 1, Epoch: "e"})
		},
		"Event of a struct": func() ([]byte, error) {
			return Event(TypeUpdate, "order-updates", "u1", "m1", map[string]string{"html": markup}, now)
		},
	} {
		b, err := build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Contains(b, []byte(markup)) || len(b) > len(markup)+512 {
			t.Errorf("%s: frame of %d bytes for %d bytes of markup, escaped: %.80s", name, len(b), len(markup), b)
		}
		var back struct {
			Payload struct{ HTML string } `json:"payload"`
		}
		if err := json.Unmarshal(b, &back); err != nil || back.Payload.HTML != markup {
			t.Errorf("%s: frame does not read back: %v", name, err)
		}
	}
	// The bounds measured with JSONSize count them escaped: never less
	// than a frame writes.
	if n, err := JSONSize(map[string]string{"s": "<>"}); err != nil || n < len(`{"s":"<>"}`) {
		t.Errorf("JSONSize = %d, %v; want at least %d", n, err, len(`{"s":"<>"}`))
	}
}
