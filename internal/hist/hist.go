// Package hist is a fixed-bucket, lock-free latency histogram for the domain
// packages: they record durations on their hot paths without knowing about
// Prometheus, and package metrics turns a Snapshot into a histogram at
// scrape time.
//
// Observe costs a short scan of the bucket bounds and two atomic adds; no
// lock and no allocation. A Snapshot is read bucket by bucket while
// observations continue, so it may be a few observations out of step with
// Sum; its Count is the sum of its buckets, so the buckets and the count
// always agree, which is what a Prometheus histogram needs.
package hist

import (
	"sync/atomic"
	"time"
)

// Histogram counts durations in fixed buckets. The zero value is not
// usable: create it with New. It is safe for concurrent use.
type Histogram struct {
	bounds []time.Duration // ascending upper bounds (inclusive)
	counts []atomic.Uint64 // len(bounds)+1: the last is everything above
	sum    atomic.Int64    // nanoseconds
}

// Latency are the default bounds: 50 µs to 10 s, about 2.5x apart, which
// spans an in-memory answer (tens of µs) to an fsync on a loaded disk.
var Latency = []time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// New returns a histogram with the given ascending upper bounds; nil means
// Latency. It panics on bounds that are not strictly ascending: that is a
// programming error.
func New(bounds []time.Duration) *Histogram {
	if bounds == nil {
		bounds = Latency
	}
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			panic("hist.New: bounds must be strictly ascending")
		}
	}
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe records one duration. A linear scan beats a binary search here:
// most observations are short and stop at the first few bounds.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Since records the time elapsed since start, which should carry a
// monotonic reading (time.Now).
func (h *Histogram) Since(start time.Time) { h.Observe(time.Since(start)) }

// Snapshot is a histogram's state at one moment.
type Snapshot struct {
	Bounds []time.Duration // upper bounds; shared, do not modify
	Counts []uint64        // per bucket (not cumulative); len(Bounds)+1, the last above every bound
	Count  uint64          // sum of Counts
	Sum    time.Duration   // sum of the observed durations
}

// Snapshot reads the histogram. It allocates the Counts slice.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts)), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	return s
}

// Cumulative returns, per upper bound in seconds, the observations at or
// below it: the form of Prometheus histogram buckets (the +Inf bucket is
// Count).
func (s Snapshot) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(s.Bounds))
	var acc uint64
	for i, b := range s.Bounds {
		acc += s.Counts[i]
		out[b.Seconds()] = acc
	}
	return out
}
