package ivr

import "time"

// Clock is the engine's source of time. Tests replace it with a fake that
// moves only when told, so timer rules are tested exactly.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the engine uses.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a real timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time { return s.t.C }
func (s sysTimer) Stop() bool          { return s.t.Stop() }

// Idler is implemented by clocks that simulate time (package ivrtest and
// `ivrd simulate`). The engine calls Idle from the call's goroutine just
// before each blocking wait, saying what it waits for, so a simulated clock
// can move time to its next event once nothing else can happen. The real
// clock does not implement it.
type Idler interface {
	Idle(w Wait)
}

// Wait describes what the engine is blocked on.
type Wait struct {
	CallID string
	Node   string
	Kind   NodeKind
	For    WaitFor
	// Timeout is the duration of the running timer, 0 when none runs.
	Timeout time.Duration
}

// WaitFor names what the engine waits for.
type WaitFor string

// What the engine may wait for.
const (
	WaitPrompt WaitFor = "prompt" // a prompt to end (keys are buffered meanwhile)
	WaitInput  WaitFor = "input"  // the first key of a menu or collect (no-input timer)
	WaitDigits WaitFor = "digits" // the next digit of a collect (inter-digit timer)
	WaitHold   WaitFor = "hold"   // an agent, while in a queue
	WaitAnswer WaitFor = "answer" // the refuse key after a consent notice (window timer)
	WaitTalk   WaitFor = "talk"   // the end of the conversation with an agent (Bridger.Bridge)
)
