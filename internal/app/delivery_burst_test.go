package app

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/ratelimit"
)

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
			s, err := SettingsFromEnv(func(k string) string {
				if k == "DELIVERY_BURST" {
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
			p, ok := s.ManagementOptions().Pacer.(*ratelimit.Pacer)
			if !ok || p == nil || p.Burst() != tt.want || p.Budget() != DefaultDeliveryRate {
				t.Fatalf("pacer = %#v, want a burst of %d at the default budget", p, tt.want)
			}
		})
	}
}
