// Package protocoltest checks WebSocket frames against the protocol's
// AsyncAPI document, docs/asyncapi.yaml, so that tests fail when the server
// and the document drift apart. It is test support: no function binary
// imports it.
//
// Entry points: Default (or Load) returns the compiled Spec; Spec.Request,
// Spec.Reply and Spec.Event check one frame of a known direction;
// Spec.NewConversation returns a Conversation whose Sent and Received check
// every frame of one connection, pairing each reply with its request, and
// whose Errors collects the failures for a test's clean-up.
package protocoltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// docURL is the location the document is compiled under.
const docURL = "file:///docs/asyncapi.json"

// Spec holds the compiled schema of every frame of the protocol. It is
// safe for concurrent use.
type Spec struct {
	requests map[string]*jsonschema.Schema // by request type
	replies  map[string]*jsonschema.Schema // the ack or pong of a request type
	events   map[string]*jsonschema.Schema // by event type
	errFrame *jsonschema.Schema            // the error reply
	gateway  *jsonschema.Schema            // API Gateway's own error frame
	codes    []string
}

// FrameError is a frame that does not match its schema.
type FrameError struct {
	// Direction is "request", "reply" or "event".
	Direction string
	// Type is the frame's type; for a reply, the type of its request
	// when known.
	Type string
	// MessageID is the frame's messageId (replyTo for a reply).
	MessageID string
	// Err is the schema validation error, naming the failing field.
	Err error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("%s %q (messageId %q) does not match docs/asyncapi.yaml: %v", e.Direction, e.Type, e.MessageID, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// ErrUnknownType is wrapped by the error of a frame whose type the
// document does not list for its direction.
var ErrUnknownType = errors.New("type not in the protocol document")

var (
	defaultOnce sync.Once
	defaultSpec *Spec
	defaultErr  error
)

// Default loads docs/asyncapi.yaml of the module that contains the working
// directory (tests run in their package's directory), once per process.
func Default() (*Spec, error) {
	defaultOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			defaultErr = err
			return
		}
		defaultSpec, defaultErr = Load(filepath.Join(root, "docs", "asyncapi.yaml"))
	})
	return defaultSpec, defaultErr
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Load reads and compiles the AsyncAPI document at path. Every operation
// with action "receive" is a request: its message is the request frame and
// its reply's messages the ack (or pong) and error frames. Every operation
// with action "send" is an event. A message's frame type is the const of
// its payload's "type" property.
func Load(path string) (*Spec, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load protocol document: %w", err)
	}
	var y any
	if err := yaml.Unmarshal(src, &y); err != nil {
		return nil, fmt.Errorf("load protocol document %q: %w", path, err)
	}
	js, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("load protocol document %q: as JSON: %w", path, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("load protocol document %q: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // AsyncAPI schemas are a superset of draft 7
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("load protocol document %q: %w", path, err)
	}
	s := &Spec{requests: map[string]*jsonschema.Schema{}, replies: map[string]*jsonschema.Schema{}, events: map[string]*jsonschema.Schema{}}
	l := loader{doc: doc, c: c}
	ops, _ := l.object("#/operations")
	names := make([]string, 0, len(ops))
	for name := range ops {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := s.addOperation(&l, "#/operations/"+name); err != nil {
			return nil, fmt.Errorf("load protocol document %q: operation %s: %w", path, name, err)
		}
	}
	if s.errFrame == nil {
		return nil, fmt.Errorf("load protocol document %q: no error frame", path)
	}
	if enum, ok := l.value("#/components/schemas/ErrorCode/enum").([]any); ok {
		for _, c := range enum {
			if c, ok := c.(string); ok {
				s.codes = append(s.codes, c)
			}
		}
	}
	return s, nil
}

// addOperation adds the frames of one operation.
func (s *Spec) addOperation(l *loader, ptr string) error {
	op, ok := l.object(ptr)
	if !ok {
		return errors.New("not an object")
	}
	msgs, err := l.messages(ptr + "/messages")
	if err != nil {
		return err
	}
	switch op["action"] {
	case "send":
		for _, m := range msgs {
			switch m.typ {
			case "":
				s.gateway = m.schema
			case "error":
				s.errFrame = m.schema
			default:
				if _, dup := s.events[m.typ]; dup {
					return fmt.Errorf("event %q described twice", m.typ)
				}
				s.events[m.typ] = m.schema
			}
		}
	case "receive":
		if len(msgs) != 1 || msgs[0].typ == "" {
			return errors.New("a request operation names one message with a type")
		}
		req := msgs[0].typ
		if _, dup := s.requests[req]; dup {
			return fmt.Errorf("request %q described twice", req)
		}
		s.requests[req] = msgs[0].schema
		replies, err := l.messages(ptr + "/reply/messages")
		if err != nil {
			return err
		}
		for _, m := range replies {
			switch m.typ {
			case "error":
				s.errFrame = m.schema
			case "ack", "pong":
				s.replies[req] = m.schema
			default:
				return fmt.Errorf("reply of %q has type %q", req, m.typ)
			}
		}
		if s.replies[req] == nil {
			return fmt.Errorf("request %q has no ack or pong reply", req)
		}
	default:
		return fmt.Errorf("action %v", op["action"])
	}
	return nil
}

// loader resolves local references in the document and compiles message
// payloads.
type loader struct {
	doc any
	c   *jsonschema.Compiler
}

// message is one compiled message.
type message struct {
	typ    string // the const of payload.properties.type; "" when none
	schema *jsonschema.Schema
}

// value returns the value at a local reference "#/a/b", or nil.
func (l *loader) value(ref string) any {
	v := l.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// resolve follows $ref from ptr to the pointer of the value it names.
func (l *loader) resolve(ptr string) (string, error) {
	for range 10 {
		m, ok := l.value(ptr).(map[string]any)
		if !ok {
			return ptr, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return ptr, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return "", fmt.Errorf("reference %q is not local", ref)
		}
		ptr = ref
	}
	return "", fmt.Errorf("reference chain at %s is too long", ptr)
}

func (l *loader) object(ptr string) (map[string]any, bool) {
	p, err := l.resolve(ptr)
	if err != nil {
		return nil, false
	}
	m, ok := l.value(p).(map[string]any)
	return m, ok
}

// messages compiles the messages of the list at ptr.
func (l *loader) messages(ptr string) ([]message, error) {
	list, ok := l.value(ptr).([]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a list", ptr)
	}
	out := make([]message, 0, len(list))
	for i := range list {
		mp, err := l.resolve(fmt.Sprintf("%s/%d", ptr, i))
		if err != nil {
			return nil, err
		}
		pp, err := l.resolve(mp + "/payload")
		if err != nil {
			return nil, err
		}
		sch, err := l.c.Compile(docURL + pp)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", pp, err)
		}
		typ, _ := l.value(pp + "/properties/type/const").(string)
		out = append(out, message{typ: typ, schema: sch})
	}
	return out, nil
}

// header is the part of a frame that picks its schema.
type header struct {
	Type      *string `json:"type"`
	MessageID string  `json:"messageId"`
	ReplyTo   string  `json:"replyTo"`
}

// parse decodes frame for validation and reads its header.
func parse(frame []byte) (any, header, error) {
	var h header
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
	if err != nil {
		return nil, h, fmt.Errorf("frame is not one JSON value: %w", err)
	}
	if _, ok := inst.(map[string]any); !ok {
		return nil, h, errors.New("frame is not a JSON object")
	}
	_ = json.Unmarshal(frame, &h) // fields of the wrong type are the schema's to report
	return inst, h, nil
}

func typeOf(h header) string {
	if h.Type == nil {
		return ""
	}
	return *h.Type
}

// Request checks a frame a client sends.
func (s *Spec) Request(frame []byte) error {
	inst, h, err := parse(frame)
	if err != nil {
		return &FrameError{Direction: "request", Err: err}
	}
	typ := typeOf(h)
	sch, ok := s.requests[typ]
	if !ok {
		return &FrameError{Direction: "request", Type: typ, MessageID: h.MessageID, Err: ErrUnknownType}
	}
	if err := sch.Validate(inst); err != nil {
		return &FrameError{Direction: "request", Type: typ, MessageID: h.MessageID, Err: err}
	}
	return nil
}

// Reply checks the reply to a request of type requestType: its ack (pong
// for ping) or an error frame. With requestType "" (a request this side
// did not see) an ack must match the ack of some request type.
func (s *Spec) Reply(requestType string, frame []byte) error {
	inst, h, err := parse(frame)
	if err != nil {
		return &FrameError{Direction: "reply", Type: requestType, Err: err}
	}
	fail := func(err error) error {
		return &FrameError{Direction: "reply", Type: requestType, MessageID: h.ReplyTo, Err: err}
	}
	if typeOf(h) == "error" {
		if err := s.errFrame.Validate(inst); err != nil {
			return fail(err)
		}
		return nil
	}
	if requestType == "" {
		for _, sch := range s.replies {
			if sch.Validate(inst) == nil {
				return nil
			}
		}
		return fail(fmt.Errorf("type %q: matches the reply of no request type", typeOf(h)))
	}
	sch, ok := s.replies[requestType]
	if !ok {
		return fail(ErrUnknownType)
	}
	if err := sch.Validate(inst); err != nil {
		return fail(err)
	}
	return nil
}

// Event checks a frame the server pushes without a request: an event, an
// error without replyTo, or API Gateway's own error frame (which has no
// type).
func (s *Spec) Event(frame []byte) error {
	inst, h, err := parse(frame)
	if err != nil {
		return &FrameError{Direction: "event", Err: err}
	}
	typ := typeOf(h)
	var sch *jsonschema.Schema
	switch {
	case h.Type == nil:
		sch = s.gateway
	case typ == "error":
		sch = s.errFrame
	default:
		sch = s.events[typ]
	}
	if sch == nil {
		return &FrameError{Direction: "event", Type: typ, MessageID: h.MessageID, Err: ErrUnknownType}
	}
	if err := sch.Validate(inst); err != nil {
		return &FrameError{Direction: "event", Type: typ, MessageID: h.MessageID, Err: err}
	}
	return nil
}

// RequestTypes lists the request types the document describes, sorted.
func (s *Spec) RequestTypes() []string { return sortedKeys(s.requests) }

// EventTypes lists the event types the document describes, sorted.
func (s *Spec) EventTypes() []string { return sortedKeys(s.events) }

// ErrorCodes lists the error codes the document allows, in its order.
func (s *Spec) ErrorCodes() []string { return slices.Clone(s.codes) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Conversation checks the frames of one connection in both directions. It
// remembers the type of every request sent, by messageId, so that a reply
// is checked against the ack of its own request. It is safe for
// concurrent use (a test's writer and reader goroutines).
type Conversation struct {
	spec *Spec
	mu   sync.Mutex
	sent map[string]string // messageId -> request type
	errs []error           // the first maxErrors failures
}

// maxErrors bounds the failures a Conversation keeps for Errors.
const maxErrors = 20

// NewConversation starts checking one connection.
func (s *Spec) NewConversation() *Conversation {
	return &Conversation{spec: s, sent: map[string]string{}}
}

// Sent checks a frame the client writes and remembers its type. Resends
// of a messageId keep the type of the first send.
func (c *Conversation) Sent(frame []byte) error {
	if err := c.spec.Request(frame); err != nil {
		return c.fail(err)
	}
	c.remember(frame)
	return nil
}

// SentUnchecked remembers the type of a request that a test sends
// malformed on purpose (to see the server refuse it), without checking it;
// its reply is still checked by Received.
func (c *Conversation) SentUnchecked(frame []byte) { c.remember(frame) }

func (c *Conversation) remember(frame []byte) {
	var h header
	if json.Unmarshal(frame, &h) != nil || h.MessageID == "" {
		return
	}
	c.mu.Lock()
	if _, ok := c.sent[h.MessageID]; !ok {
		c.sent[h.MessageID] = typeOf(h)
	}
	c.mu.Unlock()
}

func (c *Conversation) fail(err error) error {
	c.mu.Lock()
	if len(c.errs) < maxErrors {
		c.errs = append(c.errs, err)
	}
	c.mu.Unlock()
	return err
}

// Errors returns the failures of Sent and Received so far (at most 20),
// for a test whose reader goroutine cannot fail the test itself: check it
// in t.Cleanup.
func (c *Conversation) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// Received checks a frame the client reads: a frame with replyTo is a
// reply to the request of that messageId (an error may also come without
// replyTo), any other frame an event.
func (c *Conversation) Received(frame []byte) error {
	_, h, err := parse(frame)
	if err != nil {
		return c.fail(&FrameError{Direction: "event", Err: err})
	}
	if h.ReplyTo == "" {
		if err := c.spec.Event(frame); err != nil {
			return c.fail(err)
		}
		return nil
	}
	c.mu.Lock()
	typ := c.sent[h.ReplyTo]
	c.mu.Unlock()
	if err := c.spec.Reply(typ, frame); err != nil {
		return c.fail(err)
	}
	return nil
}
