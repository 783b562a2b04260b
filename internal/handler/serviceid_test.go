package handler_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

func newServiceIDHandler(t *testing.T, ids []string) *handler.Handler {
	t.Helper()
	h, err := handler.New(handler.Config{ServiceIDs: ids, ManagementEndpoint: "http://127.0.0.1:1/ws"}, handler.Deps{
		Store: memory.New(nil), Posters: func(string) broadcast.Poster { return &fuzzPoster{} },
		Auth: fuzzAuth{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestConnectRefusesServiceIDs: the user ids of the server's own
// identities (Config.ServiceIDs, by default "service", the publish API's)
// are refused at $connect with 401 whatever the authenticator returned;
// ids that merely resemble them connect.
func TestConnectRefusesServiceIDs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		ids     []string
		refused []string
		allowed []string
	}{
		{nil, []string{handler.DefaultServiceID}, []string{"Service", "service ", "services", "u1"}},
		{[]string{"orders-bot", "pricing-bot"}, []string{"orders-bot", "pricing-bot"}, []string{handler.DefaultServiceID, "u1"}},
	} {
		h := newServiceIDHandler(t, tc.ids)
		for i, user := range append(append([]string{}, tc.refused...), tc.allowed...) {
			want := http.StatusOK
			if i < len(tc.refused) {
				want = http.StatusUnauthorized
			}
			resp, _ := h.Connect(ctx, fuzzEvent("c-"+user, "", map[string]string{"userId": user, "tenant": "acme", "role": "member"}))
			if resp.StatusCode != want {
				t.Errorf("ServiceIDs %q: $connect as %q = %d, want %d", tc.ids, user, resp.StatusCode, want)
			}
		}
	}
}

// TestServeOnlyAsServiceID: Serve acts only under one of
// Config.ServiceIDs; a service named otherwise (an id a connection could
// hold) gets INTERNAL and nothing is done.
func TestServeOnlyAsServiceID(t *testing.T) {
	h := newServiceIDHandler(t, []string{"orders-bot"})
	frame := []byte(`{"type":"publish","messageId":"m1","channel":"order-updates","payload":{"n":1}}`)
	sys := []string{auth.RoleSystem}
	_, pe := h.Serve(t.Context(), handler.Service{ID: handler.DefaultServiceID, Tenant: "acme", Roles: sys}, frame)
	if pe == nil || pe.Code != protocol.CodeInternal {
		t.Errorf("Serve as %q, not in ServiceIDs = %v, want INTERNAL", handler.DefaultServiceID, pe)
	}
	if _, pe := h.Serve(t.Context(), handler.Service{ID: "orders-bot", Tenant: "acme", Roles: sys}, frame); pe != nil {
		t.Errorf("Serve as a service id = %v, want success", pe)
	}
}

// TestServiceIDsMustBeUserIDs: handler.New refuses a service id that is
// not a valid user id.
func TestServiceIDsMustBeUserIDs(t *testing.T) {
	for _, id := range []string{"", "a#b", "bot\u202e"} {
		_, err := handler.New(handler.Config{ServiceIDs: []string{"service", id}}, handler.Deps{
			Store: memory.New(nil), Posters: func(string) broadcast.Poster { return &fuzzPoster{} }, Auth: fuzzAuth{}})
		if !errors.Is(err, ident.ErrInvalid) {
			t.Errorf("ServiceIDs with %q: New = %v, want ident.ErrInvalid", id, err)
		}
	}
}
