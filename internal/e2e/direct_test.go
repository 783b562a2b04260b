package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestDirectDelivery runs a publish with a live subscriber and a gone one
// through each delivery path of the local server: the in-process path (the
// default), the signed HTTP Management API (Options.ManagementHTTP), and
// the HTTP path a ManagementFault hook forces, which must see every post.
// Each delivers to the live subscriber, and each reports the gone one so
// that the handler removes it.
func TestDirectDelivery(t *testing.T) {
	tests := []struct {
		name       string
		http       bool
		hook       bool
		wantDirect bool
	}{
		{"direct", false, false, true},
		{"http", true, false, false},
		{"fault hook", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hooked atomic.Int32 // POSTs the fault hook saw
			o := devserver.Options{Settings: app.Settings{DevIdentity: true}, ManagementHTTP: tt.http}
			if tt.hook {
				o.Gateway = gateway.Config{ManagementFault: func(r *http.Request) (int, time.Duration) {
					if r.Method == http.MethodPost {
						hooked.Add(1)
					}
					return 0, 0
				}}
			}
			srv := startOptions(t, o)
			if got := srv.DirectDelivery(); got != tt.wantDirect {
				t.Fatalf("DirectDelivery() = %v, want %v", got, tt.wantDirect)
			}

			ctx := context.Background()
			st := srv.Built.Store
			ghost := addGhost(t, st, "order:direct-1")
			alice := dial(t, srv, "alice")
			bob := dial(t, srv, "bob")
			bob.mustAck("subscribe", "order:direct-1", nil)
			pid := alice.send("publish", "order:direct-1", map[string]any{"text": "héllo"}, nil)
			ack := alice.next()
			if ack.Type != "ack" || ack.ReplyTo != pid {
				t.Fatalf("publish reply = %+v", ack)
			}
			var res struct{ Recipients, Delivered int }
			_ = json.Unmarshal(ack.Payload, &res)
			if res.Recipients != 2 || res.Delivered != 1 {
				t.Errorf("publish result = %s, want 2 recipients, 1 delivered", ack.Payload)
			}
			f := bob.next()
			var p struct{ Text string }
			_ = json.Unmarshal(f.Payload, &p)
			if f.Type != "update" || f.MessageID != pid || f.UserID != "alice" || p.Text != "héllo" {
				t.Errorf("bob got %+v, want alice's update", f)
			}
			if _, err := st.GetConnection(ctx, ghost.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("gone subscriber still stored (%v): its 410 was not recognised", err)
			}
			bob.quiet()

			switch n := hooked.Load(); {
			case tt.hook && n < 2:
				t.Errorf("the fault hook saw %d POSTs, want both (live and gone subscriber)", n)
			case !tt.hook && n != 0:
				t.Errorf("the fault hook saw %d POSTs without being set", n)
			}

			// The HTTP Management API is served whichever path the
			// handlers use.
			var h struct{ ConnectionID string }
			_ = json.Unmarshal(bob.mustAck("hello", "", nil).Payload, &h)
			if err := mgmtClient(t, srv).PostToConnection(ctx, h.ConnectionID, []byte(postedNotification)); err != nil {
				t.Fatalf("Management API POST: %v", err)
			}
			if f := bob.next(); f.Type != "notification" {
				t.Errorf("bob got %+v, want the posted notification", f)
			}
		})
	}
}

// TestDirectDeliveryFanout: one publish to many subscribers over the
// in-process path reaches each of them exactly once.
func TestDirectDeliveryFanout(t *testing.T) {
	const subscribers = 100
	srv := startServer(t, app.Settings{DevIdentity: true}, gateway.Config{})
	if !srv.DirectDelivery() {
		t.Fatal("the default server does not deliver in process")
	}
	subs := make([]*client, subscribers)
	for i := range subs {
		subs[i] = dial(t, srv, fmt.Sprintf("sub-%d", i))
		subs[i].mustAck("subscribe", "order:wide", nil)
	}
	pub := dial(t, srv, "publisher")
	for k := range 3 {
		pid := pub.send("publish", "order:wide", map[string]any{"k": k}, nil)
		if ack := pub.next(); ack.Type != "ack" || ack.ReplyTo != pid {
			t.Fatalf("publish %d reply = %+v", k, ack)
		}
		for i, c := range subs {
			if f := c.next(); f.Type != "update" || f.MessageID != pid {
				t.Fatalf("subscriber %d got %+v, want update %s", i, f, pid)
			}
		}
	}
	for _, c := range subs {
		c.quiet()
	}
}
