package editing_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/doc/doctest"
	"github.com/omnisales/rtcollab/internal/editing"
)

// server is the entity as a store would keep it: every version of the
// document (a test luxury), the changes and the strategy state.
type server struct {
	docs    []map[string]any // docs[v] is version v
	history []editing.Applied
	inverse []doc.Op // inverse[v-1] undoes version v
	state   *editing.State
	// hidden is set when a crdt write changed the state but not the
	// document after the last version; an undo may then reveal it.
	hidden bool
}

func (s *server) version() int64          { return int64(len(s.docs) - 1) }
func (s *server) current() map[string]any { return s.docs[len(s.docs)-1] }

// commit records an outcome that made a new version.
func (s *server) commit(user string, out editing.Outcome) {
	s.history = append(s.history, editing.Applied{Version: s.version() + 1, UserID: user, Op: out.Op})
	s.inverse = append(s.inverse, out.Inverse)
	s.docs = append(s.docs, out.Doc)
	s.state = out.State
	s.hidden = false
}

func encode(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestServerProperties drives each strategy with random changes written
// against random earlier versions, as concurrent clients would, and
// checks after every accepted change that:
//
//   - the recorded operation replays the previous version into the new
//     one, so a client following the change feed holds the server's
//     document;
//   - the recorded inverse turns the new version back into the previous
//     one;
//   - for crdt, the document is the materialized state;
//   - an operation rebased by operational-transform always applies: a
//     change written against any kept version is never refused as stale;
//
// and that an undo that UndoOp accepts applies to the current document
// and, with no later change in between, restores the previous document
// (for crdt, unless a write hidden by the undone one was recorded since).
func TestServerProperties(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 11)
	cases := doctest.Cases(t, os.Getenv, 3000)
	strategies := editing.Strategies()
	users := []string{"ann", "bob", "cy"}
	counts := map[string]int{}
	for i := range cases {
		r := doctest.Rand(seed, i)
		g := doctest.NewGen(r)
		strategy := strategies[i%len(strategies)]
		if strategy == editing.CRDT {
			g.Kinds = []doc.Kind{doc.Insert, doc.Update, doc.Delete, doc.Increment}
		}
		srv := &server{docs: []map[string]any{g.Doc()}}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("case %d (%s, replay with %s=%d): %s\nhistory %s", i, strategy, doctest.SeedEnv, seed,
				fmt.Sprintf(format, args...), encode(srv.history))
		}
		for step := range 10 {
			base := int64(r.IntN(len(srv.docs)))
			if r.IntN(2) == 0 {
				base = srv.version() // half of the changes are current
			}
			op := g.Op(srv.docs[base])
			user := users[r.IntN(len(users))]
			in := editing.Input{
				Strategy: strategy, Doc: srv.current(), Version: srv.version(), State: srv.state,
				Base: base, Since: srv.history[base:], Op: op, UserID: user,
				Now:  time.Unix(1_700_000_000, 0).Add(time.Duration(step) * time.Millisecond),
				Lock: &editing.Lock{Holder: user, Token: 7}, Token: 7,
			}
			if r.IntN(2) == 0 { // a client stamp, possibly older than the state's
				in.Stamp = &crdt.HLC{WallMs: in.Now.UnixMilli() - int64(r.IntN(20))}
			}
			out, err := editing.Decide(in)
			switch {
			case err == nil:
			case strategy == editing.OperationalTransform || strategy == editing.Manual:
				fail("Decide(%s at %d of %d): %v", encode(op), base, srv.version(), err)
			case errors.Is(err, editing.ErrStale) && base < srv.version():
				counts["stale"]++
				continue
			case errors.Is(err, editing.ErrInvalid) && strategy == editing.CRDT:
				counts["crdt refused"]++
				continue
			default:
				fail("Decide(%s at %d of %d): %v", encode(op), base, srv.version(), err)
			}
			counts[string(out.Kind)]++
			if out.Kind == editing.KindUnchanged {
				srv.state, srv.hidden = out.State, true
			}
			if !out.Kind.NewVersion() {
				continue
			}
			prev := srv.current()
			if got, err := doc.Apply(prev, out.Op); err != nil || !doc.Equal(got, out.Doc) {
				fail("op %s does not replay: %v\n got %s\nwant %s", encode(out.Op), err, encode(got), encode(out.Doc))
			}
			if got, err := doc.Apply(out.Doc, out.Inverse); err != nil || !doctest.Restored(got, prev, out.Op) {
				fail("inverse %s does not restore: %v", encode(out.Inverse), err)
			}
			if out.State != nil && !doc.Equal(out.State.CRDT.Materialize(), out.Doc) {
				fail("crdt document is not the materialized state")
			}
			srv.commit(user, out)
		}
		// Replaying the feed from the first version reaches the last one.
		replay := srv.docs[0]
		for _, a := range srv.history {
			next, err := doc.Apply(replay, a.Op)
			if err != nil {
				fail("replay version %d: %v", a.Version, err)
			}
			replay = next
		}
		if !doc.Equal(replay, srv.current()) {
			fail("replay differs from the document")
		}
		if len(srv.history) == 0 {
			continue
		}
		target := r.IntN(len(srv.history))
		undo, _, err := editing.UndoOp(srv.inverse[target], srv.history[target+1:])
		if errors.Is(err, editing.ErrUndoConflict) {
			counts["undo conflict"]++
			continue
		}
		if err != nil {
			fail("UndoOp: %v", err)
		}
		user := users[0]
		out, err := editing.Decide(editing.Input{
			Strategy: strategy, Doc: srv.current(), Version: srv.version(), State: srv.state,
			Base: srv.version(), Op: undo, UserID: user, Now: time.Unix(1_700_000_001, 0),
			Lock: &editing.Lock{Holder: user, Token: 7}, Token: 7,
		})
		if err != nil {
			fail("undo of version %d (%s): %v", target+1, encode(undo), err)
		}
		counts["undo "+string(out.Kind)]++
		if target == len(srv.history)-1 && !srv.hidden && out.Kind.NewVersion() && !doctest.Restored(out.Doc, srv.docs[target], srv.history[target].Op) {
			fail("undo of the last version does not restore the previous document:\n got %s\nwant %s\nstate %s\nundo %s",
				encode(out.Doc), encode(srv.docs[target]), encode(srv.state), encode(undo))
		}
	}
	t.Logf("outcomes: %v", counts)
}
