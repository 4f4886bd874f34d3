package media

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// recQueuePerRecording bounds the writer's queue: this many chunks (2 s of
// audio) per recording in progress. Beyond it the writer is too far
// behind: chunks are dropped and written as silence later, and the pacer
// goes on without waiting.
var recQueuePerRecording = 4

// chunk is 500 ms of a recording's stereo frames on their way to the sink.
type chunk struct {
	rec     *Recorder
	caller  [chunkSamples]int16
	other   [chunkSamples]int16
	n       int  // samples filled, per channel
	silence int  // samples of silence to write before these (dropped chunks)
	last    bool // the recording's last chunk
}

// chunkPool recycles chunks between the pacers, which fill them, and the
// writers, which empty them: a recording in steady state allocates nothing.
var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

func getChunk(r *Recorder) *chunk {
	c := chunkPool.Get().(*chunk)
	c.rec = r
	c.n, c.silence, c.last = 0, 0, false
	return c
}

func putChunk(c *chunk) {
	c.rec = nil
	chunkPool.Put(c)
}

// recWriter is an endpoint's recording writer: one goroutine that hands
// the chunks of every recording of the endpoint to their sinks, in order.
type recWriter struct {
	log   *slog.Logger
	zeros []int16 // silence for dropped chunks; sinks do not keep it
	wake  chan struct{}
	quit  chan struct{}

	mu     sync.Mutex
	queue  []*chunk
	active int // recordings whose last chunk is not written yet
}

// recordWriter returns the endpoint's writer, starting it on first use.
func (e *Endpoint) recordWriter() (*recWriter, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if e.rec == nil {
		e.rec = &recWriter{
			log:   e.log,
			zeros: make([]int16, chunkSamples),
			wake:  make(chan struct{}, 1),
			quit:  make(chan struct{}),
		}
		e.wg.Go(e.rec.run)
	}
	return e.rec, nil
}

// closeRecordWriter stops the writer, if any, once it has written every
// chunk queued. The sessions must be closed: no recording can queue more.
func (e *Endpoint) closeRecordWriter() {
	e.mu.Lock()
	w := e.rec
	e.mu.Unlock()
	if w != nil {
		close(w.quit)
	}
}

func (w *recWriter) register() {
	w.mu.Lock()
	w.active++
	w.mu.Unlock()
}

// enqueue queues a full chunk unless the writer is too far behind. It is
// called by the pacers and never waits.
func (w *recWriter) enqueue(c *chunk) bool {
	w.mu.Lock()
	ok := len(w.queue) < recQueuePerRecording*w.active
	if ok {
		w.queue = append(w.queue, c)
	}
	w.mu.Unlock()
	if ok {
		w.signal()
	}
	return ok
}

// enqueueLast queues a recording's last chunk, which is never dropped.
func (w *recWriter) enqueueLast(c *chunk) {
	w.mu.Lock()
	w.queue = append(w.queue, c)
	w.mu.Unlock()
	w.signal()
}

func (w *recWriter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *recWriter) run() {
	var batch []*chunk
	for {
		select {
		case <-w.wake:
			batch = w.drain(batch)
		case <-w.quit:
			w.drain(batch)
			return
		}
	}
}

// drain writes the queued chunks until the queue is empty. The queue and
// batch swap slices, so the writer allocates nothing in steady state.
func (w *recWriter) drain(batch []*chunk) []*chunk {
	for {
		w.mu.Lock()
		batch, w.queue = w.queue, batch[:0]
		w.mu.Unlock()
		if len(batch) == 0 {
			return batch
		}
		for i, c := range batch {
			w.write(c)
			batch[i] = nil
		}
	}
}

// write hands one chunk to its recording's sink. After the sink's first
// error the recording's later chunks are dropped.
func (w *recWriter) write(c *chunk) {
	r := c.rec
	if c.silence > 0 {
		frames := uint64(c.silence / samplesPerFrame)
		total := r.silenced.Add(frames)
		r.log.Warn("recording writer fell behind: audio replaced by silence",
			"silence", time.Duration(frames)*frameDuration, "total", time.Duration(total)*frameDuration)
		for left := c.silence; left > 0 && r.werr == nil; {
			n := min(left, len(w.zeros))
			w.writeFrames(r, w.zeros[:n], w.zeros[:n])
			left -= n
		}
	}
	if c.n > 0 && r.werr == nil {
		w.writeFrames(r, c.caller[:c.n], c.other[:c.n])
	}
	last := c.last
	putChunk(c)
	if !last {
		return
	}
	w.mu.Lock()
	w.active--
	w.mu.Unlock()
	r.log.Debug("recording flushed", "frames", r.frames.Load(), "silenced", r.silenced.Load())
	close(r.flushed)
}

// writeFrames calls the sink under recover: the writer serves every call of
// the endpoint, and one bad sink must not take the others down.
func (w *recWriter) writeFrames(r *Recorder, caller, other []int16) {
	defer func() {
		if p := recover(); p != nil {
			r.werr = fmt.Errorf("write frames: panic: %v", p)
			r.log.Error("recording sink panicked", "panic", p)
		}
	}()
	if err := r.sink.WriteFrames(caller, other); err != nil {
		r.werr = fmt.Errorf("write frames: %w", err)
		r.log.Error("write recording", "err", err)
		return
	}
	r.frames.Add(uint64(len(caller) / samplesPerFrame))
}
