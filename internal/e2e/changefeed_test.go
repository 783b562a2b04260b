package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestChangeFeedHoldsEveryStoredChangeOnce: 5 clients push 200 changes to
// one entity, dropping their connections at random and sending again
// after reconnecting; refused changes are sent too. The change feed (the
// outbox written with each change, relayed to the local log) then holds
// each stored change exactly once, in version order, and nothing for a
// refused change. On the memory store and on DynamoDB (moto); the outbox
// is used rather than DynamoDB Streams so that both stores, and the
// local server, share one path.
func TestChangeFeedHoldsEveryStoredChangeOnce(t *testing.T) {
	const clients, perClient = 5, 40
	for _, b := range edBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := edStartTuned(t, b, fastRequests(handler.Config{}), "")
			ctx := context.Background()
			setup := edT{t, edDial(t, srv.Server, "setup")}
			setup.ack("change", change(loadType, loadID, 0, "update", "log", after([]any{})))
			// Refused: a malformed operation, and a stale base on another
			// entity; neither is stored.
			setup.bad().refused("change", change(loadType, "refused", 0, "explode", "x", nil), "BAD_REQUEST")
			setup.refused("change", change(loadType, "refused", 7, "update", "x", after(1)), "VERSION_CONFLICT")
			lcs := pushLoad(t, srv, "feeder%d", 11, clients, perClient)
			reconnects := 0
			for _, lc := range lcs {
				reconnects += lc.reconnects
			}
			_, head := serverDoc(t, srv.store, loadType, loadID)
			if head != clients*perClient+1 {
				t.Fatalf("head at version %d, want %d", head, clients*perClient+1)
			}
			if _, err := srv.DrainChanges(ctx); err != nil {
				t.Fatal(err)
			}
			events := srv.Changes.Since(0)
			stored, err := srv.store.ListChanges(ctx, store.EntityKey{Tenant: "default", Type: loadType, ID: loadID}, store.ChangeQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			// The store keeps the last changes of the history; the feed
			// holds every version.
			if len(events) != int(head) {
				t.Fatalf("the feed holds %d events, want one per stored change: %d", len(events), head)
			}
			for i, ev := range events {
				if ev.Tenant != "default" || ev.EntityType != loadType || ev.EntityID != loadID {
					t.Fatalf("event %d is for %s/%s/%s: a refused change reached the feed", i, ev.Tenant, ev.EntityType, ev.EntityID)
				}
				if ev.Version != int64(i+1) || ev.ID != fmt.Sprintf("default/%s/%s/%d", loadType, loadID, i+1) {
					t.Fatalf("event %d is version %d (%s), want version %d: not each once in order", i, ev.Version, ev.ID, i+1)
				}
				var c struct {
					Version int64  `json:"version"`
					UserID  string `json:"userId"`
					Op      any    `json:"op"`
				}
				if err := json.Unmarshal(ev.Change, &c); err != nil || c.Version != ev.Version || c.UserID == "" || c.Op == nil {
					t.Fatalf("event %d carries %s, want the change as applied with its version and user", i, ev.Change)
				}
			}
			for _, ch := range stored {
				if !bytes.Contains(events[ch.Version-1].Change, fmt.Appendf(nil, `"version":%d`, ch.Version)) {
					t.Fatalf("stored version %d differs from its event", ch.Version)
				}
			}
			// Drained: the outbox is empty, and a second drain sends nothing.
			if n, err := srv.DrainChanges(ctx); err != nil || n != 0 || len(srv.Changes.Since(0)) != int(head) {
				t.Fatalf("second drain sent %d (%v); the feed holds %d", n, err, len(srv.Changes.Since(0)))
			}
			// The same feed over the signed local endpoint, page by page.
			var fetched []changefeed.Event
			for next := 0; ; {
				page := getChanges(t, srv.APIURL(), next)
				if len(page.Events) == 0 {
					break
				}
				fetched = append(fetched, page.Events...)
				next = page.Next
			}
			if len(fetched) != len(events) || fetched[len(fetched)-1].ID != events[len(events)-1].ID {
				t.Fatalf("GET /api/changes returned %d events, want %d", len(fetched), len(events))
			}
			t.Logf("%d clients, %d changes, %d reconnects: %d events, versions 1..%d once each", clients, clients*perClient, reconnects, len(events), head)
		})
	}
}

type changesPage struct {
	Events []changefeed.Event `json:"events"`
	Next   int                `json:"next"`
}

// getChanges reads one page of GET /api/changes, signed with the local
// credentials; an unsigned read is refused.
func getChanges(t *testing.T, api string, after int) changesPage {
	t.Helper()
	u := fmt.Sprintf("%s/changes?after=%d", api, after)
	if after == 0 {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unsigned GET /api/changes = %d, want 403", resp.StatusCode)
		}
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: gateway.LocalAccessKeyID, SecretAccessKey: gateway.LocalSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p changesPage
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&p) != nil {
		t.Fatalf("GET /api/changes?after=%d = %d", after, resp.StatusCode)
	}
	return p
}
