package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coder/websocket"
)

// TestFrameLimit sends single frames around the 32 KB frame limit, and a
// 128 KB message in 32 KB frames, as API Gateway's quotas allow.
func TestFrameLimit(t *testing.T) {
	const kb = 1024
	tests := []struct {
		name     string
		frames   []int // payload sizes of the frames of one message
		binary   bool  // a binary message: closes with 1003 whatever its length
		wantSent int   // bytes $default receives; 0: the connection closes (1009, or 1003 when binary)
	}{
		{name: "one frame of exactly 32 KB", frames: []int{32 * kb}, wantSent: 32 * kb},
		{name: "one frame of 32 KB + 1", frames: []int{32*kb + 1}},
		{name: "128 KB in four 32 KB frames", frames: []int{32 * kb, 32 * kb, 32 * kb, 32 * kb}, wantSent: 128 * kb},
		{name: "a 32 KB + 1 frame inside a fragmented message", frames: []int{32 * kb, 32*kb + 1}},
		{name: "128 KB + 1 in 32 KB frames", frames: []int{32 * kb, 32 * kb, 32 * kb, 32 * kb, 1}},
		// The type is known from the first frame: 1003, not 1009.
		{name: "a 160 KB binary message in 32 KB frames", frames: []int{32 * kb, 32 * kb, 32 * kb, 32 * kb, 32 * kb}, binary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newFakeInvoker()
			s := startGateway(t, Config{}, inv)
			c := dial(t, s, nil)
			conn := next(t, inv.connects, "$connect")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// coder/websocket's Writer sends each Write as one frame.
			typ := websocket.MessageText
			if tt.binary {
				typ = websocket.MessageBinary
			}
			w, err := c.conn.Writer(ctx, typ)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, n := range tt.frames {
				if _, err := w.Write(bytes.Repeat([]byte("x"), n)); err != nil {
					break // the server may close first
				}
				total += n
			}
			_ = w.Close()
			if tt.wantSent == 0 {
				// Sent before the client reads the close: it reaches no
				// integration (none below).
				_ = c.conn.Write(ctx, websocket.MessageText, []byte("after the oversized frame"))
			}
			if tt.wantSent > 0 {
				m := next(t, inv.messages, "$default")
				if len(m.Body) != tt.wantSent {
					t.Fatalf("$default got %d bytes, want %d", len(m.Body), tt.wantSent)
				}
				c.send(t, websocket.MessageText, []byte("still open"))
				if got := next(t, inv.messages, "$default").Body; got != "still open" {
					t.Errorf("next message = %q", got)
				}
				return
			}
			wantCode, wantReason := websocket.StatusMessageTooBig, reasonTooBig
			if tt.binary {
				wantCode, wantReason = websocket.StatusUnsupportedData, reasonBinary
			}
			code, reason := c.closeStatus(t, 5*time.Second)
			if code != wantCode || reason != wantReason {
				t.Errorf("close = %d %q, want %d %q", code, reason, wantCode, wantReason)
			}
			d := next(t, inv.disconnects, "$disconnect")
			checkDisconnect(t, d, conn.RequestContext.ConnectionID, int(wantCode), wantReason)
			none(t, inv.messages, 100*time.Millisecond, "$default")
		})
	}
}

// TestTooBigMessageLeavesTheManagementAPI: a message over 128 KB (in
// frames of 32 KB) closes the connection with 1009, and the connection is
// gone from the Management API at once (GET and DELETE answer 410), while
// the close handshake with a client that does not answer is still waited
// for.
func TestTooBigMessageLeavesTheManagementAPI(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.WebSocketURL(), nil) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	id := next(t, inv.connects, "$connect").RequestContext.ConnectionID
	w, err := conn.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := w.Write(bytes.Repeat([]byte("x"), 32*1024)); err != nil {
			break
		}
	}
	_ = w.Close()
	for deadline := time.Now().Add(900 * time.Millisecond); s.ConnectionCount() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // well before the 5 s the close handshake may take
			t.Fatalf("ConnectionCount = %d after the 1009 close", s.ConnectionCount())
		}
	}
	if st, _, b := manage(t, s, http.MethodGet, id, nil); st != http.StatusGone {
		t.Errorf("GET after the 1009 close = %d %s, want 410", st, b)
	}
	if st, _, _ := manage(t, s, http.MethodDelete, id, nil); st != http.StatusGone {
		t.Errorf("DELETE after the 1009 close = %d, want 410", st)
	}
}

// TestBinaryMessageCloses: API Gateway takes text frames only; a binary
// message closes the connection with 1003, reaches no route, and nothing
// the client sends after it does either.
func TestBinaryMessageCloses(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{}, inv)
	c := dial(t, s, nil)
	conn := next(t, inv.connects, "$connect")
	c.send(t, websocket.MessageBinary, []byte("\x00\x01\xff"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.conn.Write(ctx, websocket.MessageText, []byte("after the binary message"))
	code, reason := c.closeStatus(t, 5*time.Second)
	if code != websocket.StatusUnsupportedData || reason != reasonBinary {
		t.Errorf("close = %d %q, want 1003 %q", code, reason, reasonBinary)
	}
	checkDisconnect(t, next(t, inv.disconnects, "$disconnect"), conn.RequestContext.ConnectionID, int(websocket.StatusUnsupportedData), reasonBinary)
	none(t, inv.messages, 100*time.Millisecond, "$default")
}

// TestFrameGuard checks the frame parser on every header form: 7-bit,
// 16-bit and 64-bit lengths, masked and not, control frames, and a header
// split over reads.
func TestFrameGuard(t *testing.T) {
	frame := func(op byte, n int, masked bool) []byte {
		var h []byte
		b1 := byte(0)
		if masked {
			b1 = 0x80
		}
		switch {
		case n < 126:
			h = []byte{0x80 | op, b1 | byte(n)}
		case n < 1<<16:
			h = []byte{0x80 | op, b1 | 126, byte(n >> 8), byte(n)}
		default:
			h = []byte{0x80 | op, b1 | 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		}
		if masked {
			h = append(h, 1, 2, 3, 4)
		}
		return append(h, bytes.Repeat([]byte{'p'}, n)...)
	}
	small, mid, big := frame(0x1, 5, true), frame(0x2, 300, false), frame(0x0, 70000, true)
	ping := frame(0x9, 4, true)
	over := frame(0x1, 1001, true)
	closing := frame(0x8, 2, true)
	in := bytes.Join([][]byte{small, mid, ping, over, small, ping, mid, closing}, nil)
	fired := 0
	g := &frameGuard{src: bufioReader(iotestOneByte(bytes.NewReader(in))), limit: 1000, tooBig: func() { fired++ }}
	out, err := io.ReadAll(g)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Join([][]byte{small, mid, ping, ping, closing}, nil)
	if !bytes.Equal(out, want) {
		t.Errorf("passed %d bytes, want %d (the frames before the oversized one, and only control frames after it)", len(out), len(want))
	}
	if fired != 1 {
		t.Errorf("tooBig called %d times, want 1", fired)
	}

	fired = 0
	g = &frameGuard{src: bufioReader(bytes.NewReader(big)), limit: 70000, tooBig: func() { fired++ }}
	if out, _ := io.ReadAll(g); !bytes.Equal(out, big) || fired != 0 {
		t.Errorf("a 64-bit length at the limit: passed %d of %d bytes, tooBig %d", len(out), len(big), fired)
	}
	g = &frameGuard{src: bufioReader(strings.NewReader("\x81")), limit: 10, tooBig: func() {}}
	if _, err := io.ReadAll(g); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated header: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 16) }

// iotestOneByte reads one byte at a time, to split headers over reads.
func iotestOneByte(r io.Reader) io.Reader { return iotest.OneByteReader(r) }

// TestNewConnectionRate: with NewConnectionsPerSecond set (the local server
// sets API Gateway's 500), handshakes past the rate are refused with 429
// before $connect runs; the bucket refills at the rate. Without it, none
// is refused.
func TestNewConnectionRate(t *testing.T) {
	inv := newFakeInvoker()
	s := startGateway(t, Config{NewConnectionsPerSecond: 5}, inv)
	status := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, s.WebSocketURL(), nil)
		if err == nil {
			t.Cleanup(func() { _ = c.CloseNow() })
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	var got []int
	for range 7 {
		got = append(got, status())
	}
	if want := []int{101, 101, 101, 101, 101, 429, 429}; !slices.Equal(got, want) {
		t.Fatalf("handshakes at once: %v, want %v", got, want)
	}
	connects := 0
	for len(inv.connects) > 0 {
		<-inv.connects
		connects++
	}
	if connects != 5 {
		t.Errorf("$connect ran %d times, want 5 (none for a refused handshake)", connects)
	}
	time.Sleep(250 * time.Millisecond) // one token back at 5 a second
	if st := status(); st != 101 {
		t.Errorf("a handshake after the refill: %d, want 101", st)
	}
	unbounded := startGateway(t, Config{}, newFakeInvoker())
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, unbounded.WebSocketURL(), nil)
		cancel()
		if err != nil {
			t.Fatalf("without a rate: %v", err)
		}
		_ = c.CloseNow()
	}
}

// TestNewConnectionRateOutOfRange: a rate too large for a bucket of one
// second's handshakes (2^63 and more, +Inf) admits handshakes, as does a
// NaN rate (not above zero: no bound), instead of a burst that overflows
// int refusing every one with 429; a large rate still takes one second's
// worth at once.
func TestNewConnectionRateOutOfRange(t *testing.T) {
	for _, rate := range []float64{math.Ldexp(1, 63), 1e300, math.MaxFloat64, math.Inf(1), math.NaN()} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			s := startGateway(t, Config{NewConnectionsPerSecond: rate}, newFakeInvoker())
			for i := range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				c, _, err := websocket.Dial(ctx, s.WebSocketURL(), nil)
				cancel()
				if err != nil {
					t.Fatalf("handshake %d: %v", i+1, err)
				}
				_ = c.CloseNow()
			}
		})
	}
	now := time.Unix(1700000000, 0)
	s := New(Config{NewConnectionsPerSecond: 1e12}, newFakeInvoker())
	for i := range 100000 {
		if !s.admitConnection(now) {
			t.Fatalf("rate 1e12: handshake %d at one instant refused", i+1)
		}
	}
}
