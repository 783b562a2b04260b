package storetest

import (
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

func tokenCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"TokenExpiresAtRoundTrip", testTokenExpiresAt},
		{"TokenAlarms", testTokenAlarms},
	}
}

// testTokenExpiresAt: the connection record keeps the token's exp, in
// whole seconds, and a zero exp (no token) stays zero.
func testTokenExpiresAt(t *testing.T, f *fixture) {
	c := f.conn("tok1", "t", "u", time.Hour)
	c.TokenExpiresAt = f.clock.Now().Add(10*time.Minute + 700*time.Millisecond)
	f.put(t, c)
	got, err := f.s.GetConnection(f.ctx, "tok1")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(c.TokenExpiresAt.Unix(), 0).UTC(); !got.TokenExpiresAt.Equal(want) || got.TokenExpiresAt.Location() != time.UTC {
		t.Fatalf("TokenExpiresAt = %v, want %v", got.TokenExpiresAt, want)
	}
	f.put(t, f.conn("tok2", "t", "u", time.Hour))
	if got, err := f.s.GetConnection(f.ctx, "tok2"); err != nil || !got.TokenExpiresAt.IsZero() {
		t.Fatalf("no token: TokenExpiresAt = %v (%v), want zero", got.TokenExpiresAt, err)
	}
}

// testTokenAlarms: alarms are listed once due, earliest first, up to the
// limit; replacing moves an alarm; deleting removes it (twice is fine).
func testTokenAlarms(t *testing.T, f *fixture) {
	now := f.clock.Now()
	put := func(id string, in time.Duration) {
		t.Helper()
		if err := f.s.PutTokenAlarm(f.ctx, store.TokenAlarm{ConnID: id, Tenant: "t", UserID: "u-" + id, At: now.Add(in)}); err != nil {
			t.Fatalf("PutTokenAlarm(%q): %v", id, err)
		}
	}
	due := func(at time.Time, limit int) []string {
		t.Helper()
		as, err := f.s.ExpiredTokens(f.ctx, at, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range as {
			if a.Tenant != "t" || a.UserID != "u-"+a.ConnID || a.At.Location() != time.UTC || a.At.Nanosecond() != 0 {
				t.Fatalf("alarm %+v", a)
			}
			ids = append(ids, a.ConnID)
		}
		return ids
	}
	put("a", 30*time.Second)
	put("b", 10*time.Second)
	put("c", time.Hour)
	if got := due(now, 0); len(got) != 0 {
		t.Fatalf("due before any exp: %v", got)
	}
	if got := due(now.Add(30*time.Second), 0); len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Fatalf("due at +30s = %v, want [b a]", got)
	}
	if got := due(now.Add(30*time.Second), 1); len(got) != 1 || got[0] != "b" {
		t.Fatalf("due at +30s, limit 1 = %v, want [b]", got)
	}
	put("b", 2*time.Hour) // a new token for the same connection
	if got := due(now.Add(time.Minute), 0); len(got) != 1 || got[0] != "a" {
		t.Fatalf("due after moving b = %v, want [a]", got)
	}
	for range 2 {
		if err := f.s.DeleteTokenAlarm(f.ctx, "a"); err != nil {
			t.Fatalf("DeleteTokenAlarm: %v", err)
		}
	}
	if got := due(now.Add(3*time.Hour), 0); len(got) != 2 || got[0] != "c" || got[1] != "b" {
		t.Fatalf("due at +3h after deleting a = %v, want [c b]", got)
	}
	if err := f.s.PutTokenAlarm(f.ctx, store.TokenAlarm{ConnID: "x#y", Tenant: "t", UserID: "u", At: now}); err == nil {
		t.Fatal("PutTokenAlarm accepted a connection id with '#'")
	}
}
