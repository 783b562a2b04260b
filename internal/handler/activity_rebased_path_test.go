package handler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
)

// TestActivityForRebasedLongPath: PROTOCOL.md says the server
// records an activity entry for every accepted change, whose field is the
// change's path. An operational-transform change sent with a 1,024-byte
// path (the bound) is rebased past a concurrent insert: its index grows
// from [9] to [10] and the stored path is 1,025 bytes. The change is
// accepted (merged), but its activity entry is refused by the entry's
// 1,024-byte field bound and lost.
func TestActivityForRebasedLongPath(t *testing.T) {
	sendFrom := connectAll(t, handler.Config{}, nil, map[string]map[string]string{"AdminConn=": {"userId": "adam", "tenant": "t1", "role": "admin"}})
	send := func(body string) string { t.Helper(); return sendFrom("AdminConn=", body) }
	k := func(c string, n int) string { return strings.Repeat(c, n) }
	list := k("a", 256) + "." + k("b", 256) + "." + k("c", 256) + "." + k("d", 250) // 1,021 bytes
	steps := []struct {
		op, path, after string
		base            int
	}{
		{"update", k("a", 256), "{}", 0},
		{"update", k("a", 256) + "." + k("b", 256), "{}", 1},
		{"update", k("a", 256) + "." + k("b", 256) + "." + k("c", 256), "{}", 2},
		{"update", list, "[0,1,2,3,4,5,6,7,8,9]", 3},
		{"insert", list + "[0]", `"new"`, 4},
		{"update", list + "[9]", "99", 4}, // 1,024 bytes, stale base: rebased to [10]
	}
	for i, s := range steps {
		b := send(fmt.Sprintf(`{"type":"change","messageId":"c%d","payload":{"entityType":"customer","entityId":"c1","baseVersion":%d,"operation":"%s","path":"%s","after":%s}}`, i, s.base, s.op, s.path, s.after))
		if !strings.Contains(b, `"applied":true`) {
			t.Fatalf("change %d: %.300s", i, b)
		}
	}
	feed := send(`{"type":"activity.list","messageId":"a1","payload":{}}`)
	if !strings.Contains(feed, `"changeId":"customer:c1:5"`) {
		t.Fatalf("setup: no entry for customer:c1:5")
	}
	if !strings.Contains(feed, `"changeId":"customer:c1:6"`) {
		t.Errorf("accepted change customer:c1:6 (path rebased to %d bytes) has no activity entry", len(list+"[10]"))
	}
}
