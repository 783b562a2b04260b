package memory

import (
	"fmt"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestPruneStream: appends remove the expired publications before them and
// their resend records, so a long-running process keeps only what lives.
func TestPruneStream(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := New(func() time.Time { return now })
	for i := range 20 {
		if _, _, err := s.AppendPublication(t.Context(), store.Publication{Tenant: "t", Channel: "c", UserID: "u",
			MessageID: fmt.Sprintf("m%d", i), PublishedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	pk := store.HistoryPK("t", "c")
	if n := len(s.parts[pk].sks); n != 40 {
		t.Fatalf("%d items, want 40 (20 publications, 20 resend records)", n)
	}
	now = now.Add(2 * time.Minute)
	for i := range 3 {
		if _, _, err := s.AppendPublication(t.Context(), store.Publication{Tenant: "t", Channel: "c", UserID: "u",
			MessageID: fmt.Sprintf("n%d", i), PublishedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	// Three appends remove up to 3 x pruneMax (24) expired publications:
	// all 20, with their resend records.
	if n := len(s.parts[pk].sks); n != 2*3 {
		t.Fatalf("%d items after pruning, want 6 (3 publications, 3 resend records)", n)
	}
	ps, pos, err := s.Publications(t.Context(), "t", "c", 0, 0)
	if err != nil || len(ps) != 3 || ps[0].Offset != 21 || pos.Offset != 23 {
		t.Fatalf("after pruning: %d publications from %v, position %+v, %v", len(ps), ps, pos, err)
	}
}
