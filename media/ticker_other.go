//go:build !linux

package media

import "time"

// ticker wakes a pacer at start + k*period with a runtime timer reset to
// each absolute deadline.
type ticker struct {
	start  time.Time
	period time.Duration
	k      int64
	timer  *time.Timer
	quit   chan struct{}
}

func newTicker(start time.Time, period time.Duration) (*ticker, error) {
	t := &ticker{start: start, period: period, quit: make(chan struct{})}
	t.k = int64(time.Since(start)/period) + 1
	t.timer = time.NewTimer(time.Until(start.Add(time.Duration(t.k) * period)))
	return t, nil
}

func (t *ticker) wait(*[8]byte) error {
	select {
	case <-t.quit:
		return errTickerClosed
	case <-t.timer.C:
	}
	t.k = int64(time.Since(t.start)/t.period) + 1
	t.timer.Reset(time.Until(t.start.Add(time.Duration(t.k) * t.period)))
	return nil
}

func (t *ticker) close() error {
	t.timer.Stop()
	close(t.quit)
	return nil
}

func (t *ticker) release() {}
