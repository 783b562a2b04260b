package deadline

import (
	"context"
	"testing"
	"time"
)

func TestNear(t *testing.T) {
	if Near(context.Background(), time.Hour) {
		t.Error("a context without a deadline is near")
	}
	far, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if Near(far, time.Second) {
		t.Error("a minute away is near with a second's reserve")
	}
	if !Near(far, 2*time.Minute) {
		t.Error("a minute away is not near with two minutes' reserve")
	}
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if !Near(past, 0) {
		t.Error("a past deadline is not near")
	}
}
