package handler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// TestChangeResendRecordsOneActivity: a change sent again with its
// messageId is announced again, with its activity entry under the same id
// and time: the feed keeps one entry for the change.
func TestChangeResendRecordsOneActivity(t *testing.T) {
	h, err := handler.New(handler.Config{}, handler.Deps{Store: memory.New(nil),
		Posters: func(string) broadcast.Poster { return &fuzzPoster{} }, Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := map[string]string{"userId": "ann", "tenant": "t1", "role": "editor"}
	if resp, _ := h.Connect(ctx, fuzzEvent("AnnConn=", "", q)); resp.StatusCode != http.StatusOK {
		t.Fatalf("connect: %d", resp.StatusCode)
	}
	send := func(body string) string {
		t.Helper()
		resp, err := h.Message(ctx, fuzzEvent("AnnConn=", body, q))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Body
	}
	change := `{"type":"change","messageId":"c1","payload":{"entityType":"note","entityId":"n1","baseVersion":0,"operation":"insert","path":"title","after":"x"}}`
	first := send(change)
	if !strings.Contains(first, `"type":"ack"`) {
		t.Fatalf("change: %s", first)
	}
	if again := send(change); !strings.Contains(again, `"version":1`) {
		t.Fatalf("resend: %s", again)
	}
	var reply struct {
		Payload struct {
			Entries []struct {
				ID string `json:"id"`
			} `json:"entries"`
		} `json:"payload"`
	}
	b := send(`{"type":"activity.list","messageId":"l1","payload":{}}`)
	if err := json.Unmarshal([]byte(b), &reply); err != nil {
		t.Fatalf("activity.list: %s: %v", b, err)
	}
	if len(reply.Payload.Entries) != 1 {
		t.Fatalf("activity.list after a change and its resend: %s; want one entry", b)
	}
}
