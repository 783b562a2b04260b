package handler

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/omnisales/rtcollab/internal/protocol"
)

// RetentionRule keeps the publications of the channels that Pattern
// matches: the last Count of them, each for Age.
type RetentionRule struct {
	// Pattern is a channel name in which '*' stands for any run of
	// characters (path.Match syntax), e.g. "inventory-*".
	Pattern string
	// Count bounds the publications kept: 1..MaxRetentionCount.
	Count int
	// Age is how long each publication is kept: 1 s..MaxRetentionAge.
	Age time.Duration
}

// Retention is the channel history settings: the first rule whose pattern
// matches a channel applies; a channel that none matches keeps no history,
// and neither do presence and cursor channels (user-presence, room:*),
// whatever the rules say. A nil Retention in Config means
// DefaultRetention(); an empty one keeps no history at all.
type Retention []RetentionRule

// Bounds of a retention rule.
const (
	MaxRetentionCount = 10000
	MaxRetentionAge   = 7 * 24 * time.Hour
)

// DefaultRetention returns the retention used when none is configured:
// the seed's update channels, for longer than a reconnect takes
// ("order-updates=500/10m,*-updates=200/2m").
func DefaultRetention() Retention {
	return Retention{
		{Pattern: protocol.ChannelOrders, Count: 500, Age: 10 * time.Minute},
		{Pattern: "*-updates", Count: 200, Age: 2 * time.Minute},
	}
}

// ParseRetention reads retention rules written as
// "pattern=count/age,...", e.g. "order-updates=500/10m,inventory-*=200/2m"
// (age a Go duration). "" and "none" give an empty Retention: no history.
func ParseRetention(s string) (Retention, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return Retention{}, nil
	}
	var out Retention
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		pattern, spec, ok := strings.Cut(part, "=")
		count, age, ok2 := strings.Cut(spec, "/")
		if !ok || !ok2 {
			return nil, fmt.Errorf("retention rule %q: want pattern=count/age", part)
		}
		pattern = strings.TrimSpace(pattern)
		if err := checkPattern(pattern); err != nil {
			return nil, fmt.Errorf("retention rule %q: %w", part, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(count))
		if err != nil || n < 1 || n > MaxRetentionCount {
			return nil, fmt.Errorf("retention rule %q: count must be 1..%d", part, MaxRetentionCount)
		}
		d, err := time.ParseDuration(strings.TrimSpace(age))
		if err != nil || d < time.Second || d > MaxRetentionAge {
			return nil, fmt.Errorf("retention rule %q: age must be a duration of 1s..%s", part, MaxRetentionAge)
		}
		out = append(out, RetentionRule{Pattern: pattern, Count: n, Age: d})
	}
	return out, nil
}

// checkPattern accepts channel-name characters and '*'.
func checkPattern(p string) error {
	if p == "" || len(p) > protocol.MaxChannelLen {
		return fmt.Errorf("pattern must be 1..%d characters", protocol.MaxChannelLen)
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:*", c)) {
			return fmt.Errorf("pattern %q: only channel characters and '*'", p)
		}
	}
	return nil
}

// For returns the rule that applies to channel, if any.
func (r Retention) For(channel string) (RetentionRule, bool) {
	if channel == protocol.ChannelPresence || strings.HasPrefix(channel, protocol.RoomChannel("")) {
		return RetentionRule{}, false
	}
	for _, rule := range r {
		if ok, _ := path.Match(rule.Pattern, channel); ok {
			return rule, true
		}
	}
	return RetentionRule{}, false
}

// String writes r as ParseRetention reads it.
func (r Retention) String() string {
	if len(r) == 0 {
		return "none"
	}
	parts := make([]string, len(r))
	for i, rule := range r {
		parts[i] = fmt.Sprintf("%s=%d/%s", rule.Pattern, rule.Count, rule.Age)
	}
	return strings.Join(parts, ",")
}
