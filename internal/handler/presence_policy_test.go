package handler_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// TestRoomJoinSetsNothingWithoutUserPresence: under a policy that lets
// viewers be present in rooms (POLICY.md's example for viewers' cursors)
// but not set what the whole tenant sees on user-presence, a viewer's
// room.join goes through without the activity and avatar it sent, as a
// presence frame setting them is refused; an editor's join sets them.
func TestRoomJoinSetsNothingWithoutUserPresence(t *testing.T) {
	p := auth.DefaultPolicy()
	p.Kinds["room"] = auth.Rule{Subscribe: []string{auth.AnyRole}, Publish: []string{auth.RoleMember, auth.RoleEditor}, Presence: []string{auth.AnyRole}}
	h, err := handler.New(handler.Config{Policy: p}, handler.Deps{Store: memory.New(nil),
		Posters: func(string) broadcast.Poster { return &fuzzPoster{} }, Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conns := map[string]map[string]string{
		"EditorConn=": {"userId": "eda", "tenant": "t1", "role": "editor"},
		"ViewerConn=": {"userId": "vic", "tenant": "t1", "role": "viewer"},
	}
	send := func(conn, body string) string {
		t.Helper()
		resp, err := h.Message(ctx, fuzzEvent(conn, body, conns[conn]))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Body
	}
	for id, q := range conns {
		if resp, _ := h.Connect(ctx, fuzzEvent(id, "", q)); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d", id, resp.StatusCode)
		}
	}
	if b := send("ViewerConn=", `{"type":"presence","messageId":"p1","payload":{"room":"lobby","activity":"viewer-activity"}}`); !strings.Contains(b, "FORBIDDEN") {
		t.Fatalf("a viewer's presence setting its activity: %s, want FORBIDDEN", b)
	}
	if b := send("ViewerConn=", `{"type":"room.join","messageId":"j1","payload":{"room":"lobby","activity":"viewer-activity","avatar":"https://example.test/v.png"}}`); !strings.Contains(b, `"type":"ack"`) || strings.Contains(b, "viewer-activity") {
		t.Fatalf("a viewer's room.join: %s, want an ack without the activity", b)
	}
	if b := send("EditorConn=", `{"type":"room.join","messageId":"j2","payload":{"room":"lobby","activity":"editor-activity"}}`); !strings.Contains(b, "editor-activity") {
		t.Fatalf("an editor's room.join: %s, want its activity", b)
	}
	s := send("EditorConn=", `{"type":"presence.snapshot","messageId":"s1","payload":{}}`)
	if strings.Contains(s, "viewer-activity") || strings.Contains(s, "example.test/v.png") || !strings.Contains(s, "editor-activity") {
		t.Fatalf("the tenant's snapshot: %s; want the editor's activity and nothing the viewer set", s)
	}
}
