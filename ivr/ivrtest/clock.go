// Package ivrtest provides fakes to test the ivr engine exactly: a clock
// that moves only when told, a scripted call (recordable or not), a queue,
// a call log and a recordings store kept in memory, and a terminal call for
// `ivrd simulate`.
//
// Timer rules are tested without sleeping: Clock.Run serves a call and, each
// time the engine is about to block, fires the next scheduled event (a key,
// the end of a prompt, a timer, a hang-up), so every test runs in simulated
// time and gives the same result on every run.
package ivrtest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// ErrStalled is the cause Run gives the call's context when the engine waits
// and nothing is scheduled to happen.
var ErrStalled = errors.New("engine waits and nothing is scheduled")

// Epoch is the time a NewClock(time.Time{}) starts at: a Monday.
var Epoch = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// Clock is a fake ivr.Clock. Time moves only through Advance, Step and Run.
// It also implements ivr.Idler.
type Clock struct {
	mu      sync.Mutex
	start   time.Time
	now     time.Time
	seq     uint64
	events  []*event
	changed chan struct{} // closed and replaced when the set of timers changes
	idle    chan ivr.Wait // set while Run drives the clock
}

type event struct {
	at    time.Time
	seq   uint64
	timer bool // made by NewTimer, counted by BlockUntil
	fire  func()
}

var _ ivr.Idler = (*Clock)(nil)

// NewClock returns a clock set to start, or to Epoch if start is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = Epoch
	}
	return &Clock{start: start, now: start, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Elapsed returns the time since the clock started.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(c.start)
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (c *Clock) NewTimer(d time.Duration) ivr.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.ev = c.schedule(d, true, func() {
		select {
		case t.ch <- c.Now():
		default:
		}
	})
	return t
}

// AfterFunc calls f, from the goroutine moving the clock, when it reaches
// now+d. The returned stop reports whether it cancelled the call.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	ev := c.schedule(d, false, f)
	return func() bool { return c.remove(ev) }
}

// At calls f when the clock reaches start+at (at once on the next move if
// that time has passed).
func (c *Clock) At(at time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	d := c.start.Add(at).Sub(c.now)
	c.mu.Unlock()
	return c.AfterFunc(max(d, 0), f)
}

func (c *Clock) schedule(d time.Duration, isTimer bool, f func()) *event {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	ev := &event{at: c.now.Add(d), seq: c.seq, timer: isTimer, fire: f}
	c.events = append(c.events, ev)
	c.notify()
	return ev
}

func (c *Clock) remove(ev *event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.events {
		if e == ev {
			c.events = append(c.events[:i], c.events[i+1:]...)
			c.notify()
			return true
		}
	}
	return false
}

// notify wakes BlockUntil; c.mu must be held.
func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// next removes and returns the earliest event due by limit (any when limit
// is zero), moving the clock to its time.
func (c *Clock) next(limit time.Time) *event {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := -1
	for i, e := range c.events {
		if best < 0 || e.at.Before(c.events[best].at) || (e.at.Equal(c.events[best].at) && e.seq < c.events[best].seq) {
			best = i
		}
	}
	if best < 0 || (!limit.IsZero() && c.events[best].at.After(limit)) {
		return nil
	}
	ev := c.events[best]
	c.events = append(c.events[:best], c.events[best+1:]...)
	if ev.at.After(c.now) {
		c.now = ev.at
	}
	c.notify()
	return ev
}

// Step moves the clock to the earliest scheduled event and fires it. It
// reports false when nothing is scheduled.
func (c *Clock) Step() bool {
	ev := c.next(time.Time{})
	if ev == nil {
		return false
	}
	ev.fire()
	return true
}

// Pending returns how long until the earliest scheduled event.
func (c *Clock) Pending() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first *event
	for _, e := range c.events {
		if first == nil || e.at.Before(first.at) {
			first = e
		}
	}
	if first == nil {
		return 0, false
	}
	return first.at.Sub(c.now), true
}

// Advance moves the clock forward by d, firing the events due on the way in
// order, each at its own time.
func (c *Clock) Advance(d time.Duration) {
	target := c.Now().Add(d)
	for {
		ev := c.next(target)
		if ev == nil {
			break
		}
		ev.fire()
	}
	c.mu.Lock()
	if target.After(c.now) {
		c.now = target
	}
	c.mu.Unlock()
}

// BlockUntil blocks until at least n timers made by NewTimer are running or
// ctx is done.
func (c *Clock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		running := 0
		for _, e := range c.events {
			if e.timer {
				running++
			}
		}
		ch := c.changed
		c.mu.Unlock()
		if running >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Idle implements ivr.Idler: while Run drives the clock it hands w to Run and
// returns once Run has taken it; otherwise it does nothing.
func (c *Clock) Idle(w ivr.Wait) {
	c.mu.Lock()
	ch := c.idle
	c.mu.Unlock()
	if ch != nil {
		ch <- w
	}
}

// Run calls serve in a new goroutine and drives the clock from the engine's
// Idle calls until serve returns, then returns its error.
//
// Each time the engine is about to block, onIdle decides what happens next:
// typically it fires the next event with Step. A nil onIdle is Step, ending
// with ErrStalled when nothing is scheduled. When onIdle returns an error,
// serve's context is cancelled with it as the cause.
//
// Exactly one event fires per Idle, so the engine sees at most one new thing
// each time it wakes and the order of events is the order of the script.
func (c *Clock) Run(ctx context.Context, serve func(context.Context) error, onIdle func(ivr.Wait) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := make(chan ivr.Wait)
	c.mu.Lock()
	c.idle = idle
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.idle = nil
		c.mu.Unlock()
	}()

	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case w := <-idle:
			if ctx.Err() != nil {
				continue // the engine sees the context
			}
			var err error
			switch {
			case onIdle != nil:
				err = onIdle(w)
			case !c.Step():
				err = ErrStalled
			}
			if err != nil {
				cancel(err)
			}
		}
	}
}

type timer struct {
	c  *Clock
	ch chan time.Time
	ev *event
}

func (t *timer) C() <-chan time.Time { return t.ch }
func (t *timer) Stop() bool          { return t.c.remove(t.ev) }
