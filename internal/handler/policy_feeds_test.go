package handler_test

import (
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/handler"
)

// TestKindSubscribeRuleGuardsEntityState: POLICY.md lets a deployment
// override a kind's rule (Policy.Kinds) and defines subscribe as "receive
// a channel's frames, read its state" for sync, history and comment.list
// on the entity channel. With subscribe on "salary" limited to editors, a
// member refused sync and comment.list of salary:ann does not read the
// entity's changes, comments or locks through the tenant-wide feeds
// either (activity.list, activity-feed, comments, edit-locks).
func TestKindSubscribeRuleGuardsEntityState(t *testing.T) {
	p := auth.DefaultPolicy()
	p.Kinds["salary"] = auth.Rule{Subscribe: []string{auth.RoleEditor}, Publish: []string{auth.RoleEditor}}
	poster := &fuzzPoster{}
	send := connectAll(t, handler.Config{Policy: p}, poster, map[string]map[string]string{
		"EdConn=":  {"userId": "hr", "tenant": "t1", "role": "editor"},
		"MemConn=": {"userId": "bob", "tenant": "t1", "role": "member"},
	})
	for i, ch := range []string{"activity-feed", "edit-locks"} {
		if b := send("MemConn=", `{"type":"subscribe","messageId":"f`+string(rune('0'+i))+`","channel":"`+ch+`"}`); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("member's subscribe to %s: %s", ch, b)
		}
	}
	if b := send("EdConn=", `{"type":"lock.acquire","messageId":"l0","payload":{"entityType":"salary","entityId":"ann"}}`); !strings.Contains(b, `"type":"ack"`) {
		t.Fatalf("editor's lock: %s", b)
	}
	if b := send("EdConn=", `{"type":"change","messageId":"c1","payload":{"entityType":"salary","entityId":"ann","baseVersion":0,"operation":"insert","path":"amount","after":987654,"fencingToken":1}}`); !strings.Contains(b, `"applied":true`) {
		t.Fatalf("editor's change: %s", b)
	}
	if b := send("MemConn=", `{"type":"sync","messageId":"s1","payload":{"entityType":"salary","entityId":"ann"}}`); !strings.Contains(b, "FORBIDDEN") {
		t.Fatalf("member's sync of salary:ann: %s, want FORBIDDEN", b)
	}
	if b := send("MemConn=", `{"type":"activity.list","messageId":"l1","payload":{"entityTypes":["salary"]}}`); strings.Contains(b, "987654") {
		t.Errorf("member refused subscribe on salary:ann reads its value through activity.list: %s", b)
	}
	if b := send("MemConn=", `{"type":"comment.list","messageId":"l2","payload":{"entityType":"salary","entityId":"ann"}}`); !strings.Contains(b, "FORBIDDEN") {
		t.Fatalf("member's comment.list of salary:ann: %s, want FORBIDDEN", b)
	}
	if b := send("MemConn=", `{"type":"subscribe","messageId":"s2","channel":"comments"}`); !strings.Contains(b, `"type":"ack"`) {
		t.Fatalf("member's subscribe to comments: %s", b)
	}
	poster.mu.Lock()
	for _, f := range poster.frames {
		if strings.Contains(string(f), "salary") {
			t.Errorf("an event about salary:ann was posted to a subscriber of a tenant-wide feed (the member): %s", f)
		}
	}
	poster.frames = nil
	poster.mu.Unlock()
	if b := send("EdConn=", `{"type":"comment.add","messageId":"k1","payload":{"entityType":"salary","entityId":"ann","text":"raise to 120k approved"}}`); !strings.Contains(b, `"type":"ack"`) {
		t.Fatalf("editor's comment: %s", b)
	}
	poster.mu.Lock()
	defer poster.mu.Unlock()
	for _, f := range poster.frames {
		if strings.Contains(string(f), "raise to 120k") {
			t.Errorf("the comment on salary:ann was posted to a subscriber of comments (the member): %s", f)
		}
	}
}
