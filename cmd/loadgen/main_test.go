package main

import (
	"io"
	"testing"
	"time"
)

// TestChildArgsCarryServerSettings: the -serve child of -server proc runs
// the local server with every setting the in-process server would have, so
// that a run measures the same server either way.
func TestChildArgsCarryServerSettings(t *testing.T) {
	o, err := parseFlags([]string{"-server", "proc", "-conns", "1000", "-mgmt-delay", "20ms", "-shard-size", "500",
		"-mgmt-http", "-delivery-rate", "10000", "-delivery-burst", "5000", "-log-level", "warn"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseFlags(childArgs(o), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.serve {
		t.Error("the child does not get -serve")
	}
	type settings struct {
		conns, shardSize, burst int
		delay                   time.Duration
		http                    bool
		rate                    float64
		logLevel                string
	}
	want := settings{1000, 500, 5000, 20 * time.Millisecond, true, 10000, "warn"}
	if got := (settings{c.conns, c.shardSize, c.deliveryBurst, c.mgmtDelay, c.mgmtHTTP, c.deliveryRate, c.logLevel}); got != want {
		t.Errorf("child settings %+v, want %+v", got, want)
	}
	// Unpaced by default, in the child as in process.
	o, _ = parseFlags([]string{"-server", "proc"}, io.Discard)
	if c, _ := parseFlags(childArgs(o), io.Discard); c.deliveryRate != -1 || c.deliveryBurst != 0 {
		t.Errorf("default pacing in the child: rate %v burst %d, want -1 and 0", c.deliveryRate, c.deliveryBurst)
	}
}

// TestDuplicateWindowFlag: the run keeps reading for late duplicates for
// -duplicate-window, 2 s by default, and 0 turns the window off (which
// loadtest.Config spells negative, its zero being the default).
func TestDuplicateWindowFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 2 * time.Second},
		{[]string{"-duplicate-window", "12s"}, 12 * time.Second},
		{[]string{"-duplicate-window", "0"}, -1},
	} {
		o, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := o.config(&target{url: "ws://127.0.0.1:1/ws"})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DuplicateWindow != tt.want {
			t.Errorf("%q: DuplicateWindow %v, want %v", tt.args, cfg.DuplicateWindow, tt.want)
		}
	}
}
