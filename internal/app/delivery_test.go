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
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			s, err := SettingsFromEnv(func(k string) string {
				if k == "DELIVERY_RATE_PER_SECOND" {
					return tt.value
				}
				return ""
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
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
	for v, want := range map[string]int{"": 0, "1": 1, "20": 20, "1000": 1000, "0": -1, "-3": -1, "1001": -1, "many": -1} {
		s, err := SettingsFromEnv(func(k string) string {
			if k == "MAX_CONNECTIONS_PER_USER" {
				return v
			}
			return ""
		})
		switch {
		case want < 0 && err == nil:
			t.Errorf("MAX_CONNECTIONS_PER_USER=%q accepted as %d", v, s.MaxConnectionsPerUser)
		case want >= 0 && (err != nil || s.MaxConnectionsPerUser != want):
			t.Errorf("MAX_CONNECTIONS_PER_USER=%q: %d, %v; want %d", v, s.MaxConnectionsPerUser, err, want)
		}
	}
}
