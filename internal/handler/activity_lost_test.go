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

// feedEntry is what the tests read of an activity entry.
type feedEntry struct {
	ID       string `json:"id"`
	Metadata struct {
		ChangeID string `json:"changeId"`
	} `json:"metadata"`
}

// feedOf sends activity.list, as messageID, through send and returns the
// entries of its reply.
func feedOf(t *testing.T, send func(body string) string, messageID string) []feedEntry {
	t.Helper()
	var reply struct {
		Payload struct {
			Entries []feedEntry `json:"entries"`
		} `json:"payload"`
	}
	b := send(`{"type":"activity.list","messageId":"` + messageID + `","payload":{}}`)
	if err := json.Unmarshal([]byte(b), &reply); err != nil {
		t.Fatalf("activity.list: %s: %v", b, err)
	}
	return reply.Payload.Entries
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
		var ids []string
		for _, e := range feedOf(t, send, "l"+string(rune('a'+lists))) {
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

// earlierVersionStore is a fake for what a real store cannot produce on
// demand: its next Commit is written as an earlier version of the server
// wrote it (the change without its activity entry, which that version
// put afterwards) and then reports a timeout, as an invocation stopped
// after the commit and before its put of the entry.
type earlierVersionStore struct {
	store.Store
	armed atomic.Bool
}

func (f *earlierVersionStore) Commit(ctx context.Context, c store.Commit) error {
	if !f.armed.CompareAndSwap(true, false) {
		return f.Store.Commit(ctx, c)
	}
	c.Activity = nil
	if err := f.Store.Commit(ctx, c); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// TestResendWritesTheMissingActivity: a change committed without its
// activity entry (by an earlier version, which wrote the entry after the
// commit and was stopped before it) gets its entry when it is resent: the
// resend, answered with the recorded reply, writes the entry it announces.
// It announced an entry the feed did not hold, and the entry was lost for
// good.
func TestResendWritesTheMissingActivity(t *testing.T) {
	st := &earlierVersionStore{Store: memory.New(nil)}
	poster := &fuzzPoster{}
	send := connectAllOn(t, handler.Config{}, st, poster, map[string]map[string]string{
		"AnnConn=": {"userId": "ann", "tenant": "t1", "role": "editor"},
	})
	if b := send("AnnConn=", `{"type":"subscribe","channel":"activity-feed","messageId":"s1"}`); !strings.Contains(b, `"type":"ack"`) {
		t.Fatalf("subscribe: %s", b)
	}
	list := func(messageID string) []string {
		t.Helper()
		var ids []string
		for _, e := range feedOf(t, func(body string) string { return send("AnnConn=", body) }, messageID) {
			ids = append(ids, e.ID)
		}
		return ids
	}
	// announced is the ids of the activity events posted so far.
	announced := func() (ids []string) {
		poster.mu.Lock()
		defer poster.mu.Unlock()
		for _, f := range poster.frames {
			var ev struct{ Type string }
			var entry struct{ Payload feedEntry }
			if json.Unmarshal(f, &ev) == nil && ev.Type == "activity" && json.Unmarshal(f, &entry) == nil {
				ids = append(ids, entry.Payload.ID)
			}
		}
		return ids
	}

	st.armed.Store(true)
	change := `{"type":"change","messageId":"c1","payload":{"entityType":"note","entityId":"n1","baseVersion":0,"operation":"insert","path":"title","after":"x"}}`
	if first := send("AnnConn=", change); !strings.Contains(first, `"code":"UNAVAILABLE"`) {
		t.Fatalf("first send: %s; want UNAVAILABLE", first)
	}
	if got := list("l1"); len(got) != 0 {
		t.Fatalf("feed after the first send = %q; want none (the entry was not written)", got)
	}
	if again := send("AnnConn=", change); !strings.Contains(again, `"applied":true`) {
		t.Fatalf("resend: %s; want the recorded reply, applied", again)
	}
	ann := announced()
	if len(ann) != 1 {
		t.Fatalf("activity events after the resend: %q; want one", ann)
	}
	if got := list("l2"); len(got) != 1 || got[0] != ann[0] {
		t.Fatalf("feed after the resend = %q; want the announced entry %s", got, ann[0])
	}
	// Sent once more: the one entry stays, announced again.
	if again := send("AnnConn=", change); !strings.Contains(again, `"applied":true`) {
		t.Fatalf("second resend: %s", again)
	}
	if got := list("l3"); len(got) != 1 || got[0] != ann[0] {
		t.Fatalf("feed after the second resend = %q; want the one entry %s", got, ann[0])
	}
}
