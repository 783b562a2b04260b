package app

import (
	"strings"
	"testing"
)

func TestHistoryRetentionFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "HISTORY_RETENTION" {
				return v
			}
			return ""
		}
	}
	s, err := SettingsFromEnv(env(""))
	if err != nil || s.History != nil {
		t.Fatalf("unset: %v, %v; want nil (the handler's default)", s.History, err)
	}
	s, err = SettingsFromEnv(env("order-updates=50/1m,inventory-*=5/30s"))
	if err != nil || s.History.String() != "order-updates=50/1m0s,inventory-*=5/30s" {
		t.Fatalf("rules: %v, %v", s.History, err)
	}
	s, err = SettingsFromEnv(env("none"))
	if err != nil || s.History == nil || len(s.History) != 0 {
		t.Fatalf("none: %v, %v; want an empty retention", s.History, err)
	}
	if _, err := SettingsFromEnv(env("order-updates=0/1m")); err == nil || !strings.Contains(err.Error(), "HISTORY_RETENTION") {
		t.Fatalf("a bad rule: %v, want an error naming HISTORY_RETENTION", err)
	}
}
