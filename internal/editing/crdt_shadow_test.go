package editing_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/doc/doctest"
	"github.com/omnisales/rtcollab/internal/editing"
)

// stateBytes is the size of the entity's state as the service stores it.
func (e *crdtEntity) stateBytes() int {
	e.t.Helper()
	b, err := json.Marshal(e.st)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(b)
}

// TestCRDTShadowedRegistersDropped: the fields written below a key that a
// later write or delete of the key replaced can never show again; they
// used to stay in the state for good, so that a writer repeating
// "a = {}; a.kN = <9 KB>" filled it with a document of a few bytes. A
// write or delete of the key drops them, and a write below it stamped
// before it, arriving late, is superseded and stores nothing (it was
// unchanged and kept its value).
func TestCRDTShadowedRegistersDropped(t *testing.T) {
	t0 := now.UnixMilli()
	big := strings.Repeat("x", 9000)
	e := newCRDTEntity(t)
	for i := range 40 {
		e.step(doc.Op{Kind: doc.Update, Path: "a", Value: map[string]any{}}, t0-100_000+int64(2*i))
		e.step(doc.Op{Kind: doc.Insert, Path: fmt.Sprintf("a.k%d", i), Value: big}, t0-100_000+int64(2*i+1))
	}
	e.step(doc.Op{Kind: doc.Update, Path: "a", Value: map[string]any{}}, t0-90_000)
	wantDoc(t, e.doc, `{"a":{}}`)
	if n := e.stateBytes(); n > 1000 {
		t.Fatalf("state of %d bytes for the document {\"a\":{}}", n)
	}

	e.step(doc.Op{Kind: doc.Delete, Path: "a"}, t0-80_000)
	before := e.stateBytes()
	for _, op := range []doc.Op{
		{Kind: doc.Insert, Path: "a.late", Value: big},
		{Kind: doc.Update, Path: "a.b.c", Value: big},
		{Kind: doc.Delete, Path: "a.b"},
	} {
		out := e.step(op, t0-85_000)
		if out.Kind != editing.KindSuperseded || len(out.Notices) != 1 || !strings.Contains(out.Notices[0], `newer delete of "a"`) {
			t.Errorf("%s stamped before the delete of a: %s %q; want superseded by the delete of a", op, out.Kind, out.Notices)
		}
	}
	if n := e.stateBytes(); n != before {
		t.Errorf("writes below the deleted a took the state from %d to %d bytes", before, n)
	}
	wantDoc(t, e.doc, `{}`)
	// A write stamped after the delete applies.
	if out := e.step(doc.Op{Kind: doc.Insert, Path: "a.new", Value: 1.0}, t0-70_000); out.Kind != editing.KindApplied {
		t.Errorf("write after the delete of a: %s", out.Kind)
	}
	wantDoc(t, e.doc, `{"a":{"new":1}}`)
}

// TestCRDTShadowedStateShrinks: a state stored with registers that can
// never show again (kept before they were dropped) is pruned by the next
// change of the entity, so that an entity it had filled up takes writes
// again; the document stays as it was.
func TestCRDTShadowedStateShrinks(t *testing.T) {
	t0 := now.UnixMilli()
	big := strings.Repeat("x", 9000)
	regs := map[string]crdt.Register{}
	for i := range 30 {
		regs[fmt.Sprintf("a.k%d", i)] = crdt.Register{Value: big, Stamp: crdt.HLC{WallMs: t0 - 50_000 + int64(i), Node: "ann"}}
		regs[fmt.Sprintf("o.p.k%d", i)] = crdt.Register{Value: big, Stamp: crdt.HLC{WallMs: t0 - 50_000 + int64(i), Node: "ann"}}
	}
	regs["a"] = crdt.Register{Value: map[string]any{}, Stamp: crdt.HLC{WallMs: t0 - 40_000, Node: "ann"}}
	regs["o.p"] = crdt.Register{Stamp: crdt.HLC{WallMs: t0 - 40_000, Node: "ann"}, Deleted: true}
	st := &editing.State{CRDT: crdt.Doc{Registers: regs}, Clock: crdt.HLC{WallMs: t0 - 40_000, Node: "ann"}}
	d := st.CRDT.Materialize()
	wantDoc(t, d, `{"a":{},"o":{}}`)
	out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: d, State: st, Version: 7, Base: 7,
		Op: doc.Op{Kind: doc.Insert, Path: "qty", Value: 5.0}, UserID: "bob", Now: now})
	if err != nil || out.Kind != editing.KindApplied {
		t.Fatalf("Decide = %s, %v; want applied", out.Kind, err)
	}
	wantDoc(t, out.Doc, `{"a":{},"o":{},"qty":5}`)
	b, err := json.Marshal(out.State)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4000 {
		t.Errorf("the state after the write is %d bytes: %.300s", len(b), b)
	}
	if len(st.CRDT.Registers) != 62 || st.CRDT.Registers["a.k0"].Value == nil {
		t.Errorf("Decide changed the stored state it was given")
	}
}

// TestCRDTPruneShowsTheSame: through Decide, in random orders of arrival,
// the document of a crdt entity is at every step the one a state keeping
// every winning register would show, also where a delete leaves behind
// the objects a hidden write below it made (below a top-level field and
// below nested ones), and the state reports the same edits as outdated
// (which decides the increments that are superseded).
func TestCRDTPruneShowsTheSame(t *testing.T) {
	seed := doctest.Seed(t, os.Getenv, 12)
	cases := doctest.Cases(t, os.Getenv, 1000)
	paths := []string{"a", "a.b", "a.b.c", "a.b.c.x", "a.b.d", "a.e", "b.c", "b.c.d", "b.c.d.e"}
	values := []any{1.0, "s", map[string]any{}, map[string]any{"x": 1.0}}
	users := []string{"ann", "bob", "cy"}
	t0 := now.UnixMilli()
	for i := range cases {
		r := doctest.Rand(seed, i)
		e := newCRDTEntity(t)
		ref := crdt.Doc{Registers: map[string]crdt.Register{}}
		for n := range 12 {
			op := doc.Op{Kind: doc.Update, Path: paths[r.IntN(len(paths))], Value: values[r.IntN(len(values))]}
			if r.IntN(3) == 0 {
				op = doc.Op{Kind: doc.Delete, Path: op.Path}
			}
			user, wall := users[r.IntN(len(users))], t0-int64(r.IntN(8))*1000
			out, err := editing.Decide(editing.Input{Strategy: editing.CRDT, Doc: e.doc, State: e.st, Version: e.v, Base: e.v,
				Op: op, UserID: user, Stamp: &crdt.HLC{WallMs: wall}, Now: now})
			if err != nil {
				t.Fatalf("case %d (%s=%d): Decide(%s): %v", i, doctest.SeedEnv, seed, op, err)
			}
			if out.Kind.NewVersion() {
				e.doc, e.v = out.Doc, e.v+1
			}
			if out.State != nil {
				e.st = out.State
			}
			reg := crdt.Register{Value: op.Value, Stamp: crdt.HLC{WallMs: wall, Node: user}, Deleted: op.Kind == doc.Delete}
			if cur, ok := ref.Registers[op.Path]; !ok || reg.Wins(cur) {
				ref.Registers[op.Path] = reg
			}
			if want := ref.Materialize(); !doc.Equal(e.doc, want) {
				t.Fatalf("case %d (%s=%d), step %d (%s by %s at %d): document %s, a state keeping every register shows %s",
					i, doctest.SeedEnv, seed, n, op, user, wall, encode(e.doc), encode(want))
			}
		}
		var st crdt.Doc
		if e.st != nil {
			st = e.st.CRDT
		}
		for _, p := range paths {
			for w := range 9 {
				at := crdt.HLC{WallMs: t0 - int64(w)*1000, Node: users[r.IntN(len(users))]}
				by, ok := st.Outdated(p, at)
				wby, wok := ref.Outdated(p, at)
				if by != wby || ok != wok {
					t.Fatalf("case %d (%s=%d): Outdated(%q, %s) = %q, %v; a state keeping every register: %q, %v",
						i, doctest.SeedEnv, seed, p, at, by, ok, wby, wok)
				}
			}
		}
	}
}
