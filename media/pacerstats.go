package media

import (
	"sync/atomic"
	"time"
)

// histogramBounds are the upper bounds of the Histogram buckets. They are
// coarse on purpose: what matters is whether a pacer keeps well inside its
// 20 ms tick, and a fixed set of counters costs the pacer nothing to keep.
var histogramBounds = [...]time.Duration{
	25 * time.Microsecond,
	50 * time.Microsecond,
	100 * time.Microsecond,
	250 * time.Microsecond,
	500 * time.Microsecond,
	time.Millisecond,
	2 * time.Millisecond,
	5 * time.Millisecond,
	10 * time.Millisecond,
	20 * time.Millisecond,
}

// histogramBuckets is one bucket per bound plus one for longer durations.
const histogramBuckets = len(histogramBounds) + 1

// HistogramBounds returns the upper bounds of the Histogram buckets: bucket
// i counts durations up to bound i (and above bound i-1); the last bucket
// counts durations above the last bound.
func HistogramBounds() []time.Duration { return histogramBounds[:] }

// Histogram counts durations in the buckets of HistogramBounds.
type Histogram struct {
	Counts [histogramBuckets]uint64
	Max    time.Duration
}

// Total returns the number of durations counted.
func (h Histogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket that holds quantile q
// (0 to 1), or Max when that is the last bucket; 0 for an empty histogram.
func (h Histogram) Quantile(q float64) time.Duration {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(min(max(q, 0), 1) * float64(total-1))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen > rank {
			if i < len(histogramBounds) {
				return min(histogramBounds[i], h.Max)
			}
			break
		}
	}
	return h.Max
}

// Sub returns the counts of h accumulated since old, an earlier reading of
// the same histogram. Max stays h's (the maximum since the start).
func (h Histogram) Sub(old Histogram) Histogram {
	for i := range h.Counts {
		h.Counts[i] -= old.Counts[i]
	}
	return h
}

// PacerStats tell how well the pacers keep the 20 ms schedule, summed over
// all pacers of an Endpoint since it started.
type PacerStats struct {
	// Ticks counts pacer wake-ups.
	Ticks uint64
	// Skipped counts ticks not sent because a pacer woke more than five
	// ticks late; their audio went out later.
	Skipped uint64
	// Lateness is how long after its deadline each wake-up came.
	Lateness Histogram
	// Busy is how long each wake-up took to send its packets. Close to
	// 20 ms means the pacer is saturated.
	Busy Histogram
}

// pacerCounters are one pacer's PacerStats, written by its goroutine only.
type pacerCounters struct {
	ticks, skipped   atomic.Uint64
	lateness, busy   [histogramBuckets]atomic.Uint64
	maxLate, maxBusy atomic.Int64
}

func (c *pacerCounters) observe(late, busy time.Duration) {
	c.ticks.Add(1)
	c.lateness[bucket(late)].Add(1)
	c.busy[bucket(busy)].Add(1)
	if int64(late) > c.maxLate.Load() {
		c.maxLate.Store(int64(late))
	}
	if int64(busy) > c.maxBusy.Load() {
		c.maxBusy.Store(int64(busy))
	}
}

// addTo adds the counters to s.
func (c *pacerCounters) addTo(s *PacerStats) {
	s.Ticks += c.ticks.Load()
	s.Skipped += c.skipped.Load()
	for i := range histogramBuckets {
		s.Lateness.Counts[i] += c.lateness[i].Load()
		s.Busy.Counts[i] += c.busy[i].Load()
	}
	s.Lateness.Max = max(s.Lateness.Max, time.Duration(c.maxLate.Load()))
	s.Busy.Max = max(s.Busy.Max, time.Duration(c.maxBusy.Load()))
}

func bucket(d time.Duration) int {
	for i, b := range histogramBounds {
		if d <= b {
			return i
		}
	}
	return len(histogramBounds)
}

// PacerStats returns the pacers' counters.
func (e *Endpoint) PacerStats() PacerStats {
	var s PacerStats
	for _, p := range e.pacers {
		p.stats.addTo(&s)
	}
	return s
}
