// Package awsresttest starts loopback servers that fail connections the
// way a network or a misbehaving endpoint can, for tests of what
// awsrest.NotSent and its callers make of the failures. It is test
// support: no function binary imports it.
//
// Entry points: Listen starts a TCP server with a handler of each
// connection; ResetAfterHello is such a handler, resetting the connection
// in the middle of the TLS handshake.
package awsresttest

import (
	"net"
	"testing"
)

// Listen starts a TCP server on loopback that hands each connection it
// accepts to handle, in a goroutine of its own, and returns its address.
// The server stops when the test ends.
func Listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// ResetAfterHello reads the client's first bytes (a TLS client's
// ClientHello) and resets the connection: the client's handshake fails
// with "connection reset by peer" before any request was written.
func ResetAfterHello(c net.Conn) {
	_, _ = c.Read(make([]byte, 512))
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with a reset
	}
	c.Close()
}
