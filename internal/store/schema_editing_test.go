package store_test

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestParseLockKey: the key of a lock item gives back its entity; the
// keys of the fencing counter, the reverse lock item, every other item
// and malformed ones do not.
func TestParseLockKey(t *testing.T) {
	want := store.EntityKey{Tenant: "acme", Type: "order", ID: "SO-1042"}
	if got, ok := store.ParseLockKey(store.LockPK(want), store.SKLock); !ok || got != want {
		t.Errorf("ParseLockKey = %+v, %v; want %+v", got, ok, want)
	}
	for _, k := range [][2]string{
		{store.LockPK(want), store.SKFence},
		{store.ConnPK("AbC="), store.LockPK(want)},
		{store.EntityPK(want), store.SKHead},
		{store.ConnPK("AbC="), store.SKAway},
		{store.PrefixLock + "acme#order", store.SKLock},
		{store.PrefixLock + "acme#order#SO-1#x", store.SKLock},
		{store.PrefixLock + "acme##SO-1", store.SKLock},
	} {
		if got, ok := store.ParseLockKey(k[0], k[1]); ok {
			t.Errorf("ParseLockKey(%q, %q) = %+v, want not a lock key", k[0], k[1], got)
		}
	}
}
