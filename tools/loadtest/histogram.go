package loadtest

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

// Histogram records durations with about 1.6% relative precision in a
// fixed set of buckets (log-linear: 64 sub-buckets per power of two,
// exact below 128 µs). It is safe for concurrent use; the zero value is
// ready to use.
type Histogram struct {
	buckets [histBuckets]atomic.Int64
	count   atomic.Int64
	sum     atomic.Int64 // microseconds
	max     atomic.Int64 // microseconds
}

const (
	subBits     = 7
	subCount    = 1 << subBits // exact values below this (µs)
	halfCount   = subCount / 2
	maxExponent = 30 // values up to 2^(subBits+30) µs, about 38 hours
	histBuckets = subCount + maxExponent*halfCount
)

// bucketOf returns the bucket of v microseconds.
func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits
	if e > maxExponent {
		return histBuckets - 1
	}
	return subCount + (e-1)*halfCount + int(v>>e) - halfCount
}

// bucketValue returns the middle of bucket i in microseconds.
func bucketValue(i int) float64 {
	if i < subCount {
		return float64(i)
	}
	e := (i-subCount)/halfCount + 1
	sub := int64((i-subCount)%halfCount + halfCount)
	lo := sub << e
	return float64(lo) + float64(int64(1)<<e-1)/2
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.buckets[bucketOf(us)].Add(1)
	h.count.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() int64 { return h.count.Load() }

// Percentiles summarises durations in milliseconds (a Histogram, or exact
// values).
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P95   float64 `json:"p95Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// Summary returns the count, mean, p50, p95, p99 and max. A percentile
// is the value of rank ceil(f*count) (nearest rank), given as the middle
// of its bucket capped at the exact maximum; the rank of the count itself
// (the p99 of 100 values or fewer) is the exact maximum.
func (h *Histogram) Summary() Percentiles {
	var counts [histBuckets]int64
	var n int64
	for i := range counts {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	p := Percentiles{Count: n}
	if n == 0 {
		return p
	}
	maxUs := float64(h.max.Load())
	p.Max = maxUs / 1000
	p.Mean = float64(h.sum.Load()) / float64(n) / 1000
	q := func(f float64) float64 {
		rank := int64(math.Ceil(f * float64(n)))
		if rank >= n {
			return p.Max
		}
		var seen int64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				return math.Min(bucketValue(i), maxUs) / 1000
			}
		}
		return p.Max
	}
	p.P50, p.P95, p.P99 = q(0.50), q(0.95), q(0.99)
	return p
}

// exactPercentiles summarises exact values in milliseconds: each
// percentile is the value of rank ceil(f*count) in ascending order
// (nearest rank), so the p99 of 100 values or fewer is the largest.
func exactPercentiles(ms []float64) Percentiles {
	p := Percentiles{Count: int64(len(ms))}
	if len(ms) == 0 {
		return p
	}
	sorted := slices.Sorted(slices.Values(ms))
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	p.Mean = sum / float64(len(sorted))
	q := func(f float64) float64 {
		rank := int(math.Ceil(f * float64(len(sorted))))
		return sorted[min(max(rank, 1), len(sorted))-1]
	}
	p.P50, p.P95, p.P99 = q(0.50), q(0.95), q(0.99)
	p.Max = sorted[len(sorted)-1]
	return p
}
