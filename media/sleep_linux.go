//go:build linux

package media

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// monoClock sleeps until absolute instants of CLOCK_MONOTONIC with
// clock_nanosleep(TIMER_ABSTIME). Go's timers wake through the network
// poller, whose wait is rounded to whole milliseconds: a pacer on a timer
// wakes up to a millisecond late, differently from one tick to the next,
// which shows on the wire as jitter. The thread sleeping here is woken by
// the kernel at the instant, with microsecond precision.
type monoClock struct {
	base     time.Time // a wall-clock instant ...
	baseMono int64     // ... and the monotonic clock then, in ns
}

func newMonoClock() monoClock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return monoClock{base: time.Now(), baseMono: ts.Nano()}
}

// sleepUntil blocks the calling goroutine's thread until t. The Go
// scheduler hands the goroutine's P to other goroutines meanwhile.
func (c monoClock) sleepUntil(t time.Time) {
	ts := unix.NsecToTimespec(c.baseMono + int64(t.Sub(c.base)))
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
