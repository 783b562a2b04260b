package crdt

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrClockSkew is wrapped by CheckSkew when a remote stamp is too far in
// the future.
var ErrClockSkew = errors.New("clock skew")

// HLC is a hybrid logical clock stamp: physical milliseconds, a logical
// counter that orders events within one millisecond, and the id of the
// node (user, connection or server) that issued it, which breaks ties
// between nodes. The zero value is the smallest stamp. HLC is a plain
// value, safe to copy and compare from any goroutine.
type HLC struct {
	WallMs  int64  `json:"wallMs"`
	Counter uint32 `json:"counter"`
	Node    string `json:"node"`
}

// IsZero reports whether h is the zero stamp.
func (h HLC) IsZero() bool { return h == HLC{} }

// String formats h as "wallMs.counter@node" for logs.
func (h HLC) String() string { return fmt.Sprintf("%d.%d@%s", h.WallMs, h.Counter, h.Node) }

// Compare orders stamps by wall time, then counter, then node id. It
// returns -1, 0 or +1. Two stamps compare equal only when all three fields
// are equal.
func Compare(a, b HLC) int {
	switch {
	case a.WallMs < b.WallMs:
		return -1
	case a.WallMs > b.WallMs:
		return 1
	case a.Counter < b.Counter:
		return -1
	case a.Counter > b.Counter:
		return 1
	}
	return strings.Compare(a.Node, b.Node)
}

// Now returns the stamp for a local event on the node that issued last
// (last.Node is kept; pass HLC{Node: id} before the first event). The
// result is greater than last, and its wall time is at least physical's.
// When the counter would overflow, the wall time is advanced by one
// millisecond instead.
func Now(physical time.Time, last HLC) HLC {
	pt := physical.UnixMilli()
	if pt > last.WallMs {
		return HLC{WallMs: pt, Node: last.Node}
	}
	return bump(last.WallMs, uint64(last.Counter)+1, last.Node)
}

// Update returns the local stamp after receiving remote: greater than both
// local and remote, with local's node id. Call it for every stamp read from
// another node, so that later local stamps order after everything seen.
func Update(local, remote HLC, physical time.Time) HLC {
	pt := physical.UnixMilli()
	wall := max(local.WallMs, remote.WallMs, pt)
	var c uint64
	switch {
	case wall == local.WallMs && wall == remote.WallMs:
		c = uint64(max(local.Counter, remote.Counter)) + 1
	case wall == local.WallMs:
		c = uint64(local.Counter) + 1
	case wall == remote.WallMs:
		c = uint64(remote.Counter) + 1
	}
	return bump(wall, c, local.Node)
}

// bump returns the stamp (wall, counter), carrying a counter overflow into
// the wall time. At the largest wall time there is nothing to carry into:
// the stamp stays at the largest counter rather than wrapping to the
// smallest wall time.
func bump(wall int64, counter uint64, node string) HLC {
	if counter > math.MaxUint32 {
		if wall == math.MaxInt64 {
			return HLC{WallMs: wall, Counter: math.MaxUint32, Node: node}
		}
		return HLC{WallMs: wall + 1, Node: node}
	}
	return HLC{WallMs: wall, Counter: uint32(counter), Node: node}
}

// CheckSkew reports an error wrapping ErrClockSkew when remote's wall time
// is negative or more than maxAhead ahead of physical, or when remote sits
// at the last counter of the latest allowed millisecond (the next stamp
// would have to move past the limit). A stamp far in the future would win
// every last-writer-wins comparison until real time caught up, so stamps
// from clients should be checked before Update or Set: after a checked
// stamp, Update returns a stamp within Limit(physical, maxAhead).
//
// The comparison is done in milliseconds with saturating arithmetic, so
// no wall time, however large or small, can wrap past the check.
func CheckSkew(remote HLC, physical time.Time, maxAhead time.Duration) error {
	limit := Limit(physical, maxAhead)
	if remote.WallMs < 0 || remote.WallMs > limit || (remote.WallMs == limit && remote.Counter == math.MaxUint32) {
		return fmt.Errorf("check stamp %q: beyond the limit %d ms (local time %d ms + %v): %w",
			remote.String(), limit, physical.UnixMilli(), maxAhead, ErrClockSkew)
	}
	return nil
}

// Limit returns the latest wall time, in Unix milliseconds, that a stamp
// may carry at physical time physical when stamps may run maxAhead ahead
// of it: physical + maxAhead, saturating at math.MaxInt64 (a negative
// maxAhead counts as 0).
func Limit(physical time.Time, maxAhead time.Duration) int64 {
	pt := physical.UnixMilli()
	ahead := max(maxAhead, 0).Milliseconds()
	if pt > 0 && ahead > math.MaxInt64-pt {
		return math.MaxInt64
	}
	return pt + ahead
}
