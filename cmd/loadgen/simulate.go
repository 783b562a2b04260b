package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// simPrefix starts the connection ids of simulated subscribers.
const simPrefix = "sim-"

// simulation stands in for subscribers beyond what one machine can hold
// open (each WebSocket costs a file descriptor on both ends): they exist
// in the store only, subscribed like the others, and the local Management
// API answers their posts itself, with 200 after the simulated delay,
// instead of writing to a socket. Everything else a post does is real:
// the store Query, the sharding, the signed HTTP request to the local
// Management API and its handling. It records, per publish, which
// simulated subscribers' posts were answered (and how often) and when the
// last one completed, so that store-only recipients get the exactly-once
// check the real ones get. It is safe for concurrent use.
type simulation struct {
	perChannel int
	delay      time.Duration

	mu        sync.Mutex
	byPublish map[int]*simPublish
}

// simPublish is what the simulation saw of one publish: its answered
// posts.
type simPublish struct {
	sent  int64    // send time from the payload, Unix nanoseconds
	last  int64    // completion of the latest post, Unix nanoseconds
	got   []uint64 // bitset of the simulated connection numbers posted to
	posts int      // posts to the simulated connections, repeats included
	dups  int      // posts to a connection posted to before
	// unknown counts posts to a simulated connection id the simulation
	// did not make (not in posts).
	unknown int
}

// mark records a post to simulated connection n (0 <= n < perChannel).
func (p *simPublish) mark(n, perChannel int) {
	if p.got == nil {
		p.got = make([]uint64, (perChannel+63)/64)
	}
	bit := uint64(1) << (n % 64)
	if p.got[n/64]&bit != 0 {
		p.dups++
	}
	p.got[n/64] |= bit
}

// SimResult is the outcome for one publish.
type SimResult struct {
	Publish int `json:"publish"`
	Posts   int `json:"posts"` // answered, repeats included
	// Missing counts the simulated subscribers no post reached, and
	// Duplicates the posts beyond the first to one subscriber.
	Missing    int `json:"missing"`
	Duplicates int `json:"duplicates"`
	// CompletionMs is when the last simulated post was done, after the
	// send; -1 when none was.
	CompletionMs float64 `json:"completionMs"`
}

// simID is the connection id of simulated subscriber n.
func simID(n int) string { return fmt.Sprintf("%s%07d", simPrefix, n) }

// simNumber returns n for the id simID(n) of one of the perChannel
// simulated subscribers.
func (s *simulation) simNumber(id string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, simPrefix))
	return n, err == nil && n >= 0 && n < s.perChannel && id == simID(n)
}

// populate subscribes perChannel store-only connections to each channel.
func (s *simulation) populate(ctx context.Context, st store.Store, channels []string) error {
	now := time.Now()
	for i := range s.perChannel {
		id := simID(i)
		c := store.Connection{ID: id, UserID: "sim-user-" + strconv.Itoa(i), Username: "Simulated", Tenant: "default",
			ConnectedAt: now, LastSeenAt: now, ExpiresAt: now.Add(3 * time.Hour)}
		if err := st.PutConnection(ctx, c); err != nil {
			return fmt.Errorf("simulated subscriber %q: %w", id, err)
		}
		for _, ch := range channels {
			if _, err := st.Subscribe(ctx, "default", ch, id, 0); err != nil {
				return fmt.Errorf("simulated subscriber %q of %q: %w", id, ch, err)
			}
		}
	}
	return nil
}

// fault is the gateway's ManagementFault hook: every post waits for the
// delay; posts to simulated subscribers are then answered 200. The wait for
// those is here rather than in the gateway, so that a post is recorded
// only once the delay is over and its client still waits for the answer:
// one given up during the delay was not delivered.
func (s *simulation) fault(r *http.Request) (int, time.Duration) {
	id := path.Base(r.URL.Path)
	if s == nil || !strings.HasPrefix(id, simPrefix) || r.Method != http.MethodPost {
		return 0, s.delayOrZero()
	}
	body, _ := io.ReadAll(r.Body)
	if !wait(r.Context(), s.delay) {
		return http.StatusServiceUnavailable, 0 // nobody reads it
	}
	done := time.Now().UnixNano()
	// Every post of a publish carries the same frame: find its number
	// cheaply, and decode the frame only for the first post.
	idx, ok := publishIndex(body)
	if !ok {
		return http.StatusOK, 0
	}
	s.mu.Lock()
	p := s.byPublish[idx]
	s.mu.Unlock()
	if p == nil {
		var f struct {
			Payload struct {
				T int64 `json:"t"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(body, &f)
		s.mu.Lock()
		if p = s.byPublish[idx]; p == nil {
			p = &simPublish{sent: f.Payload.T}
			s.byPublish[idx] = p
		}
		s.mu.Unlock()
	}
	n, known := s.simNumber(id)
	s.mu.Lock()
	if known {
		p.posts++
		p.mark(n, s.perChannel)
		p.last = max(p.last, done)
	} else {
		p.unknown++
	}
	s.mu.Unlock()
	return http.StatusOK, 0
}

// wait waits for d and reports true, or reports false if ctx ends first
// (or has ended).
func wait(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}

// publishIndex finds the publish number n of a frame whose messageId is
// "p-<n>".
func publishIndex(frame []byte) (int, bool) {
	const key = `"messageId":"p-`
	i := bytes.Index(frame, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := frame[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(rest[:j]))
	return n, err == nil
}

func (s *simulation) delayOrZero() time.Duration {
	if s == nil {
		return 0
	}
	return s.delay
}

// results returns one result for each of the run's published publishes,
// in publish order, and the number of unexpected posts: to a simulated
// connection the simulation did not make, or of a publish the run did not
// send.
func (s *simulation) results(published int64) (res []SimResult, unexpected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for idx, p := range s.byPublish {
		unexpected += p.unknown
		if idx < 0 || int64(idx) >= published {
			unexpected += p.posts
		}
	}
	for idx := range int(max(published, 0)) {
		r := SimResult{Publish: idx, Missing: s.perChannel, CompletionMs: -1}
		if p := s.byPublish[idx]; p != nil {
			r.Posts, r.Duplicates = p.posts, p.dups
			for _, w := range p.got {
				r.Missing -= bits.OnesCount64(w)
			}
			if p.posts > 0 {
				r.CompletionMs = float64(p.last-p.sent) / 1e6
			}
		}
		res = append(res, r)
	}
	return res, unexpected
}

// simulatedExactlyOnce returns nil when every simulated subscriber got
// every publish exactly once and no other post came; otherwise an error
// that says what went wrong.
func simulatedExactlyOnce(res []SimResult, unexpected int) error {
	var missing, dups int
	for _, r := range res {
		missing += r.Missing
		dups += r.Duplicates
	}
	if missing == 0 && dups == 0 && unexpected == 0 {
		return nil
	}
	return fmt.Errorf("simulated subscribers: %d missing, %d duplicated, %d to unknown recipients", missing, dups, unexpected)
}
