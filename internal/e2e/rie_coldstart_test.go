package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/tools/lambdainvoke"
)

// TestRIEBootstrapWithoutTableFailsItsColdStart runs the message bootstrap
// under the Lambda Runtime Interface Emulator with the environment of a
// deployed function minus TABLE_NAME: the invocation fails at init, and the
// function's output names the missing setting, instead of the function
// answering frames from a memory store of its own. It needs only the
// emulator and the bootstraps (make rie-deps).
func TestRIEBootstrapWithoutTableFailsItsColdStart(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Skip(err)
	}
	rie := envOr("RIE_BIN", filepath.Join(root, "bin", "aws-lambda-rie"))
	bootstrap := filepath.Join(envOr("BOOTSTRAP_DIR", filepath.Join(root, "bin", "bootstraps")), string(lambdainvoke.Message), "bootstrap")
	if !isExecutable(rie) || !isExecutable(bootstrap) {
		t.Skipf("run make rie-deps; missing %s or %s", rie, bootstrap)
	}
	ports := freePorts(t, 2)
	p := &rieProc{
		fn:         lambdainvoke.Message,
		addr:       fmt.Sprintf("127.0.0.1:%d", ports[0]),
		runtimeAPI: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		logPath:    filepath.Join(t.TempDir(), "message.log"),
	}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(rie, "--runtime-interface-emulator-address", p.addr, "--runtime-api-address", p.runtimeAPI, bootstrap)
	p.cmd.Dir = filepath.Dir(bootstrap)
	p.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"MANAGEMENT_ENDPOINT=http://127.0.0.1:1/ws",
		"AWS_LAMBDA_FUNCTION_NAME=rtcollab-message",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	err = p.cmd.Start()
	logf.Close()
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	waitListening(t, p)

	event, err := os.ReadFile(filepath.Join(root, "events", "message-ping.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+p.addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out, _ := os.ReadFile(p.logPath)
	// A failed init is an error of the invocation (the emulator answers
	// 502, or 200 with an errorType), never a frame.
	failed := resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"errorType"`)
	if !failed || strings.Contains(string(body), `"statusCode"`) {
		t.Errorf("invocation answered %d %s; want the emulator's error for a failed init\noutput:\n%s", resp.StatusCode, body, out)
	}
	if !strings.Contains(string(out), app.ErrNoTable.Error()) {
		t.Errorf("the function's output does not name the missing TABLE_NAME (%q):\n%s", app.ErrNoTable, out)
	}
	t.Logf("invocation: %d %s", resp.StatusCode, bytes.TrimSpace(body))
}
