package media

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// frameDuration is the packet time: one frame of samplesPerFrame samples.
const frameDuration = 20 * time.Millisecond

// maxCatchUp is how many late ticks a pacer still sends back to back after
// waking late (GC pause, overload). Beyond it the missed ticks are dropped:
// the audio resumes later, with the marker bit, and timestamps stay on the
// wall clock.
const maxCatchUp = 5

// pacerPhases is the least number of pacers, each on its own phase of the
// 20 ms frame. A session's packet leaves after those of the sessions before
// it on its pacer, so the fewer sessions per pacer, the less a change in
// send cost moves it in time; and phases spread the sends over the frame.
const pacerPhases = 10

// pacer sends the packets of its share of the sessions. It wakes at
// start + k*frameDuration for k = 0, 1, 2, ... from a ticker on absolute
// deadlines (ticker_linux.go), so lateness of one wake-up never accumulates
// into the schedule as it would with chained sleeps.
type pacer struct {
	start time.Time
	quit  chan struct{}

	mu       sync.Mutex                 // serializes add and remove
	sessions atomic.Pointer[[]*Session] // copy on write; read lock-free every tick

	stats pacerCounters
}

func newPacer(start time.Time) *pacer {
	p := &pacer{start: start, quit: make(chan struct{})}
	p.sessions.Store(new([]*Session))
	return p
}

func (p *pacer) len() int { return len(*p.sessions.Load()) }

func (p *pacer) add(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.sessions.Load()
	next := make([]*Session, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	p.sessions.Store(&next)
}

func (p *pacer) remove(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.sessions.Load()
	next := make([]*Session, 0, len(old))
	for _, o := range old {
		if o != s {
			next = append(next, o)
		}
	}
	p.sessions.Store(&next)
}

// errTickerClosed ends a pacer's loop.
var errTickerClosed = errors.New("ticker closed")

func (p *pacer) run() {
	raisePriority()
	t, err := newTicker(p.start, frameDuration)
	if err != nil {
		p.runTimer()
		return
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		<-p.quit
		t.close()
	}()
	defer func() {
		<-closed
		t.release()
	}()
	var buf [8]byte
	k := int64(time.Since(p.start)/frameDuration) + 1
	for {
		if err := t.wait(&buf); err != nil {
			if errors.Is(err, errTickerClosed) {
				return
			}
			select {
			case <-p.quit:
				return
			default:
			}
			continue
		}
		k = p.ticks(k)
	}
}

// ticks sends the ticks due at this wake-up, from k, and returns the next
// one to send.
func (p *pacer) ticks(k int64) int64 {
	woke := time.Now()
	late := woke.Sub(p.deadline(k))
	due := int64(woke.Sub(p.start) / frameDuration)
	if due < k {
		return k // woke early: nothing due yet
	}
	if due-k > maxCatchUp {
		p.stats.skipped.Add(uint64(due - k))
		k = due
	}
	for ; k <= due; k++ {
		for _, s := range *p.sessions.Load() {
			s.tick(k)
		}
	}
	p.stats.observe(late, time.Since(woke))
	return k
}

// runTimer is run with a runtime timer, when no ticker can be made.
func (p *pacer) runTimer() {
	k := int64(time.Since(p.start)/frameDuration) + 1
	timer := time.NewTimer(time.Until(p.deadline(k)))
	defer timer.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-timer.C:
		}
		k = p.ticks(k)
		timer.Reset(time.Until(p.deadline(k)))
	}
}

func (p *pacer) deadline(k int64) time.Time {
	return p.start.Add(time.Duration(k) * frameDuration)
}

// due returns the last tick due at now.
func (p *pacer) due(now time.Time) int64 {
	return int64(now.Sub(p.start) / frameDuration)
}
