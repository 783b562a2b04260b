package mgmtapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/omnisales/rtcollab/internal/backoff"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/ratelimit"
)

// pacingBudget is the budget of the pacer of the pacing tests: high enough
// that a fan-out of a few hundred posts never waits long for a token,
// whatever the rate (at the floor, 6,250 posts per second).
const pacingBudget = 100_000

// pacedClient is a Client with a real Pacer on a fake clock, 8 attempts
// while throttled and a backoff that lets 100 ms pass on that clock before
// each retry (the least interval between two cuts of the rate, so that
// every throttled attempt could cut it), without sleeping.
type pacedClient struct {
	*mgmtapi.Client
	pacer *ratelimit.Pacer
	clock atomic.Int64 // nanoseconds since the fake clock's start

	mu      sync.Mutex
	lowest  float64 // the pacer's lowest rate seen before a retry
	retries int     // backoffs asked for
}

// sleeping is the backoff's delay on the fake clock.
const sleeping = 100 * time.Millisecond

func newPacedClient(endpoint string) *pacedClient {
	c := &pacedClient{lowest: pacingBudget}
	start := time.Now()
	c.pacer = ratelimit.NewPacerBurst(pacingBudget, 0, func() time.Time {
		return start.Add(time.Duration(c.clock.Load()))
	})
	c.Client = mgmtapi.New(endpoint, testConfig(), &mgmtapi.Options{
		MaxThrottleAttempts: 8,
		Pacer:               c.pacer,
		Backoff: retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lowest = min(c.lowest, c.pacer.Rate())
			c.retries++
			c.clock.Add(int64(sleeping))
			return 0, nil
		}),
	})
	return c
}

// throttlingAPI answers 429 LimitExceededException to a post to a
// connection for which throttle says so, given how many times that
// connection was posted to before, and 200 otherwise. It returns the
// server and the number of posts to each connection so far.
func throttlingAPI(t *testing.T, throttle func(connID string, n int) bool) (*httptest.Server, func(connID string) int) {
	t.Helper()
	var mu sync.Mutex
	seen := make(map[string]int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		mu.Lock()
		n := seen[id]
		seen[id]++
		mu.Unlock()
		if throttle(id, n) {
			w.Header().Set("x-amzn-ErrorType", "LimitExceededException")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[id]
	}
}

// fanOut posts frame to n connections, "c0" to "c<n-1>", with at most
// inFlight posts at once, and returns each post's error by connection.
func fanOut(c *pacedClient, n, inFlight int) map[string]error {
	post := c.PrepareFrame([]byte(`{"type":"event"}`))
	errs := make(map[string]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	ids := make(chan string)
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				err := post(context.Background(), id)
				mu.Lock()
				errs[id] = err
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		ids <- fmt.Sprintf("c%d", i)
	}
	close(ids)
	wg.Wait()
	return errs
}

// TestSlowClientDoesNotSlowTheFanout: a fan-out of 300 in which one
// connection is answered 429 every time (a client whose buffer is full)
// cuts the instance's rate once, not once per retry of that post, so the
// other 299 posts go on at least at half the budget; the slow post is
// still sent 8 times, each retry after a backoff, and fails with
// ErrThrottled.
func TestSlowClientDoesNotSlowTheFanout(t *testing.T) {
	const slow = "c17"
	srv, posts := throttlingAPI(t, func(id string, _ int) bool { return id == slow })
	c := newPacedClient(srv.URL + "/prod")
	errs := fanOut(c, 300, 32)
	for id, err := range errs {
		if id == slow {
			if !errors.Is(err, mgmtapi.ErrThrottled) {
				t.Errorf("post to the slow client: %v, want ErrThrottled", err)
			}
		} else if err != nil {
			t.Errorf("post to %s: %v", id, err)
		}
	}
	if len(errs) != 300 {
		t.Errorf("%d posts, want 300", len(errs))
	}
	if got := posts(slow); got != 8 || c.retries != 7 {
		t.Errorf("%d posts to the slow client after %d backoffs, want 8 after 7", got, c.retries)
	}
	if got := posts("c18"); got != 1 {
		t.Errorf("%d posts to another client, want 1", got)
	}
	// One cut halves the budget; the rate then climbs by 2% of the budget
	// per 100 ms of backoff.
	if rate := c.pacer.Rate(); rate < pacingBudget/2 {
		t.Errorf("rate after the fan-out = %.0f, want at least half the budget (%d): the slow client's retries cut it again", rate, pacingBudget/2)
	}
	if c.lowest < pacingBudget/2 {
		t.Errorf("lowest rate during the fan-out = %.0f, want at least half the budget (%d)", c.lowest, pacingBudget/2)
	}
}

// TestThrottlingOfManyPostsSlowsTheInstance: account throttling, which
// answers 429 to many posts, still cuts the rate once per throttled post
// (at most once per 100 ms): twelve posts in turn, each answered 429 once
// and then delivered, bring the rate down to near its floor of a
// sixteenth of the budget.
func TestThrottlingOfManyPostsSlowsTheInstance(t *testing.T) {
	srv, posts := throttlingAPI(t, func(_ string, n int) bool { return n == 0 })
	c := newPacedClient(srv.URL + "/prod")
	for id, err := range fanOut(c, 12, 1) {
		if err != nil {
			t.Errorf("post to %s: %v", id, err)
		} else if n := posts(id); n != 2 {
			t.Errorf("%d posts to %s, want 2", n, id)
		}
	}
	if rate := c.pacer.Rate(); rate > pacingBudget/8 {
		t.Errorf("rate after 12 throttled posts = %.0f, want at most an eighth of the budget (%d)", rate, pacingBudget/8)
	}
}

// TestRetryAfterIsWaitedFor: a post answered 429 with Retry-After is sent
// again only after at least the wait it asks for, with the backoff the
// deployed functions use (below 100 ms doubling up to 2 s), and still
// cuts the instance's rate once, not at each of its throttled attempts.
// The waits pass on the Pacer's fake clock instead of sleeping.
func TestRetryAfterIsWaitedFor(t *testing.T) {
	limited := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		status(http.StatusTooManyRequests, "LimitExceededException")(w, r)
	}
	api := newFakeAPI(t, limited, limited, status(http.StatusOK, ""))
	var clock atomic.Int64
	start := time.Now()
	pacer := ratelimit.NewPacerBurst(pacingBudget, 0, func() time.Time { return start.Add(time.Duration(clock.Load())) })
	var waits []time.Duration
	lowest := float64(pacingBudget)
	c := mgmtapi.New(api.endpoint(), testConfig(), &mgmtapi.Options{
		MaxThrottleAttempts: 8,
		Pacer:               pacer,
		Backoff:             backoff.Delayer(100*time.Millisecond, 2*time.Second),
		Sleep: func(ctx context.Context, d time.Duration) error {
			lowest = min(lowest, pacer.Rate())
			waits = append(waits, d)
			clock.Add(int64(d))
			return ctx.Err()
		},
	})
	if err := c.PostToConnection(context.Background(), testConnID, []byte("hi")); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := api.calls.Load(); got != 3 {
		t.Errorf("%d posts, want 3", got)
	}
	if len(waits) != 2 || waits[0] < 2*time.Second || waits[1] < 2*time.Second {
		t.Errorf("waits before the retries = %v, want two of at least the 2 s Retry-After asks for", waits)
	}
	if lowest < pacingBudget/2 {
		t.Errorf("lowest rate before a retry = %.0f, want at least half the budget (%d): a retry cut it again", lowest, pacingBudget/2)
	}
}
