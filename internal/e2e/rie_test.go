package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/tools/lambdainvoke"
)

// rieBackend runs every handler as its real bootstrap, one Lambda Runtime
// Interface Emulator process per function, invoked through the Lambda
// Invoke API; state is shared through the same DynamoDB table the test
// reads. It needs DYNAMODB_TEST_ENDPOINT, the emulator (RIE_BIN, default
// bin/aws-lambda-rie) and the bootstraps (BOOTSTRAP_DIR, default
// bin/bootstraps/<function>/bootstrap), which make rie-deps provides.
func rieBackend(t *testing.T) (backend, bool) {
	t.Helper()
	rie, dir, ep, ok := rieSetup(t)
	if !ok {
		return backend{}, false
	}
	return backend{"rie", func(t *testing.T, gc gateway.Config) *devserver.Server {
		return startRIE(t, rie, dir, ep, gc, nil)
	}}, true
}

// rieSetup finds the emulator, the bootstraps and moto, or says in the
// log why the rie backend is skipped.
func rieSetup(t *testing.T) (rie, dir, dynamoEndpoint string, ok bool) {
	t.Helper()
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Log("rie backend skipped: DYNAMODB_TEST_ENDPOINT not set (the functions share state through DynamoDB)")
		return "", "", "", false
	}
	root, err := repoRoot()
	if err != nil {
		t.Logf("rie backend skipped: %v", err)
		return "", "", "", false
	}
	rie = envOr("RIE_BIN", filepath.Join(root, "bin", "aws-lambda-rie"))
	dir = envOr("BOOTSTRAP_DIR", filepath.Join(root, "bin", "bootstraps"))
	missing := []string{}
	if !isExecutable(rie) {
		missing = append(missing, rie)
	}
	for _, f := range append(lambdainvoke.Functions(), fanoutFunction) {
		if p := filepath.Join(dir, string(f), "bootstrap"); !isExecutable(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Logf("rie backend skipped: run make rie-deps; missing %s", strings.Join(missing, ", "))
		return "", "", "", false
	}
	return rie, dir, ep, true
}

// fanoutFunction is the bootstrap (functions/fanout) that delivers the
// shards of large channels; the local server never invokes it, the
// message function does, asynchronously.
const fanoutFunction lambdainvoke.Function = "fanout"

// rieProc is one emulator process serving one function.
type rieProc struct {
	fn         lambdainvoke.Function
	cmd        *exec.Cmd
	addr       string // the Lambda Invoke API
	runtimeAPI string // the Runtime API the bootstrap polls
	logPath    string
	exited     chan struct{}
}

// rieDeliveryRate is the functions' delivery budget under the emulator,
// per second and per burst, as the template's Globals set it.
const rieDeliveryRate = 1000

// rieOptions tune startRIE and report what it started.
type rieOptions struct {
	// ShardSize, when positive, turns on sharded fan-out: the message
	// function's FANOUT_SHARD_SIZE, with the fan-out bootstrap behind an
	// asynchronous invoke API.
	ShardSize int
	Queued    *atomic.Int64 // set by startRIE with ShardSize: the asynchronous invokes so far
	// Procs is set by startRIE: the emulator of each function.
	Procs map[lambdainvoke.Function]*rieProc
}

// startRIE runs every function's bootstrap under its own emulator, against
// a new table on moto, behind a local server. With opt.ShardSize it also
// runs the fan-out bootstrap and lets the message function shard fan-outs
// larger than that to it, through asyncInvokeAPI. opt may be nil.
func startRIE(t *testing.T, rieBin, bootstrapDir, dynamoEndpoint string, gc gateway.Config, opt *rieOptions) *devserver.Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	const region = "us-east-1"
	table := fmt.Sprintf("e2e-rie-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	logDir := t.TempDir()

	if opt == nil {
		opt = &rieOptions{}
	}
	fan := opt.ShardSize > 0
	fns := lambdainvoke.Functions()
	if fan {
		fns = append(fns, fanoutFunction)
	}
	ports := freePorts(t, 2*len(fns))
	procs := make([]*rieProc, len(fns))
	opt.Procs = map[lambdainvoke.Function]*rieProc{}
	eps := map[lambdainvoke.Function]string{}
	for i, f := range fns {
		procs[i] = &rieProc{
			fn:         f,
			addr:       fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			runtimeAPI: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			logPath:    filepath.Join(logDir, string(f)+".log"),
		}
		opt.Procs[f] = procs[i]
		if f != fanoutFunction {
			eps[f] = "http://" + procs[i].addr
		}
	}
	inv, err := lambdainvoke.New(lambdainvoke.Options{Targets: lambdainvoke.PerFunction(eps), Region: region})
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the server's cleanup so that it runs after it: the
	// server's Close fires $disconnect, which needs the emulators.
	t.Cleanup(func() { stopRIE(t, procs) })

	settings := app.Settings{DevIdentity: true, TableName: table, DynamoDBEndpoint: dynamoEndpoint, Region: region}
	srv, err := devserver.Start(context.Background(), devserver.Options{
		Addr: "127.0.0.1:0", Settings: settings, Gateway: gc, Invoker: inv, SweepInterval: -1,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})

	// The server created the table; the functions find it through their
	// environment, as deployed, and the sweeper reaches the Management API
	// through MANAGEMENT_ENDPOINT.
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"TABLE_NAME=" + table,
		"DYNAMODB_ENDPOINT=" + dynamoEndpoint,
		"AWS_REGION=" + region,
		// The functions sign their Management API requests with these;
		// the local gateway accepts the fixed local pair.
		"AWS_ACCESS_KEY_ID=" + gateway.LocalAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + gateway.LocalSecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"DEV_IDENTITY=1",
		"MANAGEMENT_ENDPOINT=" + srv.Endpoint(),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		// The delivery budget the template's Globals give every function.
		fmt.Sprintf("DELIVERY_RATE_PER_SECOND=%d", rieDeliveryRate),
		fmt.Sprintf("DELIVERY_BURST=%d", rieDeliveryRate),
	}
	fnEnv := map[lambdainvoke.Function][]string{}
	if fan {
		var front string
		front, opt.Queued = asyncInvokeAPI(t, "rtcollab-"+string(fanoutFunction), "http://"+procs[len(procs)-1].addr)
		fnEnv[lambdainvoke.Message] = []string{
			"FANOUT_FUNCTION_NAME=rtcollab-" + string(fanoutFunction),
			fmt.Sprintf("FANOUT_SHARD_SIZE=%d", opt.ShardSize),
			"AWS_ENDPOINT_URL_LAMBDA=" + front,
		}
	}
	for _, p := range procs {
		bootstrap := filepath.Join(bootstrapDir, string(p.fn), "bootstrap")
		logf, err := os.Create(p.logPath)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command(rieBin, "--runtime-interface-emulator-address", p.addr, "--runtime-api-address", p.runtimeAPI, bootstrap)
		p.cmd.Dir = filepath.Dir(bootstrap)
		p.cmd.Env = slices.Concat(env, fnEnv[p.fn], []string{"AWS_LAMBDA_FUNCTION_NAME=rtcollab-" + string(p.fn)})
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		err = p.cmd.Start()
		logf.Close() // the child holds its own descriptor
		if err != nil {
			t.Fatalf("start emulator for %s: %v", p.fn, err)
		}
		p.exited = make(chan struct{})
		go func(p *rieProc) { _ = p.cmd.Wait(); close(p.exited) }(p)
	}
	for _, p := range procs {
		waitListening(t, p)
		t.Logf("rie %-10s pid %d, Invoke API http://%s, Runtime API %s, output %s", p.fn, p.cmd.Process.Pid, p.addr, p.runtimeAPI, p.logPath)
	}
	// The tests never trigger the sweeper; one scheduled run proves its
	// bootstrap works against the same table.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := inv.Sweep(ctx); err != nil {
		t.Fatalf("sweep through the emulator: %v", err)
	}
	return srv
}

// stopRIE stops the emulators (each kills its bootstrap on SIGTERM) and
// checks from their output that every function ran in its own process:
// the emulator's START and REPORT lines around each invocation, with the
// handler's JSON logs in between. RIE_VERBOSE=1 prints every output.
func stopRIE(t *testing.T, procs []*rieProc) {
	t.Helper()
	startLine := regexp.MustCompile(`(?m)^START RequestId: `)
	reportLine := regexp.MustCompile(`(?m)^REPORT RequestId: .*$`)
	initReport := regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	jsonLog := regexp.MustCompile(`(?m)^\{"time":"[^"]+","level":"[A-Z]+","msg":`)
	for _, p := range procs {
		if p.cmd == nil || p.cmd.Process == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		out, err := os.ReadFile(p.logPath)
		if err != nil {
			t.Errorf("rie %s output: %v", p.fn, err)
			continue
		}
		starts := len(startLine.FindAll(out, -1))
		reports := reportLine.FindAll(out, -1)
		logs := len(jsonLog.FindAll(out, -1))
		initDur := "?"
		if m := initReport.FindSubmatch(out); m != nil {
			initDur = string(m[1]) + " ms"
		}
		t.Logf("rie %-10s pid %d: %d invocations (START %d, REPORT %d), %d handler JSON log lines, init %s",
			p.fn, p.cmd.Process.Pid, len(reports), starts, len(reports), logs, initDur)
		if len(reports) > 0 {
			t.Logf("rie %-10s first %s", p.fn, strings.TrimSpace(string(reports[0])))
		}
		switch {
		case t.Failed() || os.Getenv("RIE_VERBOSE") != "":
			t.Logf("rie %s output:\n%s", p.fn, out)
		case starts == 0 || len(reports) == 0:
			t.Errorf("rie %s (pid %d): no invocation in its output (START %d, REPORT %d):\n%s",
				p.fn, p.cmd.Process.Pid, starts, len(reports), out)
		}
	}
}

// waitListening waits until p accepts connections, failing if it exits.
func waitListening(t *testing.T, p *rieProc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			out, _ := os.ReadFile(p.logPath)
			t.Fatalf("rie %s exited before listening on %s:\n%s", p.fn, p.addr, out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(p.logPath)
			t.Fatalf("rie %s not listening on %s after 10s: %v\n%s", p.fn, p.addr, err, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePorts returns n distinct free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so they differ
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// repoRoot walks up from the working directory to the directory holding
// go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find repository root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
