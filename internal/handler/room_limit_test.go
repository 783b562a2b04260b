package handler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
)

// roomLimitSend connects one editor and returns a function sending its
// frames, after it entered the 20 rooms of the default limit.
func roomLimitSend(t *testing.T) func(body string) string {
	t.Helper()
	sendFrom := connectAll(t, handler.Config{}, nil, map[string]map[string]string{"AnnConn=": {"userId": "ann", "tenant": "t1", "role": "editor"}})
	send := func(body string) string {
		t.Helper()
		return sendFrom("AnnConn=", body)
	}
	for i := range 20 {
		if b := send(fmt.Sprintf(`{"type":"room.join","messageId":"j%d","payload":{"room":"r%d"}}`, i, i)); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("join %d: %s", i, b)
		}
	}
	return send
}

// TestRefusedRoomEntryLeavesNoSubscription: a presence frame naming a
// 21st room is refused for the room limit, and the connection is not left
// subscribed to that room's channel (it would receive a room it is not
// in).
func TestRefusedRoomEntryLeavesNoSubscription(t *testing.T) {
	send := roomLimitSend(t)
	if b := send(`{"type":"presence","messageId":"p1","payload":{"room":"extra"}}`); !strings.Contains(b, "TOO_MANY_SUBSCRIPTIONS") {
		t.Fatalf("presence into a 21st room: %s, want TOO_MANY_SUBSCRIPTIONS", b)
	}
	if b := send(`{"type":"unsubscribe","channel":"room:extra","messageId":"u1"}`); !strings.Contains(b, `"wasSubscribed":false`) {
		t.Fatalf("a refused presence {room} left the connection subscribed to room:extra: %s", b)
	}
	if b := send(`{"type":"room.join","messageId":"j-extra","payload":{"room":"extra"}}`); !strings.Contains(b, "TOO_MANY_SUBSCRIPTIONS") {
		t.Fatalf("a 21st room.join: %s, want TOO_MANY_SUBSCRIPTIONS", b)
	}
	if b := send(`{"type":"unsubscribe","channel":"room:extra","messageId":"u2"}`); !strings.Contains(b, `"wasSubscribed":false`) {
		t.Fatalf("a refused room.join left the connection subscribed to room:extra: %s", b)
	}
}

// TestRefusedRoomJoinKeepsEarlierSubscription: a room.join refused for the
// room limit does not take away a subscription to the room's channel the
// connection made before with a plain subscribe.
func TestRefusedRoomJoinKeepsEarlierSubscription(t *testing.T) {
	for _, body := range []string{
		`{"type":"room.join","messageId":"j-extra","payload":{"room":"extra"}}`,
		`{"type":"presence","messageId":"p-extra","payload":{"room":"extra"}}`,
	} {
		send := roomLimitSend(t)
		if b := send(`{"type":"subscribe","channel":"room:extra","messageId":"s1"}`); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("subscribe: %s", b)
		}
		if b := send(body); !strings.Contains(b, "TOO_MANY_SUBSCRIPTIONS") {
			t.Fatalf("%s into a 21st room: %s, want TOO_MANY_SUBSCRIPTIONS", body, b)
		}
		if b := send(`{"type":"unsubscribe","channel":"room:extra","messageId":"u1"}`); !strings.Contains(b, `"wasSubscribed":true`) {
			t.Fatalf("after a refused %s the earlier subscription to room:extra is gone: %s", body, b)
		}
	}
}

// TestFailedSubscribeLeavesNoSubscription: a subscribe whose reply cannot
// be made after the subscription was written (the stream position or the
// recovered history cannot be read) answers an error and takes the new
// subscription back, so that the client, told it is not subscribed, does
// not receive the channel; a subscription it had before stays.
func TestFailedSubscribeLeavesNoSubscription(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, method := range []string{"StreamPosition", "Publications"} {
		fs := &failingStore{method: method, err: store.ErrUnavailable}
		h, _, _ := fuzzHandler(t, now, nil, func(s store.Store) store.Store { fs.Store = s; return fs })
		send := func(body string) string {
			t.Helper()
			resp, err := h.Message(context.Background(), fuzzEvent(fuzzConns[0].id, body, nil))
			if err != nil {
				t.Fatal(err)
			}
			return resp.Body
		}
		frame := `{"type":"subscribe","channel":"customer-updates","messageId":"s1"}`
		if method == "Publications" {
			frame = `{"type":"subscribe","channel":"customer-updates","messageId":"s1","payload":{"since":{"offset":0,"epoch":"e1"}}}`
		}
		fs.armed.Store(true)
		if b := send(frame); !strings.Contains(b, "UNAVAILABLE") {
			t.Fatalf("%s failing: subscribe = %s, want UNAVAILABLE", method, b)
		}
		fs.armed.Store(false)
		if b := send(`{"type":"unsubscribe","channel":"customer-updates","messageId":"u1"}`); !strings.Contains(b, `"wasSubscribed":false`) {
			t.Fatalf("%s failing: the failed subscribe left the connection subscribed: %s", method, b)
		}
		if b := send(`{"type":"subscribe","channel":"customer-updates","messageId":"s2"}`); !strings.Contains(b, `"type":"ack"`) {
			t.Fatalf("subscribe: %s", b)
		}
		fs.armed.Store(true)
		if b := send(strings.Replace(frame, `"s1"`, `"s3"`, 1)); !strings.Contains(b, "UNAVAILABLE") {
			t.Fatalf("%s failing: a second subscribe = %s, want UNAVAILABLE", method, b)
		}
		fs.armed.Store(false)
		if b := send(`{"type":"unsubscribe","channel":"customer-updates","messageId":"u2"}`); !strings.Contains(b, `"wasSubscribed":true`) {
			t.Fatalf("%s failing: a failed subscribe took away the subscription made before: %s", method, b)
		}
	}
}
