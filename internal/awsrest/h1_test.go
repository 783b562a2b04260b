package awsrest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countConns starts srv counting the connections it accepts.
func countConns(srv *httptest.Server) *atomic.Int64 {
	var n atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

// echoPath answers with the request's path and body.
func echoPath(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.EscapedPath(), body)
}

func roundTrip(t *testing.T, tr http.RoundTripper, ctx context.Context, method, url, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), err
}

func TestH1TransportReusesConnections(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoPath))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	tr := &H1Transport{}
	defer tr.CloseIdleConnections()
	for i := range 50 {
		status, out, err := roundTrip(t, tr, context.Background(), http.MethodPost, fmt.Sprintf("%s/prod/@connections/a%%3D%d", srv.URL, i), fmt.Sprintf(`{"n":%d}`, i))
		if err != nil || status != 200 || out != fmt.Sprintf(`POST /prod/@connections/a%%3D%d {"n":%d}`, i, i) {
			t.Fatalf("request %d: %d %q %v", i, status, out, err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Fatalf("50 requests in turn opened %d connections, want 1", got)
	}
}

func TestH1TransportConcurrentRequestsGetTheirOwnAnswers(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond) // keep requests overlapping
		echoPath(w, r)
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	tr := &H1Transport{}
	defer tr.CloseIdleConnections()
	const workers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				path := fmt.Sprintf("/w%d/r%d", w, i)
				status, out, err := roundTrip(t, tr, context.Background(), http.MethodPost, srv.URL+path, path)
				if err != nil || status != 200 || out != "POST "+path+" "+path {
					errs <- fmt.Errorf("%s: %d %q %v", path, status, out, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := conns.Load(); got > workers {
		t.Fatalf("%d workers opened %d connections", workers, got)
	}
}

func TestH1TransportHonoursConnectionClose(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echoPath(w, r)
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	tr := &H1Transport{}
	for i := range 5 {
		if status, _, err := roundTrip(t, tr, context.Background(), http.MethodGet, srv.URL+"/x", ""); err != nil || status != 200 {
			t.Fatalf("request %d: %d %v", i, status, err)
		}
	}
	if got := conns.Load(); got != 5 {
		t.Fatalf("5 answers with Connection: close used %d connections, want 5", got)
	}
}

func TestH1TransportNoticesIdleCloseByServer(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoPath))
	srv.Config.IdleTimeout = 100 * time.Millisecond // the server drops idle connections
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	tr := &H1Transport{}
	if status, _, err := roundTrip(t, tr, context.Background(), http.MethodPost, srv.URL+"/a", "1"); err != nil || status != 200 {
		t.Fatalf("first request: %d %v", status, err)
	}
	time.Sleep(idleCheckAfter + 200*time.Millisecond)
	// The idle connection was closed by the server: the transport must
	// see that before it writes, and dial a new one, without an error.
	if status, out, err := roundTrip(t, tr, context.Background(), http.MethodPost, srv.URL+"/b", "2"); err != nil || status != 200 || out != "POST /b 2" {
		t.Fatalf("request after the server's idle close: %d %q %v", status, out, err)
	}
	if got := conns.Load(); got != 2 {
		t.Fatalf("connections: %d, want 2", got)
	}
}

func TestH1TransportCancelEndsTheWait(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr := &H1Transport{}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := roundTrip(t, tr, ctx, http.MethodPost, srv.URL+"/slow", "x")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancelled request returned after %v", d)
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, _, err = roundTrip(t, tr, ctx, http.MethodPost, srv.URL+"/slow", "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
	// The timed-out connection must not be reused.
	tr.mu.Lock()
	idle := 0
	for _, l := range tr.idle {
		idle += len(l)
	}
	tr.mu.Unlock()
	if idle != 0 {
		t.Fatalf("%d idle connections after failed requests, want 0", idle)
	}
}

func TestH1TransportUnreadBodies(t *testing.T) {
	big := strings.Repeat("b", maxDrain*2)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "small answer")
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	tr := &H1Transport{}
	send := func(path string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // unread
	}
	send("/small")
	send("/small") // the drained connection is reused
	if got := conns.Load(); got != 1 {
		t.Fatalf("after two small unread answers: %d connections, want 1", got)
	}
	send("/big") // too much to drain: closed
	send("/small")
	if got := conns.Load(); got != 2 {
		t.Fatalf("after an undrained big answer: %d connections, want 2", got)
	}
}

func TestH1TransportTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoPath))
	conns := countConns(srv)
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tr := &H1Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(4)}}
	for i := range 10 {
		status, out, err := roundTrip(t, tr, context.Background(), http.MethodPost, srv.URL+"/tls", "z")
		if err != nil || status != 200 || out != "POST /tls z" {
			t.Fatalf("request %d: %d %q %v", i, status, out, err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Fatalf("10 TLS requests opened %d connections, want 1", got)
	}
	// Without the server's roots the handshake fails.
	_, _, err := roundTrip(t, &H1Transport{}, context.Background(), http.MethodGet, srv.URL+"/tls", "")
	if err == nil {
		t.Fatal("a certificate from an unknown authority was accepted")
	}
}

func TestH1TransportReadsAnAnswerSentBeforeTheBody(t *testing.T) {
	// The server refuses a body over its limit after reading its headers
	// only, and closes the connection: the client's write fails, and the
	// answer is what the request gets, as from net/http's Transport.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Header().Set("X-Amzn-Errortype", "PayloadTooLargeException")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	defer srv.Close()
	tr := &H1Transport{}
	body := strings.Repeat("x", 16<<20) // far past what socket buffers hold
	status, _, err := roundTrip(t, tr, context.Background(), http.MethodPost, srv.URL+"/big", body)
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d, %v; want 413", status, err)
	}
}

func TestH1TransportClosesConnectionsIdleTooLong(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // keep concurrent requests overlapping
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	tr := &H1Transport{IdleTimeout: 400 * time.Millisecond}
	burst := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if status, _, err := roundTrip(t, tr, context.Background(), http.MethodGet, srv.URL, ""); err != nil || status != 200 {
					t.Errorf("request: %d %v", status, err)
				}
			})
		}
		wg.Wait()
	}
	idle := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		n := 0
		for _, l := range tr.idle {
			n += len(l)
		}
		return n
	}
	burst(4) // four connections, idle from now
	if got := conns.Load(); got != 4 || idle() != 4 {
		t.Fatalf("4 overlapping requests: %d connections, %d idle; want 4 and 4", got, idle())
	}
	time.Sleep(250 * time.Millisecond)
	burst(2) // the two newest are used again: idle from now
	time.Sleep(250 * time.Millisecond)
	// The two at the bottom have been idle 500 ms, past the timeout; the
	// next request reuses a recent one, and putting it back closes them.
	burst(1)
	if got := idle(); got != 2 {
		t.Fatalf("%d idle connections after the stale ones were pruned, want 2", got)
	}
	if got := conns.Load(); got != 4 {
		t.Fatalf("%d connections in all, want 4 (all reused)", got)
	}
}

// answerInTurn serves one connection on a loopback listener: for each
// request it reads, it writes the next of replies, verbatim. It returns the
// base URL.
func answerInTurn(t *testing.T, replies ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		for _, reply := range replies {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(conn, reply); err != nil {
				return
			}
		}
		_, _ = io.Copy(io.Discard, br) // until the client closes
	}()
	return "http://" + ln.Addr().String()
}

// TestH1TransportSkipsInterimAnswers: interim (1xx) responses a server
// sends unasked (103 Early Hints, 100 Continue) are skipped, and each
// request on the kept connection gets its own final answer; taken for the
// answer, one left the real answer to be read by the next request.
func TestH1TransportSkipsInterimAnswers(t *testing.T) {
	url := answerInTurn(t,
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nanswer-A",
		"HTTP/1.1 410 Gone\r\nContent-Length: 8\r\n\r\nanswer-B",
	)
	tr := &H1Transport{}
	defer tr.CloseIdleConnections()
	st1, b1, err1 := roundTrip(t, tr, context.Background(), http.MethodPost, url+"/@connections/A", "frame-A")
	st2, b2, err2 := roundTrip(t, tr, context.Background(), http.MethodPost, url+"/@connections/B", "frame-B")
	if st1 != 200 || b1 != "answer-A" || err1 != nil || st2 != 410 || b2 != "answer-B" || err2 != nil {
		t.Fatalf("A: %d %q %v; B: %d %q %v; want A 200 answer-A, B 410 answer-B", st1, b1, err1, st2, b2, err2)
	}
}

// TestH1TransportBoundsTheHeader: a response whose header passes
// MaxResponseHeaderBytes fails the request (a broken or hostile server
// cannot make the client hold an endless header); an answer within it on
// the next connection is read as usual.
func TestH1TransportBoundsTheHeader(t *testing.T) {
	huge := "HTTP/1.1 200 OK\r\nX-Filler: " + strings.Repeat("x", MaxResponseHeaderBytes+1) + "\r\nContent-Length: 2\r\n\r\nok"
	tr := &H1Transport{}
	defer tr.CloseIdleConnections()
	if st, body, err := roundTrip(t, tr, context.Background(), http.MethodPost, answerInTurn(t, huge)+"/@connections/A", "frame"); !errors.Is(err, errHeaderTooLarge) {
		t.Fatalf("a header over the bound: %d %q %v, want errHeaderTooLarge", st, body, err)
	}
	fine := "HTTP/1.1 200 OK\r\nX-Filler: " + strings.Repeat("x", 4000) + "\r\nContent-Length: 2\r\n\r\nok"
	if st, body, err := roundTrip(t, tr, context.Background(), http.MethodPost, answerInTurn(t, fine)+"/@connections/B", "frame"); st != 200 || body != "ok" || err != nil {
		t.Fatalf("a header of 4 KB: %d %q %v", st, body, err)
	}
}
