package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// refusedAtStart runs bin with env and args and returns its standard error,
// failing the test unless it exits with status 1 before printing its
// banner: a server that starts is stopped and reported.
func refusedAtStart(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), append([]string{"PORT=0"}, env...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Delivery:") {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("%v %v: the server started instead of refusing", env, args)
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("%v %v: %v, want exit status 1; stderr:\n%s", env, args, err, stderr.String())
	}
	return stderr.String()
}

// TestConnectRateOutOfRange: a -connect-rate that names no rate
// (negative, NaN, infinite) stops the server at start with an error
// naming the flag, instead of a negative one meaning no bound and an
// infinite or NaN one refusing every handshake; 0 (no bound) and a large
// finite rate start it.
func TestConnectRateOutOfRange(t *testing.T) {
	bin := buildServer(t)
	for _, v := range []string{"-5", "-Inf", "+Inf", "Inf", "NaN"} {
		t.Run(v, func(t *testing.T) {
			stderr := refusedAtStart(t, bin, nil, "-dev", "-connect-rate="+v)
			if !strings.Contains(stderr, "localserver: -connect-rate") || !strings.Contains(stderr, "0 for no bound") {
				t.Errorf("-connect-rate=%s: stderr %q, want an error naming -connect-rate and what 0 means", v, stderr)
			}
		})
	}
	for _, v := range []string{"0", "1e19"} {
		startServer(t, bin, t.TempDir(), []string{"PORT=0"}, nil, "-dev", "-connect-rate="+v)
	}
}
