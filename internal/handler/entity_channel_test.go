package handler_test

import (
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
)

// TestLongEntityNamesAreBadRequest: PROTOCOL.md says entity types
// and ids are each 1..64 characters of [A-Za-z0-9._-]. A type and an id of
// 64 make a 129-character entity channel, over the 128 a channel may hold,
// so the entity can never be used: every comment (and change, lock, sync)
// request on it is refused with FORBIDDEN, "not allowed for this identity",
// even for an admin. The input is malformed, not a permission matter: it
// needs BAD_REQUEST (as the activity route answers for the same pair).
func TestLongEntityNamesAreBadRequest(t *testing.T) {
	send := connectAll(t, handler.Config{}, nil, map[string]map[string]string{
		"AdmConn=": {"userId": "root", "tenant": "t1", "role": "admin"},
	})
	typ, id := strings.Repeat("t", 64), strings.Repeat("i", 64)
	for i, body := range []string{
		`{"type":"comment.add","messageId":"k1","payload":{"entityType":"` + typ + `","entityId":"` + id + `","text":"hello"}}`,
		`{"type":"comment.list","messageId":"k2","payload":{"entityType":"` + typ + `","entityId":"` + id + `"}}`,
		`{"type":"activity","messageId":"k3","payload":{"entity":{"type":"` + typ + `","id":"` + id + `"}}}`,
	} {
		if b := send("AdmConn=", body); !strings.Contains(b, `"code":"BAD_REQUEST"`) {
			t.Errorf("request %d on entity %s:%s (each name within its documented 64): %.160s; want BAD_REQUEST", i, typ[:4]+"…", id[:4]+"…", b)
		}
	}
}
