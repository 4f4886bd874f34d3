package main

import (
	"runtime/metrics"
	"time"

	"github.com/ivrd/ivrd/media"
)

// runtimeHealth reports the Go runtime's goroutines and live heap, read
// with runtime/metrics so that polling /healthz never stops the world.
func runtimeHealth(body map[string]any) {
	samples := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		body["goroutines"] = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		body["heap_bytes"] = samples[1].Value.Uint64()
	}
}

// pacerHealth reports how well the RTP pacers keep their 20 ms schedule:
// wake-up lateness and time spent sending per tick, as cumulative
// histograms over the bucket bounds le_us (the last count is above them).
func pacerHealth(ep *media.Endpoint) map[string]any {
	s := ep.PacerStats()
	bounds := media.HistogramBounds()
	le := make([]int64, len(bounds))
	for i, b := range bounds {
		le[i] = b.Microseconds()
	}
	return map[string]any{
		"ticks":           s.Ticks,
		"skipped":         s.Skipped,
		"le_us":           le,
		"lateness":        s.Lateness.Counts,
		"busy":            s.Busy.Counts,
		"lateness_max_us": s.Lateness.Max / time.Microsecond,
		"busy_max_us":     s.Busy.Max / time.Microsecond,
		"lateness_p99_us": s.Lateness.Quantile(0.99) / time.Microsecond,
		"busy_p99_us":     s.Busy.Quantile(0.99) / time.Microsecond,
	}
}
