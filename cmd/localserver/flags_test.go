package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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

// TestFlagValuesRefused: a negative -sweep or -shutdown-timeout, and an
// allowed origin that is not scheme://host[:port] (which no browser's
// Origin can match), stop the server at start with an error naming the
// flag or variable, instead of being taken silently (-sweep=-1m turned
// the sweeper off, -shutdown-timeout=-1s used the default bound).
func TestFlagValuesRefused(t *testing.T) {
	bin := buildServer(t)
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"-sweep=-1m"}, "localserver: -sweep -1m0s: "},
		{nil, []string{"-sweep=-1ns"}, "localserver: -sweep -1ns: "},
		{nil, []string{"-shutdown-timeout=-1s"}, "localserver: -shutdown-timeout -1s: "},
		{[]string{"DEV_ALLOWED_ORIGINS=devbox.local:5173"}, nil, `localserver: DEV_ALLOWED_ORIGINS: "devbox.local:5173" is not an origin`},
		{[]string{"DEV_ALLOWED_ORIGINS=http://ok.example, localhost:5173"}, nil, `localserver: DEV_ALLOWED_ORIGINS: "localhost:5173" is not an origin`},
		{[]string{"DEV_ALLOWED_ORIGINS=http://devbox.local:5173/app"}, nil, `"http://devbox.local:5173/app" is not an origin`},
		{[]string{"DEV_ALLOWED_ORIGINS=http://devbox.local:port"}, nil, `"http://devbox.local:port" is not an origin`},
		{[]string{"DEV_ALLOWED_ORIGINS=//devbox.local"}, nil, `"//devbox.local" is not an origin`},
		{[]string{"DEV_ALLOWED_ORIGINS=http://devbox.local?x=1"}, nil, `"http://devbox.local?x=1" is not an origin`},
		{[]string{"DEV_ALLOWED_ORIGINS=http://ok.example"}, []string{"-allow-origin=devbox.local"}, `localserver: -allow-origin: "devbox.local" is not an origin`},
	} {
		t.Run(strings.Join(append(c.env, c.args...), " "), func(t *testing.T) {
			stderr := refusedAtStart(t, bin, c.env, append([]string{"-dev"}, c.args...)...)
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q, want %q", stderr, c.want)
			}
		})
	}
	// The documented values start it: 0 for each duration, origins with
	// a scheme (a trailing slash is dropped, as browsers send none).
	startServer(t, bin, t.TempDir(), []string{"PORT=0", "DEV_ALLOWED_ORIGINS=http://devbox.local:5173/, https://app.example"}, nil,
		"-dev", "-sweep=0", "-shutdown-timeout=0")
}

// TestSweepInterval: -sweep 0 turns the sweeper off; any other value is
// its interval.
func TestSweepInterval(t *testing.T) {
	for flagged, want := range map[time.Duration]time.Duration{0: -1, time.Second: time.Second, time.Minute: time.Minute} {
		if got := sweepInterval(flagged); got != want {
			t.Errorf("sweepInterval(%v) = %v, want %v", flagged, got, want)
		}
	}
}
