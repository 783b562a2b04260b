package handler_test

import (
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
)

// TestActivityForLongChangePath: an accepted change whose path is longer
// than 256 bytes (paths may be 1,024) still gets its activity entry; the
// entry's field bound refused it, and the server's own entry was lost.
func TestActivityForLongChangePath(t *testing.T) {
	sendFrom := connectAll(t, handler.Config{}, nil, map[string]map[string]string{"AdminConn=": {"userId": "adam", "tenant": "t1", "role": "admin"}})
	send := func(body string) string {
		t.Helper()
		return sendFrom("AdminConn=", body)
	}
	segs := []string{strings.Repeat("k", 250), strings.Repeat("j", 250), strings.Repeat("i", 250), strings.Repeat("h", 250)}
	path := strings.Join(segs, ".") // 1,003 bytes
	for i := range segs[:3] {
		p := strings.Join(segs[:i+1], ".")
		if b := send(`{"type":"change","messageId":"c` + string(rune('0'+i)) + `","payload":{"entityType":"note","entityId":"n1","baseVersion":` + string(rune('0'+i)) + `,"operation":"update","path":"` + p + `","after":{}}}`); !strings.Contains(b, `"applied":true`) {
			t.Fatalf("change %d: %.300s", i+1, b)
		}
	}
	if b := send(`{"type":"change","messageId":"c9","payload":{"entityType":"note","entityId":"n1","baseVersion":3,"operation":"update","path":"` + path + `","after":1}}`); !strings.Contains(b, `"applied":true`) {
		t.Fatalf("change 4: %.300s", b)
	}
	feed := send(`{"type":"activity.list","messageId":"a1","payload":{}}`)
	if !strings.Contains(feed, `"changeId":"note:n1:4"`) || !strings.Contains(feed, `"field":"`+path+`"`) {
		t.Fatalf("accepted change note:n1:4 (path of %d bytes) has no activity entry naming its path", len(path))
	}
}
