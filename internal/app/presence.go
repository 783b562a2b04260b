package app

import (
	"fmt"
	"time"

	"github.com/omnisales/rtcollab/internal/handler"
)

// presenceFromEnv reads the presence settings through getenv. Each is a Go
// duration; an unset variable keeps the handler's default:
//
//	AWAY_TIMEOUT        idle time before a connection is away (5m)
//	OFFLINE_TIMEOUT     silence, heartbeats included, before it is offline (90s)
//	ACTIVITY_RETENTION  how long activity-feed entries are kept (720h, 30 days)
func presenceFromEnv(getenv func(string) string) (handler.PresenceConfig, error) {
	var c handler.PresenceConfig
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{
		{"AWAY_TIMEOUT", &c.AwayTimeout},
		{"OFFLINE_TIMEOUT", &c.OfflineTimeout},
		{"ACTIVITY_RETENTION", &c.ActivityRetention},
	} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%s %q: want a positive duration", v.name, s)
		}
		*v.dst = d
	}
	return c, nil
}
