package crdt

import (
	"encoding/json"
	"testing"
)

// TestFloor: DropTombstone forgets a tombstone but raises Floor to its
// stamp; a Set at or before Floor to a path holding no live value is not
// recorded, one after it is; a path with a live value or below an older
// one, and a Delete, are not affected.
func TestFloor(t *testing.T) {
	d := run(t, []edit{
		{kind: "set", path: "kept", value: "v", at: stamp(1, "a")},
		{kind: "del", path: "memo", at: stamp(5, "a")},
		{kind: "del", path: "old", at: stamp(3, "a")},
		{kind: "del", path: "p", at: stamp(2, "a")},
	})
	if d.DropTombstone("kept") || d.DropTombstone("none") {
		t.Fatal("DropTombstone dropped something that is not a tombstone")
	}
	if !d.DropTombstone("memo") || !d.DropTombstone("old") {
		t.Fatal("DropTombstone did not drop a tombstone")
	}
	if d.Floor != stamp(5, "a") {
		t.Fatalf("Floor = %s, want the newest dropped stamp 5.0@a", d.Floor)
	}
	for _, w := range []struct {
		path string
		at   HLC
		want bool
	}{
		{"memo", stamp(4, "z"), false},
		{"never", stamp(5, "a"), false}, // a tie: the tombstone wins
		{"p", stamp(4, "z"), false},     // beats its own tombstone, not the floor
		{"kept", stamp(2, "z"), true},   // a live value: last writer wins as before
		{"kept.x", stamp(2, "z"), true}, // below an older live value: as before
		{"kept.x", stamp(1, "a"), false},
		{"p.x", stamp(4, "z"), false},
		{"memo", stamp(5, "b"), true},
		{"fresh.x", stamp(6, "a"), true},
	} {
		c := d.Clone()
		if err := c.Set(w.path, "new", w.at); err != nil {
			t.Fatal(err)
		}
		if got := c.Registers[w.path].Stamp == w.at; got != w.want {
			t.Errorf("Set %q at %s recorded: %v, want %v", w.path, w.at, got, w.want)
		}
	}
	c := d.Clone()
	if err := c.Delete("kept", stamp(2, "z")); err != nil || !c.Registers["kept"].Deleted {
		t.Errorf("a delete older than the floor of a live value was not recorded (%v)", err)
	}
	if _, ok := c.Materialize()["kept"]; ok {
		t.Error("kept is still shown after its delete")
	}
}

// TestFloorJSON: a state stored before Floor existed loads with none
// (every write applies as before), and the zero floor is left out of the
// JSON. (TestDocJSONRoundTrip keeps a floor through a round trip.)
func TestFloorJSON(t *testing.T) {
	var old Doc
	if err := json.Unmarshal([]byte(`{"registers":{"x":{"value":null,"stamp":{"wallMs":6,"counter":0,"node":"a"},"deleted":true}}}`), &old); err != nil {
		t.Fatal(err)
	}
	if !old.Floor.IsZero() {
		t.Fatalf("an old state loaded with floor %s", old.Floor)
	}
	if err := old.Set("memo", 1, stamp(0, "a")); err != nil || old.Registers["memo"].Stamp != stamp(0, "a") {
		t.Fatalf("the oldest write to a fresh path of an old state was not recorded (%v)", err)
	}
	if raw, _ := json.Marshal(Doc{}); string(raw) != `{}` {
		t.Fatalf("an empty state encodes as %s: the zero floor should be left out", raw)
	}
}

// TestMergeFloor: Merge keeps the newer floor and both sides' registers
// (a floor cannot tell a forgotten path from one never heard of).
func TestMergeFloor(t *testing.T) {
	a := Doc{Floor: stamp(5, "a")}
	b := run(t, []edit{{kind: "set", path: "x", value: 1, at: stamp(2, "b")}})
	b.Floor = stamp(1, "b")
	for _, m := range []Doc{Merge(a, b), Merge(b, a)} {
		if m.Floor != stamp(5, "a") || m.Registers["x"].Stamp != stamp(2, "b") {
			t.Fatalf("Merge = %s, want floor 5.0@a and x from b", show(m))
		}
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOutdated: an edit is outdated by a register (value or tombstone) at
// its path or an ancestor stamped at or after it, and, where its path
// holds no live value and lies below no older live value, by the floor.
func TestOutdated(t *testing.T) {
	d := run(t, []edit{
		{kind: "set", path: "n", value: 1, at: stamp(5, "a")},
		{kind: "set", path: "o", value: map[string]any{"n": 1}, at: stamp(5, "a")},
		{kind: "del", path: "gone", at: stamp(6, "a")},
		{kind: "set", path: "old", value: map[string]any{}, at: stamp(1, "a")},
		{kind: "del", path: "dropped", at: stamp(3, "a")},
	})
	d.DropTombstone("dropped") // the floor is 3.0@a
	for _, c := range []struct {
		path string
		at   HLC
		by   string
		want bool
	}{
		{"n", stamp(4, "z"), "n", true},
		{"n", stamp(5, "a"), "n", true}, // a tie: the register wins
		{"n", stamp(5, "b"), "", false},
		{"o.n", stamp(4, "z"), "o", true},
		{"o.n.x", stamp(4, "z"), "o", true},
		{"gone", stamp(5, "z"), "gone", true},
		{"gone.x", stamp(5, "z"), "gone", true},
		{"gone", stamp(7, "a"), "", false},
		{"fresh", stamp(3, "a"), "", true}, // the floor: a tie goes to it
		{"fresh", stamp(2, "z"), "", true},
		{"fresh", stamp(3, "b"), "", false},
		{"old.x", stamp(2, "z"), "", false}, // below an older live value
		{"$", stamp(0, "a"), "", false},     // not a field: Increment refuses it
	} {
		if by, got := d.Outdated(c.path, c.at); got != c.want || by != c.by {
			t.Errorf("Outdated(%q, %s) = %q, %v; want %q, %v", c.path, c.at, by, got, c.by, c.want)
		}
	}
}
