package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/tools/cost"
	"github.com/omnisales/rtcollab/tools/lambdainvoke"
)

// billedPostLatency is what every Management API post waits in the
// billed-duration runs, as a post to API Gateway would.
const billedPostLatency = 20 * time.Millisecond

// billedSimPrefix starts the ids of store-only subscribers: the local
// Management API answers their posts 200 after billedPostLatency.
const billedSimPrefix = "sim-"

// lambdaFullCPUMB is the memory size at which a Lambda function has the
// equivalent of one vCPU; below it, the CPU share is proportional.
const lambdaFullCPUMB = 1769

// TestRIEBilledDuration measures the billed duration of a publish: the
// message bootstrap under the emulator, on moto, every post to the local
// Management API waiting 20 ms. One real subscriber checks that each
// publish arrives; the others are store-only subscribers whose posts the
// Management API answers itself.
//
// In make test it runs a short version (fan-out 10, two publishes,
// unthrottled). With RIE_BILLED_OUT=file (make bench-rie) it measures
// fan-outs 10, 100 and 1,000, ten publishes each, unthrottled and, where
// cgroup v1's CPU controller is writable, with the CPU share of 256, 512
// and 1,024 MB, and writes a cost.BilledMeasurement to the file (make cost
// prices with it).
func TestRIEBilledDuration(t *testing.T) {
	rie, dir, ep, ok := rieSetup(t)
	if !ok {
		t.Skip("the emulator, the bootstraps or moto are missing (make test provides them)")
	}
	out := os.Getenv("RIE_BILLED_OUT")
	fanouts, publishes, memories := []int{10}, 2, []int{0}
	if v := os.Getenv("RIE_BILLED_FANOUT"); v != "" {
		n, _ := strconv.Atoi(v)
		fanouts, publishes = []int{n}, 5
	}
	if out != "" {
		fanouts, publishes = []int{10, 100, 1000}, 10
		if cpuCgroupWritable() {
			memories = []int{0, 256, 512, 1024}
		} else {
			t.Log("cgroup v1 CPU controller not writable: unthrottled runs only")
		}
	}
	gc := gateway.Config{ManagementFault: func(r *http.Request) (int, time.Duration) {
		if r.Method == http.MethodPost && strings.HasPrefix(path.Base(r.URL.Path), billedSimPrefix) {
			return http.StatusOK, billedPostLatency
		}
		return 0, billedPostLatency
	}}
	opt := &rieOptions{}
	srv := startRIE(t, rie, dir, ep, gc, opt)
	msg := opt.Procs[lambdainvoke.Message]
	ctx := context.Background()
	const channel = "order-updates"
	watcher := edDial(t, srv, "watcher")
	if f, err := watcher.roundTrip(ctx, "subscribe", channel, "", nil); err != nil || f.Type != "ack" {
		t.Fatalf("subscribe: %+v %v", f, err)
	}
	pub := edDial(t, srv, "publisher")

	report := cost.BilledMeasurement{PostLatencyMs: float64(billedPostLatency) / float64(time.Millisecond), QuotaPeriodUs: quotaPeriodUs}
	added := 0
	seq := 0
	for _, fanout := range fanouts {
		if err := addStoreOnlySubscribers(ctx, srv.Built.Store, channel, added, fanout-1); err != nil {
			t.Fatal(err)
		}
		added = fanout - 1
		for _, mem := range memories {
			run := cost.BilledRun{Fanout: fanout, MemoryMB: mem, Publishes: publishes}
			publish := func() (dur, billed, cpu float64) {
				t.Helper()
				seq++
				bootstrap := bootstrapPID(t, msg.cmd.Process.Pid)
				logAt := fileSize(t, msg.logPath)
				cpu0 := processCPU(bootstrap)
				want := fmt.Sprintf(`"seq":%d`, seq)
				if f, err := pub.roundTrip(ctx, "publish", channel, "", map[string]any{"seq": seq}); err != nil || f.Type != "ack" {
					t.Fatalf("publish %d: %+v %v", seq, f, err)
				}
				if _, ok := watcher.waitEvent(20*time.Second, func(f frame) bool {
					return f.Type == "update" && strings.Contains(string(f.Payload), want)
				}); !ok {
					t.Fatalf("publish %d did not reach the subscriber", seq)
				}
				dur, billed = awaitReport(t, msg.logPath, logAt)
				return dur, billed, float64(processCPU(bootstrap)-cpu0) / 1e6
			}
			// A publish spends one token of the instance's delivery budget
			// per recipient; publishes are spaced so that each finds the
			// budget full again, and its billed time is its own, not the
			// wait for the tokens of the one before (1 s at fan-out 1,000).
			refill := time.Duration(float64(fanout) / rieDeliveryRate * float64(time.Second))
			var last time.Time
			spaced := func() (dur, billed, cpu float64) {
				t.Helper()
				time.Sleep(time.Until(last.Add(refill)))
				last = time.Now()
				return publish()
			}
			restore := limitCPU(t, bootstrapPID(t, msg.cmd.Process.Pid), mem)
			spaced() // the first at this setting warms the connection pool
			for range publishes {
				d, b, c := spaced()
				run.Duration, run.Billed, run.CPU = append(run.Duration, d), append(run.Billed, b), append(run.CPU, c)
			}
			restore()
			t.Logf("fan-out %5d, %4s: billed p50 %6.0f ms, max %6.0f ms; CPU p50 %6.1f ms", fanout, memLabel(mem),
				median(run.Billed), slices.Max(run.Billed), median(run.CPU))
			for _, b := range run.Billed {
				// Every publish waits at least one post; more would mean
				// the emulator's figure is not the invocation's.
				if b < report.PostLatencyMs {
					t.Errorf("fan-out %d: billed %.0f ms, under one post's %v", fanout, b, billedPostLatency)
				}
			}
			report.Runs = append(report.Runs, run)
		}
	}
	if out != "" {
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
}

// addStoreOnlySubscribers subscribes store-only connections from..to-1 to
// channel.
func addStoreOnlySubscribers(ctx context.Context, st store.Store, channel string, from, to int) error {
	now := time.Now()
	for i := from; i < to; i++ {
		id := fmt.Sprintf("%s%07d", billedSimPrefix, i)
		c := store.Connection{ID: id, UserID: "sim-" + strconv.Itoa(i), Username: "Simulated", Tenant: "default",
			ConnectedAt: now, LastSeenAt: now, ExpiresAt: now.Add(3 * time.Hour)}
		if err := st.PutConnection(ctx, c); err != nil {
			return fmt.Errorf("store-only subscriber %q: %w", id, err)
		}
		if _, err := st.Subscribe(ctx, "default", channel, id, 0); err != nil {
			return fmt.Errorf("store-only subscriber %q: %w", id, err)
		}
	}
	return nil
}

var reportDurations = regexp.MustCompile(`(?m)^REPORT RequestId: .*\tDuration: ([0-9.]+) ms\tBilled Duration: ([0-9.]+) ms`)

// awaitReport waits for the emulator's REPORT line of the invocation that
// started after offset in its output, and returns its Duration and Billed
// Duration in milliseconds.
func awaitReport(t *testing.T, logPath string, offset int64) (dur, billed float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) > offset {
			if m := reportDurations.FindSubmatch(b[offset:]); m != nil {
				d, _ := strconv.ParseFloat(string(m[1]), 64)
				bd, _ := strconv.ParseFloat(string(m[2]), 64)
				return d, bd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no REPORT line in %s after byte %d", logPath, offset)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// bootstrapPID returns the pid of the bootstrap the emulator riePID runs.
func bootstrapPID(t *testing.T, riePID int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", riePID))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "bootstrap" {
				return pid
			}
		}
	}
	t.Fatalf("no bootstrap process under the emulator (pid %d)", riePID)
	return 0
}

// processCPU returns the CPU time of every thread of pid so far, in
// nanoseconds (from /proc/<pid>/task/*/schedstat; 0 when unreadable).
func processCPU(pid int) int64 {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(b)); len(fields) > 0 {
			n, _ := strconv.ParseInt(fields[0], 10, 64)
			total += n
		}
	}
	return total
}

// cgroup v1's CPU controller, where the runs give the bootstrap the CPU
// share of a memory size. quotaPeriodUs is the quota's period: short, so
// that a throttled process waits in small steps rather than for most of a
// 100 ms period.
const (
	cpuCgroupRoot = "/sys/fs/cgroup/cpu"
	quotaPeriodUs = 10_000
)

func cpuCgroupWritable() bool {
	dir := filepath.Join(cpuCgroupRoot, fmt.Sprintf("rtcollab-probe-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return false
	}
	_ = os.Remove(dir)
	return true
}

// limitCPU puts pid in a CPU cgroup with the share of a Lambda function
// of memMB (memMB/1,769 of one CPU); 0 leaves it as it is. The returned
// function moves it back and removes the cgroup.
func limitCPU(t *testing.T, pid, memMB int) func() {
	t.Helper()
	if memMB == 0 {
		return func() {}
	}
	dir := filepath.Join(cpuCgroupRoot, fmt.Sprintf("rtcollab-rie-%d-%d", os.Getpid(), memMB))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	quota := quotaPeriodUs * memMB / lambdaFullCPUMB
	write := func(file, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644); err != nil {
			t.Fatalf("cgroup %s: %v", file, err)
		}
	}
	write("cpu.cfs_period_us", strconv.Itoa(quotaPeriodUs))
	write("cpu.cfs_quota_us", strconv.Itoa(quota))
	write("cgroup.procs", strconv.Itoa(pid))
	restore := func() {
		_ = os.WriteFile(filepath.Join(cpuCgroupRoot, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
		_ = os.Remove(dir)
	}
	t.Cleanup(restore)
	return restore
}

func memLabel(mb int) string {
	if mb == 0 {
		return "full"
	}
	return fmt.Sprintf("%dMB", mb)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
