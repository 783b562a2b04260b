package handler

import (
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	r, err := ParseRetention(" order-updates=500/10m, inventory-*=200/2m ,room:*=5/1s")
	if err != nil {
		t.Fatalf("ParseRetention: %v", err)
	}
	want := Retention{{"order-updates", 500, 10 * time.Minute}, {"inventory-*", 200, 2 * time.Minute}, {"room:*", 5, time.Second}}
	if len(r) != len(want) {
		t.Fatalf("got %v, want %v", r, want)
	}
	for i := range want {
		if r[i] != want[i] {
			t.Fatalf("rule %d: %+v, want %+v", i, r[i], want[i])
		}
	}
	if again, err := ParseRetention(r.String()); err != nil || again.String() != r.String() {
		t.Fatalf("round trip of %q: %q, %v", r.String(), again.String(), err)
	}
	for _, tc := range []struct {
		channel string
		want    string
	}{
		{"order-updates", "order-updates"},
		{"inventory-updates", "inventory-*"},
		{"inventory-", "inventory-*"},
		{"customer-updates", ""},
		{"room:dashboard", ""}, // presence and cursors never keep history
		{"user-presence", ""},
	} {
		rule, ok := r.For(tc.channel)
		if ok != (tc.want != "") || rule.Pattern != tc.want {
			t.Errorf("For(%q) = %q, %v; want %q", tc.channel, rule.Pattern, ok, tc.want)
		}
	}
	for _, s := range []string{"", "none", "  none "} {
		if r, err := ParseRetention(s); err != nil || r == nil || len(r) != 0 {
			t.Errorf("ParseRetention(%q) = %v, %v; want an empty, non-nil retention", s, r, err)
		}
	}
	for _, bad := range []string{
		"order-updates", "order-updates=500", "order-updates=0/1m", "order-updates=10001/1m",
		"order-updates=-1/1m", "order-updates=9223372036854775808/1m", "order-updates=5/0s",
		"order-updates=5/500ms", "order-updates=5/169h", "order-updates=5/forever", "=5/1m",
		"a#b=5/1m", "a/b=5/1m", "a b=5/1m", "é=5/1m", "a=5/1m,,b=5/1m",
	} {
		if _, err := ParseRetention(bad); err == nil {
			t.Errorf("ParseRetention(%q) succeeded", bad)
		}
	}
	if _, ok := (Retention(nil)).For("order-updates"); ok {
		t.Errorf("a nil retention keeps history")
	}
	if _, ok := DefaultRetention().For("order-updates"); !ok {
		t.Errorf("DefaultRetention keeps no history of order-updates")
	}
}
