package crdt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/omnisales/rtcollab/internal/doc"
)

// Register is a last-writer-wins register for one field: the value written
// last and the stamp of that write. Deleted marks a removal (a tombstone);
// Value is then nil. The zero value is an empty register that loses to any
// write. Register values are treated as immutable: Merge and Doc share them
// between states instead of copying.
type Register struct {
	Value   any  `json:"value"`
	Stamp   HLC  `json:"stamp"`
	Deleted bool `json:"deleted,omitempty"`
}

// Wins reports whether r beats o: the larger stamp wins. Equal stamps
// (which only a misbehaving node produces) are ordered deterministically:
// a tombstone beats a value, then the larger JSON encoding wins.
func (r Register) Wins(o Register) bool {
	if c := Compare(r.Stamp, o.Stamp); c != 0 {
		return c > 0
	}
	if r.Deleted != o.Deleted {
		return r.Deleted
	}
	return bytes.Compare(canonicalJSON(r.Value), canonicalJSON(o.Value)) > 0
}

// Equal reports whether r and o have the same stamp, tombstone flag and
// value (compared with doc.Equal).
func (r Register) Equal(o Register) bool {
	return r.Stamp == o.Stamp && r.Deleted == o.Deleted && doc.Equal(r.Value, o.Value)
}

// MergeRegister returns the winner of a and b (see Register.Wins).
func MergeRegister(a, b Register) Register {
	if b.Wins(a) {
		return b
	}
	return a
}

// canonicalJSON encodes v with sorted object keys; it is only a tie-break
// key, so encoding failures fall back to a fixed rendering.
func canonicalJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(fmt.Sprintf("%#v", v))
	}
	return b
}

// UnmarshalJSON decodes a register, keeping numbers in the value as
// json.Number.
func (r *Register) UnmarshalJSON(data []byte) error {
	var w struct {
		Value   json.RawMessage `json:"value"`
		Stamp   HLC             `json:"stamp"`
		Deleted bool            `json:"deleted"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("decode register: %w", err)
	}
	var v any
	if len(w.Value) > 0 {
		dec := json.NewDecoder(bytes.NewReader(w.Value))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("decode register value: %w", err)
		}
	}
	*r = Register{Value: v, Stamp: w.Stamp, Deleted: w.Deleted}
	return nil
}

// PN holds one node's contribution to a Counter: the sums of its positive
// (P) and negative (N, as a positive number) deltas. Both only grow. The
// zero value is no contribution.
type PN struct {
	P int64 `json:"p"`
	N int64 `json:"n"`
}

// Counter is a positive-negative counter: each node's PN, keyed by node id.
// Each node must only ever increase its own entry, from a single replica
// at a time (its increments are ordered); two replicas incrementing under
// one node id concurrently lose updates. The nil Counter is zero. A
// Counter is a map: it is not safe for concurrent mutation.
type Counter map[string]PN

// Value returns the sum of all P minus the sum of all N. Increment keeps
// both sums within math.MaxInt64; for a counter merged from elsewhere
// whose sums pass it, each sum saturates at math.MaxInt64.
func (c Counter) Value() int64 {
	var p, n int64
	for _, e := range c {
		p = addSat(p, e.P)
		n = addSat(n, e.N)
	}
	return p - n // both are in 0..MaxInt64: no overflow
}

// sums returns the sum of all P and of all N, and false when either
// passes math.MaxInt64 or an entry is negative.
func (c Counter) sums() (p, n int64, ok bool) {
	for _, e := range c {
		if e.P < 0 || e.N < 0 || e.P > math.MaxInt64-p || e.N > math.MaxInt64-n {
			return 0, 0, false
		}
		p += e.P
		n += e.N
	}
	return p, n, true
}

// Equal reports whether c and o hold the same entries.
func (c Counter) Equal(o Counter) bool {
	if len(c) != len(o) {
		return false
	}
	for k, v := range c {
		if w, ok := o[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Clone returns a copy of c.
func (c Counter) Clone() Counter {
	if c == nil {
		return nil
	}
	out := make(Counter, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// MergeCounter returns the counter holding, per node, the larger P and the
// larger N of a and b.
func MergeCounter(a, b Counter) Counter {
	out := a.Clone()
	if out == nil {
		out = make(Counter, len(b))
	}
	for k, v := range b {
		cur := out[k]
		out[k] = PN{P: max(cur.P, v.P), N: max(cur.N, v.N)}
	}
	return out
}

// addSat adds two non-negative numbers, saturating at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
