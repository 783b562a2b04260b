package devserver

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestStartPortInUse: a port already taken (most often by a local server
// left running) is named as such, with what to do.
func TestStartPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	srv, err := Start(context.Background(), Options{Addr: ln.Addr().String(), SweepInterval: -1})
	if err == nil {
		_ = srv.Close(context.Background())
		t.Fatal("Start on a port in use succeeded")
	}
	want := "port " + port + " is in use (another localserver still running?); stop it or set PORT to a free port"
	if !strings.Contains(err.Error(), want) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("error %q: want it to contain %q and wrap EADDRINUSE", err, want)
	}
}
