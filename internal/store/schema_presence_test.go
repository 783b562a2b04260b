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

// TestParseAwayKey: the key of an away alarm, or of a token alarm, gives
// back its connection to its own parser; the keys of the connection's
// other items, and malformed ones, do not.
func TestParseAwayKey(t *testing.T) {
	parsers := []struct {
		name  string
		sk    string
		parse func(pk, sk string) (string, bool)
	}{
		{"ParseAwayKey", store.SKAway, store.ParseAwayKey},
		{"ParseTokenAlarmKey", store.SKToken, store.ParseTokenAlarmKey},
	}
	for _, p := range parsers {
		if got, ok := p.parse(store.ConnPK("AbC="), p.sk); !ok || got != "AbC=" {
			t.Errorf("%s = %q, %v; want AbC=", p.name, got, ok)
		}
		others := [][2]string{
			{store.ConnPK("AbC="), store.SKMeta},
			{store.ConnPK("AbC="), store.SubSK("acme", "room:lobby")},
			{store.ConnPK("AbC="), store.PrefixLock + "acme#order#SO-1"},
			{store.ConnPK(""), p.sk},
			{store.ConnPK("a#b"), p.sk},
			{store.PresencePK("acme"), p.sk},
		}
		for _, q := range parsers {
			if q.sk != p.sk {
				others = append(others, [2]string{store.ConnPK("AbC="), q.sk})
			}
		}
		for _, k := range others {
			if got, ok := p.parse(k[0], k[1]); ok {
				t.Errorf("%s(%q, %q) = %q, want not the key of its alarm", p.name, k[0], k[1], got)
			}
		}
	}
}
