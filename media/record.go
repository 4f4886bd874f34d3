package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A recording taps a session on its pacer's clock: on every 20 ms tick it
// writes one stereo frame, the caller on the left (the G.711 audio received
// since the previous tick, through a small jitter queue) and on the right
// the frame the pacer sent on that tick: a prompt's, or while bridged the
// agent's audio relayed. Both channels therefore advance with the same
// wall-clock ticks whatever the caller sends, and the recording lasts as
// long as the wall time between its start and its end.
//
// Frames fill a chunk; a full chunk goes to the endpoint's writer goroutine,
// which calls the sink off the media paths. Neither the pacer nor the
// receive goroutine ever waits for the sink.

const (
	// chunkFrames is how many frames a chunk holds: 500 ms, 16 KB.
	chunkFrames  = 25
	chunkSamples = chunkFrames * samplesPerFrame
	// jitterFrames is the jitter queue's size: caller audio received ahead
	// of the ticks beyond it is dropped, oldest first.
	jitterFrames = 3
)

// RecordSink receives a recording's audio: 8 kHz signed 16-bit PCM, the
// caller on the left channel, what ivrd sends on the right. Both slices of
// one call have the same length, a multiple of 160 samples. The sink does
// not keep them. (ivr.RecordSink is the same interface.)
type RecordSink interface {
	WriteFrames(caller, other []int16) error
}

// RecorderStats are a recording's counters.
type RecorderStats struct {
	// Frames is the number of 20 ms stereo frames the sink received,
	// silence included.
	Frames uint64
	// Silenced is the number of frames written as silence because the
	// writer fell behind and their audio was dropped.
	Silenced uint64
	// CallerLate is the number of ticks with no caller frame at hand (lost,
	// late or never sent: silence on the left).
	CallerLate uint64
	// RelayLate is the number of ticks, while the session was bridged, on
	// which the pacer sent no relayed frame (the relay's queue was empty,
	// or the session on hold): silence on the right.
	RelayLate uint64
	// Skipped is the number of ticks the pacer skipped after waking more
	// than five ticks late (PacerStats.Skipped): nothing was sent on them,
	// silence on the right.
	Skipped uint64
}

// Recorder is a recording in progress on a session (Session.Record).
type Recorder struct {
	sess    *Session
	w       *recWriter
	sink    RecordSink
	log     *slog.Logger
	start   time.Time // tick 0 of the session's pacer
	paused  atomic.Bool
	flushed chan struct{} // closed by the writer once the last chunk is written

	// Tap state, shared by the pacer (tick), the receive goroutine (feed)
	// and End; each holds mu for a copy of a frame at most.
	mu         sync.Mutex
	ended      bool
	lastK      int64       // last tick recorded
	cur        *chunk      // the chunk being filled
	owed       int         // samples of dropped chunks not yet written as silence
	jq         jitterQueue // the caller's audio (left)
	callerLate uint64
	relayLate  uint64
	skipped    uint64

	// Writer state: werr is read by Stop once flushed is closed.
	werr     error
	frames   atomic.Uint64
	silenced atomic.Uint64
}

// Record starts recording the session into sink from the next tick on,
// until Stop or End, or until the session ends. The session must be
// started; it records one recording at a time (ErrRecording otherwise).
//
// The first recording of an endpoint starts its writer goroutine; a
// session that never records costs nothing more.
func (s *Session) Record(sink RecordSink) (*Recorder, error) {
	if sink == nil {
		return nil, errors.New("record: nil sink")
	}
	w, err := s.ep.recordWriter()
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r := &Recorder{
		sess:    s,
		w:       w,
		sink:    sink,
		log:     s.log,
		start:   s.pacer.start,
		flushed: make(chan struct{}),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, fmt.Errorf("record: %w", ErrClosed)
	case !s.started.Load():
		return nil, fmt.Errorf("record: %w", ErrNotStarted)
	case s.rec.Load() != nil:
		return nil, fmt.Errorf("record: %w", ErrRecording)
	}
	r.cur = getChunk(r)
	// Ticks already due belong to the time before the recording: the
	// first frame is the next tick's.
	r.lastK = r.due(time.Now())
	w.register()
	s.rec.Store(r)
	s.log.Debug("recording started")
	return r, nil
}

// Pause writes silence on both channels instead of the audio from the next
// tick on, until Resume.
func (r *Recorder) Pause() { r.paused.Store(true) }

// Resume records the audio again from the next tick on.
func (r *Recorder) Resume() { r.paused.Store(false) }

// End stops the tap at the tick due now and hands the last frames to the
// writer without waiting for the sink. It is idempotent; Stop calls it.
func (r *Recorder) End() {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	r.ended = true
	// Ticks the pacer has not run yet (it is late, or stopped with the
	// session) still count, so the recording keeps to the wall clock.
	relayed := r.sess.relayIn.Load() != nil
	for due := r.due(time.Now()); r.lastK < due; {
		r.lastK++
		r.frame(nil, relayed)
	}
	c := r.cur
	r.cur = nil
	c.silence = r.owed
	r.owed = 0
	c.last = true
	r.mu.Unlock()

	r.sess.rec.CompareAndSwap(r, nil)
	r.w.enqueueLast(c)
}

// Stop ends the recording and returns once the sink has received its last
// frame, or ctx is done. It works after the session ended and is
// idempotent. It returns the sink's first error, if any.
func (r *Recorder) Stop(ctx context.Context) error {
	r.End()
	select {
	case <-r.flushed:
	default:
		select {
		case <-r.flushed:
		case <-ctx.Done():
			return fmt.Errorf("stop recording: %w", context.Cause(ctx))
		}
	}
	if r.werr != nil {
		return fmt.Errorf("stop recording: %w", r.werr)
	}
	return nil
}

// Done is closed once the sink has received the recording's last frame.
func (r *Recorder) Done() <-chan struct{} { return r.flushed }

// Stats returns the recording's counters.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	late, relayLate, skipped := r.callerLate, r.relayLate, r.skipped
	r.mu.Unlock()
	return RecorderStats{
		Frames: r.frames.Load(), Silenced: r.silenced.Load(),
		CallerLate: late, RelayLate: relayLate, Skipped: skipped,
	}
}

// due returns the last tick of the session's pacer due at now.
func (r *Recorder) due(now time.Time) int64 {
	return int64(now.Sub(r.start) / frameDuration)
}

// tick records the frame of pacer tick k; sent is what the pacer sent on
// it (nil: nothing), a prompt's frame or while the session is bridged
// (relayed) the relay's. It runs on the pacer and does not allocate.
func (r *Recorder) tick(k int64, sent []int16, relayed bool) {
	r.mu.Lock()
	if !r.ended && k > r.lastK {
		// Ticks the pacer skipped after waking very late are silence on
		// the right, so that the file keeps time.
		for r.lastK < k-1 {
			r.lastK++
			r.skipped++
			r.frame(nil, relayed)
		}
		r.lastK = k
		r.frame(sent, relayed)
	}
	r.mu.Unlock()
}

// feed queues an audio payload of the caller. It runs on the receive
// goroutine and does not allocate.
func (r *Recorder) feed(decode func([]int16, []byte) int, payload []byte) {
	r.mu.Lock()
	if !r.ended {
		r.jq.write(decode, payload)
	}
	r.mu.Unlock()
}

// frame appends one stereo frame to the current chunk; mu is held. The
// right channel is sent, the frame sent on the tick; relayed tells that
// the session was bridged then.
func (r *Recorder) frame(sent []int16, relayed bool) {
	c := r.cur
	caller := c.caller[c.n : c.n+samplesPerFrame]
	other := c.other[c.n : c.n+samplesPerFrame]
	switch {
	case r.paused.Load():
		// Audio received during a pause is not kept for after it.
		r.jq.reset()
		clear(caller)
		clear(other)
	default:
		if !r.jq.read(caller) {
			clear(caller)
			r.callerLate++
		}
		n := copy(other, sent)
		clear(other[n:])
		if relayed && sent == nil {
			r.relayLate++
		}
	}
	c.n += samplesPerFrame
	if c.n == chunkSamples {
		r.handOff()
	}
}

// handOff gives the full current chunk to the writer and takes a fresh one.
// When the writer is too far behind, the chunk's audio is dropped and its
// length owed as silence to the next chunk, and the chunk is reused.
func (r *Recorder) handOff() {
	c := r.cur
	c.silence = r.owed
	if r.w.enqueue(c) {
		r.owed = 0
		r.cur = getChunk(r)
		return
	}
	r.owed += c.n
	c.n, c.silence = 0, 0
}

// jitterQueue holds the caller's decoded audio between its arrival and the
// ticks that record it. It is a ring of jitterFrames frames: a packet that
// does not fit drops the oldest samples, and a tick finding less than a
// frame records silence and leaves what there is for the next tick.
type jitterQueue struct {
	buf   [jitterFrames * samplesPerFrame]int16
	start int // index of the oldest sample
	n     int // samples queued
}

// write decodes payload into the queue.
func (q *jitterQueue) write(decode func([]int16, []byte) int, payload []byte) {
	const size = len(q.buf)
	if len(payload) > size {
		payload = payload[len(payload)-size:]
	}
	if over := q.n + len(payload) - size; over > 0 {
		q.start = (q.start + over) % size
		q.n -= over
	}
	end := (q.start + q.n) % size
	if k := decode(q.buf[end:], payload); k < len(payload) {
		decode(q.buf[:], payload[k:])
	}
	q.n += len(payload)
}

// read takes len(dst) samples, or reports false and takes nothing when
// fewer are queued.
func (q *jitterQueue) read(dst []int16) bool {
	const size = len(q.buf)
	if q.n < len(dst) {
		return false
	}
	if k := copy(dst, q.buf[q.start:]); k < len(dst) {
		copy(dst[k:], q.buf[:])
	}
	q.start = (q.start + len(dst)) % size
	q.n -= len(dst)
	return true
}

func (q *jitterQueue) reset() { q.start, q.n = 0, 0 }
