package e2e_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestChangeFeedHoldsLockAndCommentEventsOnce: a lock acquired and
// released, and a comment added and resolved, over real connections,
// each reach the change feed once, with their kind, user and fencing
// token or comment id; a refused lock acquire (LOCK_HELD), a refused
// release, a refused comment and a refused resolve reach it not at all.
// On the memory store and on DynamoDB (moto).
func TestChangeFeedHoldsLockAndCommentEventsOnce(t *testing.T) {
	for _, b := range edBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := edStartTuned(t, b, fastRequests(handler.Config{}), "")
			ctx := context.Background()
			alice, bob := edT{t, edDial(t, srv.Server, "alice")}, edT{t, edDial(t, srv.Server, "bob")}
			ent := map[string]any{"entityType": "order", "entityId": "feed-1"}
			with := func(extra map[string]any) map[string]any {
				m := maps.Clone(ent)
				maps.Copy(m, extra)
				return m
			}
			var got struct {
				Lock wireLock `json:"lock"`
			}
			decodeInto(t, alice.ack("lock.acquire", ent), &got)
			token := got.Lock.FencingToken
			bob.refused("lock.acquire", ent, "LOCK_HELD")
			bob.refused("lock.release", ent, "NOT_LOCK_HOLDER")
			alice.ack("lock.release", ent)

			var added struct{ Comment struct{ ID string } }
			decodeInto(t, alice.ack("comment.add", with(map[string]any{"text": "Check the address"})), &added)
			bob.refused("comment.add", with(map[string]any{"text": "x", "parentId": "0000000000000-none"}), "NOT_FOUND")
			bob.refused("comment.add", with(map[string]any{"text": "  "}), "BAD_REQUEST")
			alice.refused("comment.resolve", with(map[string]any{"commentId": "0000000000000-none"}), "NOT_FOUND")
			alice.ack("comment.resolve", with(map[string]any{"commentId": added.Comment.ID}))

			if _, err := srv.DrainChanges(ctx); err != nil {
				t.Fatal(err)
			}
			events := srv.Changes.Since(0)
			type seen struct {
				kind, event, user string
			}
			var order []seen
			for _, ev := range events {
				if ev.Tenant != "default" || ev.EntityType != "order" || ev.EntityID != "feed-1" {
					t.Fatalf("event %s names another entity", ev.ID)
				}
				switch ev.Kind {
				case store.OutboxLock:
					var l store.LockEvent
					if err := json.Unmarshal(ev.Lock, &l); err != nil || l.Token != token || ev.DetailType() != changefeed.LockDetailType {
						t.Fatalf("lock event %s: %s (%v), want token %d", ev.ID, ev.Lock, err, token)
					}
					order = append(order, seen{ev.Kind, l.Event, l.UserID})
				case store.OutboxComment:
					var c store.CommentEvent
					if err := json.Unmarshal(ev.Comment, &c); err != nil || c.CommentID != added.Comment.ID || c.AuthorID != "alice" ||
						c.Text != "Check the address" || ev.DetailType() != changefeed.CommentDetailType {
						t.Fatalf("comment event %s: %s (%v)", ev.ID, ev.Comment, err)
					}
					order = append(order, seen{ev.Kind, c.Event, c.UserID})
				default:
					t.Fatalf("event %s of kind %q: no change was made", ev.ID, ev.Kind)
				}
			}
			// Each kind is relayed in its own order (the relay's timer may
			// have drained part of the outbox before the drain above, so
			// kinds can interleave): compare each kind's sequence.
			want := []seen{
				{"comment", "added", "alice"}, {"comment", "resolved", "alice"},
				{"lock", "acquired", "alice"}, {"lock", "released", "alice"},
			}
			if len(order) != len(want) {
				t.Fatalf("feed holds %v, want %v once each", order, want)
			}
			for _, kind := range []string{store.OutboxComment, store.OutboxLock} {
				of := func(all []seen) []seen {
					var out []seen
					for _, e := range all {
						if e.kind == kind {
							out = append(out, e)
						}
					}
					return out
				}
				if g, w := of(order), of(want); !slices.Equal(g, w) {
					t.Fatalf("feed holds %v of kind %s, want %v (whole feed %v)", g, kind, w, order)
				}
			}
			if n, err := srv.DrainChanges(ctx); err != nil || n != 0 {
				t.Fatalf("second drain sent %d (%v)", n, err)
			}
		})
	}
}
