package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/store"
)

// The longest cursor a store issues: a presence entry's, with a user id of
// the most bytes an identifier may have, each a four-byte code point, and
// a connection id as long.
var (
	longUser              = strings.Repeat("\U0001F600", ident.MaxIDLen/4)
	longConn              = strings.Repeat("C", ident.MaxIDLen)
	longestPresenceCursor = store.PresenceCursor(store.Presence{UserID: longUser, ConnID: longConn})
)

func TestCursorCodec(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		cursor string
		prefix string // for DecodeCursor; "activity" uses DecodeActivityCursor
		want   string // the sort key, or "!" for ErrInvalidCursor
	}{
		{"none", "", store.PrefixComment, ""},
		{"comment", store.CommentCursor("c1"), store.PrefixComment, store.CommentSK("c1")},
		{"conflict", store.ConflictCursor("x"), store.PrefixConflict, store.ConflictSK("x")},
		{"first conflict", store.ConflictCursor(""), store.PrefixConflict, store.ConflictSK("")},
		{"presence", store.PresenceCursor(store.Presence{UserID: "u", ConnID: "c"}), store.PrefixUser, store.PresenceSK("u", "c")},
		{"activity", store.ActivityCursor(store.Activity{At: at, ID: "a"}), "activity", store.ActivitySK(at, "a")},
		{"not base64", "%%bad%%", store.PrefixComment, "!"},
		{"padded", store.CommentCursor("c1") + "=", store.PrefixComment, "!"},
		{"another kind", store.ConflictCursor("x"), store.PrefixComment, "!"},
		{"activity without separator", store.EncodeCursor("plain"), "activity", "!"},
		{"activity garbage", "%%", "activity", "!"},
		{"longest issued", longestPresenceCursor, store.PrefixUser, store.PresenceSK(longUser, longConn)},
		{"too long", store.ConflictCursor(strings.Repeat("0", store.MaxCursorLen)), store.PrefixConflict, "!"},
		{"too long for the activity feed", store.EncodeCursor("#" + strings.Repeat("0", store.MaxCursorLen)), "activity", "!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sk string
			var err error
			if tt.prefix == "activity" {
				sk, err = store.DecodeActivityCursor(tt.cursor)
			} else {
				sk, err = store.DecodeCursor(tt.cursor, tt.prefix)
			}
			if tt.want == "!" {
				if !errors.Is(err, store.ErrInvalidCursor) {
					t.Fatalf("decode %q = %q, %v; want ErrInvalidCursor", tt.cursor, sk, err)
				}
				return
			}
			if err != nil || sk != tt.want {
				t.Errorf("decode %q = %q, %v; want %q", tt.cursor, sk, err, tt.want)
			}
		})
	}
}
