package routing

import (
	"context"
	"fmt"
	"math"
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
	cb                                                             callbackAcc
}

// callbackAcc are the sums behind a CallbackStats.
type callbackAcc struct {
	offered, requested, completed, failed, cancelled int
	timed                                            int // completed with a connection time
	timeMS                                           float64
	talked                                           int
	talkMS                                           int64
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
	s.cb.offered += o.cb.offered
	s.cb.requested += o.cb.requested
	s.cb.completed += o.cb.completed
	s.cb.failed += o.cb.failed
	s.cb.cancelled += o.cb.cancelled
	s.cb.timed += o.cb.timed
	s.cb.timeMS += o.cb.timeMS
	s.cb.talked += o.cb.talked
	s.cb.talkMS += o.cb.talkMS
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
	cb := &s.cb
	qs.Callbacks = CallbackStats{Offered: cb.offered, Requested: cb.requested, Completed: cb.completed,
		Failed: cb.failed, Cancelled: cb.cancelled}
	if t := ratio(cb.timeMS, float64(cb.timed)); t != nil {
		*t = math.Round(*t) / 1000
		qs.Callbacks.AverageTimeToCallbackSeconds = t
	}
	if talk := ratio(float64(cb.talkMS), float64(cb.talked)); talk != nil {
		*talk /= 1000
		qs.Callbacks.AverageTalkSeconds = talk
	}
	return qs
}

// Stats computes the service figures from the contacts table, for today
// (since midnight in the clock's time zone: local time in production) and
// the last StatsRecent, per queue and in total. Every interval lists the
// same queues: those with contacts waiting or that left in either
// interval, and those with callback activity.
//
// Callback requests are counted apart (QueueStats.Callbacks): the service
// level, abandon rate, speed of answer, talk time and waits are those of
// the contacts that waited on the line (calls, chats, emails). A callback
// waits hours by design, and its customer is not on hold.
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
	open, err := q.openCallbacks(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("queue stats: %w", err)
	}
	names := map[string]bool{}
	for name := range waiting {
		names[name] = true
	}
	for name := range open {
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
			qs.Callbacks.Open = open[name]
			is.Total.Callbacks.Open += qs.Callbacks.Open
			is.Total.Waiting += qs.Waiting
			is.Total.LongestWaitSeconds = max(is.Total.LongestWaitSeconds, qs.LongestWaitSeconds)
			is.Queues = append(is.Queues, qs)
		}
		w, l, o := is.Total.Waiting, is.Total.LongestWaitSeconds, is.Total.Callbacks.Open
		is.Total = total.stats("")
		is.Total.Waiting, is.Total.LongestWaitSeconds, is.Total.Callbacks.Open = w, l, o
		out.Intervals = append(out.Intervals, is)
	}
	return out, nil
}

// waitingNow counts the contacts waiting now per queue, with the longest
// wait; callbacks are counted by openCallbacks.
func (q *Queues) waitingNow(ctx context.Context, now time.Time) (map[string]int, map[string]time.Duration, error) {
	rows, err := q.db.Reader().QueryContext(ctx,
		`SELECT queue, count(*), min(enqueued_at) FROM contacts WHERE state = 'waiting' AND channel <> 'callback'
		GROUP BY queue`)
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
			AND NOT (state = 'abandoned' AND reason = ?) AND channel <> 'callback'
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

	rows, err = r.QueryContext(ctx, `SELECT queue, channel = 'callback', count(*), coalesce(sum(talk_ms), 0)
		FROM contacts WHERE ended_at >= ? AND talk_ms IS NOT NULL GROUP BY queue, channel = 'callback'`,
		store.FormatTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name     string
			callback bool
			n        int
			talkMS   int64
		)
		if err := rows.Scan(&name, &callback, &n, &talkMS); err != nil {
			return nil, err
		}
		a := get(name)
		if callback {
			a.cb.talked += n
			a.cb.talkMS += talkMS
		} else {
			a.talked += n
			a.talkMS += talkMS
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return accs, q.callbackSums(ctx, since, get)
}

// callbackSums adds, per queue, the callbacks offered to callers and
// requested since, and the requests that ended since (completed, failed,
// cancelled) with the time the completed ones took from the request to
// the conversation.
func (q *Queues) callbackSums(ctx context.Context, since time.Time, get func(string) *statsAcc) error {
	r := q.db.Reader()
	at := store.FormatTime(since)
	count := func(query string, field func(a *statsAcc) *int) error {
		rows, err := r.QueryContext(ctx, query, at)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				name string
				n    int
			)
			if err := rows.Scan(&name, &n); err != nil {
				return err
			}
			*field(get(name)) += n
		}
		return rows.Err()
	}
	if err := count(`SELECT queue, count(*) FROM callback_offers WHERE at >= ? GROUP BY queue`,
		func(a *statsAcc) *int { return &a.cb.offered }); err != nil {
		return err
	}
	if err := count(`SELECT queue, count(*) FROM callbacks WHERE requested_at >= ? GROUP BY queue`,
		func(a *statsAcc) *int { return &a.cb.requested }); err != nil {
		return err
	}
	// Times are stored as text; julianday reads them (fractions of a
	// millisecond are lost to its precision, and rounded away).
	rows, err := r.QueryContext(ctx, `SELECT queue,
			coalesce(sum(state = 'completed'), 0),
			coalesce(sum(state = 'failed'), 0),
			coalesce(sum(state = 'cancelled'), 0),
			coalesce(sum(state = 'completed' AND connected_at IS NOT NULL), 0),
			coalesce(sum(CASE WHEN state = 'completed' AND connected_at IS NOT NULL
				THEN max(julianday(connected_at) - julianday(requested_at), 0) * 86400000.0 END), 0)
		FROM callbacks WHERE completed_at >= ? GROUP BY queue`, at)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			a    callbackAcc
		)
		if err := rows.Scan(&name, &a.completed, &a.failed, &a.cancelled, &a.timed, &a.timeMS); err != nil {
			return err
		}
		get(name).add(&statsAcc{cb: a})
	}
	return rows.Err()
}

// openCallbacks counts the open callback requests (pending or active) per
// queue now.
func (q *Queues) openCallbacks(ctx context.Context) (map[string]int, error) {
	rows, err := q.db.Reader().QueryContext(ctx,
		`SELECT queue, count(*) FROM callbacks WHERE state IN ('pending', 'active') GROUP BY queue`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			name string
			n    int
		)
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}
