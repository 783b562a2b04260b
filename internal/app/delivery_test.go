package app

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/ratelimit"
)

func TestDeliveryRateFromEnv(t *testing.T) {
	tests := []struct {
		value   string
		want    float64 // the pacer's budget
		wantErr bool
	}{
		{"", DefaultDeliveryRate, false},
		{"250", 250, false},
		{"0.5", 0.5, false},
		{"0", 0, true},
		{"-1", 0, true},
		{"NaN", 0, true},
		{"Inf", 0, true},
		{"fast", 0, true},
		{"1000000", ratelimit.MaxPacerBudget, false},
		{"1000001", 0, true},
		{"1e308", 0, true}, // made the pacer's sums overflow: every call waited for ever
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			s, ok := settingsWith(t, "DELIVERY_RATE_PER_SECOND", tt.value, tt.wantErr)
			if !ok {
				return
			}
			mo := s.ManagementOptions()
			p, ok := mo.Pacer.(*ratelimit.Pacer)
			if !ok || p == nil || p.Budget() != tt.want {
				t.Fatalf("pacer = %#v, want a budget of %v", mo.Pacer, tt.want)
			}
			if mo.MaxThrottleAttempts != DeliveryThrottleAttempts || mo.Backoff == nil {
				t.Errorf("options = %+v, want %d throttle attempts and a backoff", mo, DeliveryThrottleAttempts)
			}
			if s.ManagementOptions().Pacer == mo.Pacer {
				t.Error("two pools would share one pacer")
			}
		})
	}
}

func TestDeliveryRateOff(t *testing.T) {
	if mo := (Settings{DeliveryRate: -1}).ManagementOptions(); mo.Pacer != nil {
		t.Errorf("a negative rate gives pacer %#v, want none", mo.Pacer)
	}
}

func TestMaxConnectionsPerUserFromEnv(t *testing.T) {
	checkIntFromEnv(t, "MAX_CONNECTIONS_PER_USER", map[string]int{"": 0, "1": 1, "20": 20, "1000": 1000, "0": -1, "-3": -1, "1001": -1, "many": -1},
		func(s Settings) int { return s.MaxConnectionsPerUser })
}

func TestMaxLocksPerConnectionFromEnv(t *testing.T) {
	checkIntFromEnv(t, "MAX_LOCKS_PER_CONNECTION", map[string]int{"": 0, "1": 1, "20": 20, "500": 500, "0": -1, "-3": -1, "many": -1},
		func(s Settings) int { return s.MaxLocksPerConnection })
}

// checkIntFromEnv checks that each value of the variable name gives the
// setting got reads, or is refused where cases says -1.
func checkIntFromEnv(t *testing.T, name string, cases map[string]int, got func(Settings) int) {
	t.Helper()
	for v, want := range cases {
		s, err := SettingsFromEnv(func(k string) string {
			if k == name {
				return v
			}
			return ""
		})
		switch {
		case want < 0 && err == nil:
			t.Errorf("%s=%q accepted as %d", name, v, got(s))
		case want >= 0 && (err != nil || got(s) != want):
			t.Errorf("%s=%q: %d, %v; want %d", name, v, got(s), err, want)
		}
	}
}

func TestDeliveryBurstFromEnv(t *testing.T) {
	tests := []struct {
		value   string
		want    int // the pacer's burst
		wantErr bool
	}{
		{"", DefaultDeliveryRate / 10, false}, // a tenth of the budget
		{"1", 1, false},
		{"5000", 5000, false},
		{"0", 0, true},
		{"-1", 0, true},
		{"1.5", 0, true},
		{"many", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			s, ok := settingsWith(t, "DELIVERY_BURST", tt.value, tt.wantErr)
			if !ok {
				return
			}
			p, ok := s.ManagementOptions().Pacer.(*ratelimit.Pacer)
			if !ok || p == nil || p.Burst() != tt.want || p.Budget() != DefaultDeliveryRate {
				t.Fatalf("pacer = %#v, want a burst of %d at the default budget", p, tt.want)
			}
		})
	}
}

// settingsWith reads the settings with one variable set to value and
// checks that they are refused exactly when wantErr; it reports whether
// the settings are there to check further.
func settingsWith(t *testing.T, key, value string, wantErr bool) (Settings, bool) {
	t.Helper()
	s, err := SettingsFromEnv(func(k string) string {
		if k == key {
			return value
		}
		return ""
	})
	if (err != nil) != wantErr {
		t.Fatalf("%s=%q: error = %v, want error %v", key, value, err, wantErr)
	}
	return s, err == nil
}

// TestLogLevelFromEnv: LOG_LEVEL takes the four levels in any case; any
// other value stops the program at start, as CONFIG.md says of every
// setting (it was taken as info).
func TestLogLevelFromEnv(t *testing.T) {
	for _, v := range []string{"", "debug", "INFO", "Warn", "error"} {
		settingsWith(t, "LOG_LEVEL", v, false)
	}
	for _, v := range []string{"verbose", "warning", "err", "0"} {
		settingsWith(t, "LOG_LEVEL", v, true)
	}
}

// TestDevIdentityFromEnv: DEV_IDENTITY takes 1, true or yes for on and 0,
// false, no or nothing for off, in any case and with spaces around; any
// other value stops the program at start, as CONFIG.md says of every
// setting (it was taken as off, and the program then failed for want of
// an authenticator).
func TestDevIdentityFromEnv(t *testing.T) {
	for v, on := range map[string]bool{"": false, "0": false, "false": false, "No": false, "1": true, " 1 ": true, "TRUE": true, "yes": true} {
		if s, _ := settingsWith(t, "DEV_IDENTITY", v, false); s.DevIdentity != on {
			t.Errorf("DEV_IDENTITY=%q: DevIdentity %v, want %v", v, s.DevIdentity, on)
		}
	}
	for _, v := range []string{"on", "2", "enabled", "y"} {
		settingsWith(t, "DEV_IDENTITY", v, true)
	}
}
