//go:build !linux

package media

import "time"

// monoClock sleeps with the runtime's timers where clock_nanosleep is not
// available.
type monoClock struct{}

func newMonoClock() monoClock { return monoClock{} }

func (monoClock) sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
