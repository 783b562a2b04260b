package store

import "slices"

// ConnCount is a user's connection count as both stores keep it: the ids
// of the connections OpenConnection counted, each with its expiry in epoch
// seconds (0: never). The count is the number of entries that still count.
type ConnCount map[string]int64

// Counted returns the entries of c that still count at now (epoch
// seconds): those not expired, other than except (the connection being
// opened, which must not count against itself).
func (c ConnCount) Counted(now int64, except string) ConnCount {
	out := make(ConnCount, len(c)+1)
	for id, exp := range c {
		if id != except && (exp == 0 || exp > now) {
			out[id] = exp
		}
	}
	return out
}

// Expiry returns when the last entry of c expires (epoch seconds): 0 when
// one never does or c is empty, which a stored count uses as its own
// expiry.
func (c ConnCount) Expiry() int64 {
	var last int64
	for _, exp := range c {
		if exp == 0 {
			return 0
		}
		last = max(last, exp)
	}
	return last
}

// Opens decides whether connection id may be opened with the entries
// that still count (see Counted) and a limit of max: it may when fewer
// than max count. Entries for which stillOpen returns false (the record
// is gone, expired or another user's) are dropped first, but only when
// the count is at the limit, so that the check stays one read while
// under it. It returns the entries to store, id with exp included, or
// false when the limit is reached; an error of stillOpen is returned as it
// is. c is modified.
func (c ConnCount) Opens(id string, exp int64, max int, stillOpen func(ids []string) (map[string]bool, error)) (ConnCount, bool, error) {
	if len(c) >= max {
		ids := make([]string, 0, len(c))
		for other := range c {
			ids = append(ids, other)
		}
		slices.Sort(ids)
		open, err := stillOpen(ids)
		if err != nil {
			return nil, false, err
		}
		for other := range c {
			if !open[other] {
				delete(c, other)
			}
		}
		if len(c) >= max {
			return nil, false, nil
		}
	}
	c[id] = exp
	return c, true, nil
}
