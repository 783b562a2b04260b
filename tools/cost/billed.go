package cost

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// rieBilledJSON is the report of `make bench-rie` (internal/e2e
// TestRIEBilledDuration): the billed duration of publishes by the message
// bootstrap under the Lambda Runtime Interface Emulator, on moto, each
// post to the local Management API waiting PostLatencyMs, at several
// fan-outs, unthrottled and with the CPU share of several memory sizes.
//
//go:embed measured/rie-billed.json
var rieBilledJSON []byte

// BilledMeasurement is that report.
type BilledMeasurement struct {
	PostLatencyMs float64     `json:"postLatencyMs"`
	QuotaPeriodUs int         `json:"quotaPeriodUs"`
	Runs          []BilledRun `json:"runs"`
}

// BilledRun is one fan-out and memory size of the measurement.
type BilledRun struct {
	Fanout int `json:"fanout"`
	// MemoryMB is the memory size whose CPU share the bootstrap had
	// (cgroup CPU quota); 0 means unthrottled.
	MemoryMB  int       `json:"memoryMB"`
	Publishes int       `json:"publishes"`
	Duration  []float64 `json:"durationMs"` // the emulator's REPORT Duration, per publish
	Billed    []float64 `json:"billedMs"`   // its Billed Duration
	CPU       []float64 `json:"cpuMs"`      // the bootstrap's CPU time per publish
}

// LoadBilledMeasurement returns the embedded measurement.
var LoadBilledMeasurement = sync.OnceValues(func() (BilledMeasurement, error) {
	var m BilledMeasurement
	if err := json.Unmarshal(rieBilledJSON, &m); err != nil {
		return m, fmt.Errorf("measured billed durations: %w", err)
	}
	return m, nil
})

// MeasuredBilled returns the billed duration of one invocation that posts
// to n recipients with memMB of memory, from the emulator measurement:
// the median billed duration of the runs at that memory size, linear
// between the fan-outs measured, the smallest one's below them and the
// last segment's slope beyond them. It reports false when the measurement
// does not apply: another post latency, or a memory size not measured.
func MeasuredBilled(n, memMB int, postLatency time.Duration) (time.Duration, bool) {
	m, err := LoadBilledMeasurement()
	if err != nil || math.Abs(float64(postLatency)/float64(time.Millisecond)-m.PostLatencyMs) > 0.5 {
		return 0, false
	}
	type point struct{ fanout, ms float64 }
	var pts []point
	for _, r := range m.Runs {
		if r.MemoryMB == memMB && len(r.Billed) > 0 {
			s := slices.Clone(r.Billed)
			slices.Sort(s)
			pts = append(pts, point{float64(r.Fanout), s[len(s)/2]})
		}
	}
	if len(pts) == 0 {
		return 0, false
	}
	slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.fanout, b.fanout) })
	x := float64(n)
	ms := pts[0].ms
	if len(pts) > 1 && x > pts[0].fanout {
		i := 1
		for i < len(pts)-1 && x > pts[i].fanout {
			i++
		}
		a, b := pts[i-1], pts[i]
		ms = a.ms + (x-a.fanout)*(b.ms-a.ms)/(b.fanout-a.fanout)
	}
	return BilledDuration(time.Duration(ms * float64(time.Millisecond))), true
}
