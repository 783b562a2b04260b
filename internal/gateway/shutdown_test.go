package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// slowDisconnects is an Invoker whose $disconnect takes perCall; with
// serial set, the calls run one at a time, as a Lambda emulator runs
// them. It records how many $disconnect calls finished and the most that
// ran at once.
type slowDisconnects struct {
	perCall time.Duration
	serial  bool

	turn                     sync.Mutex // held by a serial call
	mu                       sync.Mutex
	running, most, completed int
}

func (f *slowDisconnects) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	if routeKey != RouteDisconnect {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	if f.serial {
		f.turn.Lock()
		defer f.turn.Unlock()
	}
	f.mu.Lock()
	f.running++
	f.most = max(f.most, f.running)
	f.mu.Unlock()
	time.Sleep(f.perCall)
	f.mu.Lock()
	f.running--
	f.completed++
	f.mu.Unlock()
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

func (f *slowDisconnects) counts() (most, completed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.most, f.completed
}

// serveUnmanaged serves a gateway for inv, which the test shuts down
// itself. It returns the server and the channel Serve's result arrives on.
func serveUnmanaged(t *testing.T, inv Invoker) (*Server, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Addr: ln.Addr().String()}, inv)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	return s, served
}

// serveWithClients serves a gateway for inv and opens n connections to it.
func serveWithClients(t *testing.T, inv Invoker, n int) (*Server, <-chan error) {
	t.Helper()
	s, served := serveUnmanaged(t, inv)
	for range n {
		dial(t, s, nil)
	}
	if got := s.ConnectionCount(); got != n {
		t.Fatalf("%d connections open, want %d", got, n)
	}
	return s, served
}

// A shutdown whose bound ends before every $disconnect ran says how many
// it abandoned, and what becomes of their connection records.
func TestShutdownReportsAbandonedDisconnects(t *testing.T) {
	const n = 2 * shutdownDisconnects
	inv := &slowDisconnects{perCall: 50 * time.Millisecond, serial: true} // 1.6s in all
	s, served := serveWithClients(t, inv, n)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	m := regexp.MustCompile(`\$disconnect unfinished for (\d+) of (\d+) connections: their connection records stay in the store until the sweeper or a later post to them cleans them up`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("Shutdown error %q does not count the abandoned $disconnect calls", err)
	}
	abandoned, _ := strconv.Atoi(m[1])
	if total, _ := strconv.Atoi(m[2]); total != n {
		t.Errorf("error counts %d connections, want %d", total, n)
	}
	if abandoned < 1 || abandoned > n {
		t.Errorf("%d of %d $disconnect calls reported abandoned", abandoned, n)
	}
	var inc *ShutdownIncompleteError
	if !errors.As(err, &inc) || inc.Abandoned != abandoned || inc.Total != n {
		t.Errorf("Shutdown error = %#v, want a *ShutdownIncompleteError with the counts of its message", err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want http.ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown gave up")
	}
	// The calls started before Shutdown gave up run to their end; those
	// still waiting for their turn are not made.
	drained := make(chan struct{})
	go func() { s.live.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("connections still live 10s after Shutdown gave up")
	}
	if _, completed := inv.counts(); completed >= n {
		t.Errorf("all %d $disconnect calls ran after Shutdown gave up, want those still waiting skipped", n)
	}
}

// Within a sufficient bound every $disconnect runs, at most
// shutdownDisconnects at a time: started all at once, they share a slow
// store and finish late together.
func TestShutdownRunsEveryDisconnectFewAtATime(t *testing.T) {
	const n = 3 * shutdownDisconnects
	inv := &slowDisconnects{perCall: 20 * time.Millisecond}
	s, served := serveWithClients(t, inv, n)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	most, completed := inv.counts()
	if completed != n {
		t.Errorf("%d $disconnect calls completed, want %d", completed, n)
	}
	if most > shutdownDisconnects {
		t.Errorf("%d $disconnect calls ran at once, want at most %d", most, shutdownDisconnects)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v, want http.ErrServerClosed", err)
	}
}

// Shutdown waits for the $default invocations still running, which a
// $disconnect does not wait for; a bound that ends first says so.
func TestShutdownWaitsForRunningInvocations(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(map[bool]string{false: "returns", true: "bound ends"}[bounded], func(t *testing.T) {
			inv, release := blockingInvoker()
			defer release()
			s, served := serveUnmanaged(t, inv)
			c := dial(t, s, nil)
			next(t, inv.connects, "$connect")
			c.send(t, websocket.MessageText, []byte("block"))
			next(t, inv.messages, "$default")
			_ = c.conn.CloseNow()
			next(t, inv.disconnects, "$disconnect")
			deadline := time.Now().Add(5 * time.Second)
			for {
				s.mu.Lock()
				outliving := s.nOutliving
				s.mu.Unlock()
				if outliving == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the closed connection is not counted with its invocation running")
				}
				time.Sleep(time.Millisecond)
			}
			if bounded {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				err := s.Shutdown(ctx)
				var inc *ShutdownIncompleteError
				if !errors.As(err, &inc) || inc.Running != 1 || inc.Abandoned != 0 || !errors.Is(err, context.Canceled) {
					t.Fatalf("Shutdown = %#v, want a *ShutdownIncompleteError with one connection running and none abandoned", err)
				}
				if want := "gateway shutdown: context canceled; $default invocations still running for 1 closed connections"; err.Error() != want {
					t.Errorf("Shutdown error %q, want %q", err, want)
				}
				<-served
				return
			}
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(context.Background()) }()
			none(t, inv.disconnects, 100*time.Millisecond, "second $disconnect")
			select {
			case err := <-done:
				t.Fatalf("Shutdown returned %v while a $default still ran", err)
			default:
			}
			release()
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve = %v, want http.ErrServerClosed", err)
			}
		})
	}
}
