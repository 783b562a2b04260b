package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

func publishKeyCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"PublishKeyClaimOnce", testPublishKeyClaimOnce},
		{"PublishKeyRelease", testPublishKeyRelease},
		{"PublishKeyExpiry", testPublishKeyExpiry},
		{"PublishKeyLease", testPublishKeyLease},
		{"PublishKeyOwnClaim", testPublishKeyOwnClaim},
	}
}

// testPublishKeyClaimOnce: the first claim of a key wins; a second claim
// gets the live record (its hash, then its reply once completed) and
// ErrConditionFailed; keys are per tenant and may hold '#'.
func testPublishKeyClaimOnce(t *testing.T, f *fixture) {
	exp := f.clock.Now().Add(time.Hour + 300*time.Millisecond)
	k := store.PublishKey{Tenant: "t", Key: "order#42/v7", RequestHash: "h1", ExpiresAt: exp}
	got, err := f.s.ClaimPublishKey(f.ctx, k)
	if err != nil || got.Key != k.Key || got.Reply != nil {
		t.Fatalf("first claim = %+v, %v; want the claim", got, err)
	}
	k2 := k
	k2.RequestHash = "h2"
	old, err := f.s.ClaimPublishKey(f.ctx, k2)
	if !errors.Is(err, store.ErrConditionFailed) || old.RequestHash != "h1" || old.Reply != nil {
		t.Fatalf("second claim = %+v, %v; want the first record and ErrConditionFailed", old, err)
	}
	if err := f.s.CompletePublishKey(f.ctx, "t", k.Key, "h2", []byte(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("complete with another hash: %v, want ErrNotFound", err)
	}
	if err := f.s.CompletePublishKey(f.ctx, "t", k.Key, "h1", []byte(`{"recipients":3}`)); err != nil {
		t.Fatal(err)
	}
	old, err = f.s.ClaimPublishKey(f.ctx, k)
	if !errors.Is(err, store.ErrConditionFailed) || string(old.Reply) != `{"recipients":3}` || old.Tenant != "t" || old.Key != k.Key {
		t.Fatalf("claim after completion = %+v, %v; want the reply", old, err)
	}
	if want := time.Unix(exp.Unix(), 0).UTC(); !old.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v (whole seconds)", old.ExpiresAt, want)
	}
	// Completed records are not released.
	if err := f.s.ReleasePublishKey(f.ctx, "t", k.Key, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ClaimPublishKey(f.ctx, k); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("claim after releasing a completed record: %v, want ErrConditionFailed", err)
	}
	// Another tenant's key of the same name is another record.
	other := k
	other.Tenant = "u"
	if _, err := f.s.ClaimPublishKey(f.ctx, other); err != nil {
		t.Fatalf("other tenant: %v", err)
	}
	if _, err := f.s.ClaimPublishKey(f.ctx, store.PublishKey{Tenant: "a#b", Key: "k", RequestHash: "h"}); err == nil {
		t.Fatal("a tenant with '#' was accepted")
	}
	if _, err := f.s.ClaimPublishKey(f.ctx, store.PublishKey{Tenant: "t", Key: "", RequestHash: "h"}); err == nil {
		t.Fatal("an empty key was accepted")
	}
}

// testPublishKeyRelease: releasing an unfinished claim frees the key, but
// only for the hash that claimed it; releasing an absent key is no error.
func testPublishKeyRelease(t *testing.T, f *fixture) {
	k := store.PublishKey{Tenant: "t", Key: "k1", RequestHash: "h1", ExpiresAt: f.clock.Now().Add(time.Hour)}
	if _, err := f.s.ClaimPublishKey(f.ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ReleasePublishKey(f.ctx, "t", "k1", "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ClaimPublishKey(f.ctx, k); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("released with another hash, then claimed: %v, want ErrConditionFailed", err)
	}
	if err := f.s.ReleasePublishKey(f.ctx, "t", "k1", "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ClaimPublishKey(f.ctx, k); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := f.s.ReleasePublishKey(f.ctx, "t", "absent", "h"); err != nil {
		t.Fatalf("release absent: %v", err)
	}
}

// testPublishKeyExpiry: a record is absent once expired, and the key can
// be claimed again. A completed record stays past its claim's lease, until
// the expiry the claim gave it.
func testPublishKeyExpiry(t *testing.T, f *fixture) {
	k := store.PublishKey{Tenant: "t", Key: "k2", RequestHash: "h1",
		LeaseUntil: f.clock.Now().Add(time.Minute), ExpiresAt: f.clock.Now().Add(time.Hour)}
	if _, err := f.s.ClaimPublishKey(f.ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := f.s.CompletePublishKey(f.ctx, "t", "k2", "h1", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute) // past the lease: the completed record stays
	if old, err := f.s.ClaimPublishKey(f.ctx, k); !errors.Is(err, store.ErrConditionFailed) || string(old.Reply) != `{"n":1}` {
		t.Fatalf("claim a completed record past its claim's lease = %+v, %v; want the reply and ErrConditionFailed", old, err)
	}
	f.clock.Advance(time.Hour)
	if err := f.s.CompletePublishKey(f.ctx, "t", "k2", "h1", []byte(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("complete an expired record: %v, want ErrNotFound", err)
	}
	k.RequestHash = "h2"
	k.LeaseUntil, k.ExpiresAt = time.Time{}, f.clock.Now().Add(time.Minute)
	got, err := f.s.ClaimPublishKey(f.ctx, k)
	if err != nil || got.RequestHash != "h2" || got.Reply != nil {
		t.Fatalf("claim after expiry = %+v, %v", got, err)
	}
	// A claim without a lease of its own (a record written before leases)
	// holds until its expiry, and then the key is free.
	f.clock.Advance(30 * time.Second)
	k.RequestHash = "h3"
	if old, err := f.s.ClaimPublishKey(f.ctx, k); !errors.Is(err, store.ErrConditionFailed) || old.RequestHash != "h2" {
		t.Fatalf("claim before the expiry of a claim without a lease = %+v, %v; want ErrConditionFailed", old, err)
	}
	f.clock.Advance(30 * time.Second)
	if got, err := f.s.ClaimPublishKey(f.ctx, k); err != nil || got.RequestHash != "h3" {
		t.Fatalf("claim after a lapsed claim = %+v, %v", got, err)
	}
}

// testPublishKeyLease: a claim that has not completed holds for its lease;
// past it, a claim takes the record over, and the record, completed, keeps
// the expiry its claim gave it however late the reply comes. A completed
// record is never taken over.
func testPublishKeyLease(t *testing.T, f *fixture) {
	lease, exp := f.clock.Now().Add(time.Minute), f.clock.Now().Add(24*time.Hour)
	k := store.PublishKey{Tenant: "t", Key: "k3", RequestHash: "h1", LeaseUntil: lease, ExpiresAt: exp}
	if _, err := f.s.ClaimPublishKey(f.ctx, k); err != nil {
		t.Fatal(err)
	}
	k2 := k
	k2.RequestHash = "h2"
	old, err := f.s.ClaimPublishKey(f.ctx, k2)
	if !errors.Is(err, store.ErrConditionFailed) || old.RequestHash != "h1" || old.Reply != nil {
		t.Fatalf("claim within the lease = %+v, %v; want the first claim and ErrConditionFailed", old, err)
	}
	if want := time.Unix(lease.Unix(), 0).UTC(); !old.LeaseUntil.Equal(want) {
		t.Fatalf("LeaseUntil = %v, want %v (whole seconds)", old.LeaseUntil, want)
	}
	// Past the lease, a claim that never completed is taken over.
	f.clock.Advance(time.Minute)
	k2.LeaseUntil, k2.ExpiresAt = f.clock.Now().Add(time.Minute), f.clock.Now().Add(24*time.Hour)
	got, err := f.s.ClaimPublishKey(f.ctx, k2)
	if err != nil || got.RequestHash != "h2" || got.Reply != nil {
		t.Fatalf("claim past the lease = %+v, %v; want the claim", got, err)
	}
	if err := f.s.CompletePublishKey(f.ctx, "t", "k3", "h1", []byte(`{"n":1}`)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("complete the claim taken over: %v, want ErrNotFound", err)
	}
	// Completed past its lease, the record keeps its reply and expiry.
	f.clock.Advance(2 * time.Minute)
	if err := f.s.CompletePublishKey(f.ctx, "t", "k3", "h2", []byte(`{"n":2}`)); err != nil {
		t.Fatalf("complete past the lease: %v", err)
	}
	f.clock.Advance(time.Hour)
	k.LeaseUntil = f.clock.Now().Add(time.Minute)
	old, err = f.s.ClaimPublishKey(f.ctx, k)
	if !errors.Is(err, store.ErrConditionFailed) || string(old.Reply) != `{"n":2}` {
		t.Fatalf("claim of a record completed past its lease = %+v, %v; want the reply and ErrConditionFailed", old, err)
	}
	if want := time.Unix(k2.ExpiresAt.Unix(), 0).UTC(); !old.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want the claim's %v", old.ExpiresAt, want)
	}
}

// testPublishKeyOwnClaim: a claim is known by its claim id, drawn when the
// caller gives none. A claim that finds its own pending record (its write
// applied, then sent again) gets it as the claim made; another claim id,
// a completed record or a record taken over is refused as before. A claim
// id over store.MaxClaimIDLen bytes is refused and writes nothing.
func testPublishKeyOwnClaim(t *testing.T, f *fixture) {
	lease, exp := f.clock.Now().Add(time.Minute), f.clock.Now().Add(time.Hour)
	k := store.PublishKey{Tenant: "t", Key: "k4", RequestHash: "h1", LeaseUntil: lease, ExpiresAt: exp, ClaimID: "claim-1"}
	if got, err := f.s.ClaimPublishKey(f.ctx, k); err != nil || got.ClaimID != "claim-1" {
		t.Fatalf("first claim = %+v, %v; want the claim with its claim id", got, err)
	}
	got, err := f.s.ClaimPublishKey(f.ctx, k)
	if err != nil || got.ClaimID != "claim-1" || got.RequestHash != "h1" || got.Reply != nil ||
		!got.LeaseUntil.Equal(time.Unix(lease.Unix(), 0)) || !got.ExpiresAt.Equal(time.Unix(exp.Unix(), 0)) {
		t.Fatalf("same claim again = %+v, %v; want its own record as the claim made", got, err)
	}
	other := k
	other.ClaimID = "claim-2"
	if old, err := f.s.ClaimPublishKey(f.ctx, other); !errors.Is(err, store.ErrConditionFailed) || old.ClaimID != "claim-1" {
		t.Fatalf("same request, another claim id = %+v, %v; want the first claim and ErrConditionFailed", old, err)
	}
	other.ClaimID = ""
	if old, err := f.s.ClaimPublishKey(f.ctx, other); !errors.Is(err, store.ErrConditionFailed) || old.ClaimID != "claim-1" {
		t.Fatalf("same request, no claim id = %+v, %v; want the first claim and ErrConditionFailed", old, err)
	}
	// Drawn claim ids differ, and are kept.
	a, err := f.s.ClaimPublishKey(f.ctx, store.PublishKey{Tenant: "t", Key: "k5", RequestHash: "h", ExpiresAt: exp})
	if err != nil || a.ClaimID == "" {
		t.Fatalf("claim without a claim id = %+v, %v; want one drawn", a, err)
	}
	b, err := f.s.ClaimPublishKey(f.ctx, store.PublishKey{Tenant: "t", Key: "k6", RequestHash: "h", ExpiresAt: exp})
	if err != nil || b.ClaimID == "" || b.ClaimID == a.ClaimID {
		t.Fatalf("claim ids drawn: %q then %q; want two different ones", a.ClaimID, b.ClaimID)
	}
	if old, err := f.s.ClaimPublishKey(f.ctx, store.PublishKey{Tenant: "t", Key: "k5", RequestHash: "h", ExpiresAt: exp}); !errors.Is(err, store.ErrConditionFailed) || old.ClaimID != a.ClaimID {
		t.Fatalf("claim of k5 again = %+v, %v; want the record with its drawn claim id", old, err)
	}
	// A completed record is not a pending claim, even of the same id.
	if err := f.s.CompletePublishKey(f.ctx, "t", "k4", "h1", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if old, err := f.s.ClaimPublishKey(f.ctx, k); !errors.Is(err, store.ErrConditionFailed) || string(old.Reply) != `{"n":1}` {
		t.Fatalf("same claim after completion = %+v, %v; want the reply and ErrConditionFailed", old, err)
	}
	// A claim taken over past its lease is no longer its first claimer's.
	k7 := store.PublishKey{Tenant: "t", Key: "k7", RequestHash: "h1", LeaseUntil: lease, ExpiresAt: exp, ClaimID: "claim-1"}
	if _, err := f.s.ClaimPublishKey(f.ctx, k7); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	k7b := k7
	k7b.ClaimID, k7b.LeaseUntil = "claim-2", f.clock.Now().Add(time.Minute)
	if got, err := f.s.ClaimPublishKey(f.ctx, k7b); err != nil || got.ClaimID != "claim-2" {
		t.Fatalf("claim past the lease = %+v, %v; want it taken over", got, err)
	}
	k7.LeaseUntil = f.clock.Now().Add(time.Minute)
	if old, err := f.s.ClaimPublishKey(f.ctx, k7); !errors.Is(err, store.ErrConditionFailed) || old.ClaimID != "claim-2" {
		t.Fatalf("first claimer again = %+v, %v; want the claim that took over and ErrConditionFailed", old, err)
	}
	long := store.PublishKey{Tenant: "t", Key: "k8", RequestHash: "h", ExpiresAt: exp, ClaimID: strings.Repeat("x", store.MaxClaimIDLen+1)}
	if _, err := f.s.ClaimPublishKey(f.ctx, long); err == nil {
		t.Fatal("a claim id over the limit was accepted")
	}
	long.ClaimID = ""
	if _, err := f.s.ClaimPublishKey(f.ctx, long); err != nil {
		t.Fatalf("claim after a refused one: %v; want the key free", err)
	}
}
