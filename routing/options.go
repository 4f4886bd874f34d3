package routing

import (
	"errors"
	"log/slog"
	"time"
)

// Clock is the router's source of time: offer timeouts and wrap-ups run
// on it. ivrtest.Clock satisfies it, so tests move time exactly.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once d has passed; stop cancels the call and
	// reports whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Option configures Queues.
type Option func(*Queues) error

// WithClock replaces the real clock.
func WithClock(c Clock) Option {
	return func(q *Queues) error {
		if c == nil {
			return errors.New("nil clock")
		}
		q.clock = c
		return nil
	}
}

// WithLogger sets the logger (slog.Default by default).
func WithLogger(l *slog.Logger) Option {
	return func(q *Queues) error {
		if l == nil {
			return errors.New("nil logger")
		}
		q.log = l
		return nil
	}
}

// WithConfig sets the agents and the routing rules; without it, ivrd
// routes with DefaultConfig: no agents. The configuration is validated.
func WithConfig(c Config) Option {
	return func(q *Queues) error {
		if err := c.Validate(); err != nil {
			return err
		}
		q.cfg = c
		return nil
	}
}
