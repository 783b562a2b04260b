package handler_test

import (
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/handler"
)

// TestRoomJoinSetsNothingWithoutUserPresence: under a policy that lets
// viewers be present in rooms (POLICY.md's example for viewers' cursors)
// but not set what the whole tenant sees on user-presence, a viewer's
// room.join goes through without the activity and avatar it sent, as a
// presence frame setting them is refused; an editor's join sets them.
func TestRoomJoinSetsNothingWithoutUserPresence(t *testing.T) {
	p := auth.DefaultPolicy()
	p.Kinds["room"] = auth.Rule{Subscribe: []string{auth.AnyRole}, Publish: []string{auth.RoleMember, auth.RoleEditor}, Presence: []string{auth.AnyRole}}
	send := connectAll(t, handler.Config{Policy: p}, nil, map[string]map[string]string{
		"EditorConn=": {"userId": "eda", "tenant": "t1", "role": "editor"},
		"ViewerConn=": {"userId": "vic", "tenant": "t1", "role": "viewer"},
	})
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
