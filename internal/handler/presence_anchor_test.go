package handler_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// TestCursorAnchorMustBeVisibleText: a cursor's anchor elementId is
// relayed to every member of the room as sent; it was checked for its
// length only, so one holding a control, bidirectional, zero-width or
// other invisible character reached them. It is held to the rule the
// presence texts are (ident.Clean): refused with BAD_REQUEST naming the
// field, without being quoted, and posted to no one, whether or not x and
// y come with it; an id in ordinary writing, a ZWJ emoji sequence
// included, still reaches the room.
func TestCursorAnchorMustBeVisibleText(t *testing.T) {
	sweepStores(t, func(t *testing.T, clock *storetest.FakeClock, st store.Store) {
		e := newSweepEnv(t, clock, st, "bob", "dave")
		e.join("bob", "lobby")
		e.join("dave", "lobby")
		hostile := maps.Clone(invisibleByClass)
		hostile["trailing ZWJ"] = `\u200d`
		n := 0
		for class, c := range hostile {
			for _, xy := range []string{``, `"x":1,"y":2,`} {
				n++
				clock.Advance(time.Second)
				b := e.send("dave", fmt.Sprintf(`{"type":"cursor","messageId":"c%d","payload":{"room":"lobby",%s"anchor":{"elementId":"refused-cell%s"}}}`, n, xy, c))
				if !strings.Contains(b, `"code":"BAD_REQUEST"`) || !strings.Contains(b, "elementId") {
					t.Errorf("anchor elementId with %s (%s): %s; want BAD_REQUEST naming elementId", class, xy, b)
				}
				if strings.Contains(b, "refused-cell") {
					t.Errorf("the refusal quotes the elementId: %s", b)
				}
			}
		}
		if got := e.poster.cursorsTo("bob", "dave"); got != 0 {
			t.Errorf("bob got %d cursors with a refused anchor, want none", got)
		}
		for i, id := range []string{"row-7/Ünïcode cell", "cell \U0001F469\u200D\U0001F4BB"} {
			clock.Advance(time.Second)
			idJSON, _ := json.Marshal(id)
			e.ok("dave", fmt.Sprintf(`{"type":"cursor","messageId":"ok%d","payload":{"room":"lobby","anchor":{"elementId":%s}}}`, i, idJSON))
		}
		if got := e.poster.cursorsTo("bob", "dave"); got != 2 {
			t.Errorf("bob got %d cursors with a visible anchor, want 2", got)
		}
	})
}
