package e2e_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
)

// syncReq is a sync request payload.
func syncReq(typ, id string, since int64, limit int) map[string]any {
	m := map[string]any{"entityType": typ, "entityId": id, "sinceVersion": since}
	if limit > 0 {
		m["limit"] = limit
	}
	return m
}

func versionsOf(chs []wireChange) []int64 {
	out := []int64{}
	for _, c := range chs {
		out = append(out, c.Version)
	}
	return out
}

func span(from, to int64) []int64 {
	out := []int64{}
	for v := from; v <= to; v++ {
		out = append(out, v)
	}
	return out
}

// TestSyncMissedVersions: a client that missed 10 versions while it was
// disconnected gets exactly those 10, in order, from sync, and then holds
// the server's document; sync pages, answers sinceVersion 0 (or a version
// ahead of the entity) with the whole document, and history lists the
// changes newest first, page by page.
func TestSyncMissedVersions(t *testing.T) {
	for _, b := range edCoreBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t, gateway.Config{})
			alice, bob := edT{t, edDial(t, srv, "alice")}, edT{t, edDial(t, srv, "bob")}
			bob.subscribe("customer:m1")
			for v := int64(0); v < 3; v++ {
				alice.ack("change", change("customer", "m1", v, "update", fmt.Sprintf("f%d", v), after(v)))
			}
			rep := newReplica()
			rep.sync(t, bob.c, "customer", "m1")
			if rep.version != 3 {
				t.Fatalf("bob at version %d, want 3", rep.version)
			}
			bob.c.drop()
			for v := int64(3); v < 13; v++ {
				op := change("customer", "m1", v, "update", "notes", after(fmt.Sprintf("note %d", v)))
				if v%3 == 0 {
					op = change("customer", "m1", v, "increment", "count", map[string]any{"delta": v})
				}
				alice.ack("change", op)
			}
			bob = edT{t, edDial(t, srv, "bob")}
			var s wireSync
			decodeInto(t, bob.ack("sync", syncReq("customer", "m1", 3, 0)), &s)
			if s.Snapshot || s.HasMore || s.Version != 13 || s.NextSinceVersion != 13 || !slices.Equal(versionsOf(s.Changes), span(4, 13)) {
				t.Fatalf("sync since 3 = snapshot %v, more %v, version %d, changes %v; want exactly 4..13",
					s.Snapshot, s.HasMore, s.Version, versionsOf(s.Changes))
			}
			for _, ch := range s.Changes {
				if err := rep.add(ch); err != nil {
					t.Fatal(err)
				}
			}
			server, _ := serverDoc(t, srv.Built.Store, "customer", "m1")
			if rep.version != 13 {
				t.Fatalf("bob at %d after applying the missed changes", rep.version)
			}
			wantJSON(t, "bob", rep.doc, mustJSON(t, server))

			var pages [][]int64
			for since := int64(3); ; {
				decodeInto(t, bob.ack("sync", syncReq("customer", "m1", since, 4)), &s)
				pages = append(pages, versionsOf(s.Changes))
				if !s.HasMore {
					break
				}
				since = s.NextSinceVersion
			}
			if want := [][]int64{span(4, 7), span(8, 11), span(12, 13)}; !slices.EqualFunc(pages, want, slices.Equal) {
				t.Fatalf("pages of 4 = %v, want %v", pages, want)
			}
			for _, since := range []int64{0, 99} {
				decodeInto(t, bob.ack("sync", syncReq("customer", "m1", since, 0)), &s)
				if !s.Snapshot || s.Version != 13 || len(s.Changes) != 0 {
					t.Fatalf("sync since %d = %+v, want the document at 13", since, s)
				}
				wantJSON(t, "the snapshot", s.Document, mustJSON(t, server))
			}
			var h struct {
				Changes    []wireChange
				HasMore    bool
				NextBefore int64
			}
			var hist [][]int64
			for before := int64(0); ; {
				decodeInto(t, bob.ack("history", map[string]any{"entityType": "customer", "entityId": "m1", "before": before, "limit": 5}), &h)
				hist = append(hist, versionsOf(h.Changes))
				if !h.HasMore {
					break
				}
				before = h.NextBefore
			}
			want := [][]int64{{13, 12, 11, 10, 9}, {8, 7, 6, 5, 4}, {3, 2, 1}}
			if !slices.EqualFunc(hist, want, slices.Equal) {
				t.Fatalf("history pages = %v, want %v", hist, want)
			}
			bob.bad().refused("sync", syncReq("customer", "m1", -1, 0), "BAD_REQUEST")
		})
	}
}

// TestHistoryRetention runs with a history of 5 changes: older changes
// are gone from history, a client further behind gets the whole document
// from sync, and an undo of a change no longer kept is NOT_FOUND.
func TestHistoryRetention(t *testing.T) {
	for _, b := range edBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg := handler.Config{}
			cfg.Editing.HistoryLimit = 5
			srv := edStartTuned(t, b, cfg, "")
			alice := edT{t, edDial(t, srv.Server, "alice")}
			for v := int64(0); v < 13; v++ {
				alice.ack("change", change("note", "r1", v, "update", "n", after(v)))
			}
			var s wireSync
			decodeInto(t, alice.ack("sync", syncReq("note", "r1", 3, 0)), &s)
			if !s.Snapshot || s.Version != 13 {
				t.Fatalf("sync 10 versions behind a history of 5 = %+v, want the document", s)
			}
			decodeInto(t, alice.ack("sync", syncReq("note", "r1", 8, 0)), &s)
			if s.Snapshot || !slices.Equal(versionsOf(s.Changes), span(9, 13)) {
				t.Fatalf("sync 5 versions behind = %+v, want changes 9..13", s)
			}
			var h struct {
				Changes []wireChange
				HasMore bool
			}
			decodeInto(t, alice.ack("history", map[string]any{"entityType": "note", "entityId": "r1"}), &h)
			if h.HasMore || !slices.Equal(versionsOf(h.Changes), []int64{13, 12, 11, 10, 9}) {
				t.Fatalf("history = %v (more %v), want the 5 newest", versionsOf(h.Changes), h.HasMore)
			}
			alice.refused("undo", map[string]any{"changeId": "note:r1:3"}, "NOT_FOUND")
		})
	}
}
