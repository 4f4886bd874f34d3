package ivr

import "log/slog"

// defaultMaxSteps is the step limit without a menu, collect or queue.
const defaultMaxSteps = 1000

// Option configures an Engine.
type Option func(*Engine)

// WithClock sets the engine's clock (default: the system clock).
func WithClock(c Clock) Option { return func(e *Engine) { e.clock = c } }

// WithQueue sets the queue that queue nodes hand calls to.
func WithQueue(q Queue) Option { return func(e *Engine) { e.queue = q } }

// WithOriginator sets the driver that calls customers back. Callback
// nodes need it, and a Queue that implements Callbacks.
func WithOriginator(o Originator) Option { return func(e *Engine) { e.originator = o } }

// WithCallLog sets where call records are saved.
func WithCallLog(l CallLog) Option { return func(e *Engine) { e.calls = l } }

// WithRecordings sets where consents are stored and recordings written.
// Without it, consent nodes still ask but store nothing (a warning is
// logged once per call), and nothing is ever recorded.
func WithRecordings(r Recordings) Option { return func(e *Engine) { e.recordings = r } }

// WithLogger sets the logger (default slog.Default()); each call logs with
// its call_id.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.logger = l } }

// WithMaxSteps sets how many nodes a call may visit without reaching a menu,
// collect or queue before it ends with ErrLoop (default 1000).
func WithMaxSteps(n int) Option {
	return func(e *Engine) {
		if n > 0 {
			e.maxSteps = n
		}
	}
}
