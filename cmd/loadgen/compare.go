package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/omnisales/rtcollab/tools/loadtest"
)

// compareChart reads the fan-out sweeps that spec names
// ("label=file.json,label=file.json", each file a -json output of
// -sweep-fanout) and charts the time to the last subscriber (p50 and p99
// per publish) against fan-out, two lines per sweep.
func compareChart(spec string) (loadtest.Chart, error) {
	var series []loadtest.Series
	for _, item := range strings.Split(spec, ",") {
		label, path, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || label == "" || path == "" {
			return loadtest.Chart{}, fmt.Errorf("-compare: %q is not label=file.json", item)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return loadtest.Chart{}, fmt.Errorf("-compare: %w", err)
		}
		var results []sweepResult
		if err := json.Unmarshal(data, &results); err != nil {
			return loadtest.Chart{}, fmt.Errorf("-compare: %q: %w", path, err)
		}
		p50 := loadtest.Series{Name: label + ", p50"}
		p99 := loadtest.Series{Name: label + ", p99"}
		for _, r := range results {
			if r.Param != "fanout" {
				return loadtest.Chart{}, fmt.Errorf("-compare: %q is a sweep of %s, not of fan-out", path, r.Param)
			}
			p50.Points = append(p50.Points, loadtest.Point{X: r.Value, Y: math.Max(r.Report.Completion.P50, 0.01)})
			p99.Points = append(p99.Points, loadtest.Point{X: r.Value, Y: math.Max(r.Report.Completion.P99, 0.01)})
		}
		series = append(series, p50, p99)
	}
	return loadtest.Chart{Title: "Last subscriber against fan-out, signed HTTP, 20 ms per post",
		XLabel: xLabel("fanout"), YLabel: "ms after the publish (log)", LogX: true, LogY: true, Series: series}, nil
}
