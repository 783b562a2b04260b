package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// metricsHandler builds a handler on a memory store whose posts go to
// poster and whose EMF documents go to the returned buffer, and connects
// the identities A and B (fixedAuth).
func metricsHandler(t *testing.T, poster broadcast.Poster) (*handler.Handler, *bytes.Buffer) {
	t.Helper()
	emf := &bytes.Buffer{}
	h, err := handler.New(handler.Config{}, handler.Deps{
		Store:   memory.New(nil),
		Posters: func(string) broadcast.Poster { return poster },
		Auth:    fixedAuth{},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: emf,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"A", "B"} {
		if resp, _ := h.Connect(context.Background(), event(c, "")); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d", c, resp.StatusCode)
		}
	}
	return h, emf
}

// TestDashboardConflictAndLockMetricsEmitted: the dashboard widget
// "Conflicts and lock contention" charts RTCollab Conflicts and
// LockContention; a change that meets a concurrent change and a
// lock.acquire refused with LOCK_HELD must each emit them.
func TestDashboardConflictAndLockMetricsEmitted(t *testing.T) {
	h, emf := metricsHandler(t, &recorder{})
	ctx := context.Background()
	send := func(c, body string) string {
		resp, _ := h.Message(ctx, event(c, body))
		return resp.Body
	}
	// pricing is "manual" by default: two changes on the same base conflict.
	send("A", `{"type":"change","messageId":"c1","payload":{"entityType":"pricing","entityId":"p1","baseVersion":0,"operation":"insert","path":"price","after":1}}`)
	send("A", `{"type":"change","messageId":"c2","payload":{"entityType":"pricing","entityId":"p1","baseVersion":1,"operation":"update","path":"price","after":2}}`)
	emf.Reset()
	conflictReply := send("B", `{"type":"change","messageId":"c3","payload":{"entityType":"pricing","entityId":"p1","baseVersion":1,"operation":"update","path":"price","after":3}}`)
	if !strings.Contains(conflictReply, `"conflict`) {
		t.Fatalf("no conflict in the reply: %s", conflictReply)
	}
	conflictDoc := emf.String()

	// order is lock-based: A holds the lock, B is refused with LOCK_HELD.
	send("A", `{"type":"lock.acquire","messageId":"l1","payload":{"entityType":"order","entityId":"o1"}}`)
	emf.Reset()
	lockReply := send("B", `{"type":"lock.acquire","messageId":"l2","payload":{"entityType":"order","entityId":"o1"}}`)
	if !strings.Contains(lockReply, "LOCK_HELD") {
		t.Fatalf("no LOCK_HELD: %s", lockReply)
	}
	lockDoc := emf.String()

	for _, c := range []struct{ doc, metric string }{{conflictDoc, metrics.Conflicts}, {lockDoc, metrics.LockContention}} {
		var doc map[string]any
		if err := json.Unmarshal([]byte(strings.TrimSpace(c.doc)), &doc); err != nil {
			t.Fatalf("EMF: %v: %q", err, c.doc)
		}
		if n, _ := doc[c.metric].(float64); n != 1 {
			t.Errorf("EMF document has %s = %v, want 1 (the dashboard charts it): %s", c.metric, doc[c.metric], strings.TrimSpace(c.doc))
		}
	}
}
