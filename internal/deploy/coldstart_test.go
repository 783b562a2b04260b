package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
)

// coldStartEnv is the environment of a deployed function as far as its
// cold start reads it, with no network needed: the table, a region,
// credentials, the $connect function's HS256 secret and the Management
// API endpoint. The Lambda Runtime API is left out.
func coldStartEnv(without string) []string {
	var env []string
	for _, kv := range []string{
		"TABLE_NAME=rtcollab-coldstart",
		"AWS_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"JWT_SECRET=0123456789abcdef0123456789abcdef",
		"MANAGEMENT_ENDPOINT=https://abcdef1234.execute-api.eu-west-1.amazonaws.com/prod",
		"CHANGE_EVENT_BUS=rtcollab-changes",
		"CHANGE_FEED_FAILURE_QUEUE=https://sqs.eu-west-1.amazonaws.com/123456789012/rtcollab-changefeed-failures",
	} {
		if !strings.HasPrefix(kv, without+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// TestForLambdaNeedsTheTable builds every function's main (natively, with
// the deployed build tags) and starts it outside Lambda. Without
// TABLE_NAME each fails its cold start before it would serve anything: it
// exits with status 1 after one JSON log line (slog) whose error is
// app.ErrNoTable, instead of running on a memory store of its own. With
// TABLE_NAME each gets through its cold start and reaches lambda.Start,
// which stops it for want of the Lambda Runtime API. (Under the Lambda
// Runtime Interface Emulator: internal/devserver's
// TestRIEBootstrapWithoutTableFailsItsColdStart.)
func TestForLambdaNeedsTheTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	goExe, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the functions: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	checked := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		checked++
		t.Run(e.Name(), func(t *testing.T) {
			exe := filepath.Join(bin, e.Name())
			build := exec.Command(goExe, "build", "-tags", deployedBuild.tags, "-o", exe, "./functions/"+e.Name())
			build.Dir = repoRoot
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}

			// Every function needs the table, except the change feed, which
			// reads the table's stream and needs its event bus instead.
			needs, want := "TABLE_NAME", app.ErrNoTable.Error()
			if e.Name() == "changefeed" {
				needs, want = "CHANGE_EVENT_BUS", "CHANGE_EVENT_BUS"
			}
			code, stderr := runBootstrap(t, exe, coldStartEnv(needs))
			if code != 1 {
				t.Errorf("without %s: exit status %d, want 1\n%s", needs, code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			var rec struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
				t.Fatalf("without %s: last line of stderr is not JSON (%v):\n%s", needs, err, stderr)
			}
			if rec.Level != "ERROR" || rec.Msg != "cold start" || !strings.Contains(rec.Error, want) {
				t.Errorf("without %s: log line %+v, want an ERROR \"cold start\" naming %q", needs, rec, want)
			}

			code, stderr = runBootstrap(t, exe, coldStartEnv(""))
			if strings.Contains(stderr, "cold start") || !strings.Contains(stderr, "AWS_LAMBDA_RUNTIME_API") || code == 0 {
				t.Errorf("with its settings: exit status %d, want the cold start to pass and lambda.Start to stop for want of the Runtime API:\n%s", code, stderr)
			}
		})
	}
	if checked == 0 {
		t.Fatal("no function under functions/")
	}
}

// runBootstrap runs exe with env alone and returns its exit status and
// standard error.
func runBootstrap(t *testing.T, exe string, env []string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit) && ctx.Err() == nil:
		return exit.ExitCode(), stderr.String()
	}
	t.Fatalf("run %s: %v\n%s", exe, err, stderr.Bytes())
	return 0, ""
}
