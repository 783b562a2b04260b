package store_test

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestParsePresenceKey: the keys of sessions and room entries give back
// their parts; the keys of every other item, and malformed ones, do not.
func TestParsePresenceKey(t *testing.T) {
	for _, want := range []store.PresenceKey{
		{Tenant: "acme", UserID: "u-1", ConnID: "AbC="},
		{Tenant: "acme", Room: "order.SO-1042", UserID: "u-1", ConnID: "AbC="},
	} {
		pk := store.PresencePK(want.Tenant)
		if want.Room != "" {
			pk = store.RoomPK(want.Tenant, want.Room)
		}
		if got, ok := store.ParsePresenceKey(pk, store.PresenceSK(want.UserID, want.ConnID)); !ok || got != want {
			t.Errorf("ParsePresenceKey(%q) = %+v, %v; want %+v", pk, got, ok, want)
		}
	}
	for _, k := range [][2]string{
		{store.ConnPK("AbC="), store.SKAway},
		{store.ConnPK("AbC="), store.SKMeta},
		{store.ActivityPK("acme"), "2030-01-01T00:00:00.000000000Z#a1"},
		{store.PrefixOutbox + "2", "acme#order#SO-1#000000000001"},
		{store.UserPK("acme", "u-1"), store.PrefixConn + "AbC="},
		{store.PresencePK(""), store.PresenceSK("u-1", "AbC=")},
		{store.PrefixRoom + "acme", store.PresenceSK("u-1", "AbC=")},
		{store.RoomPK("acme", ""), store.PresenceSK("u-1", "AbC=")},
		{store.PresencePK("acme"), store.PrefixUser + "u-1"},
		{store.PresencePK("acme"), store.PresenceSK("u-1", "")},
		{store.PresencePK("acme"), store.PresenceSK("u-1", "a#b")},
	} {
		if got, ok := store.ParsePresenceKey(k[0], k[1]); ok {
			t.Errorf("ParsePresenceKey(%q, %q) = %+v, want not a presence key", k[0], k[1], got)
		}
	}
}

// TestParseAwayKey: the key of an away alarm gives back its connection;
// the keys of the connection's other items, and malformed ones, do not.
func TestParseAwayKey(t *testing.T) {
	if got, ok := store.ParseAwayKey(store.ConnPK("AbC="), store.SKAway); !ok || got != "AbC=" {
		t.Errorf("ParseAwayKey = %q, %v; want AbC=", got, ok)
	}
	for _, k := range [][2]string{
		{store.ConnPK("AbC="), store.SKMeta},
		{store.ConnPK("AbC="), store.SubSK("acme", "room:lobby")},
		{store.ConnPK("AbC="), store.PrefixLock + "acme#order#SO-1"},
		{store.ConnPK(""), store.SKAway},
		{store.ConnPK("a#b"), store.SKAway},
		{store.PresencePK("acme"), store.SKAway},
	} {
		if got, ok := store.ParseAwayKey(k[0], k[1]); ok {
			t.Errorf("ParseAwayKey(%q, %q) = %q, want not an away alarm's key", k[0], k[1], got)
		}
	}
}
