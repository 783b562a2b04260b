package mgmtapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

// serverEnv makes the test binary a plain HTTP server on loopback for
// BenchmarkSignedPostApart instead of running tests.
const serverEnv = "MGMTAPI_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		serveUntilStdinCloses()
		return
	}
	os.Exit(m.Run())
}

// serveUntilStdinCloses answers every request 200 with no body, as the
// Management API answers a post, and prints its address; it exits when
// its standard input closes, so that it ends with the benchmark that
// started it whatever happens to that.
func serveUntilStdinCloses() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
}

// BenchmarkSignedPostApart posts with 128 in flight, as a fan-out does,
// over real loopback connections to a server in another process, so that
// cpu-ns/op is the posting side's alone (what a function pays, kernel
// included), with none of the server's.
func BenchmarkSignedPostApart(b *testing.B) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
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
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("server address: %v", err)
	}
	tr := &awsrest.H1Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	opts := fastOptions()
	opts.HTTPClient = &http.Client{Transport: tr}
	c := mgmtapi.New("http://"+strings.TrimSpace(addr)+"/prod", testConfig(), opts)
	postInParallel(b, c.PrepareFrame(benchFrame(256)))
}
