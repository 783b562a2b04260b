// Package loadtest drives a WebSocket stage of the backend with many real
// connections and measures what a user of a real-time system cares about:
// whether every published message reached every subscriber exactly once,
// how long it took, how many messages per second were delivered, and how
// fast connections were set up.
//
// A run opens Conns connections, subscribes Fanout of them to each of
// Channels channels, publishes at Rate messages per second for Duration
// (or until MaxMessages), waits up to Settle for the last deliveries,
// keeps reading for DuplicateWindow to count late duplicates, then closes
// every connection and returns a Report. Each publish carries its
// channel, its sequence number on that channel and the time it was sent,
// so each subscriber checks exactly-once delivery and measures end-to-end
// latency without help from the server.
//
// Entry points: Run and Config; Report.ExactlyOnce checks a run;
// ProcRSS reads a process's resident set size. The capacity scenario of
// capacity.go measures DynamoDB request units per operation.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Config configures a run. Zero fields take the defaults noted.
type Config struct {
	// URL is the WebSocket URL of the stage, ws:// or wss://. Required.
	URL string
	// Query returns extra query parameters for connection i (a token, a
	// dev identity). Default: userId=load-<i>, which the local server's
	// dev identities accept.
	Query func(i int) url.Values
	// Conns is the number of connections. Default 100.
	Conns int
	// Channels is the number of channels. Default 1.
	Channels int
	// Fanout is the number of subscribers of each channel; connections
	// are assigned round-robin, so a connection holds
	// ceil(Channels*Fanout/Conns) subscriptions at most. Default Conns.
	Fanout int
	// ChannelPrefix names the channels: <prefix>:<run id>-<n>. It must be
	// a channel kind the publishing identities may publish to. Default
	// "load".
	ChannelPrefix string
	// RunID is the run id in the channel names. Default: a random one, so
	// that runs against one server do not share channels.
	RunID string
	// ExtraRecipients is the number of recipients each channel has besides
	// the run's own subscribers (subscriptions a caller put in the store
	// directly); acknowledgements are checked against Fanout plus it.
	// Default 0.
	ExtraRecipients int
	// Rate is the number of publishes per second across all channels; 0
	// opens and subscribes the connections, holds them idle for Duration
	// and publishes nothing. Default 0.
	Rate float64
	// Duration is how long publishing (or idling) lasts. Default 10 s.
	Duration time.Duration
	// MaxMessages bounds the publishes; the run stops at whichever of
	// Duration and MaxMessages comes first. Default Rate*Duration.
	MaxMessages int
	// Warmup is how many of the first publishes are left out of Latency
	// and Completion: they still count for delivery (exactly once, none
	// missing), and their times are reported apart in WarmupCompletion.
	// They stand for the traffic a warm server has seen: the first
	// publish of a run opens connections (the Management API client's
	// pool, on the deployed path) that later ones reuse. Default 0.
	Warmup int
	// MessageBytes is the approximate size of each publish payload.
	// Default 256.
	MessageBytes int
	// Publishers is the number of connections that take turns to publish
	// (the first ones); a connection publishes at Rate/Publishers per
	// second, which must stay within the server's per-connection rate
	// limit. Default Conns.
	Publishers int
	// DialConcurrency bounds the handshakes in flight, and the
	// subscribe and close requests. Default 64.
	DialConcurrency int
	// DialTimeout bounds one handshake. Default 10 s.
	DialTimeout time.Duration
	// Settle is how long to wait after the last publish for outstanding
	// acknowledgements and deliveries. Default 10 s.
	Settle time.Duration
	// DuplicateWindow is how long the connections stay open, still read
	// and checked, once every publish was answered and every owed delivery
	// arrived: a duplicate (a post retried after its first attempt had
	// arrived) can come after the last owed delivery, and is counted only
	// if it comes within the window. The Management API client retries a
	// post whose attempt timed out (10 s) after a backoff below 2 s, so a
	// window of about 12 s covers the first retry of every post, while the
	// default covers the retries of posts refused or cut off at once. It
	// is skipped when Settle runs out first (the run has failed already).
	// Default 2 s; negative: none.
	DuplicateWindow time.Duration
	// Progress, if set, is called every ProgressEvery while the run lasts,
	// from one goroutine. Default nil.
	Progress func(Progress)
	// ProgressEvery is the progress interval. Default 1 s.
	ProgressEvery time.Duration
	// RSS, if set, returns the current and peak resident set size of the
	// server in bytes; it is sampled with each progress call and at the
	// end. Default nil: no RSS in the report.
	RSS func() (current, peak int64, err error)
	// CPU, if set, returns the server's CPU time so far in seconds; the
	// report then gives the CPU time spent per delivery while publishing.
	// Default nil.
	CPU func() (float64, error)
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("loadtest: no URL")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return c, fmt.Errorf("loadtest: URL %q: want ws:// or wss://", c.URL)
	}
	if c.Conns <= 0 {
		c.Conns = 100
	}
	if c.Channels <= 0 {
		c.Channels = 1
	}
	if c.Fanout <= 0 {
		c.Fanout = c.Conns
	}
	if c.Fanout > c.Conns {
		return c, fmt.Errorf("loadtest: fan-out %d exceeds %d connections", c.Fanout, c.Conns)
	}
	if c.ChannelPrefix == "" {
		c.ChannelPrefix = "load"
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rate < 0 {
		return c, fmt.Errorf("loadtest: rate %v: want 0 or more", c.Rate)
	}
	if c.MaxMessages <= 0 {
		c.MaxMessages = int(c.Rate*c.Duration.Seconds() + 0.5)
	}
	if c.Warmup < 0 || (c.Warmup > 0 && c.Warmup >= c.MaxMessages) {
		return c, fmt.Errorf("loadtest: warm-up of %d publishes: want 0 or more, and fewer than the %d publishes", c.Warmup, c.MaxMessages)
	}
	if c.MessageBytes <= 0 {
		c.MessageBytes = 256
	}
	if c.Publishers <= 0 || c.Publishers > c.Conns {
		c.Publishers = c.Conns
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 10 * time.Second
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Second
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.Query == nil {
		c.Query = func(i int) url.Values { return url.Values{"userId": {fmt.Sprintf("load-%d", i)}} }
	}
	return c, nil
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed   time.Duration // since the run started
	Phase     string        // "connect", "subscribe", "publish", "idle", "settle", "watch" (the duplicate window) or "close"
	Open      int64         // connections open
	Published int64         // publishes sent
	Acked     int64         // publishes acknowledged
	Delivered int64         // deliveries received
	Rate      float64       // deliveries per second since the previous snapshot
	Errors    int64         // errors of every kind so far
	RSS       int64         // the server's current RSS in bytes, when Config.RSS is set
}

// String formats p as one progress line.
func (p Progress) String() string {
	s := fmt.Sprintf("%6.1fs %-9s open=%d published=%d acked=%d delivered=%d (%.0f/s) errors=%d",
		p.Elapsed.Seconds(), p.Phase, p.Open, p.Published, p.Acked, p.Delivered, p.Rate, p.Errors)
	if p.RSS > 0 {
		s += fmt.Sprintf(" rss=%.0fMiB", float64(p.RSS)/(1<<20))
	}
	return s
}

// Report is the outcome of a run. Latencies are in milliseconds.
type Report struct {
	URL           string  `json:"url"`
	Conns         int     `json:"conns"`
	Channels      int     `json:"channels"`
	Fanout        int     `json:"fanout"`
	Subscriptions int     `json:"subscriptions"`
	MessageBytes  int     `json:"messageBytes"`
	Rate          float64 `json:"rate"`

	// Connection set-up.
	ConnectSeconds float64     `json:"connectSeconds"`
	ConnectRate    float64     `json:"connectPerSecond"`
	Handshake      Percentiles `json:"handshake"`
	DialErrors     int64       `json:"dialErrors"`
	// Subscriptions.
	SubscribeSeconds float64 `json:"subscribeSeconds"`
	SubscribeErrors  int64   `json:"subscribeErrors"`

	// Publishing.
	Published     int64            `json:"published"`
	Acked         int64            `json:"acked"`
	PublishErrors int64            `json:"publishErrors"`
	ErrorCodes    map[string]int64 `json:"errorCodes,omitempty"`
	// Deliveries: Expected counts one per subscriber of each acknowledged
	// publish.
	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"`
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
	Unexpected int64 `json:"unexpected"`
	// DuplicateWindowSeconds is how long the run kept reading for late
	// duplicates after the last owed delivery (Config.DuplicateWindow; 0
	// when skipped).
	DuplicateWindowSeconds float64 `json:"duplicateWindowSeconds"`
	// RecipientMismatches counts acknowledgements whose recipient count
	// differs from the channel's subscribers.
	RecipientMismatches int64 `json:"recipientMismatches"`
	// PublishSeconds is the time from the first publish to the last
	// delivery, plus one publish interval (1/Rate) for the last publish's
	// slot; DeliveredPerSecond is Delivered over it.
	PublishSeconds     float64 `json:"publishSeconds"`
	DeliveredPerSecond float64 `json:"deliveredPerSecond"`
	// Latency is per delivery: receipt minus the send time in the
	// payload. Completion is per publish: its last delivery minus its send
	// time. Ack is per publish: the acknowledgement minus the send time.
	// Percentiles are by nearest rank (the p99 of 20 publishes is the
	// 20th, their slowest). Completion and FirstDelivery are exact; Latency
	// and Ack come from a Histogram, within its bucket's width except for
	// the top rank, which is the exact maximum.
	Latency    Percentiles `json:"latency"`
	Completion Percentiles `json:"completion"`
	// PublishCompletion is each publish's last delivery minus its send
	// time in milliseconds, by publish number (-1 for a publish nothing
	// reached); kept for runs of at most 1,000 publishes.
	PublishCompletion []float64 `json:"publishCompletionMs,omitempty"`
	// FirstDelivery is per publish: its first delivery minus its send
	// time (warm-up publishes left out), and PublishFirst the same by
	// publish number, kept as PublishCompletion is. The time between a
	// publish's first and last delivery is what its fan-out spreads over.
	FirstDelivery Percentiles `json:"firstDelivery"`
	PublishFirst  []float64   `json:"publishFirstMs,omitempty"`
	// Warmup is Config.Warmup, and WarmupCompletion the last-delivery
	// times of those publishes in milliseconds (-1 when nothing reached).
	Warmup           int         `json:"warmup,omitempty"`
	WarmupCompletion []float64   `json:"warmupCompletionMs,omitempty"`
	Ack              Percentiles `json:"ack"`
	// Connections that ended before the run closed them.
	Dropped int64 `json:"dropped"`

	// ServerCPUSeconds is the server's CPU time from the first publish to
	// the end of the settle phase, and CPUPerDelivery that time per
	// delivery in microseconds (0 when Config.CPU is not set).
	ServerCPUSeconds float64 `json:"serverCpuSeconds"`
	CPUPerDelivery   float64 `json:"serverCpuPerDeliveryUs"`
	// PeakRSS is the server's peak resident set size in bytes (0 when
	// unknown).
	PeakRSS int64 `json:"peakRssBytes"`
	// RSS is the server's resident set size at the end, before the
	// connections close (0 when unknown).
	RSS int64 `json:"rssBytes"`
	// ElapsedSeconds is the whole run.
	ElapsedSeconds float64 `json:"elapsedSeconds"`
}

// Errors returns the number of errors of every kind.
func (r Report) Errors() int64 {
	return r.DialErrors + r.SubscribeErrors + r.PublishErrors + r.Dropped
}

// ExactlyOnce returns nil when every connection opened and subscribed,
// every publish was acknowledged, and every subscriber of its channel
// received it exactly once; otherwise an error that says what went wrong.
func (r Report) ExactlyOnce() error {
	var errs []error
	if r.DialErrors > 0 || r.SubscribeErrors > 0 {
		errs = append(errs, fmt.Errorf("%d handshakes and %d subscriptions failed", r.DialErrors, r.SubscribeErrors))
	}
	if r.Acked != r.Published || r.PublishErrors > 0 {
		errs = append(errs, fmt.Errorf("%d of %d publishes acknowledged, %d refused (%v)", r.Acked, r.Published, r.PublishErrors, r.ErrorCodes))
	}
	if r.Missing > 0 || r.Duplicates > 0 || r.Unexpected > 0 {
		errs = append(errs, fmt.Errorf("deliveries: %d expected, %d missing, %d duplicated, %d to non-subscribers", r.Expected, r.Missing, r.Duplicates, r.Unexpected))
	}
	if r.RecipientMismatches > 0 {
		errs = append(errs, fmt.Errorf("%d acknowledgements reported another recipient count than the channel's subscribers", r.RecipientMismatches))
	}
	if r.Dropped > 0 {
		errs = append(errs, fmt.Errorf("%d connections ended early", r.Dropped))
	}
	return errors.Join(errs...)
}

// payload is the body of each publish.
type payload struct {
	C   int    `json:"c"` // channel index
	K   int    `json:"k"` // sequence number on the channel
	T   int64  `json:"t"` // send time, Unix nanoseconds
	Pad string `json:"pad,omitempty"`
}

// frame is the part of a server frame the run reads.
type frame struct {
	Type    string          `json:"type"`
	ReplyTo string          `json:"replyTo"`
	Payload json.RawMessage `json:"payload"`
}

// sub is one subscription of a connection: the bitset of the sequence
// numbers it received on the channel. Only the connection's reader
// goroutine touches it until the run reads the results.
type sub struct {
	channel int
	seen    []uint64
}

func (s *sub) mark(k int) (dup bool) {
	w := k / 64
	for len(s.seen) <= w {
		s.seen = append(s.seen, 0)
	}
	bit := uint64(1) << (k % 64)
	dup = s.seen[w]&bit != 0
	s.seen[w] |= bit
	return dup
}

func (s *sub) has(k int) bool {
	w := k / 64
	return w < len(s.seen) && s.seen[w]&(1<<(k%64)) != 0
}

// client is one connection.
type client struct {
	i       int
	ws      *websocket.Conn
	subs    []*sub
	pending sync.Map // messageId -> chan frame (subscribe requests)
	done    chan struct{}
	closing atomic.Bool
}

func (c *client) subOf(channel int) *sub {
	for _, s := range c.subs {
		if s.channel == channel {
			return s
		}
	}
	return nil
}

// publishRecord tracks one publish.
type publishRecord struct {
	sent     atomic.Int64 // Unix nanoseconds; 0 until sent
	acked    atomic.Bool
	received atomic.Int64
	first    atomic.Int64 // Unix nanoseconds of the earliest delivery
	last     atomic.Int64 // Unix nanoseconds of the latest delivery
}

// completionMs is the publish's last delivery minus its send time in
// milliseconds, or -1 when nothing reached a subscriber.
func (rec *publishRecord) completionMs() float64 {
	if rec.received.Load() == 0 {
		return -1
	}
	return float64(rec.last.Load()-rec.sent.Load()) / 1e6
}

// firstMs is the publish's first delivery minus its send time in
// milliseconds, or -1 when nothing reached a subscriber.
func (rec *publishRecord) firstMs() float64 {
	if rec.received.Load() == 0 {
		return -1
	}
	return float64(rec.first.Load()-rec.sent.Load()) / 1e6
}

// run is the state of one Run.
type run struct {
	cfg      Config
	id       string
	channels []string
	subs     [][]int // channel -> subscriber connection indexes
	clients  []*client
	records  []publishRecord
	// recordOf maps channel and sequence number to the publish index.
	recordOf [][]int32
	recMu    sync.RWMutex

	open, dialErrs, subErrs, pubErrs, dropped     atomic.Int64
	published, acked, delivered, dups, unexpected atomic.Int64
	recipientMismatch                             atomic.Int64
	latency, ack, handshake                       Histogram
	codesMu                                       sync.Mutex
	codes                                         map[string]int64
	phase                                         atomic.Value // string
	firstSend, lastDelivery                       atomic.Int64
	peakRSS                                       atomic.Int64
}

// Run performs one run. It returns an error only when the run could not
// be carried out (a bad Config); failures of connections, subscriptions,
// publishes and deliveries are counted in the Report. Every phase is
// bounded, and ctx ends the run early.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	r := &run{cfg: cfg, id: cfg.RunID, codes: map[string]int64{}}
	if r.id == "" {
		r.id = strconv.FormatUint(rand.Uint64()%1e8, 36)
	}
	r.phase.Store("connect")
	r.plan()
	start := time.Now()

	progressDone := make(chan struct{})
	progressStop := make(chan struct{})
	go r.progress(start, progressStop, progressDone)
	defer func() {
		close(progressStop)
		<-progressDone
	}()

	rep := Report{URL: cfg.URL, Conns: cfg.Conns, Channels: cfg.Channels, Fanout: cfg.Fanout,
		Subscriptions: cfg.Channels * cfg.Fanout, MessageBytes: cfg.MessageBytes, Rate: cfg.Rate}

	t0 := time.Now()
	r.connect(ctx)
	rep.ConnectSeconds = time.Since(t0).Seconds()
	if rep.ConnectSeconds > 0 {
		rep.ConnectRate = float64(r.open.Load()) / rep.ConnectSeconds
	}

	r.phase.Store("subscribe")
	t0 = time.Now()
	r.subscribe(ctx)
	rep.SubscribeSeconds = time.Since(t0).Seconds()

	if cfg.Rate > 0 {
		r.phase.Store("publish")
		cpu0, cpuErr := r.cpu()
		r.publish(ctx)
		r.phase.Store("settle")
		settled := r.settle(ctx)
		if cpu1, err := r.cpu(); err == nil && cpuErr == nil {
			rep.ServerCPUSeconds = cpu1 - cpu0
		}
		if settled && cfg.DuplicateWindow > 0 {
			r.phase.Store("watch")
			t0 := time.Now()
			select {
			case <-ctx.Done():
			case <-time.After(cfg.DuplicateWindow):
			}
			rep.DuplicateWindowSeconds = time.Since(t0).Seconds()
		}
	} else {
		r.phase.Store("idle")
		r.sampleRSS()
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Duration):
		}
	}
	rep.RSS = r.sampleRSS()
	r.phase.Store("close")
	r.closeAll()

	r.fill(&rep)
	rep.ElapsedSeconds = time.Since(start).Seconds()
	return rep, nil
}

// ChannelName is the name of channel n of the run with id runID.
func ChannelName(prefix, runID string, n int) string {
	return fmt.Sprintf("%s:%s-%d", prefix, runID, n)
}

// plan names the channels and assigns subscribers round-robin.
func (r *run) plan() {
	cfg := r.cfg
	r.channels = make([]string, cfg.Channels)
	r.subs = make([][]int, cfg.Channels)
	r.clients = make([]*client, cfg.Conns)
	for i := range r.clients {
		r.clients[i] = &client{i: i, done: make(chan struct{})}
	}
	slot := 0
	for c := range cfg.Channels {
		r.channels[c] = ChannelName(cfg.ChannelPrefix, r.id, c)
		for range cfg.Fanout {
			i := slot % cfg.Conns
			slot++
			r.subs[c] = append(r.subs[c], i)
			r.clients[i].subs = append(r.clients[i].subs, &sub{channel: c})
		}
	}
	r.records = make([]publishRecord, cfg.MaxMessages)
	r.recordOf = make([][]int32, cfg.Channels)
}

// forEach runs fn for every client with DialConcurrency workers.
func (r *run) forEach(ctx context.Context, fn func(ctx context.Context, c *client)) {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(r.cfg.DialConcurrency, len(r.clients)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.clients) || ctx.Err() != nil {
					return
				}
				fn(ctx, r.clients[i])
			}
		}()
	}
	wg.Wait()
}

func (r *run) connect(ctx context.Context) {
	r.forEach(ctx, func(ctx context.Context, c *client) {
		u, _ := url.Parse(r.cfg.URL)
		q := u.Query()
		for k, vs := range r.cfg.Query(c.i) {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
		defer cancel()
		t := time.Now()
		ws, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			r.dialErrs.Add(1)
			close(c.done)
			return
		}
		r.handshake.Record(time.Since(t))
		ws.SetReadLimit(1 << 20)
		c.ws = ws
		r.open.Add(1)
		go r.read(c)
	})
}

// read is the reader goroutine of one connection.
func (r *run) read(c *client) {
	defer close(c.done)
	var buf bytes.Buffer // reused: nothing below keeps a reference to it
	for {
		data, err := readMessage(c.ws, &buf)
		if err != nil {
			if !c.closing.Load() {
				r.dropped.Add(1)
			}
			r.open.Add(-1)
			return
		}
		now := time.Now().UnixNano()
		if p, ok := parseUpdate(data); ok {
			r.onUpdate(c, p, now)
			continue
		}
		var f frame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch {
		case f.Type == "update":
			var p payload
			if json.Unmarshal(f.Payload, &p) != nil {
				r.unexpected.Add(1)
				continue
			}
			r.onUpdate(c, p, now)
		case strings.HasPrefix(f.ReplyTo, "p-"):
			r.onPublishReply(f, now)
		case f.ReplyTo != "":
			if ch, ok := c.pending.LoadAndDelete(f.ReplyTo); ok {
				ch.(chan frame) <- f
			}
		}
	}
}

// readMessage reads the next message of ws into buf and returns its bytes,
// valid until the next call.
func readMessage(ws *websocket.Conn, buf *bytes.Buffer) ([]byte, error) {
	_, rd, err := ws.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Fixed parts of an update frame as the backend encodes it: the envelope's
// type comes first, and the run's own payload is passed through verbatim.
var (
	updatePrefix  = []byte(`{"type":"update",`)
	updatePayload = []byte(`,"payload":{"c":`)
)

// parseUpdate reads the payload of an update frame without encoding/json,
// whose two decodes per frame cost about as much CPU as reading the frame
// off the socket: with 1,000 clients in the process, that CPU is taken
// from the server under test. It
// accepts only a frame that starts with the update type and has a payload
// object starting with the run's c, k and t fields (a quote inside a JSON
// string is escaped, so the payload key cannot be matched inside one);
// anything else reports false and is decoded with encoding/json.
func parseUpdate(data []byte) (payload, bool) {
	var p payload
	if !bytes.HasPrefix(data, updatePrefix) {
		return p, false
	}
	i := bytes.Index(data, updatePayload)
	if i < 0 {
		return p, false
	}
	rest := data[i+len(updatePayload):]
	c, rest, ok := parseField(rest, nil)
	if !ok {
		return p, false
	}
	k, rest, ok := parseField(rest, []byte(`,"k":`))
	if !ok {
		return p, false
	}
	t, rest, ok := parseField(rest, []byte(`,"t":`))
	if !ok || len(rest) == 0 || (rest[0] != ',' && rest[0] != '}') || c > math.MaxInt32 || k > math.MaxInt32 {
		return p, false
	}
	p.C, p.K, p.T = int(c), int(k), t
	return p, true
}

// parseField reads key (if any) and the non-negative integer after it from
// the start of b, and returns the rest of b.
func parseField(b, key []byte) (int64, []byte, bool) {
	if !bytes.HasPrefix(b, key) {
		return 0, nil, false
	}
	b = b[len(key):]
	n, i := int64(0), 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, nil, false
		}
		n = n*10 + d
	}
	if i == 0 {
		return 0, nil, false
	}
	return n, b[i:], true
}

func (r *run) onUpdate(c *client, p payload, now int64) {
	s := c.subOf(p.C)
	if s == nil {
		r.unexpected.Add(1)
		return
	}
	if s.mark(p.K) {
		r.dups.Add(1)
		return
	}
	r.delivered.Add(1)
	r.lastDelivery.Store(now)
	idx := r.indexOf(p.C, p.K)
	if idx < 0 || idx >= r.cfg.Warmup {
		r.latency.Record(time.Duration(now - p.T))
	}
	if idx >= 0 {
		rec := &r.records[idx]
		rec.received.Add(1)
		for {
			l := rec.last.Load()
			if now <= l || rec.last.CompareAndSwap(l, now) {
				break
			}
		}
		for {
			f := rec.first.Load()
			if (f != 0 && now >= f) || rec.first.CompareAndSwap(f, now) {
				break
			}
		}
	}
}

func (r *run) indexOf(channel, k int) int {
	r.recMu.RLock()
	defer r.recMu.RUnlock()
	if channel < 0 || channel >= len(r.recordOf) || k < 0 || k >= len(r.recordOf[channel]) {
		return -1
	}
	return int(r.recordOf[channel][k])
}

func (r *run) onPublishReply(f frame, now int64) {
	idx, err := strconv.Atoi(strings.TrimPrefix(f.ReplyTo, "p-"))
	if err != nil || idx < 0 || idx >= len(r.records) {
		return
	}
	rec := &r.records[idx]
	if f.Type != "ack" {
		var e struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(f.Payload, &e)
		r.pubErrs.Add(1)
		r.codesMu.Lock()
		r.codes[e.Code]++
		r.codesMu.Unlock()
		return
	}
	var ack struct {
		Recipients *int `json:"recipients"`
	}
	_ = json.Unmarshal(f.Payload, &ack)
	if rec.acked.Swap(true) {
		return
	}
	r.acked.Add(1)
	r.ack.Record(time.Duration(now - rec.sent.Load()))
	if ack.Recipients != nil && r.cfg.Channels > 0 {
		c := idx % r.cfg.Channels
		if *ack.Recipients != len(r.subs[c])+r.cfg.ExtraRecipients {
			r.recipientMismatch.Add(1)
		}
	}
}

// request sends a request on c and waits for its reply.
func (r *run) request(ctx context.Context, c *client, typ, channel, id string) (frame, error) {
	ch := make(chan frame, 1)
	c.pending.Store(id, ch)
	defer c.pending.Delete(id)
	msg := fmt.Sprintf(`{"type":%q,"channel":%q,"messageId":%q,"timestamp":%q}`, typ, channel, id, time.Now().UTC().Format(time.RFC3339))
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, []byte(msg)); err != nil {
		return frame{}, err
	}
	select {
	case f := <-ch:
		return f, nil
	case <-c.done:
		return frame{}, errors.New("connection closed")
	case <-wctx.Done():
		return frame{}, wctx.Err()
	}
}

func (r *run) subscribe(ctx context.Context) {
	r.forEach(ctx, func(ctx context.Context, c *client) {
		if c.ws == nil {
			r.subErrs.Add(int64(len(c.subs)))
			return
		}
		for n, s := range c.subs {
			if !r.subscribeOne(ctx, c, r.channels[s.channel], n) {
				r.subErrs.Add(1)
			}
		}
	})
}

// subscribeOne subscribes c to channel, waiting out the server's rate
// limit (a connection with many subscriptions exceeds its burst) a
// bounded number of times.
func (r *run) subscribeOne(ctx context.Context, c *client, channel string, n int) bool {
	for attempt := range 20 {
		f, err := r.request(ctx, c, "subscribe", channel, fmt.Sprintf("s-%d-%d-%d", c.i, n, attempt))
		if err != nil {
			return false
		}
		if f.Type == "ack" {
			return true
		}
		var e struct {
			Code    string `json:"code"`
			Details struct {
				RetryAfterMs int64 `json:"retryAfterMs"`
			} `json:"details"`
		}
		_ = json.Unmarshal(f.Payload, &e)
		if e.Code != "RATE_LIMITED" {
			return false
		}
		wait := time.Duration(max(e.Details.RetryAfterMs, 10)) * time.Millisecond
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
	return false
}

// publish sends MaxMessages publishes at Rate, round-robin over the
// channels and the publishing connections, for at most Duration.
func (r *run) publish(ctx context.Context) {
	cfg := r.cfg
	pad := strings.Repeat("x", max(cfg.MessageBytes-64, 0))
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	perChannel := make([]int, cfg.Channels)
	r.recMu.Lock()
	for c := range r.recordOf {
		r.recordOf[c] = make([]int32, 0, cfg.MaxMessages/cfg.Channels+1)
	}
	r.recMu.Unlock()
	pub := 0
	for idx := range cfg.MaxMessages {
		at := start.Add(time.Duration(idx) * interval)
		if at.After(deadline) || ctx.Err() != nil {
			return
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		c := idx % cfg.Channels
		k := perChannel[c]
		perChannel[c]++
		r.recMu.Lock()
		r.recordOf[c] = append(r.recordOf[c], int32(idx))
		r.recMu.Unlock()
		// The next publishing connection that is open.
		var cl *client
		for range cfg.Publishers {
			cand := r.clients[pub%cfg.Publishers]
			pub++
			if cand.ws != nil {
				cl = cand
				break
			}
		}
		if cl == nil {
			r.pubErrs.Add(1)
			continue
		}
		now := time.Now()
		body, _ := json.Marshal(payload{C: c, K: k, T: now.UnixNano(), Pad: pad})
		msg := fmt.Sprintf(`{"type":"publish","channel":%q,"messageId":"p-%d","timestamp":%q,"payload":%s}`,
			r.channels[c], idx, now.UTC().Format(time.RFC3339), body)
		r.records[idx].sent.Store(now.UnixNano())
		r.firstSend.CompareAndSwap(0, now.UnixNano())
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := cl.ws.Write(wctx, websocket.MessageText, []byte(msg))
		cancel()
		r.published.Add(1)
		if err != nil {
			r.pubErrs.Add(1)
			r.codesMu.Lock()
			r.codes["WRITE_FAILED"]++
			r.codesMu.Unlock()
		}
	}
}

// expected returns the deliveries owed for acknowledged publishes.
func (r *run) expected() int64 {
	var n int64
	r.recMu.RLock()
	defer r.recMu.RUnlock()
	for c, idxs := range r.recordOf {
		for _, idx := range idxs {
			if r.records[idx].acked.Load() {
				n += int64(len(r.subs[c]))
			}
		}
	}
	return n
}

// settle waits until every publish is answered and every owed delivery
// arrived, and reports true, or Settle passes or ctx ends.
func (r *run) settle(ctx context.Context) bool {
	deadline := time.Now().Add(r.cfg.Settle)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.acked.Load()+r.pubErrs.Load() >= r.published.Load() && r.delivered.Load() >= r.expected() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (r *run) closeAll() {
	r.forEach(context.Background(), func(ctx context.Context, c *client) {
		if c.ws == nil {
			return
		}
		c.closing.Store(true)
		_ = c.ws.Close(websocket.StatusNormalClosure, "load run over")
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.ws.CloseNow()
			<-c.done
		}
	})
}

func (r *run) cpu() (float64, error) {
	if r.cfg.CPU == nil {
		return 0, errors.New("no CPU source")
	}
	return r.cfg.CPU()
}

func (r *run) sampleRSS() int64 {
	if r.cfg.RSS == nil {
		return 0
	}
	cur, peak, err := r.cfg.RSS()
	if err != nil {
		return 0
	}
	for {
		p := r.peakRSS.Load()
		if peak <= p || r.peakRSS.CompareAndSwap(p, peak) {
			break
		}
	}
	return cur
}

func (r *run) progress(start time.Time, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(r.cfg.ProgressEvery)
	defer t.Stop()
	var lastDelivered int64
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			rss := r.sampleRSS()
			d := r.delivered.Load()
			p := Progress{
				Elapsed: now.Sub(start), Phase: r.phase.Load().(string), Open: r.open.Load(),
				Published: r.published.Load(), Acked: r.acked.Load(), Delivered: d,
				Rate:   float64(d-lastDelivered) / now.Sub(last).Seconds(),
				Errors: r.dialErrs.Load() + r.subErrs.Load() + r.pubErrs.Load() + r.dropped.Load(),
				RSS:    rss,
			}
			lastDelivered, last = d, now
			if r.cfg.Progress != nil {
				r.cfg.Progress(p)
			}
		}
	}
}

// fill completes rep once every reader has stopped.
func (r *run) fill(rep *Report) {
	rep.Handshake = r.handshake.Summary()
	rep.DialErrors = r.dialErrs.Load()
	rep.SubscribeErrors = r.subErrs.Load()
	rep.Published = r.published.Load()
	rep.Acked = r.acked.Load()
	rep.PublishErrors = r.pubErrs.Load()
	if len(r.codes) > 0 {
		rep.ErrorCodes = r.codes
	}
	rep.Delivered = r.delivered.Load()
	rep.Duplicates = r.dups.Load()
	rep.Unexpected = r.unexpected.Load()
	rep.RecipientMismatches = r.recipientMismatch.Load()
	rep.Dropped = r.dropped.Load()
	rep.Latency = r.latency.Summary()
	rep.Ack = r.ack.Summary()
	rep.PeakRSS = r.peakRSS.Load()

	if len(r.records) <= 1000 {
		for i := range r.records[:rep.Published] {
			rep.PublishCompletion = append(rep.PublishCompletion, r.records[i].completionMs())
			rep.PublishFirst = append(rep.PublishFirst, r.records[i].firstMs())
		}
	}
	// Missing: owed deliveries of acknowledged publishes that never came.
	// The per-publish times are exact: a run keeps every publish's record.
	var completion, first []float64
	for c, idxs := range r.recordOf {
		for k, idx := range idxs {
			rec := &r.records[idx]
			if !rec.acked.Load() {
				continue
			}
			rep.Expected += int64(len(r.subs[c]))
			for _, ci := range r.subs[c] {
				if s := r.clients[ci].subOf(c); s == nil || !s.has(k) {
					rep.Missing++
				}
			}
			if rec.received.Load() > 0 && int(idx) >= r.cfg.Warmup {
				completion = append(completion, rec.completionMs())
				first = append(first, rec.firstMs())
			}
		}
	}
	rep.Completion = exactPercentiles(completion)
	rep.FirstDelivery = exactPercentiles(first)
	rep.Warmup = r.cfg.Warmup
	for i := range min(r.cfg.Warmup, int(rep.Published)) {
		rep.WarmupCompletion = append(rep.WarmupCompletion, r.records[i].completionMs())
	}
	if rep.Delivered > 0 {
		rep.CPUPerDelivery = rep.ServerCPUSeconds / float64(rep.Delivered) * 1e6
	}
	if first, last := r.firstSend.Load(), r.lastDelivery.Load(); first > 0 && last > first {
		// N publishes occupy N slots of 1/Rate: the span runs from the
		// first slot's start to the last delivery, plus the last slot.
		rep.PublishSeconds = float64(last-first)/1e9 + 1/r.cfg.Rate
		rep.DeliveredPerSecond = float64(rep.Delivered) / rep.PublishSeconds
	}
}
