package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// activityFailStore is a fake for a fault a real store cannot produce on
// demand: the next write of an activity entry fails, once, and writes
// nothing: a PutActivity, or a Commit that carries an entry (the whole
// commit, as one transaction fails).
type activityFailStore struct {
	store.Store
	armed atomic.Bool
}

var errActivityWrite = errors.New("activity write failed")

func (f *activityFailStore) PutActivity(ctx context.Context, a store.Activity) error {
	if f.armed.CompareAndSwap(true, false) {
		return errActivityWrite
	}
	return f.Store.PutActivity(ctx, a)
}

func (f *activityFailStore) Commit(ctx context.Context, c store.Commit) error {
	if c.Activity != nil && f.armed.CompareAndSwap(true, false) {
		return errActivityWrite
	}
	return f.Store.Commit(ctx, c)
}

// TestAcceptedChangeKeepsItsActivity: PROTOCOL.md says the server records
// an activity entry for every accepted change. When the write of the
// entry fails, the change is either refused and not applied (the client
// sends it again) or applied with its entry; it is never acked as
// applied without one.
func TestAcceptedChangeKeepsItsActivity(t *testing.T) {
	st := &activityFailStore{Store: memory.New(nil)}
	sendFrom := connectAllOn(t, handler.Config{}, st, nil, map[string]map[string]string{
		"AnnConn=": {"userId": "ann", "tenant": "t1", "role": "editor"},
	})
	send := func(body string) string {
		t.Helper()
		return sendFrom("AnnConn=", body)
	}
	lists := 0
	entries := func() []string {
		t.Helper()
		lists++
		var reply struct {
			Payload struct {
				Entries []struct {
					Metadata struct {
						ChangeID string `json:"changeId"`
					} `json:"metadata"`
				} `json:"entries"`
			} `json:"payload"`
		}
		b := send(`{"type":"activity.list","messageId":"l` + string(rune('a'+lists)) + `","payload":{}}`)
		if err := json.Unmarshal([]byte(b), &reply); err != nil {
			t.Fatalf("activity.list: %s: %v", b, err)
		}
		var ids []string
		for _, e := range reply.Payload.Entries {
			ids = append(ids, e.Metadata.ChangeID)
		}
		return ids
	}

	st.armed.Store(true)
	change := `{"type":"change","messageId":"c1","payload":{"entityType":"note","entityId":"n1","baseVersion":0,"operation":"insert","path":"title","after":"x"}}`
	first := send(change)
	if strings.Contains(first, `"applied":true`) {
		if got := entries(); len(got) != 1 || got[0] != "note:n1:1" {
			t.Fatalf("change acked as applied (%s), but the feed holds the entries of changes %q; want note:n1:1", first, got)
		}
		return
	}
	// Refused: not applied, and its resend applies it with its entry.
	if !strings.Contains(first, `"type":"error"`) {
		t.Fatalf("change: %s; want an ack or an error", first)
	}
	if b := send(`{"type":"sync","messageId":"s1","payload":{"entityType":"note","entityId":"n1"}}`); !strings.Contains(b, `"version":0`) {
		t.Fatalf("sync after the refused change: %s; want version 0", b)
	}
	if again := send(change); !strings.Contains(again, `"applied":true`) {
		t.Fatalf("resend: %s; want it applied", again)
	}
	if got := entries(); len(got) != 1 || got[0] != "note:n1:1" {
		t.Fatalf("after the resend the feed holds the entries of changes %q; want note:n1:1", got)
	}
}
