package cost_test

import (
	"slices"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/tools/cost"
)

// TestMeasuredBilled checks the reading of the emulator measurement:
// medians at the fan-outs measured, straight lines between them, and no
// answer where it does not apply.
func TestMeasuredBilled(t *testing.T) {
	m, err := cost.LoadBilledMeasurement()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) == 0 || m.PostLatencyMs != 20 {
		t.Fatalf("measurement: %d runs at %v ms per post", len(m.Runs), m.PostLatencyMs)
	}
	post := 20 * time.Millisecond
	medians := map[int]float64{}
	for _, r := range m.Runs {
		if r.MemoryMB != 256 {
			continue
		}
		if len(r.Billed) != r.Publishes || r.Publishes == 0 {
			t.Fatalf("fan-out %d: %d billed figures for %d publishes", r.Fanout, len(r.Billed), r.Publishes)
		}
		s := slices.Sorted(slices.Values(r.Billed))
		medians[r.Fanout] = s[len(s)/2]
		got, ok := cost.MeasuredBilled(r.Fanout, 256, post)
		if !ok || got != cost.BilledDuration(time.Duration(medians[r.Fanout]*float64(time.Millisecond))) {
			t.Errorf("fan-out %d: %v %v, want the median %v ms", r.Fanout, got, ok, medians[r.Fanout])
		}
	}
	lo, _ := cost.MeasuredBilled(10, 256, post)
	mid, _ := cost.MeasuredBilled(55, 256, post)
	hi, _ := cost.MeasuredBilled(100, 256, post)
	if want := cost.BilledDuration((lo + hi) / 2); mid < want-time.Millisecond || mid > want+time.Millisecond {
		t.Errorf("fan-out 55: %v, want about %v (halfway between %v and %v)", mid, want, lo, hi)
	}
	if one, _ := cost.MeasuredBilled(1, 256, post); one != lo {
		t.Errorf("fan-out 1: %v, want the smallest fan-out's %v", one, lo)
	}
	if _, ok := cost.MeasuredBilled(10, 256, 50*time.Millisecond); ok {
		t.Error("a 50 ms post latency was answered from a 20 ms measurement")
	}
	if _, ok := cost.MeasuredBilled(10, 3008, post); ok {
		t.Error("a memory size not measured was answered")
	}
	e, err := cost.EstimatePublish(cost.PublishParams{Fanout: 100, MessageBytes: 1024}, cost.DefaultPrices())
	if err != nil || !e.BilledMeasured || e.Publish.LambdaBilled != hi {
		t.Errorf("estimate at fan-out 100: measured %v, billed %v, want %v (%v)", e.BilledMeasured, e.Publish.LambdaBilled, hi, err)
	}
	e, _ = cost.EstimatePublish(cost.PublishParams{Fanout: 100, MessageBytes: 1024, ModelLambda: true}, cost.DefaultPrices())
	if e.BilledMeasured {
		t.Error("ModelLambda still priced from the measurement")
	}
}
