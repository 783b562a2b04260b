package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

var errConnGone = errors.New("410 gone")

// goneProber answers GetConnection 410 for G (its $disconnect never ran)
// and fails every post to W with a 500.
type goneProber struct {
	recorder
	toW int
}

func (p *goneProber) GetConnection(_ context.Context, id string) (*mgmtapi.Connection, error) {
	if id == "G" {
		return nil, errConnGone
	}
	return &mgmtapi.Connection{}, nil
}

func (p *goneProber) PostToConnection(ctx context.Context, id string, data []byte) error {
	if id == "W" {
		p.toW++
		return errors.New("500 from the Management API")
	}
	return p.recorder.PostToConnection(ctx, id, data)
}

// TestConnectCountsItsPosts: $connect at the connection limit removes
// a gone connection with every feature's clean-up, which broadcasts (here
// the released lock on edit-locks). Those posts, and the one that failed,
// must be counted as the other functions' are (FramesOut,
// FanoutDeliveryErrors; DEPLOY: recipients a function could not reach).
func TestConnectCountsItsPosts(t *testing.T) {
	emf := &bytes.Buffer{}
	p := &goneProber{}
	h, err := handler.New(handler.Config{MaxConnectionsPerUser: 1}, handler.Deps{
		Store:   memory.New(nil),
		Posters: func(string) broadcast.Poster { return p },
		Auth:    fixedAuth{},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: emf,
		IsGone:  func(err error) bool { return errors.Is(err, errConnGone) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	as := func(conn, user string) func(string) string {
		return func(body string) string {
			ev := event(conn, body)
			ev.QueryStringParameters["userId"] = user
			resp, _ := h.Message(ctx, ev)
			return resp.Body
		}
	}
	for _, c := range []struct{ id, user string }{{"W", "watcher"}, {"G", "ann"}} {
		ev := event(c.id, "")
		ev.QueryStringParameters["userId"] = c.user
		if resp, _ := h.Connect(ctx, ev); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d", c.id, resp.StatusCode)
		}
	}
	if b := as("W", "watcher")(`{"type":"subscribe","channel":"edit-locks","messageId":"s"}`); !strings.Contains(b, `"ack"`) {
		t.Fatal(b)
	}
	if b := as("G", "ann")(`{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"o1"}}`); !strings.Contains(b, `"ack"`) {
		t.Fatal(b)
	}
	emf.Reset()
	p.toW = 0
	ev := event("N", "")
	ev.QueryStringParameters["userId"] = "ann"
	if resp, _ := h.Connect(ctx, ev); resp.StatusCode != 200 {
		t.Fatalf("connect N at the limit with G gone: %d %s", resp.StatusCode, resp.Body)
	}
	if p.toW != 1 {
		t.Fatalf("posts tried to W during $connect: %d, want 1 (the lock release)", p.toW)
	}
	var doc map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(emf.Bytes()), &doc); err != nil {
		t.Fatalf("EMF %q: %v", emf.String(), err)
	}
	if n, _ := doc[metrics.FanoutDeliveryErrors].(float64); n != 1 || doc["Function"] != metrics.FunctionConnect {
		t.Fatalf("$connect's clean-up of G broadcast the lock release and the post to W failed, but %s is %v (EMF: %q)",
			metrics.FanoutDeliveryErrors, doc[metrics.FanoutDeliveryErrors], emf.String())
	}
}
