package ivrtest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// FrameDuration is the length of one frame a fake recorder writes: 160
// samples at 8 kHz.
const FrameDuration = 20 * time.Millisecond

const frameSamples = 160

// RecordableCall is a Call whose driver can record it (ivr.Recordable).
// Its recorders write the audio of the clock time that passed, one 20 ms
// frame at a time, whenever they are paused, resumed or stopped: speech (a
// constant non-zero level on both channels) while recording, silence while
// paused. Frames are written in bulk rather than on a timer, so recording
// schedules nothing on the clock.
//
// Set RecordErr before the call is served.
type RecordableCall struct {
	*Call
	// RecordErr, when set, is returned by Record.
	RecordErr error

	rmu       sync.Mutex
	recorders []*recorder
}

var _ ivr.Recordable = (*RecordableCall)(nil)

// NewRecordableCall returns a recordable call from caller to dialled.
func NewRecordableCall(clock *Clock, id, caller, dialled string) *RecordableCall {
	return &RecordableCall{Call: NewCall(clock, id, caller, dialled)}
}

// Recorder is what one Record call did; times are since the clock's start.
type Recorder struct {
	Start time.Duration
	End   time.Duration // when stopped; -1 while recording
	// Frames and SilentFrames count the frames written to the sink, and
	// those that were silence (paused).
	Frames, SilentFrames int
	Paused               bool // paused now
	Pauses               int  // Pause calls that paused
	Stops                int  // Stop calls
	WriteErr             error
}

// Record implements ivr.Recordable.
func (c *RecordableCall) Record(_ context.Context, sink ivr.RecordSink) (ivr.Recorder, error) {
	if c.RecordErr != nil {
		return nil, c.RecordErr
	}
	now := c.clock.Elapsed()
	r := &recorder{clock: c.clock, sink: sink, mark: now, state: Recorder{Start: now, End: -1}}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.recorders = append(c.recorders, r)
	return r, nil
}

// Recorders returns what each Record call did, in order.
func (c *RecordableCall) Recorders() []Recorder {
	c.rmu.Lock()
	rs := slices.Clone(c.recorders)
	c.rmu.Unlock()
	out := make([]Recorder, len(rs))
	for i, r := range rs {
		r.mu.Lock()
		out[i] = r.state
		r.mu.Unlock()
	}
	return out
}

type recorder struct {
	clock  *Clock
	sink   ivr.RecordSink
	mu     sync.Mutex
	mark   time.Duration // clock time written up to
	state  Recorder
	speech [frameSamples]int16
	quiet  [frameSamples]int16
}

// flush writes the frames of the time since the last mark; r.mu is held.
func (r *recorder) flush() {
	now := r.clock.Elapsed()
	if r.speech[0] == 0 {
		for i := range r.speech {
			r.speech[i] = 1000
		}
	}
	frame := r.speech[:]
	if r.state.Paused {
		frame = r.quiet[:]
	}
	for ; r.mark+FrameDuration <= now; r.mark += FrameDuration {
		if err := r.sink.WriteFrames(frame, frame); err != nil && r.state.WriteErr == nil {
			r.state.WriteErr = err
		}
		r.state.Frames++
		if r.state.Paused {
			r.state.SilentFrames++
		}
	}
}

func (r *recorder) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.End >= 0 || r.state.Paused {
		return
	}
	r.flush()
	r.state.Paused = true
	r.state.Pauses++
}

func (r *recorder) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.End >= 0 || !r.state.Paused {
		return
	}
	r.flush()
	r.state.Paused = false
}

func (r *recorder) Stop(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state.Stops++
	if r.state.End >= 0 {
		return nil
	}
	r.flush()
	r.state.End = r.clock.Elapsed()
	return nil
}
