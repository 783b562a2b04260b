package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/app"
)

// buildServer builds this command into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "localserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startServer runs bin with args and env in dir and returns its banner (up
// to the Delivery line) and the running command, stopped at the test's end.
// Its standard error goes to stderr, when not nil.
func startServer(t *testing.T, bin, dir string, env []string, stderr io.Writer, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	var banner strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Delivery:") {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return banner.String(), cmd
		}
	}
	_ = cmd.Wait()
	t.Fatalf("no banner; output:\n%s", banner.String())
	return "", nil
}

// TestBannerAnnouncesOnlyAServedDemoPage: with PORT=0 (a free port), the
// banner's demo line names the port actually opened and a URL that answers
// 200; from a directory without the built demo (the -static default is
// relative) it says the demo is not built rather than announcing a URL
// that answers 404.
func TestBannerAnnouncesOnlyAServedDemoPage(t *testing.T) {
	bin := buildServer(t)
	demoLine := regexp.MustCompile(`Demo page: +(.+)`)

	t.Run("not built", func(t *testing.T) {
		banner, _ := startServer(t, bin, t.TempDir(), []string{"PORT=0"}, nil, "-dev", "-sweep=0")
		m := demoLine.FindStringSubmatch(banner)
		if m == nil || m[1] != "not built (make demo, or -static DIR)" {
			t.Fatalf("demo line: %q, want the not-built notice\nbanner:\n%s", m, banner)
		}
	})

	t.Run("built", func(t *testing.T) {
		dist := t.TempDir()
		if err := os.WriteFile(filepath.Join(dist, "index.html"), []byte("<!doctype html><title>demo</title>"), 0o644); err != nil {
			t.Fatal(err)
		}
		banner, _ := startServer(t, bin, t.TempDir(), []string{"PORT=0"}, nil, "-dev", "-sweep=0", "-static", dist)
		m := regexp.MustCompile(`Demo page: +(http://localhost:(\d+)/)\n`).FindStringSubmatch(banner)
		if m == nil || m[2] == "0" {
			t.Fatalf("demo line: %q, want the URL with the opened port\nbanner:\n%s", m, banner)
		}
		if !strings.Contains(banner, "ws://127.0.0.1:"+m[2]+"/ws") {
			t.Fatalf("the demo page's port %s is not the WebSocket's\nbanner:\n%s", m[2], banner)
		}
		res, err := http.Get(m[1])
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, want 200", m[1], res.StatusCode)
		}
	})
}

// TestBannerNamesTheRegion: the banner names the region signatures must
// be scoped to, AWS_REGION's (us-east-1 without it).
func TestBannerNamesTheRegion(t *testing.T) {
	bin := buildServer(t)
	for env, want := range map[string]string{"AWS_REGION=": "us-east-1", "AWS_REGION=eu-west-1": "eu-west-1"} {
		banner, _ := startServer(t, bin, t.TempDir(), []string{"PORT=0", env}, nil, "-dev", "-sweep=0")
		if !strings.Contains(banner, `(SigV4, access key "local", region `+want+")") {
			t.Errorf("with %s the banner does not name region %s:\n%s", env, want, banner)
		}
	}
}

// TestStoreDescription: a table without DYNAMODB_ENDPOINT is AWS's.
func TestStoreDescription(t *testing.T) {
	for _, c := range []struct {
		s    app.Settings
		want string
	}{
		{app.Settings{}, "embedded memory store"},
		{app.Settings{TableName: "t", DynamoDBEndpoint: "http://localhost:8000"}, `DynamoDB table "t" at http://localhost:8000`},
		{app.Settings{TableName: "t", Region: "eu-west-1"}, `DynamoDB table "t" in AWS (region eu-west-1)`},
	} {
		if got := storeDescription(c.s); got != c.want {
			t.Errorf("storeDescription(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}
