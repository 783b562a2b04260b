package protocol

import (
	"strings"
	"testing"
)

func TestFitPage(t *testing.T) {
	item := strings.Repeat("x", 10<<10) // 10 KiB + 2 quotes as JSON
	items := make([]string, 20)
	for i := range items {
		items[i] = item
	}
	n, err := FitPage(items, 0)
	if err != nil || n != ReplyBudget/(len(item)+3) {
		t.Fatalf("FitPage = %d, %v; want %d", n, err, ReplyBudget/(len(item)+3))
	}
	if n, err := FitPage(items, ReplyBudget-100); err != nil || n != 0 {
		t.Errorf("FitPage with no room = %d, %v; want 0", n, err)
	}
	if _, err := FitSome(items, ReplyBudget-100); err != ErrItemTooLarge {
		t.Errorf("FitSome with no room: %v, want ErrItemTooLarge", err)
	}
	if n, err := FitSome(items[:3], 0); err != nil || n != 3 {
		t.Errorf("FitSome of 3 = %d, %v", n, err)
	}
}
