package ivrtest

import (
	"context"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// Leg is an agent's leg on a fake Clock: a browser connection, or a phone
// that rings (Ringing) and answers or gives up at scripted clock times.
type Leg struct {
	clock    *Clock
	answered chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	err      error
	reason   string // Hangup's reason, "" when the agent's side ended it
	ended    bool
	endedAt  time.Duration
	answerAt time.Duration
	stops    []func() bool
}

var _ ivr.Ringing = (*Leg)(nil)

// NewLeg returns a leg that is up (answered) at once.
func NewLeg(clock *Clock) *Leg {
	l := newLeg(clock)
	l.answerAt = clock.Elapsed()
	close(l.answered)
	return l
}

func newLeg(clock *Clock) *Leg {
	return &Leg{clock: clock, answered: make(chan struct{}), done: make(chan struct{}), answerAt: -1}
}

// Answered implements ivr.Ringing.
func (l *Leg) Answered() <-chan struct{} { return l.answered }

// Done implements ivr.Leg.
func (l *Leg) Done() <-chan struct{} { return l.done }

// Err implements ivr.Ringing.
func (l *Leg) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Hangup implements ivr.Leg.
func (l *Leg) Hangup(_ context.Context, reason string) error {
	l.end(reason, nil)
	return nil
}

// AnswerAfter answers the leg d from now, unless it ended before.
func (l *Leg) AnswerAfter(d time.Duration) {
	l.after(d, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.ended || l.answerAt >= 0 {
			return
		}
		l.answerAt = l.clock.Elapsed()
		close(l.answered)
	})
}

// FailAfter ends the unanswered leg with err d from now (busy, declined).
func (l *Leg) FailAfter(d time.Duration, err error) {
	l.after(d, func() { l.end("", err) })
}

// HangupAfter has the agent hang up d from now.
func (l *Leg) HangupAfter(d time.Duration) {
	l.after(d, func() { l.end("", nil) })
}

func (l *Leg) after(d time.Duration, f func()) {
	stop := l.clock.AfterFunc(d, f)
	l.mu.Lock()
	l.stops = append(l.stops, stop)
	l.mu.Unlock()
}

func (l *Leg) end(reason string, err error) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended, l.reason, l.endedAt = true, reason, l.clock.Elapsed()
	if l.answerAt < 0 && err == nil && reason == "" {
		err = ivr.ErrAgentNoAnswer
	}
	l.err = err
	stops := l.stops
	l.stops = nil
	l.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	close(l.done)
}

// Ended reports whether the leg ended, when, and Hangup's reason ("" when
// the agent's side ended it).
func (l *Leg) Ended() (at time.Duration, reason string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endedAt, l.reason, l.ended
}

// AnsweredAt is when the leg answered, -1 if it did not.
func (l *Leg) AnsweredAt() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answerAt
}
