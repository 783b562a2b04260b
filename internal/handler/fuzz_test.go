package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/ratelimit"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// fuzzPoster records posted frames so that FuzzMessage can check them.
type fuzzPoster struct {
	mu     sync.Mutex
	frames [][]byte
}

func (p *fuzzPoster) PostToConnection(_ context.Context, _ string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frames = append(p.frames, data)
	return nil
}

// fuzzAuth gives each connection the identity its query string names.
type fuzzAuth struct{}

func (fuzzAuth) Authenticate(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	q := req.QueryStringParameters
	return auth.Identity{UserID: q["userId"], Username: q["userId"], Tenant: q["tenant"], Roles: []string{q["role"]}}, nil
}

func fuzzEvent(connID, body string, query map[string]string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body:                  body,
		QueryStringParameters: query,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: connID, RequestID: "fuzz-" + connID, DomainName: "fuzz.execute-api.us-east-1.amazonaws.com", Stage: "prod",
		},
	}
}

// fuzzConns are the connections every input is sent from: an admin, who
// passes every channel policy, and a viewer of another tenant, who passes
// few. Both send fuzzSetup first.
var fuzzConns = []struct {
	id    string
	query map[string]string
}{
	{"AdminConnA=", map[string]string{"userId": "alice", "tenant": "tenant-a", "role": "admin"}},
	{"ViewerConnB=", map[string]string{"userId": "bob", "tenant": "tenant-b", "role": "viewer"}},
}

// fuzzSetup are the frames each connection sends before the input, so that
// inputs meet existing state: subscriptions, a room, a lock, a versioned
// entity and a comment.
var fuzzSetup = []string{
	`{"type":"subscribe","channel":"order-updates"}`,
	`{"type":"subscribe","channel":"order:1"}`,
	`{"type":"room.join","payload":{"room":"dashboard"}}`,
	`{"type":"lock.acquire","payload":{"entityType":"order","entityId":"1"}}`,
	`{"type":"change","payload":{"entityType":"note","entityId":"1","baseVersion":0,"operation":"update","path":"status","after":"new"}}`,
	`{"type":"comment.add","payload":{"entityType":"order","entityId":"1","text":"first"}}`,
}

// FuzzMessage sends arbitrary frames through the $default route (decode
// and dispatch) of a handler on the memory store. No input may panic; each
// must be answered with exactly one valid frame: ack, pong, or an error
// whose code is listed in protocol.Codes and is not INTERNAL (the memory
// store never fails, so INTERNAL would be a bug). Frames posted to other
// connections must be valid JSON. The seed corpus is in
// testdata/fuzz/FuzzMessage: malformed JSON, huge numbers, deep nesting,
// invalid UTF-8, wrong types, oversized fields and one plausible frame of
// every request type.
func FuzzMessage(f *testing.F) {
	f.Add([]byte(`{"type":"publish","channel":"order-updates","payload":{"x":1},"userId":"mallory","messageId":"m1"}`))
	codes := protocol.Codes()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		h, poster, _ := fuzzHandler(t, now, nil, nil)
		want, decErr := protocol.Decode(data)
		for _, c := range fuzzConns {
			resp, err := h.Message(ctx, fuzzEvent(c.id, string(data), nil))
			if err != nil {
				t.Fatalf("%s: Message returned error %v", c.id, err)
			}
			checkReply(t, resp, want, decErr, codes)
		}
		poster.mu.Lock()
		defer poster.mu.Unlock()
		for _, fr := range poster.frames {
			if !json.Valid(fr) {
				t.Fatalf("posted frame is not valid JSON: %q", fr)
			}
		}
	})
}

// fuzzHandler builds a handler on a fresh memory store whose clock stands
// at now, seen through wrap when it is not nil, connects fuzzConns and
// sends each of them fuzzSetup followed by extra. It returns the memory
// store itself.
func fuzzHandler(t *testing.T, now time.Time, extra []string, wrap func(store.Store) store.Store) (*handler.Handler, *fuzzPoster, *memory.Store) {
	t.Helper()
	ctx := context.Background()
	poster := &fuzzPoster{}
	mem := memory.New(func() time.Time { return now })
	var st store.Store = mem
	if wrap != nil {
		st = wrap(mem)
	}
	h, err := handler.New(handler.Config{
		RequestLimit: ratelimit.Config{Rate: 1e6, Burst: 1 << 20},
		CursorLimit:  ratelimit.Config{Rate: 1e6, Burst: 1 << 20},
	}, handler.Deps{
		Store:   st,
		Posters: func(string) broadcast.Poster { return poster },
		Auth:    fuzzAuth{},
		Clock:   func() time.Time { return now },
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fuzzConns {
		if resp, _ := h.Connect(ctx, fuzzEvent(c.id, "", c.query)); resp.StatusCode != http.StatusOK {
			t.Fatalf("connect %s: %d", c.id, resp.StatusCode)
		}
		for i, body := range append(slices.Clip(fuzzSetup), extra...) {
			body = strings.Replace(body, "{", fmt.Sprintf(`{"messageId":"setup-%d",`, i), 1)
			if resp, _ := h.Message(ctx, fuzzEvent(c.id, body, nil)); !json.Valid([]byte(resp.Body)) {
				t.Fatalf("setup %s: %s", body, resp.Body)
			}
		}
	}
	return h, poster, mem
}

// checkReply asserts resp is the one valid reply frame to the request that
// decoded to want (or failed to decode with decErr).
func checkReply(t *testing.T, resp events.APIGatewayProxyResponse, want protocol.Envelope, decErr error, codes []protocol.Code) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %q", resp.StatusCode, resp.Body)
	}
	if len(resp.Body) > protocol.MaxFrameBytes {
		t.Fatalf("reply of %d bytes exceeds the frame limit", len(resp.Body))
	}
	var got struct {
		Type    string          `json:"type"`
		ReplyTo string          `json:"replyTo"`
		UserID  string          `json:"userId"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatalf("reply %q is not a JSON envelope: %v", resp.Body, err)
	}
	if got.ReplyTo != want.MessageID {
		t.Fatalf("replyTo %q, want %q (reply %s)", got.ReplyTo, want.MessageID, resp.Body)
	}
	switch got.Type {
	case protocol.TypeAck, protocol.TypePong:
		if decErr != nil {
			t.Fatalf("undecodable frame (%v) answered with %s", decErr, resp.Body)
		}
		if (got.Type == protocol.TypePong) != (want.Type == protocol.TypePing) {
			t.Fatalf("%s answered with %s", want.Type, got.Type)
		}
	case protocol.TypeError:
		var p struct {
			Code      protocol.Code `json:"code"`
			Message   string        `json:"message"`
			Retryable *bool         `json:"retryable"`
		}
		if err := json.Unmarshal(got.Payload, &p); err != nil {
			t.Fatalf("error payload %s: %v", got.Payload, err)
		}
		if !slices.Contains(codes, p.Code) || p.Message == "" || p.Retryable == nil || *p.Retryable != p.Code.Retryable() {
			t.Fatalf("error frame %s has an unlisted code or a bad payload", resp.Body)
		}
		if p.Code == protocol.CodeInternal {
			t.Fatalf("INTERNAL on the memory store: %s", resp.Body)
		}
		var pe *protocol.Error
		if decErr != nil && errors.As(decErr, &pe) && pe.Code != p.Code {
			t.Fatalf("decode error %s answered with %s", pe.Code, p.Code)
		}
	default:
		t.Fatalf("reply type %q (reply %s)", got.Type, resp.Body)
	}
}
