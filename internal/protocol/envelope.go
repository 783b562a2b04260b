// Package protocol defines the JSON wire format spoken between browser clients
// and the backend: the envelope that wraps every frame, the request and event
// type names, the channel-name rules and the closed set of error codes that
// clients may rely on.
//
// Entry points: Decode parses and validates one client frame; Reply, Error
// and Event build server frames; Code lists the stable error codes.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/ident"
)

// MaxFrameBytes is the largest frame the server sends: API Gateway refuses
// a route response or a PostToConnection of more than 128 KB. Reply, Error
// and Event refuse to build a larger frame.
const MaxFrameBytes = 128 * 1024

// MaxClientFrameBytes is the largest frame a client may send: API Gateway
// closes the connection with 1009 when a client sends a frame of more than
// 32 KB. Decode refuses larger frames with FRAME_TOO_LARGE.
const MaxClientFrameBytes = 32 * 1024

// MaxMessageIDLen bounds the client-chosen messageId.
const MaxMessageIDLen = ident.MaxIDLen

// Envelope is one frame, in either direction. It mirrors the seed's
// WebSocketMessage with a ReplyTo field for replies.
//
// UserID is set by the server from the connection record; a value sent by a
// client is discarded by Decode.
type Envelope struct {
	Type      string          `json:"type"`
	Channel   string          `json:"channel,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	Timestamp string          `json:"timestamp"`
	UserID    string          `json:"userId,omitempty"`
	MessageID string          `json:"messageId"`
	ReplyTo   string          `json:"replyTo,omitempty"`

	// names is what Decode found of the payload's member names, for
	// CheckFieldNames.
	names payloadNames
}

// Request types a client may send.
const (
	TypePing           = "ping"
	TypeHello          = "hello"
	TypeSubscribe      = "subscribe"
	TypeUnsubscribe    = "unsubscribe"
	TypePublish        = "publish"
	TypePresence       = "presence"
	TypeRoomSnapshot   = "presence.snapshot"
	TypeRoomJoin       = "room.join"
	TypeRoomLeave      = "room.leave"
	TypeCursor         = "cursor"
	TypeLockAcquire    = "lock.acquire"
	TypeLockRenew      = "lock.renew"
	TypeLockRelease    = "lock.release"
	TypeChange         = "change"
	TypeSync           = "sync"
	TypeHistory        = "history"
	TypeConflictSolve  = "conflict.resolve"
	TypeUndo           = "undo"
	TypeCommentAdd     = "comment.add"
	TypeCommentResolve = "comment.resolve"
	TypeCommentList    = "comment.list"
	TypeActivity       = "activity"
	TypeActivityList   = "activity.list"
	TypeNotify         = "notify"
)

// Frame types the server sends.
const (
	// TypeAck is the successful reply to any request except ping.
	TypeAck = "ack"
	// TypePong is the reply to ping.
	TypePong = "pong"
	// TypeError is the failed reply to a request, or an unsolicited error.
	TypeError = "error"
	// TypeUpdate is a message published on a channel.
	TypeUpdate = "update"
	// Event frames pushed to subscribers.
	TypeEventPresence     = "presence"
	TypeEventCursor       = "cursor"
	TypeEventLock         = "lock"
	TypeEventChange       = "change"
	TypeEventConflict     = "conflict"
	TypeEventComment      = "comment"
	TypeEventActivity     = "activity"
	TypeEventNotification = "notification"
)

// ErrDecode is wrapped by every error Decode returns; errors.As with *Error
// yields the client-facing code.
var ErrDecode = errors.New("decode frame")

// Decode parses and validates one client frame. The returned envelope has
// UserID cleared (identity comes from the connection record) and a Type and
// MessageID that passed validation. A frame that is not valid JSON yields
// BAD_FRAME; a valid object with a bad field yields BAD_REQUEST,
// INVALID_CHANNEL or FRAME_TOO_LARGE. When the messageId could be read it is
// returned alongside the error so that the error reply can carry replyTo.
func Decode(data []byte) (Envelope, error) {
	var env Envelope
	trimmed, err := frameObject(data)
	if err != nil {
		return env, err
	}
	// One pass over the frame checks its syntax and the payload's bounds
	// and finds the members (scan.go).
	fs, ok := scanFrame(trimmed)
	if !ok {
		return env, NewError(CodeBadFrame, "frame is not valid JSON")
	}
	// messageId is taken first, leniently, so errors can still be
	// correlated.
	if mid, ok := stringValue(trimmed, fs.messageID); ok && validID(mid) {
		env.MessageID = mid
	}
	if fs.wrongType {
		return env, NewError(CodeBadRequest, "envelope fields have the wrong types")
	}
	typ, _ := stringValue(trimmed, fs.typ)
	if typ == "" {
		return env, NewError(CodeBadRequest, "missing field %q", "type")
	}
	if len(typ) > 64 {
		return env, NewError(CodeBadRequest, "field %q is too long", "type")
	}
	env.Type = typ
	mid, _ := stringValue(trimmed, fs.messageID)
	if mid == "" {
		return env, NewError(CodeBadRequest, "missing field %q", "messageId")
	}
	if !validID(mid) {
		return env, NewError(CodeBadRequest, "field %q must be 1..%d printable ASCII characters", "messageId", MaxMessageIDLen)
	}
	env.MessageID = mid
	if ch, _ := stringValue(trimmed, fs.channel); ch != "" {
		if err := ValidateChannel(ch); err != nil {
			return env, err
		}
		env.Channel = ch
	}
	if p := trimmed[fs.payload.start:fs.payload.end]; len(p) > 0 && string(p) != "null" {
		env.Payload = json.RawMessage(bytes.Clone(p))
		if fs.payloadErr != nil {
			return env, fs.payloadErr
		}
	}
	env.names = namesDistinct
	if env.Payload != nil && fs.payloadFolded {
		env.names = namesFolded
	}
	if ts, ok := stringValue(trimmed, fs.timestamp); ok && len(ts) <= 64 {
		env.Timestamp = ts
	}
	return env, nil
}

// frameObject applies the checks that come before parsing: the frame's
// size, its encoding, and that it holds an object. It returns the frame
// without surrounding white space.
func frameObject(data []byte) ([]byte, error) {
	if len(data) > MaxClientFrameBytes {
		return nil, NewError(CodeFrameTooLarge, "frame exceeds %d bytes", MaxClientFrameBytes)
	}
	if !utf8.Valid(data) {
		return nil, NewError(CodeBadFrame, "frame is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, NewError(CodeBadFrame, "frame must be a JSON object")
	}
	return trimmed, nil
}

func validID(s string) bool { return ident.Check(ident.MessageID, s) == nil }

// Now formats t as the envelope timestamp (RFC 3339 with milliseconds, UTC).
func Now(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Reply builds the successful reply to req. A ping is answered with pong,
// every other request with ack. A reply over MaxFrameBytes is not built:
// the error is a FRAME_TOO_LARGE *Error.
func Reply(req Envelope, payload any, now time.Time) ([]byte, error) {
	typ := TypeAck
	if req.Type == TypePing {
		typ = TypePong
	}
	return build(typ, req.Channel, payload, "", req.MessageID, "r-"+req.MessageID, now)
}

// ErrorReply builds the error reply to a request whose messageId is replyTo
// (empty when the frame was too broken to carry one).
func ErrorReply(replyTo string, e *Error, now time.Time) []byte {
	id := "e-" + replyTo
	if replyTo == "" {
		id = fmt.Sprintf("e-%d", now.UnixNano())
	}
	b, err := build(TypeError, "", e.Payload(), "", replyTo, id, now)
	if err != nil && len(e.Details) > 0 {
		// Details too large for a frame: the code and message still go.
		b, err = build(TypeError, "", (&Error{Code: e.Code, Message: e.Message}).Payload(), "", replyTo, id, now)
	}
	if err != nil { // cannot happen: Payload is plain strings and a bool
		return []byte(`{"type":"error","payload":{"code":"INTERNAL","message":"internal error","retryable":true}}`)
	}
	return b
}

// Event builds a server-pushed frame of type typ on channel, attributed to
// userID (empty for system events), with a server-chosen messageId. A frame
// over MaxFrameBytes is not built: the error is a FRAME_TOO_LARGE *Error,
// so that nothing is posted.
func Event(typ, channel, userID, messageID string, payload any, now time.Time) ([]byte, error) {
	return build(typ, channel, payload, userID, "", messageID, now)
}

// Marshal is json.Marshal without HTML escaping: the frames the server
// sends, and the replies it measures, write '<', '>' and '&' as they are
// rather than as six-byte escapes (json.Marshal escapes them also in a
// json.RawMessage it copies), so that a client's payload within the
// frame limits is not made up to six times larger on its way to the
// subscribers. U+2028 and U+2029 stay as they are too (valid JSON, which
// JSON.parse reads).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func build(typ, channel string, payload any, userID, replyTo, messageID string, now time.Time) ([]byte, error) {
	var raw json.RawMessage
	switch p := payload.(type) {
	case nil:
	case json.RawMessage:
		raw = p
	default:
		b, err := Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("marshal %s payload: %w", typ, err)
		}
		raw = b
	}
	b, err := Marshal(Envelope{
		Type: typ, Channel: channel, Payload: raw, Timestamp: Now(now),
		UserID: userID, MessageID: messageID, ReplyTo: replyTo,
	})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFrameBytes {
		return nil, NewError(CodeFrameTooLarge, "the %s frame would exceed %d bytes", typ, MaxFrameBytes)
	}
	return b, nil
}
