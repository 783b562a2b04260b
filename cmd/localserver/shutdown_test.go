package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/gateway"
)

func TestShutdownBound(t *testing.T) {
	for _, c := range []struct {
		name    string
		flagged time.Duration
		s       app.Settings
		remote  bool
		want    time.Duration
	}{
		{"embedded store", 0, app.Settings{}, false, 10 * time.Second},
		{"DynamoDB", 0, app.Settings{TableName: "t"}, false, 30 * time.Second},
		{"Lambda endpoints", 0, app.Settings{TableName: "t"}, true, 30 * time.Second},
		{"flag", 2 * time.Minute, app.Settings{TableName: "t"}, true, 2 * time.Minute},
		{"flag on embedded store", time.Second, app.Settings{}, false, time.Second},
	} {
		if got := shutdownBound(c.flagged, c.s, c.remote); got != c.want {
			t.Errorf("%s: bound %v, want %v", c.name, got, c.want)
		}
	}
}

func TestShutdownErrorCountsAbandoned(t *testing.T) {
	inc := &gateway.ShutdownIncompleteError{Abandoned: 37, Total: 200, Err: context.DeadlineExceeded}
	msg := shutdownError(fmt.Errorf("close: %w", inc), 30*time.Second).Error()
	for _, want := range []string{"30s", "-shutdown-timeout", "37 of 200 $disconnect calls abandoned", "sweeper"} {
		if !strings.Contains(msg, want) {
			t.Errorf("shutdown error %q lacks %q", msg, want)
		}
	}
	inc.Running = 3
	if msg := shutdownError(inc, time.Second).Error(); !strings.Contains(msg, "$default invocations still running for 3 closed connections") {
		t.Errorf("shutdown error %q does not count the connections whose $default invocations ran on", msg)
	}
	other := errors.New("listen: boom")
	if got := shutdownError(other, time.Second); got != other {
		t.Errorf("shutdownError(%v) = %v, want it unchanged", other, got)
	}
	if shutdownError(nil, time.Second) != nil {
		t.Error("shutdownError(nil) != nil")
	}
}
