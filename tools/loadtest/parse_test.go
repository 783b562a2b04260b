package loadtest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/protocol"
)

// TestParseUpdate checks the update fast path against frames built by the
// backend's own encoder, and that it declines every frame it cannot read
// exactly (those take the encoding/json path).
func TestParseUpdate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	event := func(t *testing.T, typ, channel string, body any) []byte {
		t.Helper()
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		f, err := protocol.Event(typ, channel, "load-7", "p-12", json.RawMessage(raw), now)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, want := range []payload{
		{C: 0, K: 0, T: 1},
		{C: 3, K: 12, T: now.UnixNano(), Pad: strings.Repeat("x", 192)},
		{C: 999, K: 123456, T: now.UnixNano()},
	} {
		f := event(t, protocol.TypeUpdate, "load-abc-3", want)
		got, ok := parseUpdate(f)
		want.Pad = ""
		if !ok || got != want {
			t.Errorf("parseUpdate(%s) = %+v, %v; want %+v", f, got, ok, want)
		}
	}

	declined := map[string][]byte{
		"another type": event(t, "presence", "load-abc-3", payload{C: 1, K: 2, T: 3}),
		"another order": event(t, protocol.TypeUpdate, "load-abc-3", struct {
			K int `json:"k"`
			C int `json:"c"`
			T int `json:"t"`
		}{2, 1, 3}),
		"negative sequence": event(t, protocol.TypeUpdate, "load-abc-3", map[string]any{"c": 1, "k": -2, "t": 3}),
		"fraction":          event(t, protocol.TypeUpdate, "load-abc-3", map[string]any{"c": 1, "k": 2.5, "t": 3}),
		"key in a string":   event(t, protocol.TypeUpdate, `x,"payload":{"c":1,"k":2,"t":3}`, "text"),
		"huge number":       []byte(`{"type":"update","payload":{"c":1,"k":2,"t":9223372036854775808}}`),
		"huge channel":      []byte(`{"type":"update","payload":{"c":2147483648,"k":2,"t":3}}`),
		"truncated":         []byte(`{"type":"update","payload":{"c":1,"k":2,"t":3`),
		"reply":             []byte(`{"type":"ack","payload":{"c":1,"k":2,"t":3},"replyTo":"p-1"}`),
		"not JSON":          []byte(`update`),
	}
	for name, f := range declined {
		if p, ok := parseUpdate(f); ok {
			t.Errorf("%s: parseUpdate(%s) = %+v, want it declined", name, f, p)
		}
	}
}
