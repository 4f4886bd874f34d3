package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clip is one piece of a playback: Samples (8 kHz PCM16, shared and not
// modified) or, when Samples is empty, a Silence during which no packet is
// sent.
type Clip struct {
	Samples []int16
	Silence time.Duration
}

// Playback is a list of clips being sent on a session.
type Playback struct {
	clips   []Clip
	stopped atomic.Bool
	done    chan struct{}
	once    sync.Once

	// Position, owned by the session's pacer.
	clip int // index of the current clip
	pos  int // samples (audio) or ticks (silence) of the clip already sent
}

func newPlayback(clips []Clip) *Playback {
	return &Playback{clips: clips, done: make(chan struct{})}
}

// Done is closed when all clips were sent, the playback was stopped, or the
// session ended.
func (p *Playback) Done() <-chan struct{} { return p.done }

// Stop interrupts the playback: the pacer sends no further packet of it
// (at most the one being sent at that instant). Done is closed at once.
func (p *Playback) Stop() {
	p.stopped.Store(true)
	p.finish()
}

// Stopped reports whether Stop was called.
func (p *Playback) Stopped() bool { return p.stopped.Load() }

func (p *Playback) finish() { p.once.Do(func() { close(p.done) }) }

// next moves on by one frame. It returns the samples of that frame (at most
// samplesPerFrame; fewer at the end of a clip, the rest is sent as silence),
// nil for a frame of silence, and more false when the playback has no frame
// left. A clip always starts on a new frame.
func (p *Playback) next() (samples []int16, more bool) {
	for p.clip < len(p.clips) {
		c := &p.clips[p.clip]
		if len(c.Samples) > 0 {
			if p.pos < len(c.Samples) {
				end := min(p.pos+samplesPerFrame, len(c.Samples))
				samples = c.Samples[p.pos:end]
				p.pos = end
				p.advanceIf(end == len(c.Samples))
				return samples, true
			}
		} else if ticks := silenceTicks(c.Silence); p.pos < ticks {
			p.pos++
			p.advanceIf(p.pos == ticks)
			return nil, true
		}
		p.advanceIf(true)
	}
	return nil, false
}

func (p *Playback) advanceIf(cond bool) {
	if cond {
		p.clip++
		p.pos = 0
	}
}

// exhausted reports whether every frame was taken.
func (p *Playback) exhausted() bool { return p.clip >= len(p.clips) }

func silenceTicks(d time.Duration) int {
	return int((d + frameDuration - 1) / frameDuration)
}
