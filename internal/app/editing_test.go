package app

import (
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/editing"
)

func TestEditingFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		bad  bool
		// checks on the result
		strategies map[string]editing.Strategy
		fallback   editing.Strategy
		lockTTL    time.Duration
		history    int
	}{
		{name: "unset", env: nil},
		{name: "issue example", env: map[string]string{
			"CONFLICT_STRATEGIES": "order=lock-based,inventory=crdt,customer=operational-transform,pricing=manual",
		}, strategies: map[string]editing.Strategy{"order": editing.LockBased, "inventory": editing.CRDT,
			"customer": editing.OperationalTransform, "pricing": editing.Manual}},
		{name: "override and fallback", env: map[string]string{"CONFLICT_STRATEGIES": "order=ot,quote=manual,*=crdt"},
			strategies: map[string]editing.Strategy{"order": editing.OperationalTransform, "quote": editing.Manual,
				"inventory": editing.CRDT, "pricing": editing.Manual},
			fallback: editing.CRDT},
		{name: "durations", env: map[string]string{"LOCK_TTL": "45s", "HISTORY_LIMIT": "250"}, lockTTL: 45 * time.Second, history: 250},
		{name: "bad strategy", env: map[string]string{"CONFLICT_STRATEGIES": "order=first-come"}, bad: true},
		{name: "bad ttl", env: map[string]string{"LOCK_TTL": "-3s"}, bad: true},
		{name: "bad history", env: map[string]string{"HISTORY_LIMIT": "many"}, bad: true},
		{name: "ttl at the cap", env: map[string]string{"LOCK_TTL": "2m", "LOCK_MAX_TTL": "2m"}, lockTTL: 2 * time.Minute},
		{name: "ttl up to the default cap", env: map[string]string{"LOCK_TTL": "5m"}, lockTTL: 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := editingFromEnv(func(k string) string { return tt.env[k] })
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted %v", tt.env)
				}
				return
			}
			if err != nil {
				t.Fatalf("editingFromEnv: %v", err)
			}
			for typ, want := range tt.strategies {
				if got := c.Strategies[typ]; got != want {
					t.Errorf("%s = %q, want %q", typ, got, want)
				}
			}
			if c.Fallback != tt.fallback || c.LockTTL != tt.lockTTL || c.HistoryLimit != tt.history {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

// TestLockTTLAboveTheCapIsRefused: a default lock lifetime longer than
// the longest a client may ask for would give a lock.acquire without ttl
// more than any request with one gets; the settings are refused at load,
// naming both variables, the defaults (LOCK_TTL 30s, LOCK_MAX_TTL 5m)
// counting when one is unset.
func TestLockTTLAboveTheCapIsRefused(t *testing.T) {
	for _, env := range []map[string]string{
		{"LOCK_TTL": "10m"},
		{"LOCK_MAX_TTL": "10s"},
		{"LOCK_TTL": "2m", "LOCK_MAX_TTL": "1m"},
	} {
		c, err := editingFromEnv(func(k string) string { return env[k] })
		if err == nil {
			t.Errorf("%v: accepted, LockTTL %v and MaxLockTTL %v", env, c.LockTTL, c.MaxLockTTL)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "LOCK_TTL") || !strings.Contains(msg, "LOCK_MAX_TTL") {
			t.Errorf("%v: error %q does not name LOCK_TTL and LOCK_MAX_TTL", env, msg)
		}
		if _, err := SettingsFromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v: SettingsFromEnv accepted it", env)
		}
	}
}
