package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestSecondSignalExits: after the first SIGINT began the shutdown, a
// second one ends the process with 130 and says so. Before, the second
// signal went to the disposition the process inherited: under make dev-rie
// (started in the background by a non-interactive shell) it was ignored;
// here, where the default disposition is inherited, it would kill the test
// binary.
func TestSecondSignalExits(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			<-ctx.Done()
			var out strings.Builder
			exited := make(chan int, 1)
			exitOnSecondSignal(stop, &out, func(code int) { exited <- code })
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			if code := <-exited; code != 130 {
				t.Fatalf("exit status %d, want 130", code)
			}
			if want := "localserver: second signal: exiting without waiting for $disconnect\n"; out.String() != want {
				t.Fatalf("printed %q, want %q", out.String(), want)
			}
		})
	}
}
