// Package loopserver runs an HTTP server on loopback in a child process,
// for benchmarks that measure a client's CPU apart from the server's: the
// test binary starts itself again as the server, and the parent's process
// CPU time then counts the client alone. The server answers every request
// 200 with no body once it has read the body, as the Management API
// answers a post, after Options.Delay when one is set.
//
// Entry points: Main, a test package's TestMain (or ServeIfChild, called
// first in one), and Start, which a benchmark or test calls.
package loopserver

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// envVar tells a test binary started by Start to serve: "http" or
// "https"; delayVar holds Options.Delay.
const (
	envVar   = "RTCOLLAB_LOOPSERVER"
	delayVar = "RTCOLLAB_LOOPSERVER_DELAY"
)

// Options configure the server Start starts.
type Options struct {
	// HTTPS serves TLS with a certificate of its own, whose pool Start
	// returns. Default false: plain HTTP.
	HTTPS bool
	// Delay is how long each answer waits, standing for the network and
	// the service. Default 0.
	Delay time.Duration
}

// Main is a TestMain for a package that uses Start: it serves when the
// binary was started by Start, and runs the tests otherwise.
func Main(m *testing.M) {
	ServeIfChild()
	os.Exit(m.Run())
}

// ServeIfChild returns at once in a test binary that Start did not start.
// In one that it did, it serves until its standard input closes (the
// parent ended, whatever the way) and exits.
func ServeIfChild() {
	scheme := os.Getenv(envVar)
	if scheme == "" {
		return
	}
	delay, _ := time.ParseDuration(os.Getenv(delayVar))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopserver:", err)
		os.Exit(1)
	}
	srv := &httptest.Server{
		Listener: ln,
		Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if delay > 0 {
				time.Sleep(delay)
			}
		})},
	}
	cert := ""
	if scheme == "https" {
		srv.StartTLS()
		cert = base64.StdEncoding.EncodeToString(srv.Certificate().Raw)
	} else {
		srv.Start()
	}
	fmt.Printf("%s\n%s\n", srv.URL, cert)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// Start starts the test binary again as a server and returns its base URL
// and, with HTTPS, a pool holding its certificate. The server ends with
// the benchmark or test.
func Start(tb testing.TB, o Options) (url string, roots *x509.CertPool) {
	tb.Helper()
	scheme := "http"
	if o.HTTPS {
		scheme = "https"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envVar+"="+scheme, delayVar+"="+o.Delay.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	r := bufio.NewReader(stdout)
	url, err = r.ReadString('\n')
	if err != nil {
		tb.Fatalf("loopserver: no address: %v", err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		tb.Fatalf("loopserver: no certificate line: %v", err)
	}
	if o.HTTPS {
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(line))
		if err != nil {
			tb.Fatalf("loopserver: certificate: %v", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			tb.Fatalf("loopserver: certificate: %v", err)
		}
		roots = x509.NewCertPool()
		roots.AddCert(c)
	}
	return strings.TrimSpace(url), roots
}
