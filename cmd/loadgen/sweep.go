package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/omnisales/rtcollab/tools/loadtest"
)

// sweepResult is one run of a sweep.
type sweepResult struct {
	// Param is "fanout" or "rate"; Value its value in this run.
	Param  string          `json:"param"`
	Value  float64         `json:"value"`
	Report loadtest.Report `json:"report"`
	// Offered is the deliveries per second the run asked for: publish
	// rate times fan-out.
	Offered float64 `json:"offeredPerSecond"`
	// Check is "ok" or why the exactly-once check failed.
	Check string `json:"check"`
}

// sweep runs once per value of -sweep-fanout or -sweep-rate against the
// same server, prints a table, and writes the JSON and the charts asked
// for. Runs whose delivery check fails (past saturation) are reported on
// stderr and in the table's check column.
func sweep(ctx context.Context, o options, t *target, stdout, stderr io.Writer) error {
	param, list := "fanout", o.sweepFanout
	if o.sweepRate != "" {
		param, list = "rate", o.sweepRate
	}
	var values []float64
	for _, f := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("-sweep-%s: %q is not a positive number", param, f)
		}
		values = append(values, v)
	}
	var results []sweepResult
	for _, v := range values {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ro := o
		if param == "fanout" {
			// One channel of v subscribers; enough connections that no
			// publisher sends more than 10 frames a second.
			ro.fanout = int(v)
			ro.channels = 1
			ro.conns = max(int(v), int(math.Ceil(o.rate/10)))
		} else {
			ro.rate = v
		}
		cfg, err := ro.config(t)
		if err != nil {
			return err
		}
		if o.progress > 0 {
			label := fmt.Sprintf("[%s=%g] ", param, v)
			cfg.Progress = func(p loadtest.Progress) { fmt.Fprintln(stderr, label+p.String()) }
		}
		rep, err := loadtest.Run(ctx, cfg)
		if err != nil {
			return err
		}
		res := sweepResult{Param: param, Value: v, Report: rep, Offered: ro.rate * float64(ro.fanout), Check: "ok"}
		if err := rep.ExactlyOnce(); err != nil {
			res.Check = err.Error()
		}
		results = append(results, res)
		fmt.Fprintf(stderr, "[%s=%g] delivered %d/%d at %.0f/s, p50 %.1f ms, p99 %.1f ms, check %s\n",
			param, v, rep.Delivered, rep.Expected, rep.DeliveredPerSecond, rep.Latency.P50, rep.Latency.P99, res.Check)
	}
	printSweep(stdout, results)
	if err := writeJSON(o.jsonOut, stdout, results); err != nil {
		return err
	}
	if o.plotLatency != "" {
		if err := writeChart(o.plotLatency, latencyChart(param, results)); err != nil {
			return err
		}
	}
	if o.plotThroughput != "" {
		if err := writeChart(o.plotThroughput, throughputChart(param, results)); err != nil {
			return err
		}
	}
	// A sweep runs past saturation on purpose: a failed check is reported,
	// not fatal.
	for _, r := range results {
		if r.Check != "ok" {
			fmt.Fprintf(stderr, "loadgen: delivery check failed at %s=%g: %s\n", r.Param, r.Value, r.Check)
		}
	}
	return nil
}

func printSweep(w io.Writer, results []sweepResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "param\tvalue\tconns\tfan-out\trate/s\toffered/s\tdelivered/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\tlast p99 ms\tack p99 ms\terrors\tcheck\t")
	for _, r := range results {
		rep := r.Report
		fmt.Fprintf(tw, "%s\t%g\t%d\t%d\t%g\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%s\t\n",
			r.Param, r.Value, rep.Conns, rep.Fanout, rep.Rate, r.Offered, rep.DeliveredPerSecond,
			rep.Latency.P50, rep.Latency.P95, rep.Latency.P99, rep.Latency.Max, rep.Completion.P99, rep.Ack.P99, rep.Errors(), shortCheck(r.Check))
	}
	tw.Flush()
}

func shortCheck(s string) string {
	if s == "ok" {
		return s
	}
	return "FAILED"
}

// xOf returns the chart's x value of a result: the fan-out, or the
// offered deliveries per second of a rate sweep.
func xOf(param string, r sweepResult) float64 {
	if param == "fanout" {
		return r.Value
	}
	return r.Offered
}

func xLabel(param string) string {
	if param == "fanout" {
		return "subscribers per channel (fan-out)"
	}
	return "offered deliveries per second"
}

func latencyChart(param string, results []sweepResult) loadtest.Chart {
	series := []loadtest.Series{{Name: "p50"}, {Name: "p95"}, {Name: "p99"}, {Name: "p99 to last subscriber"}}
	for _, r := range results {
		x, l := xOf(param, r), r.Report.Latency
		for i, y := range []float64{l.P50, l.P95, l.P99, r.Report.Completion.P99} {
			series[i].Points = append(series[i].Points, loadtest.Point{X: x, Y: math.Max(y, 0.01)})
		}
	}
	title := "End-to-end latency against fan-out (loopback)"
	if param == "rate" {
		title = "End-to-end latency against load (loopback)"
	}
	return loadtest.Chart{Title: title, XLabel: xLabel(param), YLabel: "latency, ms (log)", LogX: true, LogY: true, Series: series}
}

func throughputChart(param string, results []sweepResult) loadtest.Chart {
	series := []loadtest.Series{{Name: "delivered per second"}, {Name: "offered per second"}}
	for _, r := range results {
		x := xOf(param, r)
		series[0].Points = append(series[0].Points, loadtest.Point{X: x, Y: math.Max(r.Report.DeliveredPerSecond, 1)})
		series[1].Points = append(series[1].Points, loadtest.Point{X: x, Y: math.Max(r.Offered, 1)})
	}
	return loadtest.Chart{Title: "Delivered messages per second (loopback)", XLabel: xLabel(param),
		YLabel: "messages per second (log)", LogX: true, LogY: true, Series: series}
}

func writeChart(path string, c loadtest.Chart) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write chart %q: %w", path, err)
	}
	if err := c.WritePNG(f); err != nil {
		f.Close()
		return fmt.Errorf("write chart %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write chart %q: %w", path, err)
	}
	return nil
}
