package protocol

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecode feeds arbitrary frames to Decode and CheckPayload. Neither may
// panic; Decode either returns an envelope that satisfies its documented
// guarantees or a client-facing *Error with a listed code, and the error
// reply built from it is a valid error frame. The seed corpus lives in
// testdata/fuzz/FuzzDecode; `make fuzz-long` explores further.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping","messageId":"m1"}`,
		`{"type":"publish","channel":"order:1","payload":{"a":[1,2,{"b":null}]},"messageId":"m2","timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"publish","channel":"x","payload":1e400,"messageId":"m3"}`,
		`{"type":"subscribe","channel":"a#b","messageId":"m4"}`,
		"{\"type\":\"ping\",\"messageId\":\"\xff\xfe\"}",
		`{"type":` + strings.Repeat("[", 200) + `}`,
		`{"type":1,"messageId":2,"channel":3,"payload":4}`,
	} {
		f.Add([]byte(s))
	}
	codes := Codes()
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Decode(data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Decode error %v is not a client error", err)
			}
			if !slices.Contains(codes, pe.Code) {
				t.Fatalf("Decode error code %q is not listed in Codes", pe.Code)
			}
			if env.MessageID != "" && !validID(env.MessageID) {
				t.Fatalf("error carries invalid messageId %q", env.MessageID)
			}
			checkErrorFrame(t, ErrorReply(env.MessageID, pe, time.Unix(0, 0)), env.MessageID, pe.Code)
			return
		}
		if env.Type == "" || len(env.Type) > 64 {
			t.Fatalf("accepted type %q", env.Type)
		}
		if !validID(env.MessageID) {
			t.Fatalf("accepted messageId %q", env.MessageID)
		}
		if env.Channel != "" && ValidateChannel(env.Channel) != nil {
			t.Fatalf("accepted channel %q", env.Channel)
		}
		if env.UserID != "" {
			t.Fatalf("client userId %q survived Decode", env.UserID)
		}
		if len(env.Payload) > 0 && !json.Valid(env.Payload) {
			t.Fatalf("payload %q is not valid JSON", env.Payload)
		}
		if err := CheckPayload(env.Payload); err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
				t.Fatalf("CheckPayload error %v is not BAD_REQUEST", err)
			}
		}
		out, err := Reply(env, env.Payload, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("Reply: %v", err)
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("reply %q is not valid JSON", out)
		}
	})
}

// checkErrorFrame asserts b is an error frame with code, replying to
// replyTo.
func checkErrorFrame(t *testing.T, b []byte, replyTo string, code Code) {
	t.Helper()
	var f struct {
		Type    string `json:"type"`
		ReplyTo string `json:"replyTo"`
		Payload struct {
			Code      Code   `json:"code"`
			Message   string `json:"message"`
			Retryable *bool  `json:"retryable"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("error frame %q: %v", b, err)
	}
	if f.Type != TypeError || f.ReplyTo != replyTo || f.Payload.Code != code || f.Payload.Message == "" ||
		f.Payload.Retryable == nil || *f.Payload.Retryable != code.Retryable() {
		t.Fatalf("error frame %s, want code %s replying to %q", b, code, replyTo)
	}
}
