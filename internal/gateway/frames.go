package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// coder/websocket hands the application whole messages and never shows it
// a frame, so the frame limit is enforced below it: the connection the
// library reads from is a frameGuard, which parses the header of every frame
// the client sends before the library sees it.

// maxFrameHeader is the longest WebSocket frame header: 2 bytes, an 8-byte
// extended length and a 4-byte masking key (RFC 6455, section 5.2).
const maxFrameHeader = 14

// frameGuard reads a client's frames from src and passes them on unchanged
// until a data frame whose payload is longer than limit: tooBig is called,
// and that frame and every data frame after it are dropped (the gateway
// closes the connection, and no more of the client's data reaches an
// integration). Control frames still pass, so that the client's answer to
// the close frame the gateway then sends completes the close handshake.
// Read is called by one goroutine at a time (the library's reader), as
// net.Conn allows.
type frameGuard struct {
	src    *bufio.Reader
	limit  int64
	tooBig func()

	hdr     [maxFrameHeader]byte
	hdrLen  int    // bytes of the current header read so far
	pending []byte // header bytes parsed and not yet returned
	left    int64  // payload bytes of the current frame still to pass or drop
	drop    bool   // the current frame's payload is dropped
	fired   bool   // a frame was over the limit: data frames are dropped
}

// headerLen returns the length of a frame header whose second byte is b1.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// payloadLen returns the payload length of the complete header h. A length
// with the most significant bit set (invalid) reads as the largest value,
// which is over any limit.
func payloadLen(h []byte) int64 {
	switch n := h[1] & 0x7f; n {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		v := binary.BigEndian.Uint64(h[2:10])
		if v > 1<<63-1 {
			return 1<<63 - 1
		}
		return int64(v)
	default:
		return int64(n)
	}
}

func (g *frameGuard) Read(p []byte) (int, error) {
	for {
		if len(g.pending) > 0 {
			n := copy(p, g.pending)
			g.pending = g.pending[n:]
			return n, nil
		}
		if g.left > 0 {
			if g.drop {
				n, err := g.src.Discard(int(min(g.left, 1<<20)))
				g.left -= int64(n)
				if err != nil {
					return 0, err
				}
				continue
			}
			if int64(len(p)) > g.left {
				p = p[:g.left]
			}
			n, err := g.src.Read(p)
			g.left -= int64(n)
			return n, err
		}
		if err := g.readHeader(); err != nil {
			return 0, err
		}
	}
}

// readHeader reads the next frame header and decides whether its frame is
// passed on.
func (g *frameGuard) readHeader() error {
	need := 2
	for g.hdrLen < need {
		b, err := g.src.ReadByte()
		if err != nil {
			if g.hdrLen > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		g.hdr[g.hdrLen] = b
		g.hdrLen++
		if g.hdrLen == 2 {
			need = headerLen(g.hdr[1])
		}
	}
	h := g.hdr[:g.hdrLen]
	g.hdrLen = 0
	g.left = payloadLen(h)
	opcode := h[0] & 0x0f
	if opcode < 0x8 && (g.fired || g.left > g.limit) { // data and continuation frames
		// Nothing of the client's data reaches the library after the
		// oversized frame, not even a new message (with the rest of the
		// dropped one missing, the library would take it for a protocol
		// error and close with 1002 instead of the gateway's 1009).
		g.drop = true
		if !g.fired {
			g.fired = true
			g.tooBig()
		}
		return nil
	}
	g.drop = false
	g.pending = bytes.Clone(h)
	return nil
}

// guardedConn is the hijacked connection with reads through a frameGuard.
// Its writes can be held back and sent together (cork, uncork), so that
// several messages queued for a connection cost one system call.
type guardedConn struct {
	net.Conn
	r io.Reader

	mu     sync.Mutex // guards corked and held: control frames are written from the library's own goroutines
	corked bool
	held   []byte
	writes atomic.Int64 // writes to the socket
}

func (c *guardedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write writes p, or holds it back while the connection is corked.
func (c *guardedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.corked {
		c.held = append(c.held, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// Close sends what a cork holds back, within closeFlushWait, then closes
// the connection. coder/websocket answers a client's close frame and then
// closes the connection itself: while the writer has the connection
// corked, the answer and the messages before it are held back, and would
// be lost. When the writer is in the middle of a write (a client that
// does not read, the write timeout closing it), Close does not wait.
func (c *guardedConn) Close() error {
	if c.mu.TryLock() {
		if len(c.held) > 0 {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushWait))
			c.writes.Add(1)
			_, _ = c.Conn.Write(c.held)
			c.held = nil
		}
		c.corked = false
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// closeFlushWait bounds the write of held-back bytes on Close.
const closeFlushWait = 100 * time.Millisecond

// cork holds back writes until uncork.
func (c *guardedConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was held back, in one write, and ends the cork.
func (c *guardedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.held) == 0 {
		return nil
	}
	c.writes.Add(1)
	_, err := c.Conn.Write(c.held)
	if cap(c.held) > maxHeldBuffer {
		c.held = nil
	} else {
		c.held = c.held[:0]
	}
	return err
}

// maxHeldBuffer is the largest cork buffer a connection keeps between
// batches; a larger one, grown by a burst, is released, so that ten
// thousand connections that once had a burst do not hold its memory.
const maxHeldBuffer = 8 << 10

// libraryReadBuffer is the size of the buffer the WebSocket library reads
// the guarded connection through. The guard has a buffer of its own, so
// this one only gathers frame headers and small payloads; larger payloads
// bypass it. 512 bytes instead of bufio's default 4 KB saves 3.5 KB per
// connection.
const libraryReadBuffer = 512

// frameLimitWriter wraps the ResponseWriter of a handshake so that the
// connection websocket.Accept hijacks reads the client's frames through a
// frameGuard.
type frameLimitWriter struct {
	http.ResponseWriter
	limit  int64
	tooBig func()
	conn   *guardedConn // set by Hijack
}

// Hijack implements http.Hijacker for websocket.Accept. Bytes the server
// had already buffered are read through the guard too.
func (w *frameLimitWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	src := io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), nc)
	// A small buffer: headers are read from it, payloads bypass it when
	// the library reads into its own larger buffer. It costs 2 KB per
	// connection.
	g := &frameGuard{src: bufio.NewReaderSize(src, 2048), limit: w.limit, tooBig: w.tooBig}
	gc := &guardedConn{Conn: nc, r: g}
	w.conn = gc
	// The library writes through brw.Writer, which the server made for
	// the bare connection (and which holds nothing yet): point it at gc, so
	// that a cork holds the library's writes back.
	brw.Writer.Reset(gc)
	return gc, bufio.NewReadWriter(bufio.NewReaderSize(gc, libraryReadBuffer), brw.Writer), nil
}
