package loadtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/tools/loadtest"
)

// TestMeasureCapacity runs the capacity scenario of make cost at a small
// fan-out and checks what the design promises: nothing Scans, and a
// publish is one GetItem and one Query, with no write.
func TestMeasureCapacity(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run `make test` or scripts/with-moto.sh go test ./tools/loadtest")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := loadtest.MeasureCapacity(ctx, loadtest.CapacityConfig{Endpoint: ep, Fanouts: []int{3}, Logf: t.Logf})
	if err != nil {
		t.Fatalf("MeasureCapacity: %v", err)
	}
	for _, s := range rep.Steps {
		if n := s.Calls["Scan"]; n > 0 {
			t.Errorf("%s: %d Scans", s.Name, n)
		}
	}
	tests := []struct {
		step              string
		calls             map[string]int64
		minRead, minWrite float64
		maxWrite          float64
	}{
		{"connect", nil, 1, 2, 100},
		{"subscribe", nil, 1, 2, 100},
		{loadtest.PublishStepName(3), map[string]int64{"GetItem": 1, "Query": 1}, 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			s, ok := rep.Step(tt.step)
			if !ok {
				t.Fatalf("no step %q", tt.step)
			}
			if tt.calls != nil && s.FormatCalls() != (loadtest.CapacityStep{Calls: tt.calls}).FormatCalls() {
				t.Errorf("calls = %s, want %s", s.FormatCalls(), (loadtest.CapacityStep{Calls: tt.calls}).FormatCalls())
			}
			if s.ReadUnits < tt.minRead || s.WriteUnits < tt.minWrite || s.WriteUnits > tt.maxWrite {
				t.Errorf("units = %.1f RRU, %.1f WRU; want at least %.1f RRU and %.1f..%.1f WRU",
					s.ReadUnits, s.WriteUnits, tt.minRead, tt.minWrite, tt.maxWrite)
			}
		})
	}
	if rep.ConnItemBytes == 0 || rep.SubItemBytes == 0 {
		t.Errorf("item sizes %d and %d B, want both measured", rep.ConnItemBytes, rep.SubItemBytes)
	}
}
