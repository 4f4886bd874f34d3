package routing

import (
	"log/slog"
	"time"
)

// Option configures Queues.
type Option func(*Queues)

// WithClock replaces time.Now, so tests control wait times.
func WithClock(now func() time.Time) Option {
	return func(q *Queues) { q.now = now }
}

// WithLogger sets the logger (slog.Default by default).
func WithLogger(l *slog.Logger) Option {
	return func(q *Queues) { q.log = l }
}
