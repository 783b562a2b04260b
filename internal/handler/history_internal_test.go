package handler

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// TestEmptyEpochFresh: a stand-in epoch is fresh for the retention age
// less the slack, and any other string a client sends, however extreme
// its number, is not one.
func TestEmptyEpochFresh(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rule := RetentionRule{Pattern: "c", Count: 10, Age: time.Minute}
	for _, tc := range []struct {
		epoch string
		want  bool
	}{
		{emptyEpoch(now), true},
		{emptyEpoch(now.Add(-54 * time.Second)), true},
		{emptyEpoch(now.Add(-55 * time.Second)), false}, // age less the slack
		{emptyEpoch(now.Add(5 * time.Second)), true},    // another instance's clock ahead
		{emptyEpoch(now.Add(6 * time.Second)), false},
		{"t0", false},
		{"t", false},
		{"t" + strconv.FormatInt(math.MinInt64, 10), false},
		{"t-1", false},
		{"t+1800000000", false},
		{"t" + strconv.FormatInt(math.MaxInt64, 10), false},
		{"t99999999999999999999999", false},
		{"t1800000000x", false},
		{"1800000000", false},
		{"0123456789abcdef", false},
		{"", false},
	} {
		if got := emptyEpochFresh(tc.epoch, rule, now); got != tc.want {
			t.Errorf("emptyEpochFresh(%q) = %v, want %v", tc.epoch, got, tc.want)
		}
	}
	// A retention age no longer than the slack never recovers from one.
	if emptyEpochFresh(emptyEpoch(now), RetentionRule{Age: 5 * time.Second}, now) {
		t.Errorf("fresh with an age of 5s")
	}
}
