package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestClientFrameLimit(t *testing.T) {
	frame := func(n int) []byte {
		head, tail := `{"type":"publish","messageId":"m1","payload":"`, `"}`
		return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
	}
	var pe *Error
	if _, err := Decode(frame(MaxClientFrameBytes)); errors.As(err, &pe) && pe.Code == CodeFrameTooLarge {
		t.Errorf("a frame of exactly %d bytes: %v", MaxClientFrameBytes, err)
	}
	if _, err := Decode(frame(MaxClientFrameBytes + 1)); !errors.As(err, &pe) || pe.Code != CodeFrameTooLarge {
		t.Errorf("a frame of %d bytes: %v, want FRAME_TOO_LARGE", MaxClientFrameBytes+1, err)
	}
}

func TestServerFrameLimit(t *testing.T) {
	now := time.Unix(0, 0)
	// 120,000 bytes fit a frame with its envelope; 132,000 do not ('<' is
	// written as it is: TestFramesKeepMarkup).
	fits := json.RawMessage(`"` + strings.Repeat("<", 120000) + `"`)
	if b, err := Event(TypeUpdate, "c", "u", "m", fits, now); err != nil || len(b) > MaxFrameBytes {
		t.Fatalf("Event of %d bytes: %v", len(b), err)
	}
	over := json.RawMessage(`"` + strings.Repeat("<", 132000) + `"`)
	var pe *Error
	if _, err := Event(TypeUpdate, "c", "u", "m", over, now); !errors.As(err, &pe) || pe.Code != CodeFrameTooLarge {
		t.Errorf("Event over the limit: %v, want FRAME_TOO_LARGE", err)
	}
	if _, err := Reply(Envelope{Type: TypeSync, MessageID: "m"}, over, now); !errors.As(err, &pe) || pe.Code != CodeFrameTooLarge {
		t.Errorf("Reply over the limit: %v, want FRAME_TOO_LARGE", err)
	}
	// An error whose details do not fit still goes, without them.
	e := NewError(CodeConflictResolved, "resolved").WithDetails(map[string]any{"conflict": over})
	b := ErrorReply("m", e, now)
	var f struct {
		Payload struct {
			Code    string         `json:"code"`
			Details map[string]any `json:"details"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Payload.Code != string(CodeConflictResolved) || f.Payload.Details != nil || len(b) > MaxFrameBytes {
		t.Errorf("ErrorReply with oversized details = %.200s", b)
	}
}
