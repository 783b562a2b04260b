package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/gateway"
)

// asyncInvokeAPI stands in for Lambda's asynchronous invoke, which the
// emulator does not offer: it accepts a signed POST
// /2015-03-31/functions/<function>/invocations with X-Amz-Invocation-Type
// Event, answers 202 at once, as Lambda does once it has queued the event,
// and then runs the event through the emulator at rieURL, one at a time
// (an emulator is one execution environment; Lambda would run queued
// events in parallel environments). It returns its
// URL and the count of events it queued; the test fails on any other
// request or on a failed run.
func asyncInvokeAPI(t *testing.T, function, rieURL string) (string, *atomic.Int64) {
	t.Helper()
	var (
		wg      sync.WaitGroup
		run     sync.Mutex // one event in the emulator at a time
		mu      sync.Mutex
		queued  = new(atomic.Int64)
		failure []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failure = append(failure, fmt.Sprintf(format, args...))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		switch {
		case err != nil:
			fail("read invoke: %v", err)
		case r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/"+function+"/invocations":
			fail("unexpected request %s %s", r.Method, r.URL.Path)
		case r.Header.Get("X-Amz-Invocation-Type") != "Event":
			fail("invoke of type %q, want Event", r.Header.Get("X-Amz-Invocation-Type"))
		case !strings.Contains(r.Header.Get("Authorization"), "/lambda/aws4_request"):
			fail("invoke not signed for lambda: %q", r.Header.Get("Authorization"))
		default:
			queued.Add(1)
			w.WriteHeader(http.StatusAccepted)
			wg.Go(func() {
				run.Lock()
				defer run.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rieURL+"/2015-03-31/functions/function/invocations", bytes.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					fail("run event: %v", err)
					return
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
					fail("run event: %d %s", resp.StatusCode, out)
				}
			})
			return
		}
		http.Error(w, "bad request", http.StatusBadRequest)
	}))
	t.Cleanup(func() {
		wg.Wait()
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, f := range failure {
			t.Error("asynchronous invoke: " + f)
		}
		t.Logf("asynchronous invoke API: %d events queued and run", queued.Load())
	})
	return srv.URL, queued
}

// TestRIEShardedFanout runs the deployed shape of sharded fan-out: the
// message bootstrap, under the emulator with FANOUT_SHARD_SIZE 2, posts a
// publish to 7 subscribers by delivering the first shard itself and
// invoking the fan-out bootstrap (under its own emulator) asynchronously
// with the other three, which post through the local Management API. Every
// subscriber gets the frame exactly once.
func TestRIEShardedFanout(t *testing.T) {
	rie, dir, ep, ok := rieSetup(t)
	if !ok {
		t.Skip("the emulator, the bootstraps or moto are missing (make test provides them)")
	}
	fan := &rieOptions{ShardSize: 2}
	srv := startRIE(t, rie, dir, ep, gateway.Config{}, fan)
	ctx := context.Background()
	var subs []*client
	for i := range 7 {
		c, err := edConnect(ctx, t, srv, fmt.Sprintf("sub%d", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		if f, err := c.roundTrip(ctx, "subscribe", "order-updates", "", nil); err != nil || f.Type != "ack" {
			t.Fatalf("subscribe: %+v %v", f, err)
		}
		subs = append(subs, c)
	}
	pub, err := edConnect(ctx, t, srv, "publisher")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.close)
	for n := range 2 {
		body := map[string]any{"orderId": "o-1", "n": n}
		if f, err := pub.roundTrip(ctx, "publish", "order-updates", "", body); err != nil || f.Type != "ack" {
			t.Fatalf("publish %d: %+v %v", n, f, err)
		}
		want := fmt.Sprintf(`"n":%d`, n)
		for _, c := range subs {
			if _, ok := c.waitEvent(20*time.Second, func(f frame) bool {
				return f.Type == "update" && strings.Contains(string(f.Payload), want)
			}); !ok {
				t.Fatalf("%s did not get publish %d", c.name, n)
			}
		}
	}
	// 7 recipients in shards of 2: the message function posts to the first
	// shard and hands the other three to the fan-out function.
	if got := fan.Queued.Load(); got != 2*3 {
		t.Errorf("%d asynchronous invokes for 2 publishes, want 6 (3 shards each)", got)
	}
	time.Sleep(300 * time.Millisecond) // a second copy would arrive by now
	for _, c := range subs {
		for _, f := range c.takeEvents() {
			if f.Type == "update" {
				t.Errorf("%s got a second copy: %s", c.name, f.Payload)
			}
		}
	}
}
