package media

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ticker wakes a pacer at start + k*period. On Linux it is a timerfd the
// pacer waits on in a blocking poll(2), so that the kernel wakes the
// pacer's thread itself when its high-resolution timer fires. Through the
// runtime's poller the timerfd's readiness would only be seen when a
// scheduler thread polls, and the pacer would then queue behind every
// goroutine made ready with it: with a thousand receive goroutines woken
// 50,000 times a second, its wake-ups came milliseconds late. A runtime
// timer is worse still: its epoll timeout is rounded to the millisecond.
// An eventfd in the same poll ends the wait at close.
type ticker struct {
	fds    [2]unix.PollFd // the timerfd, the eventfd
	closed atomic.Bool
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
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create eventfd: %w", err)
	}
	return &ticker{fds: [2]unix.PollFd{
		{Fd: int32(fd), Events: unix.POLLIN},
		{Fd: int32(efd), Events: unix.POLLIN},
	}}, nil
}

// wait blocks until the next tick or until the ticker is closed
// (errTickerClosed). It is called from one goroutine, which blocks its
// thread (not a P) meanwhile.
func (t *ticker) wait(buf *[8]byte) error {
	for {
		if t.closed.Load() {
			return errTickerClosed
		}
		fds := t.fds
		if _, err := unix.Poll(fds[:], -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("poll timerfd: %w", err)
		}
		if fds[1].Revents != 0 {
			return errTickerClosed
		}
		if _, err := unix.Read(int(t.fds[0].Fd), buf[:]); err == nil {
			return nil
		} else if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("read timerfd: %w", err)
		}
	}
}

// close ends the wait in progress, if any, and every later one. The
// waiting goroutine then calls release.
func (t *ticker) close() error {
	if t.closed.Swap(true) {
		return nil
	}
	one := [8]byte{1}
	_, err := unix.Write(int(t.fds[1].Fd), one[:])
	return err
}

// release frees the descriptors once no wait is in progress.
func (t *ticker) release() {
	unix.Close(int(t.fds[0].Fd))
	unix.Close(int(t.fds[1].Fd))
}
