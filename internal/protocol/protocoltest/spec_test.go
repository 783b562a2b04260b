package protocoltest

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/protocol"
)

func spec(t *testing.T) *Spec {
	t.Helper()
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// example is one fenced JSON block of docs/PROTOCOL.md.
type example struct {
	line int    // where the block starts
	kind string // request, reply or event
	json []byte
}

// examples reads the ```json blocks of docs/PROTOCOL.md. Every block must
// say which way it goes (```json request, reply or event), so none is
// skipped silently.
func examples(t *testing.T) []example {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out []example
		cur *example
		buf strings.Builder
		n   int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```json"):
			kind := strings.TrimSpace(strings.TrimPrefix(line, "```json"))
			if !slices.Contains([]string{"request", "reply", "event"}, kind) {
				t.Fatalf("PROTOCOL.md:%d: a json example must be marked request, reply or event, not %q", n, kind)
			}
			cur = &example{line: n, kind: kind}
			buf.Reset()
		case cur != nil && strings.HasPrefix(line, "```"):
			cur.json = []byte(buf.String())
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("PROTOCOL.md:%d: unterminated example", cur.line)
	}
	return out
}

// TestProtocolExamples checks every example of docs/PROTOCOL.md against
// docs/asyncapi.yaml, replies against the request they answer, and that
// every request, reply and event type has an example.
func TestProtocolExamples(t *testing.T) {
	s := spec(t)
	conv := s.NewConversation()
	seenReq, seenReply, seenEvent := map[string]bool{}, map[string]bool{}, map[string]bool{}
	sent := map[string]string{}
	for _, ex := range examples(t) {
		var h struct {
			Type      string `json:"type"`
			MessageID string `json:"messageId"`
			ReplyTo   string `json:"replyTo"`
		}
		if err := json.Unmarshal(ex.json, &h); err != nil {
			t.Errorf("PROTOCOL.md:%d: not JSON: %v", ex.line, err)
			continue
		}
		var err error
		switch ex.kind {
		case "request":
			err = conv.Sent(ex.json)
			seenReq[h.Type] = true
			sent[h.MessageID] = h.Type
		case "reply":
			if h.ReplyTo == "" {
				t.Errorf("PROTOCOL.md:%d: a reply example needs replyTo", ex.line)
				continue
			}
			if _, ok := sent[h.ReplyTo]; !ok {
				t.Errorf("PROTOCOL.md:%d: reply to %q, which no request example above sends", ex.line, h.ReplyTo)
				continue
			}
			err = conv.Received(ex.json)
			if h.Type != "error" {
				seenReply[sent[h.ReplyTo]] = true
			}
		case "event":
			err = s.Event(ex.json)
			seenEvent[h.Type] = true
		}
		if err != nil {
			t.Errorf("PROTOCOL.md:%d: %v", ex.line, err)
		}
	}
	for _, typ := range s.RequestTypes() {
		if !seenReq[typ] {
			t.Errorf("PROTOCOL.md has no request example of %q", typ)
		}
		if !seenReply[typ] {
			t.Errorf("PROTOCOL.md has no ack example of %q", typ)
		}
	}
	for _, typ := range append(s.EventTypes(), "error", "") {
		if !seenEvent[typ] {
			t.Errorf("PROTOCOL.md has no event example of type %q", typ)
		}
	}
}

// TestMutatedFramesFail checks that the schemas refuse frames that break
// the protocol, and that the error names the failing field.
func TestMutatedFramesFail(t *testing.T) {
	s := spec(t)
	const lock = `{"entityType":"order","entityId":"1","lockedBy":"u1","lockedAt":"2026-01-01T00:00:00.000Z","expiresAt":"2026-01-01T00:00:30.000Z","fencingToken":3,"renewable":true}`
	ack := func(p string) string {
		return `{"type":"ack","replyTo":"m","messageId":"r-m","timestamp":"2026-01-01T00:00:00.000Z","payload":` + p + `}`
	}
	tests := []struct {
		name, dir, reqType, frame, want string
	}{
		{"baseVersion as a string", "request", "",
			`{"type":"change","messageId":"m","payload":{"entityType":"order","entityId":"1","baseVersion":"3","operation":"delete","path":"a"}}`, "/payload/baseVersion"},
		{"move without to", "request", "",
			`{"type":"change","messageId":"m","payload":{"entityType":"order","entityId":"1","baseVersion":3,"operation":"move","path":"a","from":1}}`, "'to'"},
		{"text component with two members", "request", "",
			`{"type":"change","messageId":"m","payload":{"entityType":"order","entityId":"1","baseVersion":3,"operation":"text","path":"a","text":[{"retain":1,"insert":"x"}]}}`, "/payload/text/0"},
		{"unknown operation", "request", "",
			`{"type":"change","messageId":"m","payload":{"entityType":"order","entityId":"1","baseVersion":3,"operation":"replace","path":"a"}}`, "/payload/operation"},
		{"negative ttl", "request", "",
			`{"type":"lock.acquire","messageId":"m","payload":{"entityType":"order","entityId":"1","ttl":-1}}`, "/payload/ttl"},
		{"entity id with a colon", "request", "",
			`{"type":"sync","messageId":"m","payload":{"entityType":"order","entityId":"a:b"}}`, "/payload/entityId"},
		{"messageId with a space", "request", "", `{"type":"ping","messageId":"a b"}`, "/messageId"},
		{"subscribe without channel", "request", "", `{"type":"subscribe","messageId":"m"}`, "'channel'"},
		{"unknown request field", "request", "",
			`{"type":"comment.add","messageId":"m","payload":{"entityType":"order","entityId":"1","text":"hi","author":"x"}}`, "author"},
		{"sync with a cursor, which the server never reads", "request", "",
			`{"type":"sync","messageId":"m","payload":{"entityType":"order","entityId":"1","cursor":"x"}}`, "cursor"},
		{"history with a cursor, which the server never reads", "request", "",
			`{"type":"history","messageId":"m","payload":{"entityType":"order","entityId":"1","cursor":"x"}}`, "cursor"},
		{"sync ack with nextCursor, which the server never sends", "reply", "sync",
			ack(`{"entityType":"order","entityId":"1","strategy":"lock-based","version":3,"snapshot":false,"changes":[],"hasMore":false,"nextSinceVersion":3,"nextCursor":"x","conflicts":[],"lock":null,"historyLimit":100}`), "nextCursor"},
		{"history ack with nextCursor, which the server never sends", "reply", "history",
			ack(`{"entityType":"order","entityId":"1","version":3,"changes":[],"hasMore":false,"nextCursor":"x","historyLimit":100}`), "nextCursor"},
		{"ack with unknown outcome", "reply", "change",
			ack(`{"entityType":"order","entityId":"1","outcome":"ok","applied":false,"version":3}`), "/payload/outcome"},
		{"lock ack without fencing token", "reply", "lock.acquire",
			ack(`{"renewed":false,"lock":{"entityType":"order","entityId":"1","lockedBy":"u1","lockedAt":"2026-01-01T00:00:00.000Z","expiresAt":"2026-01-01T00:00:30.000Z","renewable":true}}`), "'fencingToken'"},
		{"sync ack without lock", "reply", "sync",
			ack(`{"entityType":"order","entityId":"1","strategy":"lock-based","version":0,"snapshot":true,"document":{},"changes":[],"hasMore":false,"nextSinceVersion":0,"conflicts":[],"historyLimit":100}`), "'lock'"},
		{"sync snapshot without document", "reply", "sync",
			ack(`{"entityType":"order","entityId":"1","strategy":"lock-based","version":0,"snapshot":true,"changes":[],"hasMore":false,"nextSinceVersion":0,"conflicts":[],"lock":null,"historyLimit":100}`), "'document'"},
		{"reply with the wrong ack", "reply", "lock.renew", ack(`{"channel":"x"}`), "/payload"},
		{"error with unknown code", "reply", "ping",
			`{"type":"error","replyTo":"m","messageId":"e-m","timestamp":"2026-01-01T00:00:00.000Z","payload":{"code":"OOPS","message":"x","retryable":false}}`, "/payload/code"},
		{"error with an unknown reason", "reply", "ping",
			`{"type":"error","replyTo":"m","messageId":"e-m","timestamp":"2026-01-01T00:00:00.000Z","payload":{"code":"UNAUTHORIZED","message":"x","retryable":false,"details":{"reason":"EXPIRED"}}}`, "/payload/details/reason"},
		{"server time without milliseconds", "reply", "unsubscribe",
			`{"type":"ack","replyTo":"m","messageId":"r-m","timestamp":"2026-01-01T00:00:00Z","payload":{"channel":"a","wasSubscribed":true}}`, "/timestamp"},
		{"change event op with a value on delete", "event", "",
			`{"type":"change","channel":"order:1","messageId":"chg-order:1:2","timestamp":"2026-01-01T00:00:00.000Z","payload":{"id":"order:1:2","entityType":"order","entityId":"1","userId":"u1","operation":"delete","path":"a","before":1,"after":null,"op":{"op":"delete","path":"a","value":1},"timestamp":"2026-01-01T00:00:00.000Z","resolved":true,"version":2,"baseVersion":1,"strategy":"lock-based"}}`, "/payload/op"},
		{"lock event with unknown action", "event", "",
			`{"type":"lock","channel":"edit-locks","messageId":"x","timestamp":"2026-01-01T00:00:00.000Z","payload":{"action":"stolen","entityType":"order","entityId":"1","lock":` + lock + `}}`, "/payload/action"},
		{"event without channel", "event", "",
			`{"type":"update","messageId":"x","timestamp":"2026-01-01T00:00:00.000Z","payload":1}`, "'channel'"},
		{"unknown event type", "event", "", `{"type":"gossip","channel":"a","messageId":"x","timestamp":"2026-01-01T00:00:00.000Z"}`, "not in the protocol document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			switch tt.dir {
			case "request":
				err = s.Request([]byte(tt.frame))
			case "reply":
				err = s.Reply(tt.reqType, []byte(tt.frame))
			case "event":
				err = s.Event([]byte(tt.frame))
			}
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FrameError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error does not name %s:\n%v", tt.want, err)
			}
		})
	}
}

// TestErrorCodes checks that the document allows every code the server
// can send, and that error frames built by the server match it.
func TestErrorCodes(t *testing.T) {
	s := spec(t)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, c := range protocol.Codes() {
		if !slices.Contains(s.ErrorCodes(), string(c)) {
			t.Errorf("code %s is missing from ErrorCode in docs/asyncapi.yaml", c)
		}
		frame := protocol.ErrorReply("m-1", protocol.NewError(c, "message"), now)
		if err := s.Reply("ping", frame); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	if err := s.Event(protocol.ErrorReply("", protocol.NewError(protocol.CodeBadFrame, "frame is not valid JSON"), now)); err != nil {
		t.Errorf("error without replyTo: %v", err)
	}
}

// TestRequestTypes checks that the document describes exactly the request
// types of internal/protocol.
func TestRequestTypes(t *testing.T) {
	want := []string{protocol.TypePing, protocol.TypeHello, protocol.TypeSubscribe, protocol.TypeUnsubscribe,
		protocol.TypePublish, protocol.TypePresence, protocol.TypeRoomSnapshot, protocol.TypeRoomJoin,
		protocol.TypeRoomLeave, protocol.TypeCursor, protocol.TypeLockAcquire, protocol.TypeLockRenew,
		protocol.TypeLockRelease, protocol.TypeChange, protocol.TypeSync, protocol.TypeHistory,
		protocol.TypeConflictSolve, protocol.TypeUndo, protocol.TypeCommentAdd, protocol.TypeCommentResolve,
		protocol.TypeCommentList, protocol.TypeActivity, protocol.TypeActivityList, protocol.TypeNotify}
	slices.Sort(want)
	if got := spec(t).RequestTypes(); !slices.Equal(got, want) {
		t.Fatalf("request types in docs/asyncapi.yaml:\n%v\nin internal/protocol:\n%v", got, want)
	}
	events := []string{protocol.TypeUpdate, protocol.TypeEventPresence, protocol.TypeEventCursor, protocol.TypeEventLock,
		protocol.TypeEventChange, protocol.TypeEventConflict, protocol.TypeEventComment, protocol.TypeEventActivity,
		protocol.TypeEventNotification}
	slices.Sort(events)
	if got := spec(t).EventTypes(); !slices.Equal(got, events) {
		t.Fatalf("event types in docs/asyncapi.yaml:\n%v\nin internal/protocol:\n%v", got, events)
	}
}

// TestServerBuiltFrames checks frames built by internal/protocol's own
// Reply and Event.
func TestServerBuiltFrames(t *testing.T) {
	s := spec(t)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pong, err := protocol.Reply(protocol.Envelope{Type: protocol.TypePing, MessageID: "p1"}, map[string]any{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reply("ping", pong); err != nil {
		t.Error(err)
	}
	sub, err := protocol.Reply(protocol.Envelope{Type: protocol.TypeSubscribe, Channel: "order:1", MessageID: "s1"},
		map[string]any{"channel": "order:1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reply("subscribe", sub); err != nil {
		t.Error(err)
	}
	upd, err := protocol.Event(protocol.TypeUpdate, "order-updates", "u1", "c-3", json.RawMessage(`{"a":[1,2]}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Event(upd); err != nil {
		t.Error(err)
	}
}

// TestConversationPairsReplies checks that a reply is held to the ack of
// its own request.
func TestConversationPairsReplies(t *testing.T) {
	c := spec(t).NewConversation()
	if err := c.Sent([]byte(`{"type":"unsubscribe","channel":"a","messageId":"u1"}`)); err != nil {
		t.Fatal(err)
	}
	subAck := `{"type":"ack","replyTo":"u1","messageId":"r-u1","timestamp":"2026-01-01T00:00:00.000Z","payload":{"channel":"a"}}`
	if err := c.Received([]byte(subAck)); err == nil {
		t.Fatal("a subscribe ack passed as the reply to unsubscribe")
	}
	unsubAck := `{"type":"ack","replyTo":"u1","messageId":"r-u1","timestamp":"2026-01-01T00:00:00.000Z","payload":{"channel":"a","wasSubscribed":false}}`
	if err := c.Received([]byte(unsubAck)); err != nil {
		t.Fatal(err)
	}
	if err := c.Sent([]byte(`{"type":"ping","messageId":"x y"}`)); err == nil {
		t.Fatal("a bad request passed")
	}
	c.SentUnchecked([]byte(`{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"1","ttl":-5}}`))
	lockErr := `{"type":"error","replyTo":"l1","messageId":"e-l1","timestamp":"2026-01-01T00:00:00.000Z","payload":{"code":"BAD_REQUEST","message":"ttl must be a positive number of milliseconds","retryable":false}}`
	if err := c.Received([]byte(lockErr)); err != nil {
		t.Fatalf("the error reply to an unchecked request: %v", err)
	}
	lockAck := `{"type":"ack","replyTo":"l1","messageId":"r-l1","timestamp":"2026-01-01T00:00:00.000Z","payload":{"channel":"a"}}`
	if err := c.Received([]byte(lockAck)); err == nil {
		t.Fatal("a subscribe ack passed as the reply to lock.acquire")
	}
	if errs := c.Errors(); len(errs) != 3 {
		t.Fatalf("Errors() = %v, want the 3 failures above", errs)
	}
}
