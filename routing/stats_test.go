package routing

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// A scripted day, with the figures computed by hand (threshold 90 s, short
// abandons under 5 s).
func TestStatsScenario(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "ivrd.db"))
	t.Cleanup(func() { db.Close() })
	clk := ivrtest.NewClock(time.Date(2025, 6, 2, 7, 0, 0, 0, time.UTC))
	cfg := config(agentCfg("alice", queues("sales")), agentCfg("bob", queues("support")))
	cfg.WrapUp = 0
	cfg.OfferTimeout = 5 * time.Minute
	q := mustNew(t, db, WithClock(clk), WithLogger(quiet), WithConfig(cfg))
	ctx := t.Context()
	at := func(hms string) {
		t.Helper()
		var h, m, s int
		fmt.Sscanf(hms, "%d:%d:%d", &h, &m, &s)
		target := time.Date(2025, 6, 2, h, m, s, 0, time.UTC)
		if d := target.Sub(clk.Now()); d < 0 {
			t.Fatalf("%s is in the past", hms)
		} else {
			clk.Advance(d)
		}
	}
	away := func(name string) {
		t.Helper()
		if err := q.SetAgentState(ctx, name, AgentAway); err != nil {
			t.Fatal(err)
		}
	}
	sales := func() ivr.Waiting { return enqueue(t, q, ivr.Contact{Queue: "sales"}) }
	support := func() ivr.Waiting { return enqueue(t, q, ivr.Contact{Queue: "support"}) }

	// Early in the day: only in "today".
	a := sales()
	at("07:00:30")
	signIn(t, q, "alice")
	answer(t, a, "alice") // answered in 30 s
	at("07:02:30")
	a.End(ctx, ivr.EndedByCaller) // talked 120 s
	away("alice")
	at("07:03:00")
	b := sales()
	at("07:04:40")
	signIn(t, q, "alice")
	answer(t, b, "alice") // answered in 100 s: over the threshold
	at("07:05:40")
	b.End(ctx, ivr.EndedByAgent) // talked 60 s
	away("alice")
	at("07:06:00")
	c := sales()
	at("07:06:03")
	c.Leave(ctx, "abandoned") // short abandon
	at("07:07:00")
	d := sales()
	at("07:07:40")
	d.Leave(ctx, "abandoned")

	// The last 15 minutes (since 08:45).
	at("08:50:00")
	e := sales()
	f := support()
	at("08:50:10")
	f.Leave(ctx, "transferred")
	at("08:51:00")
	g := support()
	at("08:52:35")
	signIn(t, q, "bob")
	answer(t, g, "bob") // answered in 95 s
	at("08:53:35")
	g.End(ctx, ivr.EndedByCaller) // talked 60 s
	away("bob")
	at("08:55:00")
	e.Leave(ctx, "timeout")
	at("08:56:00")
	h := support()
	at("08:56:02")
	h.Leave(ctx, "abandoned") // short abandon
	at("08:59:00")
	i := sales()
	defer i.Leave(ctx, "abandoned")
	at("09:00:00")

	got, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.ThresholdSeconds != 90 || got.ShortAbandonSeconds != 5 || !got.At.Equal(clk.Now()) {
		t.Errorf("stats header %+v", got)
	}
	f64 := func(v float64) *float64 { return &v }
	want := []IntervalStats{
		{
			Name: "today", Since: time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC),
			Total: QueueStats{Offered: 7, Answered: 3, AnsweredInThreshold: 1, Abandoned: 3, ShortAbandoned: 2,
				TimedOut: 1, Transferred: 1, ServiceLevel: f64(1.0 / 5), AbandonRate: f64(3.0 / 7),
				ASASeconds: f64(75), AverageTalkSeconds: f64(80), Waiting: 1, LongestWaitSeconds: 60},
			Queues: []QueueStats{
				{Queue: "sales", Offered: 5, Answered: 2, AnsweredInThreshold: 1, Abandoned: 2, ShortAbandoned: 1,
					TimedOut: 1, ServiceLevel: f64(1.0 / 4), AbandonRate: f64(2.0 / 5), ASASeconds: f64(65),
					AverageTalkSeconds: f64(90), Waiting: 1, LongestWaitSeconds: 60},
				{Queue: "support", Offered: 2, Answered: 1, Abandoned: 1, ShortAbandoned: 1, Transferred: 1,
					ServiceLevel: f64(0), AbandonRate: f64(1.0 / 2), ASASeconds: f64(95), AverageTalkSeconds: f64(60)},
			},
		},
		{
			Name: "15m", Since: time.Date(2025, 6, 2, 8, 45, 0, 0, time.UTC),
			Total: QueueStats{Offered: 3, Answered: 1, Abandoned: 1, ShortAbandoned: 1, TimedOut: 1, Transferred: 1,
				ServiceLevel: f64(0), AbandonRate: f64(1.0 / 3), ASASeconds: f64(95), AverageTalkSeconds: f64(60),
				Waiting: 1, LongestWaitSeconds: 60},
			Queues: []QueueStats{
				{Queue: "sales", Offered: 1, TimedOut: 1, ServiceLevel: f64(0), AbandonRate: f64(0),
					Waiting: 1, LongestWaitSeconds: 60},
				{Queue: "support", Offered: 2, Answered: 1, Abandoned: 1, ShortAbandoned: 1, Transferred: 1,
					ServiceLevel: f64(0), AbandonRate: f64(1.0 / 2), ASASeconds: f64(95), AverageTalkSeconds: f64(60)},
			},
		},
	}
	if len(got.Intervals) != len(want) {
		t.Fatalf("%d intervals, want %d", len(got.Intervals), len(want))
	}
	for k, w := range want {
		g := got.Intervals[k]
		if g.Name != w.Name || !g.Since.Equal(w.Since) {
			t.Errorf("interval %d: %s since %v, want %s since %v", k, g.Name, g.Since, w.Name, w.Since)
		}
		checkQueueStats(t, w.Name+" total", g.Total, w.Total)
		if len(g.Queues) != len(w.Queues) {
			t.Fatalf("%s: %d queues, want %d", w.Name, len(g.Queues), len(w.Queues))
		}
		for j := range w.Queues {
			checkQueueStats(t, w.Name+" "+w.Queues[j].Queue, g.Queues[j], w.Queues[j])
		}
	}
}

func checkQueueStats(t *testing.T, name string, got, want QueueStats) {
	t.Helper()
	show := func(p *float64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprintf("%.6f", *p)
	}
	type flat struct {
		Queue                                                                   string
		Offered, Answered, InThreshold, Abandoned, Short, TimedOut, Transferred int
		SL, AR, ASA, Talk                                                       string
		Waiting                                                                 int
		Longest                                                                 float64
	}
	f := func(s QueueStats) flat {
		return flat{s.Queue, s.Offered, s.Answered, s.AnsweredInThreshold, s.Abandoned, s.ShortAbandoned,
			s.TimedOut, s.Transferred, show(s.ServiceLevel), show(s.AbandonRate), show(s.ASASeconds),
			show(s.AverageTalkSeconds), s.Waiting, s.LongestWaitSeconds}
	}
	if f(got) != f(want) {
		t.Errorf("%s:\n got %+v\nwant %+v", name, f(got), f(want))
	}
}

func TestStatsEmpty(t *testing.T) {
	q, _, _ := newQueues(t)
	s, err := q.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Intervals) != 2 || s.Intervals[0].Total.ServiceLevel != nil || s.Intervals[0].Total.ASASeconds != nil ||
		len(s.Intervals[1].Queues) != 0 || s.Intervals[1].Queues == nil {
		t.Errorf("empty stats %+v", s)
	}
}
