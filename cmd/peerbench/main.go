// Command peerbench drives one channel of many WebSocket subscribers on
// two servers with the same client code: the local server (this
// project's protocol) and Centrifugo v6 (its JSON client protocol), so
// that the direct path can be compared with a peer in the same run.
//
// It opens -subs subscriber connections and -publishers publisher
// connections, publishes -rate messages a second for -duration (each carrying its send
// time), and reports every delivery's latency, exactly-once delivery, the
// deliveries per second, and the server process's CPU per delivery
// (-pid). It targets loopback only.
//
//	peerbench -server rtcollab -url ws://127.0.0.1:3001/ws -pid 1234
//	peerbench -server centrifugo -url ws://127.0.0.1:8000/connection/websocket -pid 5678
//
// scripts/peer-compare.sh starts both servers and runs it against each
// (make compare-centrifugo).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/tools/loadtest"
)

type options struct {
	server, url, channel, out string
	subs, rate, pid, pubs     int
	duration, settle          time.Duration
}

// Result is what peerbench prints and writes with -json.
type Result struct {
	Server             string               `json:"server"`
	Subscribers        int                  `json:"subscribers"`
	Rate               int                  `json:"ratePerSecond"`
	Published          int64                `json:"published"`
	Expected           int64                `json:"expected"`
	Delivered          int64                `json:"delivered"`
	Duplicates         int64                `json:"duplicates"`
	DeliveredPerSecond float64              `json:"deliveredPerSecond"`
	Latency            loadtest.Percentiles `json:"latency"`
	ServerCPUSeconds   float64              `json:"serverCpuSeconds"`
	CPUPerDeliveryUs   float64              `json:"cpuPerDeliveryUs"`
	LoadAverage        string               `json:"loadAverage"`
}

func main() {
	var o options
	fs := flag.NewFlagSet("peerbench", flag.ExitOnError)
	fs.StringVar(&o.server, "server", "rtcollab", "protocol of the server: rtcollab or centrifugo")
	fs.StringVar(&o.url, "url", "", "WebSocket URL of the server (loopback)")
	fs.StringVar(&o.channel, "channel", "load:peer-0", "channel to subscribe and publish to")
	fs.IntVar(&o.subs, "subs", 1000, "subscriber connections")
	fs.IntVar(&o.rate, "rate", 20, "publishes a second")
	fs.IntVar(&o.pubs, "publishers", 0, "publisher connections, taking turns (default: one per 10 publishes a second; the local server handles one connection's frames in order, and a publish is answered once delivered)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to publish")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait for late deliveries after the last publish")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id, for its CPU time (0: not measured)")
	fs.StringVar(&o.out, "json", "", "also write the result as JSON to this file")
	_ = fs.Parse(os.Args[1:])
	res, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
	fmt.Printf("%-10s subs %d, %d/s for %v: delivered %d of %d (%d duplicates), %.0f deliveries/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; server CPU %.2f s, %.1f us per delivery; load %s\n",
		res.Server, res.Subscribers, res.Rate, o.duration, res.Delivered, res.Expected, res.Duplicates, res.DeliveredPerSecond,
		res.Latency.P50, res.Latency.P99, res.Latency.Max, res.ServerCPUSeconds, res.CPUPerDeliveryUs, res.LoadAverage)
	if o.out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench:", err)
			os.Exit(1)
		}
	}
	if res.Delivered != res.Expected || res.Duplicates != 0 {
		os.Exit(2)
	}
}

// protocol is what differs between the two servers.
type protocol interface {
	dialURL(base string, i int) string
	// handshake sends what a connection sends first and waits for it.
	handshake(ctx context.Context, ws *websocket.Conn) error
	subscribe(ctx context.Context, ws *websocket.Conn, channel string) error
	publish(channel string, k int, sentNs int64) []byte
	// deliveries calls fn with the k and send time of each publication in
	// a message, and returns a frame to send back (a pong) or nil.
	deliveries(msg []byte, fn func(k, sentNs int64)) []byte
}

func run(ctx context.Context, o options) (Result, error) {
	res := Result{Server: o.server, Subscribers: o.subs, Rate: o.rate}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return res, fmt.Errorf("-url %q: want a ws:// URL", o.url)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return res, fmt.Errorf("-url %q: loopback only", o.url)
	}
	var p protocol
	switch o.server {
	case "rtcollab":
		p = rtcollab{}
	case "centrifugo":
		p = &centrifugo{}
	default:
		return res, fmt.Errorf("-server %q: want rtcollab or centrifugo", o.server)
	}
	maxK := o.rate*int(math.Ceil(o.duration.Seconds())) + 1
	seen := make([][]atomic.Bool, o.subs)
	hist := &loadtest.Histogram{}
	var delivered, dups atomic.Int64

	dial := func(i int) (*websocket.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(dctx, p.dialURL(o.url, i), &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return nil, err
		}
		ws.SetReadLimit(1 << 20)
		if err := p.handshake(dctx, ws); err != nil {
			ws.CloseNow()
			return nil, err
		}
		return ws, nil
	}
	conns := make([]*websocket.Conn, o.subs)
	defer func() {
		for _, ws := range conns {
			if ws != nil {
				ws.CloseNow()
			}
		}
	}()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		dialErr error
	)
	sem := make(chan struct{}, 64)
	for i := range o.subs {
		seen[i] = make([]atomic.Bool, maxK+1)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := dial(i)
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err = p.subscribe(sctx, ws, o.channel)
				cancel()
			}
			if err != nil {
				errOnce.Do(func() { dialErr = fmt.Errorf("subscriber %d: %w", i, err) })
				return
			}
			conns[i] = ws
		}()
	}
	wg.Wait()
	if dialErr != nil {
		return res, dialErr
	}
	readers := sync.WaitGroup{}
	for i, ws := range conns {
		readers.Go(func() {
			for {
				_, msg, err := ws.Read(ctx)
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				reply := p.deliveries(msg, func(k, sent int64) {
					if k < 0 || k > int64(maxK) {
						return
					}
					if seen[i][k].Swap(true) {
						dups.Add(1)
						return
					}
					delivered.Add(1)
					hist.Record(time.Duration(now - sent))
				})
				if reply != nil {
					_ = ws.Write(ctx, websocket.MessageText, reply)
				}
			}
		})
	}

	if o.pubs <= 0 {
		o.pubs = max(1, (o.rate+9)/10)
	}
	pubs := make([]*websocket.Conn, o.pubs)
	for j := range pubs {
		pub, err := dial(o.subs + j)
		if err != nil {
			return res, fmt.Errorf("publisher %d: %w", j, err)
		}
		defer pub.CloseNow()
		go func() { // drain the publisher's replies
			for {
				if _, _, err := pub.Read(ctx); err != nil {
					return
				}
			}
		}()
		pubs[j] = pub
	}
	cpu0, _ := loadtest.ProcCPU(o.pid)
	start := time.Now()
	// Publish k is due at start + k*interval. A loop that fell behind
	// (the machine short of CPU) catches up instead of dropping the
	// publishes it missed, as a ticker would, so the offered rate is the
	// one asked for; each publish carries the time it was actually sent.
	interval := time.Second / time.Duration(max(o.rate, 1))
	k := 0
	for k < maxK {
		due := start.Add(time.Duration(k+1) * interval)
		if due.Sub(start) > o.duration {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		k++
		if err := pubs[k%len(pubs)].Write(ctx, websocket.MessageText, p.publish(o.channel, k, time.Now().UnixNano())); err != nil {
			return res, fmt.Errorf("publish %d: %w", k, err)
		}
	}
	published := time.Since(start)
	res.Published, res.Expected = int64(k), int64(k)*int64(o.subs)
	deadline := time.Now().Add(o.settle)
	for delivered.Load() < res.Expected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if o.pid != 0 {
		cpu1, err := loadtest.ProcCPU(o.pid)
		if err == nil {
			res.ServerCPUSeconds = cpu1 - cpu0
		}
	}
	res.Delivered, res.Duplicates = delivered.Load(), dups.Load()
	res.DeliveredPerSecond = float64(res.Delivered) / published.Seconds()
	if res.Delivered > 0 {
		res.CPUPerDeliveryUs = res.ServerCPUSeconds / float64(res.Delivered) * 1e6
	}
	res.Latency = hist.Summary()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAverage = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	for _, ws := range conns {
		ws.CloseNow()
	}
	readers.Wait()
	return res, nil
}

// fieldInt reads the non-negative integer after key in b.
func fieldInt(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	var n int64
	j := 0
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	return n, j > 0
}

// rtcollab is this project's protocol, with the local server's dev
// identities (?userId=).
type rtcollab struct{}

func (rtcollab) dialURL(base string, i int) string {
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("userId", fmt.Sprintf("peer-%d", i))
	u.RawQuery = q.Encode()
	return u.String()
}

func (rtcollab) handshake(context.Context, *websocket.Conn) error { return nil }

func (rtcollab) subscribe(ctx context.Context, ws *websocket.Conn, channel string) error {
	msg := fmt.Sprintf(`{"type":"subscribe","channel":%q,"messageId":"sub-1","timestamp":%q}`, channel, time.Now().UTC().Format(time.RFC3339))
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return err
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(`"replyTo":"sub-1"`)) {
			if bytes.Contains(b, []byte(`"type":"ack"`)) {
				return nil
			}
			return fmt.Errorf("subscribe refused: %s", b)
		}
	}
}

func (rtcollab) publish(channel string, k int, sent int64) []byte {
	return fmt.Appendf(nil, `{"type":"publish","channel":%q,"messageId":"p-%d","timestamp":%q,"payload":{"k":%d,"t":%d}}`,
		channel, k, time.Now().UTC().Format(time.RFC3339), k, sent)
}

func (rtcollab) deliveries(msg []byte, fn func(k, sent int64)) []byte {
	if !bytes.HasPrefix(msg, []byte(`{"type":"update"`)) {
		return nil
	}
	k, ok1 := fieldInt(msg, `"k":`)
	t, ok2 := fieldInt(msg, `"t":`)
	if ok1 && ok2 {
		fn(k, t)
	}
	return nil
}

// centrifugo is Centrifugo's JSON client protocol (v2): commands with ids,
// replies with the same id, pushes, several replies per frame separated by
// newlines, and an empty object as ping, answered with one.
type centrifugo struct{ id atomic.Int64 }

func (*centrifugo) dialURL(base string, _ int) string { return base }

func (c *centrifugo) command(ctx context.Context, ws *websocket.Conn, body string) error {
	id := c.id.Add(1)
	if err := ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"id":%d,%s}`, id, body)); err != nil {
		return err
	}
	want := fmt.Appendf(nil, `"id":%d,`, id)
	wantEnd := fmt.Appendf(nil, `"id":%d}`, id)
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			if bytes.Contains(line, want) || bytes.Contains(line, wantEnd) {
				if bytes.Contains(line, []byte(`"error"`)) {
					return errors.New(string(line))
				}
				return nil
			}
		}
	}
}

func (c *centrifugo) handshake(ctx context.Context, ws *websocket.Conn) error {
	return c.command(ctx, ws, `"connect":{}`)
}

func (c *centrifugo) subscribe(ctx context.Context, ws *websocket.Conn, channel string) error {
	return c.command(ctx, ws, fmt.Sprintf(`"subscribe":{"channel":%q}`, channel))
}

func (c *centrifugo) publish(channel string, k int, sent int64) []byte {
	return fmt.Appendf(nil, `{"id":%d,"publish":{"channel":%q,"data":{"k":%d,"t":%d}}}`, c.id.Add(1), channel, k, sent)
}

func (*centrifugo) deliveries(msg []byte, fn func(k, sent int64)) []byte {
	var pong []byte
	for line := range bytes.SplitSeq(msg, []byte("\n")) {
		switch {
		case bytes.Equal(bytes.TrimSpace(line), []byte("{}")):
			pong = []byte("{}")
		case bytes.Contains(line, []byte(`"push"`)) && bytes.Contains(line, []byte(`"pub"`)):
			k, ok1 := fieldInt(line, `"k":`)
			t, ok2 := fieldInt(line, `"t":`)
			if ok1 && ok2 {
				fn(k, t)
			}
		}
	}
	return pong
}
