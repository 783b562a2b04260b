package handler_test

import (
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
)

// TestActivityEntityIdentifiersChecked: SECURITY.md says every check of an
// identifier (entity types and ids: [A-Za-z0-9._-]) calls ident.Check and
// that bidi controls, zero-width characters, U+2028 and '#' are refused.
// An activity frame's entity type and id reach every user of the tenant
// (activity-feed broadcast and activity.list), so they must be refused too.
func TestActivityEntityIdentifiersChecked(t *testing.T) {
	send := connectAll(t, handler.Config{}, nil, map[string]map[string]string{
		"AnnConn=": {"userId": "ann", "tenant": "t1", "role": "editor"},
		"AdmConn=": {"userId": "root", "tenant": "t1", "role": "admin"},
	})
	for i, bad := range []string{`order\u202e1001`, `order\u200b`, `order\u2028x`, `ord#er`, `order:1001`, `a b`} {
		for _, field := range []string{"type", "id"} {
			ent := map[string]string{"type": "order", "id": "1001"}
			ent[field] = bad
			body := `{"type":"activity","messageId":"a` + string(rune('a'+i)) + field + `","payload":{"action":"viewed","entity":{"type":"` + ent["type"] + `","id":"` + ent["id"] + `"}}}`
			if b := send("AnnConn=", body); !strings.Contains(b, "BAD_REQUEST") {
				t.Errorf("activity with entity %s %q: %s; want BAD_REQUEST", field, bad, b)
			}
		}
	}
	// notify's target user id is an identifier too (ident.UserID).
	if b := send("AdmConn=", `{"type":"notify","messageId":"n1","payload":{"userId":"ann\u202e","title":"t"}}`); !strings.Contains(b, "BAD_REQUEST") {
		t.Errorf("notify to user id %q: %s; want BAD_REQUEST", "ann\u202e", b)
	}
}
