package app

import (
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
