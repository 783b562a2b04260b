package handler_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// TestActivityEntityIdentifiersChecked: SECURITY.md says every check of an
// identifier (entity types and ids: [A-Za-z0-9._-]) calls ident.Check and
// that bidi controls, zero-width characters, U+2028 and '#' are refused.
// An activity frame's entity type and id reach every user of the tenant
// (activity-feed broadcast and activity.list), so they must be refused too.
func TestActivityEntityIdentifiersChecked(t *testing.T) {
	h, err := handler.New(handler.Config{}, handler.Deps{Store: memory.New(nil),
		Posters: func(string) broadcast.Poster { return &fuzzPoster{} }, Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := map[string]string{"userId": "ann", "tenant": "t1", "role": "editor"}
	if resp, _ := h.Connect(ctx, fuzzEvent("AnnConn=", "", q)); resp.StatusCode != 200 {
		t.Fatalf("connect: %d", resp.StatusCode)
	}
	for i, bad := range []string{`order\u202e1001`, `order\u200b`, `order\u2028x`, `ord#er`, `order:1001`, `a b`} {
		for _, field := range []string{"type", "id"} {
			ent := map[string]string{"type": "order", "id": "1001"}
			ent[field] = bad
			body := `{"type":"activity","messageId":"a` + string(rune('a'+i)) + field + `","payload":{"action":"viewed","entity":{"type":"` + ent["type"] + `","id":"` + ent["id"] + `"}}}`
			resp, err := h.Message(ctx, fuzzEvent("AnnConn=", body, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(resp.Body, "BAD_REQUEST") {
				t.Errorf("activity with entity %s %q: %s; want BAD_REQUEST", field, bad, resp.Body)
			}
		}
	}
	// notify's target user id is an identifier too (ident.UserID).
	adm := map[string]string{"userId": "root", "tenant": "t1", "role": "admin"}
	if resp, _ := h.Connect(ctx, fuzzEvent("AdmConn=", "", adm)); resp.StatusCode != 200 {
		t.Fatalf("connect: %d", resp.StatusCode)
	}
	resp, err := h.Message(ctx, fuzzEvent("AdmConn=", `{"type":"notify","messageId":"n1","payload":{"userId":"ann\u202e","title":"t"}}`, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Body, "BAD_REQUEST") {
		t.Errorf("notify to user id %q: %s; want BAD_REQUEST", "ann\u202e", resp.Body)
	}
}
