package media

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ticker wakes a pacer at start + k*period. On Linux it is a timerfd read
// through the runtime's poller: epoll returns when the kernel's
// high-resolution timer fires, where a runtime timer's wake-up waits in
// epoll with a timeout rounded to the millisecond, and so comes up to a
// millisecond late on an idle machine.
type ticker struct {
	f *os.File
}

func newTicker(start time.Time, period time.Duration) (*ticker, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create timerfd: %w", err)
	}
	// The monotonic clock of the kernel, at start: start is a wall-clock
	// time with a monotonic reading, so the offset from now is exact.
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("read monotonic clock: %w", err)
	}
	first := time.Duration(now.Nano()) + time.Until(start)
	if first <= 0 {
		first = 1 // already due
	}
	spec := unix.ItimerSpec{
		Interval: unix.NsecToTimespec(period.Nanoseconds()),
		Value:    unix.NsecToTimespec(first.Nanoseconds()),
	}
	if err := unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("arm timerfd: %w", err)
	}
	// A non-blocking descriptor goes to the runtime's poller: a read parks
	// the goroutine, not a thread.
	return &ticker{f: os.NewFile(uintptr(fd), "pacer-timerfd")}, nil
}

// wait blocks until the next tick or until the ticker is closed
// (errTickerClosed).
func (t *ticker) wait(buf *[8]byte) error {
	_, err := t.f.Read(buf[:])
	if errors.Is(err, os.ErrClosed) {
		return errTickerClosed
	}
	return err
}

func (t *ticker) close() error { return t.f.Close() }
