package handler_test

import (
	"encoding/json"
	"testing"

	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/protocol/protocoltest"
	"github.com/omnisales/rtcollab/internal/ratelimit"
)

// specHandler connects an admin, "A=", to a handler on the memory store
// and returns the protocol document with the function that sends a frame
// from A= and returns the reply's body.
func specHandler(t *testing.T) (*protocoltest.Spec, func(body string) string) {
	t.Helper()
	s, err := protocoltest.Default()
	if err != nil {
		t.Fatal(err)
	}
	send := connectAll(t, handler.Config{
		RequestLimit: ratelimit.Config{Rate: 1e6, Burst: 1 << 20},
		CursorLimit:  ratelimit.Config{Rate: 1e6, Burst: 1 << 20},
	}, nil, map[string]map[string]string{"A=": {"userId": "alice", "tenant": "t", "role": "admin"}})
	return s, func(body string) string { return send("A=", body) }
}

// TestSyncSnapshotCarriesEmptyDocument checks that a snapshot of an entity
// whose document is empty (never changed, or every member deleted) holds
// "document": {}, as the protocol document requires of every snapshot,
// while a reply with changes leaves document out.
func TestSyncSnapshotCarriesEmptyDocument(t *testing.T) {
	s, send := specHandler(t)
	for _, f := range []string{
		`{"type":"change","messageId":"c1","payload":{"entityType":"note","entityId":"2","baseVersion":0,"operation":"update","path":"a","after":1}}`,
		`{"type":"change","messageId":"c2","payload":{"entityType":"note","entityId":"2","baseVersion":1,"operation":"delete","path":"a"}}`,
	} {
		var env struct{ Type string }
		if reply := send(f); json.Unmarshal([]byte(reply), &env) != nil || env.Type != "ack" {
			t.Fatalf("%s: %s", f, reply)
		}
	}
	tests := []struct {
		name, frame string
		snapshot    bool
	}{
		{"entity never changed", `{"type":"sync","messageId":"s1","payload":{"entityType":"note","entityId":"never"}}`, true},
		{"every member deleted", `{"type":"sync","messageId":"s2","payload":{"entityType":"note","entityId":"2"}}`, true},
		{"changes since a version", `{"type":"sync","messageId":"s3","payload":{"entityType":"note","entityId":"2","sinceVersion":1}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := send(tt.frame)
			var env struct {
				Type    string
				Payload map[string]json.RawMessage
			}
			if err := json.Unmarshal([]byte(reply), &env); err != nil || env.Type != "ack" {
				t.Fatalf("reply %s (%v)", reply, err)
			}
			doc, ok := env.Payload["document"]
			switch {
			case tt.snapshot && (!ok || string(doc) != "{}"):
				t.Errorf("snapshot reply has document %q (present %v), want {}: %s", doc, ok, reply)
			case !tt.snapshot && ok:
				t.Errorf("reply with changes has document %s, want none: %s", doc, reply)
			}
			if err := s.Reply("sync", []byte(reply)); err != nil {
				t.Error(err)
			}
		})
	}
}
