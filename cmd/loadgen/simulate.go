package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
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
// Management API and its handling. It records when the last post of each
// publish completed. It is safe for concurrent use.
type simulation struct {
	perChannel int
	delay      time.Duration

	mu        sync.Mutex
	byPublish map[int]*simPublish
}

// simPublish is what the simulation saw of one publish.
type simPublish struct {
	sent  int64 // send time from the payload, Unix nanoseconds
	last  int64 // completion of the latest post, Unix nanoseconds
	posts int
}

// SimResult is the outcome for one publish.
type SimResult struct {
	Publish      int     `json:"publish"`
	Posts        int     `json:"posts"`
	CompletionMs float64 `json:"completionMs"` // last simulated post done, after the send
}

// populate subscribes perChannel store-only connections to each channel.
func (s *simulation) populate(ctx context.Context, st store.Store, channels []string) error {
	now := time.Now()
	for i := range s.perChannel {
		id := fmt.Sprintf("%s%07d", simPrefix, i)
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
// delay; posts to simulated subscribers are then answered 200.
func (s *simulation) fault(r *http.Request) (int, time.Duration) {
	if s == nil || !strings.HasPrefix(path.Base(r.URL.Path), simPrefix) || r.Method != http.MethodPost {
		return 0, s.delayOrZero()
	}
	body, _ := io.ReadAll(r.Body)
	done := time.Now().Add(s.delay).UnixNano()
	// Every post of a publish carries the same frame: find its number
	// cheaply, and decode the frame only for the first post.
	idx, ok := publishIndex(body)
	if !ok {
		return http.StatusOK, s.delay
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
	s.mu.Lock()
	p.posts++
	p.last = max(p.last, done)
	s.mu.Unlock()
	return http.StatusOK, s.delay
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

// results returns one result per publish, in publish order.
func (s *simulation) results() []SimResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SimResult
	for idx, p := range s.byPublish {
		out = append(out, SimResult{Publish: idx, Posts: p.posts, CompletionMs: float64(p.last-p.sent) / 1e6})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Publish < out[j].Publish })
	return out
}
