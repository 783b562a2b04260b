package handler

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

func TestBoundIdentity(t *testing.T) {
	tests := []struct {
		name             string
		in               auth.Identity
		wantName, wantAv string
	}{
		{"short", auth.Identity{Username: "Ann", Avatar: "https://a/b.png"}, "Ann", "https://a/b.png"},
		{"name cut at a character", auth.Identity{Username: strings.Repeat("€", 50)}, strings.Repeat("€", 42), ""},
		{"invalid UTF-8 replaced", auth.Identity{Username: "a\xffb"}, "a\uFFFDb", ""},
		{"avatar at the bound kept", auth.Identity{Avatar: strings.Repeat("a", protocol.MaxAvatarBytes)}, "", strings.Repeat("a", protocol.MaxAvatarBytes)},
		{"avatar over the bound dropped", auth.Identity{Avatar: strings.Repeat("a", protocol.MaxAvatarBytes+1)}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := boundIdentity(tt.in)
			if got.Username != tt.wantName || got.Avatar != tt.wantAv {
				t.Errorf("boundIdentity = %q, %q; want %q, %q", got.Username, got.Avatar, tt.wantName, tt.wantAv)
			}
			if len(got.Username) > protocol.MaxUsernameBytes || !utf8.ValidString(got.Username) {
				t.Errorf("username %q: %d bytes or invalid UTF-8", got.Username, len(got.Username))
			}
		})
	}
}

func TestBoundedLogOfLegacyEntry(t *testing.T) {
	small := store.Activity{ID: "a1", Action: store.ActionUpdated, EntityType: "order", EntityID: "1",
		Changes: []store.ActivityChange{{Field: "f", After: json.RawMessage(`"x"`)}}, Metadata: json.RawMessage(`{"k":1}`)}
	if l := boundedLog(small); len(l.Changes) != 1 || l.Metadata == nil {
		t.Errorf("an entry within the bound lost its changes or metadata: %+v", l)
	}
	// Recorded before the entry bound: 40 changes of 2 KiB, escaped.
	legacy := small
	legacy.Changes = nil
	for range 40 {
		legacy.Changes = append(legacy.Changes, store.ActivityChange{Field: "f", After: json.RawMessage(`"` + strings.Repeat("<", 2000) + `"`)})
	}
	l := boundedLog(legacy)
	if n, err := protocol.JSONSize(l); err != nil || n > maxListedEntryBytes || l.Changes != nil || l.Metadata != nil || l.ID != "a1" {
		t.Errorf("legacy entry listed as %d bytes (%v), changes %d", n, err, len(l.Changes))
	}
}
