package routing

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ivrd/ivrd/store"
)

// StatsRecent is the short interval of Stats.
const StatsRecent = 15 * time.Minute

// statsAcc are the sums behind a QueueStats.
type statsAcc struct {
	answered, inThreshold, abandoned, short, timedOut, transferred int
	waitMS                                                         int64
	talked                                                         int
	talkMS                                                         int64
}

func (s *statsAcc) add(o *statsAcc) {
	s.answered += o.answered
	s.inThreshold += o.inThreshold
	s.abandoned += o.abandoned
	s.short += o.short
	s.timedOut += o.timedOut
	s.transferred += o.transferred
	s.waitMS += o.waitMS
	s.talked += o.talked
	s.talkMS += o.talkMS
}

func ratio(n, d float64) *float64 {
	if d == 0 {
		return nil
	}
	r := n / d
	return &r
}

func (s *statsAcc) stats(queue string) QueueStats {
	qs := QueueStats{
		Queue:               queue,
		Answered:            s.answered,
		AnsweredInThreshold: s.inThreshold,
		Abandoned:           s.abandoned,
		ShortAbandoned:      s.short,
		TimedOut:            s.timedOut,
		Transferred:         s.transferred,
	}
	qs.Offered = s.answered + s.abandoned + s.timedOut
	qs.ServiceLevel = ratio(float64(s.inThreshold), float64(qs.Offered-s.short))
	qs.AbandonRate = ratio(float64(s.abandoned), float64(qs.Offered))
	if asa := ratio(float64(s.waitMS), float64(s.answered)); asa != nil {
		*asa /= 1000
		qs.ASASeconds = asa
	}
	if talk := ratio(float64(s.talkMS), float64(s.talked)); talk != nil {
		*talk /= 1000
		qs.AverageTalkSeconds = talk
	}
	return qs
}

// Stats computes the service figures from the contacts table, for today
// (since midnight in the clock's time zone: local time in production) and
// the last StatsRecent, per queue and in total. Every interval lists the
// same queues: those with contacts waiting or that left in either
// interval.
func (q *Queues) Stats(ctx context.Context) (Stats, error) {
	now := q.clock.Now()
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	out := Stats{
		At:                  now,
		ThresholdSeconds:    q.cfg.ServiceLevel.Threshold.Seconds(),
		ShortAbandonSeconds: q.cfg.ServiceLevel.ShortAbandon.Seconds(),
	}
	waiting, longest, err := q.waitingNow(ctx, now)
	if err != nil {
		return Stats{}, fmt.Errorf("queue stats: %w", err)
	}
	names := map[string]bool{}
	for name := range waiting {
		names[name] = true
	}
	type interval struct {
		name  string
		since time.Time
		accs  map[string]*statsAcc
	}
	ivs := []*interval{{name: "today", since: today}, {name: "15m", since: now.Add(-StatsRecent)}}
	for _, iv := range ivs {
		if iv.accs, err = q.intervalSums(ctx, iv.since); err != nil {
			return Stats{}, fmt.Errorf("queue stats: %w", err)
		}
		for name := range iv.accs {
			names[name] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	for _, iv := range ivs {
		is := IntervalStats{Name: iv.name, Since: iv.since, Queues: make([]QueueStats, 0, len(sorted))}
		var total statsAcc
		for _, name := range sorted {
			acc := iv.accs[name]
			if acc == nil {
				acc = &statsAcc{}
			}
			total.add(acc)
			qs := acc.stats(name)
			qs.Waiting, qs.LongestWaitSeconds = waiting[name], seconds(longest[name])
			is.Total.Waiting += qs.Waiting
			is.Total.LongestWaitSeconds = max(is.Total.LongestWaitSeconds, qs.LongestWaitSeconds)
			is.Queues = append(is.Queues, qs)
		}
		w, l := is.Total.Waiting, is.Total.LongestWaitSeconds
		is.Total = total.stats("")
		is.Total.Waiting, is.Total.LongestWaitSeconds = w, l
		out.Intervals = append(out.Intervals, is)
	}
	return out, nil
}

// waitingNow counts the contacts waiting now per queue, with the longest
// wait.
func (q *Queues) waitingNow(ctx context.Context, now time.Time) (map[string]int, map[string]time.Duration, error) {
	rows, err := q.db.Reader().QueryContext(ctx,
		`SELECT queue, count(*), min(enqueued_at) FROM contacts WHERE state = 'waiting' GROUP BY queue`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	n, longest := map[string]int{}, map[string]time.Duration{}
	for rows.Next() {
		var (
			name, oldest string
			count        int
		)
		if err := rows.Scan(&name, &count, &oldest); err != nil {
			return nil, nil, err
		}
		t, err := store.ParseTime(oldest)
		if err != nil {
			return nil, nil, err
		}
		n[name], longest[name] = count, max(now.Sub(t), 0)
	}
	return n, longest, rows.Err()
}

// intervalSums sums, per queue, the contacts that left since: answered
// within the threshold or not, abandoned (short or not), timed out,
// transferred; and the conversations that ended since.
func (q *Queues) intervalSums(ctx context.Context, since time.Time) (map[string]*statsAcc, error) {
	sl := q.cfg.ServiceLevel
	r := q.db.Reader()
	accs := map[string]*statsAcc{}
	get := func(name string) *statsAcc {
		if accs[name] == nil {
			accs[name] = &statsAcc{}
		}
		return accs[name]
	}
	rows, err := r.QueryContext(ctx, `SELECT queue,
			coalesce(sum(state = 'connected'), 0),
			coalesce(sum(state = 'connected' AND wait_ms <= ?), 0),
			coalesce(sum(CASE WHEN state = 'connected' THEN wait_ms END), 0),
			coalesce(sum(state = 'abandoned'), 0),
			coalesce(sum(state = 'abandoned' AND wait_ms < ?), 0),
			coalesce(sum(state = 'timeout'), 0),
			coalesce(sum(state = 'transferred'), 0)
		FROM contacts
		WHERE left_at >= ? AND state IN ('connected', 'abandoned', 'timeout', 'transferred')
			AND NOT (state = 'abandoned' AND reason = ?)
		GROUP BY queue`,
		sl.Threshold.Milliseconds(), sl.ShortAbandon.Milliseconds(), store.FormatTime(since), RestartReason)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			a    statsAcc
		)
		if err := rows.Scan(&name, &a.answered, &a.inThreshold, &a.waitMS, &a.abandoned, &a.short,
			&a.timedOut, &a.transferred); err != nil {
			return nil, err
		}
		get(name).add(&a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()

	rows, err = r.QueryContext(ctx, `SELECT queue, count(*), coalesce(sum(talk_ms), 0)
		FROM contacts WHERE ended_at >= ? AND talk_ms IS NOT NULL GROUP BY queue`, store.FormatTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			a    statsAcc
		)
		if err := rows.Scan(&name, &a.talked, &a.talkMS); err != nil {
			return nil, err
		}
		get(name).add(&a)
	}
	return accs, rows.Err()
}
