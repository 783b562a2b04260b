// Command loadgen opens many real WebSocket connections to the backend,
// subscribes them to channels, publishes at a set rate and reports
// delivered messages per second, end-to-end latency, connection set-up
// rate, errors and the server's peak RSS (see tools/loadtest).
//
// By default it starts the local server in-process on a free loopback
// port, so one command runs everything; -server proc runs that server in a
// child process instead (so that its RSS is the server's alone), and -url
// targets a server that is already running. A URL whose host is not a
// loopback address is refused unless -allow-remote is given. Every run is
// bounded by -duration, -max-messages and -settle, and stops by itself.
//
//	go run ./cmd/loadgen -conns 1000 -channels 1 -fanout 1000 -rate 10 -duration 10s
//	go run ./cmd/loadgen -server proc -conns 10000 -rate 0 -duration 20s
//	go run ./cmd/loadgen -sweep-fanout 1,10,100,1000 -rate 2 -plot-latency docs/latency-vs-fanout.png
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/tools/cost"
	"github.com/omnisales/rtcollab/tools/loadtest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	url, server, query, jsonOut             string
	plotLatency, plotThroughput, cpuProfile string
	memProfile                              string
	allowRemote, serve, printCost, mgmtHTTP bool
	conns, channels, fanout, maxMessages    int
	warmup                                  int
	bytes, publishers, dialConc, shardSize  int
	rate, deliveryRate                      float64
	deliveryBurst                           int
	duration, settle, progress, mgmtDelay   time.Duration
	dupWindow                               time.Duration
	rssPID, simulated                       int
	sweepFanout, sweepRate, runID, logLevel string
	compare                                 string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "WebSocket URL of a running server (ws:// or wss://); default: start a local server (see -server)")
	fs.StringVar(&o.server, "server", "inproc", "local server when -url is empty: inproc (in this process) or proc (a child process, so -rss is the server's alone)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a -url whose host is not a loopback address (a deployed stage)")
	fs.StringVar(&o.query, "query", "userId=load-{i}", "query string of each connection; {i} is replaced by the connection number (e.g. token=... for a deployed stage)")
	fs.IntVar(&o.conns, "conns", 500, "connections to open")
	fs.IntVar(&o.channels, "channels", 10, "channels")
	fs.IntVar(&o.fanout, "fanout", 50, "subscribers per channel (at most -conns)")
	fs.Float64Var(&o.rate, "rate", 20, "publishes per second across all channels; 0 holds the connections idle for -duration")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "publishing (or idle) time")
	fs.IntVar(&o.maxMessages, "max-messages", 0, "most publishes (default rate*duration)")
	fs.IntVar(&o.warmup, "warmup", 0, "leave the first this many publishes (of -max-messages) out of the latency figures; they are still checked and their times printed apart")
	fs.IntVar(&o.bytes, "bytes", 256, "approximate payload size of each publish")
	fs.IntVar(&o.publishers, "publishers", 0, "connections that take turns to publish (default all); each publishes rate/publishers per second")
	fs.IntVar(&o.dialConc, "dial-concurrency", 64, "handshakes in flight")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "wait after the last publish for outstanding deliveries")
	fs.DurationVar(&o.dupWindow, "duplicate-window", 2*time.Second, "once every delivery arrived, keep reading this long to count late duplicates (0: none); a post retried after the Management API client's 10 s attempt timeout comes 10-12 s after its first attempt")
	fs.DurationVar(&o.progress, "progress", time.Second, "progress line interval on stderr (0: none)")
	fs.StringVar(&o.jsonOut, "json", "", "write the report (or sweep results) as JSON to this file; - for stdout")
	fs.IntVar(&o.rssPID, "rss-pid", 0, "process whose RSS to report (default: the local server started here; none for -url)")
	fs.DurationVar(&o.mgmtDelay, "mgmt-delay", 0, "local server: simulated Management API latency added to every post")
	fs.BoolVar(&o.mgmtHTTP, "mgmt-http", false, "local server: post every frame through the signed HTTP Management API instead of handing it to the gateway in process (always so with -mgmt-delay or -simulated-subscribers)")
	fs.Float64Var(&o.deliveryRate, "delivery-rate", -1, "local server: Management API calls per second of the whole server, paced as one function instance paces itself (-1: unpaced, as this process stands for many instances)")
	fs.IntVar(&o.deliveryBurst, "delivery-burst", 0, "local server: calls sent at once before -delivery-rate paces them (0: the default, DELIVERY_BURST's)")
	fs.IntVar(&o.shardSize, "shard-size", 0, "local server: split fan-outs larger than this over parallel in-process deliveries (0: no sharding)")
	fs.IntVar(&o.simulated, "simulated-subscribers", 0, "in-process server: add this many store-only subscribers to every channel, whose posts the local Management API answers itself after -mgmt-delay and checks for exactly-once delivery (for fan-outs larger than the open-file limit allows)")
	fs.BoolVar(&o.printCost, "cost", false, "print the cost model's estimate for this run's fan-out and message size")
	fs.StringVar(&o.sweepFanout, "sweep-fanout", "", "comma-separated fan-outs: one run each with -conns max(conns, fan-out) and one channel")
	fs.StringVar(&o.sweepRate, "sweep-rate", "", "comma-separated publish rates: one run each with the other flags")
	fs.StringVar(&o.compare, "compare", "", "label=file.json,...: chart the time to the last subscriber of earlier -sweep-fanout runs (their -json files) into -plot-latency, without running anything")
	fs.StringVar(&o.plotLatency, "plot-latency", "", "with a sweep: write a PNG chart of latency against the swept value to this file")
	fs.StringVar(&o.plotThroughput, "plot-throughput", "", "with a sweep: write a PNG chart of delivered messages per second to this file")
	fs.StringVar(&o.logLevel, "log-level", "error", "local server: log level on stderr (debug, info, warn, error)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (server included when in-process) to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of this process (server included when in-process) to this file at the end")
	fs.BoolVar(&o.serve, "serve", false, "internal: run only the local server and print its URL (used by -server proc)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.sweepFanout != "" && o.sweepRate != "" {
		return o, errors.New("-sweep-fanout and -sweep-rate exclude each other")
	}
	// A publish frame is the payload plus its envelope; API Gateway (and
	// the local gateway) close the connection on a client frame over 32 KB.
	if o.bytes < 0 || o.bytes > gateway.DefaultMaxFrameBytes-1024 {
		return o, fmt.Errorf("-bytes %d: want 0..%d, so that a publish frame stays within API Gateway's 32 KB frame quota", o.bytes, gateway.DefaultMaxFrameBytes-1024)
	}
	if o.compare != "" && o.plotLatency == "" {
		return o, errors.New("-compare needs -plot-latency")
	}
	if (o.plotLatency != "" || o.plotThroughput != "") && o.sweepFanout == "" && o.sweepRate == "" && o.compare == "" {
		return o, errors.New("-plot-latency and -plot-throughput need -sweep-fanout or -sweep-rate")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if o.memProfile != "" {
		f, err := os.Create(o.memProfile)
		if err != nil {
			return fmt.Errorf("-memprofile: %w", err)
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintln(stderr, "loadgen: -memprofile:", err)
			}
			f.Close()
		}()
	}
	if o.serve {
		return serve(ctx, o, stdout)
	}
	if o.compare != "" {
		c, err := compareChart(o.compare)
		if err != nil {
			return err
		}
		return writeChart(o.plotLatency, c)
	}
	// Each connection costs one descriptor here, and one more in an
	// in-process server, plus the Management API's HTTP connections.
	if _, err := loadtest.RaiseFileLimit(uint64(3*max(o.conns, maxOf(o.sweepFanout)) + 1024)); err != nil {
		fmt.Fprintln(stderr, "loadgen: warning:", err)
	}
	o.runID = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var sim *simulation
	if o.simulated > 0 {
		if o.url != "" || o.server != "inproc" || o.sweepFanout != "" || o.sweepRate != "" {
			return errors.New("-simulated-subscribers needs the in-process server (no -url, -server inproc) and no sweep")
		}
		sim = &simulation{perChannel: o.simulated, delay: o.mgmtDelay, byPublish: map[int]*simPublish{}}
	}
	target, err := startTarget(ctx, o, sim, stderr)
	if err != nil {
		return err
	}
	defer target.close()

	if o.sweepFanout != "" || o.sweepRate != "" {
		return sweep(ctx, o, target, stdout, stderr)
	}
	cfg, err := o.config(target)
	if err != nil {
		return err
	}
	if o.progress > 0 {
		cfg.Progress = func(p loadtest.Progress) { fmt.Fprintln(stderr, p) }
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	printReport(stdout, rep, target.rssSource)
	var simResults []SimResult
	var simUnexpected int
	if sim != nil {
		simResults, simUnexpected = sim.results(rep.Published)
		printSimulation(stdout, o, rep, simResults, simUnexpected)
	}
	if o.printCost {
		if err := printCost(stdout, rep.Fanout, rep.MessageBytes, o.shardSize); err != nil {
			return err
		}
	}
	out := struct {
		loadtest.Report
		Simulated           []SimResult `json:"simulated,omitempty"`
		SimulatedUnexpected int         `json:"simulatedUnexpected,omitempty"`
	}{rep, simResults, simUnexpected}
	if err := writeJSON(o.jsonOut, stdout, out); err != nil {
		return err
	}
	check := rep.ExactlyOnce()
	if sim != nil {
		check = errors.Join(check, simulatedExactlyOnce(simResults, simUnexpected))
	}
	if check != nil {
		return fmt.Errorf("delivery check failed: %w", check)
	}
	return nil
}

// config builds the run's loadtest.Config.
func (o options) config(t *target) (loadtest.Config, error) {
	query := o.query
	return loadtest.Config{
		URL: t.url,
		Query: func(i int) url.Values {
			v, _ := url.ParseQuery(strings.ReplaceAll(query, "{i}", strconv.Itoa(i)))
			return v
		},
		Conns: o.conns, Channels: o.channels, Fanout: min(o.fanout, o.conns), Rate: o.rate,
		RunID: o.runID, ExtraRecipients: o.simulated,
		Duration: o.duration, MaxMessages: o.maxMessages, Warmup: o.warmup, MessageBytes: o.bytes, Publishers: o.publishers,
		DialConcurrency: o.dialConc, Settle: o.settle, DuplicateWindow: duplicateWindow(o.dupWindow),
		ProgressEvery: o.progress, RSS: t.rss, CPU: t.cpu,
	}, nil
}

// duplicateWindow maps -duplicate-window to loadtest.Config's: 0 and less
// mean none, which the Config spells negative.
func duplicateWindow(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// target is the server under load.
type target struct {
	url       string
	cpu       func() (float64, error)
	rss       func() (int64, int64, error)
	rssSource string
	close     func()
}

// startTarget returns the server of -url, or starts the local one.
func startTarget(ctx context.Context, o options, sim *simulation, stderr io.Writer) (*target, error) {
	t := &target{close: func() {}}
	if o.rssPID != 0 {
		pid := o.rssPID
		t.rss = func() (int64, int64, error) { return loadtest.ProcRSS(pid) }
		t.cpu = func() (float64, error) { return loadtest.ProcCPU(pid) }
		t.rssSource = fmt.Sprintf("process %d", pid)
	}
	switch {
	case o.url != "":
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
			return nil, fmt.Errorf("-url %q: want ws:// or wss://", o.url)
		}
		if !isLoopback(u.Hostname()) && !o.allowRemote {
			return nil, fmt.Errorf("-url %q is not a loopback address: pass -allow-remote to load a deployed stage", o.url)
		}
		t.url = o.url
		return t, nil
	case o.server == "inproc":
		srv, err := startLocal(ctx, o, sim)
		if err != nil {
			return nil, err
		}
		t.url = srv.WebSocketURL()
		if sim != nil {
			channels := make([]string, o.channels)
			for c := range channels {
				channels[c] = loadtest.ChannelName("load", o.runID, c)
			}
			if err := sim.populate(ctx, srv.Built.Store, channels); err != nil {
				_ = srv.Close(context.Background())
				return nil, err
			}
		}
		if t.rss == nil {
			t.rss = func() (int64, int64, error) { return loadtest.ProcRSS(0) }
			t.cpu = func() (float64, error) { return loadtest.ProcCPU(0) }
			t.rssSource = "this process (server and clients together)"
		}
		t.close = func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = srv.Close(cctx)
		}
		return t, nil
	case o.server == "proc":
		return startChild(ctx, o, t, stderr)
	}
	return nil, fmt.Errorf("-server %q: want inproc or proc", o.server)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startLocal starts the local server on a free loopback port with the
// embedded store and dev identities, and the -mgmt-delay, -mgmt-http and
// -shard-size settings.
func startLocal(ctx context.Context, o options, sim *simulation) (*devserver.Server, error) {
	// Unpaced unless -delivery-rate is set: this one process stands for
	// every function instance that would post in AWS, each with its own
	// delivery budget; -delivery-rate and -delivery-burst give the whole
	// process one budget (e.g. the account's 10,000/s with bursts of 5,000).
	settings := app.Settings{DevIdentity: true, LogLevel: o.logLevel, DeliveryRate: o.deliveryRate, DeliveryBurst: o.deliveryBurst}
	if settings.DeliveryRate == 0 {
		settings.DeliveryRate = -1
	}
	log := settings.Logger()
	opts := devserver.Options{
		Addr: "127.0.0.1:0", Settings: settings,
		SweepInterval: -1, ChangeFeedInterval: -1, Logger: log, ManagementHTTP: o.mgmtHTTP,
	}
	switch {
	case sim != nil:
		opts.Gateway.ManagementFault = sim.fault
	case o.mgmtDelay > 0:
		delay := o.mgmtDelay
		opts.Gateway.ManagementFault = func(*http.Request) (int, time.Duration) { return 0, delay }
	}
	if o.shardSize > 0 {
		// The shards stand in for parallel invocations: they share this
		// process's store and the server's posters.
		st := memory.New(nil)
		opts.App = &app.Options{Store: st}
		opts.WrapPosters = func(posters func(string) broadcast.Poster) func(string) broadcast.Poster {
			deliverer := broadcast.NewDeliverer(st, posters, broadcast.Config{IsGone: mgmtapi.IsGone, Logger: log})
			local := broadcast.NewLocal(deliverer.Deliver, log)
			return broadcast.ShardedPosters(posters, broadcast.Sharding{ShardSize: o.shardSize, Dispatcher: local})
		}
	}
	return devserver.Start(ctx, opts)
}

// serve runs only the local server, for -server proc: it prints
// "URL <ws url>" and serves until stdin closes or a signal arrives.
func serve(ctx context.Context, o options, stdout io.Writer) error {
	if _, err := loadtest.RaiseFileLimit(uint64(2*o.conns + 1024)); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen -serve: warning:", err)
	}
	srv, err := startLocal(ctx, o, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "URL %s\n", srv.WebSocketURL())
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Close(cctx)
}

// childArgs are the flags of the -serve child for -server proc: every
// setting startLocal reads.
func childArgs(o options) []string {
	return []string{"-serve", "-log-level", o.logLevel, "-conns", strconv.Itoa(max(o.conns, maxOf(o.sweepFanout))),
		"-mgmt-delay", o.mgmtDelay.String(), "-shard-size", strconv.Itoa(o.shardSize),
		"-mgmt-http=" + strconv.FormatBool(o.mgmtHTTP),
		"-delivery-rate", strconv.FormatFloat(o.deliveryRate, 'g', -1, 64), "-delivery-burst", strconv.Itoa(o.deliveryBurst)}
}

// startChild runs this program with -serve and targets it.
func startChild(ctx context.Context, o options, t *target, stderr io.Writer) (*target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start server process: %w", err)
	}
	cmd := exec.Command(exe, childArgs(o)...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start server process: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server process %q: %w", exe, err)
	}
	stopChild := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "URL ") {
		stopChild()
		return nil, fmt.Errorf("server process: no URL line (got %q): %v", line, err)
	}
	t.url = strings.TrimSpace(strings.TrimPrefix(line, "URL "))
	if t.rss == nil {
		pid := cmd.Process.Pid
		t.rss = func() (int64, int64, error) { return loadtest.ProcRSS(pid) }
		t.cpu = func() (float64, error) { return loadtest.ProcCPU(pid) }
		t.rssSource = fmt.Sprintf("server process %d", pid)
	}
	t.close = stopChild
	return t, nil
}

// maxOf returns the largest number of a comma-separated list (0 for none).
func maxOf(list string) int {
	m := 0
	for _, f := range strings.Split(list, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > m {
			m = n
		}
	}
	return m
}

func writeJSON(path string, stdout io.Writer, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write report %q: %w", path, err)
	}
	return nil
}

func printReport(w io.Writer, r loadtest.Report, rssSource string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s\n", r.URL)
	fmt.Fprintf(tw, "connections\t%d (%d channels x %d subscribers, %d subscriptions)\n", r.Conns, r.Channels, r.Fanout, r.Subscriptions)
	fmt.Fprintf(tw, "connection set-up\t%.0f/s (%d in %.2f s; handshake p50 %.1f ms, p99 %.1f ms, max %.1f ms)\n",
		r.ConnectRate, r.Conns-int(r.DialErrors), r.ConnectSeconds, r.Handshake.P50, r.Handshake.P99, r.Handshake.Max)
	fmt.Fprintf(tw, "subscribe\t%.2f s\n", r.SubscribeSeconds)
	if r.Rate > 0 {
		fmt.Fprintf(tw, "published\t%d at %.1f/s, %d acknowledged (ack p50 %.1f ms, p99 %.1f ms)\n", r.Published, r.Rate, r.Acked, r.Ack.P50, r.Ack.P99)
		fmt.Fprintf(tw, "delivered\t%d of %d expected: %.0f msg/s over %.2f s\n", r.Delivered, r.Expected, r.DeliveredPerSecond, r.PublishSeconds)
		fmt.Fprintf(tw, "latency per delivery\tp50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.Max)
		fmt.Fprintf(tw, "latency to first subscriber\tp50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.FirstDelivery.P50, r.FirstDelivery.P95, r.FirstDelivery.P99, r.FirstDelivery.Max)
		fmt.Fprintf(tw, "latency to last subscriber\tp50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.Completion.P50, r.Completion.P95, r.Completion.P99, r.Completion.Max)
		if r.Warmup > 0 {
			fmt.Fprintf(tw, "warm-up publishes\t%d, left out of the latencies above; last subscriber (ms): %s\n", r.Warmup, formatMs(r.WarmupCompletion))
		}
	}
	fmt.Fprintf(tw, "errors\tdial %d, subscribe %d, publish %d %v, dropped %d; missing %d, duplicates %d (read %.1f s past the last delivery), unexpected %d\n",
		r.DialErrors, r.SubscribeErrors, r.PublishErrors, r.ErrorCodes, r.Dropped, r.Missing, r.Duplicates, r.DuplicateWindowSeconds, r.Unexpected)
	if r.ServerCPUSeconds > 0 {
		fmt.Fprintf(tw, "CPU while publishing\t%.2f s, %.0f us per delivery (%s)\n", r.ServerCPUSeconds, r.CPUPerDelivery, rssSource)
	}
	if r.PeakRSS > 0 {
		fmt.Fprintf(tw, "RSS\t%.1f MiB at the end, %.1f MiB peak (%s)\n", float64(r.RSS)/(1<<20), float64(r.PeakRSS)/(1<<20), rssSource)
	}
	fmt.Fprintf(tw, "elapsed\t%.1f s\n", r.ElapsedSeconds)
	tw.Flush()
}

// printSimulation prints, per publish, how many simulated subscribers its
// posts missed or reached more than once, when the last post to a
// simulated subscriber completed and when the last real subscriber
// received it; then the simulated subscribers' exactly-once check.
func printSimulation(w io.Writer, o options, rep loadtest.Report, res []SimResult, unexpected int) {
	fmt.Fprintf(w, "simulated subscribers\t%d per channel, posts answered by the local Management API after %v\n", o.simulated, o.mgmtDelay)
	posts := rep.Delivered
	for _, r := range res {
		posts += int64(r.Posts)
	}
	if rep.ServerCPUSeconds > 0 && posts > 0 {
		fmt.Fprintf(w, "  CPU per post, real and simulated: %.0f us (%d posts)\n", rep.ServerCPUSeconds/float64(posts)*1e6, posts)
	}
	for _, r := range res {
		real := -1.0
		if r.Publish < len(rep.PublishCompletion) {
			real = rep.PublishCompletion[r.Publish]
		}
		fmt.Fprintf(w, "  publish %d: %d simulated posts, %d missing, %d duplicated, last done %.0f ms after the send; last real subscriber %.0f ms; all %d recipients: %.0f ms\n",
			r.Publish, r.Posts, r.Missing, r.Duplicates, r.CompletionMs, real, o.simulated+rep.Fanout, max(real, r.CompletionMs))
	}
	if err := simulatedExactlyOnce(res, unexpected); err != nil {
		fmt.Fprintf(w, "  simulated exactly once: no: %s\n", strings.TrimPrefix(err.Error(), "simulated subscribers: "))
	} else {
		fmt.Fprintf(w, "  simulated exactly once: yes (%d publishes, each to all %d once)\n", len(res), o.simulated)
	}
}

// printCost prints the cost model's estimate for one publish at fan-out
// with frames of size bytes, with the defaults of tools/cost.
func printCost(w io.Writer, fanout, bytes, shardSize int) error {
	est, err := cost.EstimatePublish(cost.PublishParams{Fanout: fanout, MessageBytes: bytes, ShardSize: shardSize}, cost.DefaultPrices())
	if err != nil {
		return err
	}
	cost.Print(w, est)
	return nil
}

// formatMs lists milliseconds with one decimal.
func formatMs(ms []float64) string {
	parts := make([]string, len(ms))
	for i, v := range ms {
		parts[i] = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strings.Join(parts, ", ")
}
