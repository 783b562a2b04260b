package handler_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// connectAll builds a handler with cfg on a memory store whose posts go
// to poster (a new one when nil), connects each connection of conns (id
// to its fuzzAuth identity) and returns the function that sends a frame
// from one of them and returns the reply's body.
func connectAll(t *testing.T, cfg handler.Config, poster *fuzzPoster, conns map[string]map[string]string) func(conn, body string) string {
	t.Helper()
	return connectAllOn(t, cfg, memory.New(nil), poster, conns)
}

// connectAllOn is connectAll on the store st.
func connectAllOn(t *testing.T, cfg handler.Config, st store.Store, poster *fuzzPoster, conns map[string]map[string]string) func(conn, body string) string {
	t.Helper()
	if poster == nil {
		poster = &fuzzPoster{}
	}
	h, err := handler.New(cfg, handler.Deps{Store: st,
		Posters: func(string) broadcast.Poster { return poster }, Auth: fuzzAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for id, q := range conns {
		if resp, _ := h.Connect(ctx, fuzzEvent(id, "", q)); resp.StatusCode != http.StatusOK {
			t.Fatalf("connect %s: %d", id, resp.StatusCode)
		}
	}
	return func(conn, body string) string {
		t.Helper()
		resp, err := h.Message(ctx, fuzzEvent(conn, body, conns[conn]))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Body
	}
}
