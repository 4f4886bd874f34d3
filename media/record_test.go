package media

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// memSink keeps what a recording writes.
type memSink struct {
	mu     sync.Mutex
	caller []int16
	other  []int16
	calls  int
	// write, when set, runs first on every call; a non-nil error is returned.
	write func(call int) error
}

func (m *memSink) WriteFrames(caller, other []int16) error {
	m.mu.Lock()
	m.calls++
	call := m.calls
	m.mu.Unlock()
	if len(caller) != len(other) || len(caller)%samplesPerFrame != 0 {
		panic("sink got channels of different or partial lengths")
	}
	if m.write != nil {
		if err := m.write(call); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.caller = append(m.caller, caller...)
	m.other = append(m.other, other...)
	return nil
}

// frames returns the recording so far as 20 ms stereo frames.
func (m *memSink) frames() (caller, other [][]int16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i+samplesPerFrame <= len(m.caller); i += samplesPerFrame {
		caller = append(caller, slices.Clone(m.caller[i:i+samplesPerFrame]))
		other = append(other, slices.Clone(m.other[i:i+samplesPerFrame]))
	}
	return caller, other
}

func (m *memSink) duration() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Duration(len(m.caller)) * time.Second / sampleRate
}

// toneFrame is frame j of a 600 Hz tone whose level changes every frame,
// so that no two frames of the first few seconds are alike.
func toneFrame(j int, freq float64) []int16 {
	f := make([]int16, samplesPerFrame)
	amp := 2000 + 97*float64(j%60)
	for i := range f {
		n := float64(j*samplesPerFrame + i)
		f[i] = int16(amp * math.Sin(2*math.Pi*freq*n/sampleRate))
	}
	return f
}

// caller sends the tone as PCMU RTP from the peer's socket to the session
// every 20 ms, on an absolute schedule, until stopped.
type caller struct {
	peer *testPeer
	dst  netip.AddrPort
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	sentAt []time.Time
	heard  [][]int16 // frame j as the session decodes it
}

func startCaller(t *testing.T, peer *testPeer, dst netip.AddrPort) *caller {
	c := &caller{peer: peer, dst: dst, stop: make(chan struct{})}
	c.wg.Go(c.run)
	t.Cleanup(c.halt)
	return c
}

func (c *caller) halt() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
}

func (c *caller) run() {
	pkt := make([]byte, RTPHeaderSize+samplesPerFrame)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for j := 0; ; j++ {
		select {
		case <-c.stop:
			return
		case <-timer.C:
		}
		h := RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), Timestamp: uint32(j * samplesPerFrame), SSRC: 99}
		h.MarshalTo(pkt)
		EncodeUlaw(pkt[RTPHeaderSize:], toneFrame(j, 600))
		heard := make([]int16, samplesPerFrame)
		DecodeUlaw(heard, pkt[RTPHeaderSize:])
		c.mu.Lock()
		c.sentAt = append(c.sentAt, time.Now())
		c.heard = append(c.heard, heard)
		c.mu.Unlock()
		c.peer.conn.WriteToUDPAddrPort(pkt, c.dst)
		timer.Reset(time.Until(start.Add(time.Duration(j+1) * frameDuration)))
	}
}

func isSilent(f []int16) bool {
	for _, v := range f {
		if v != 0 {
			return false
		}
	}
	return true
}

func stop(t *testing.T, r *Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func checkDuration(t *testing.T, got, wall time.Duration) {
	t.Helper()
	if d := got - wall; d < -40*time.Millisecond || d > 40*time.Millisecond {
		t.Errorf("recording lasts %v, wall time %v", got, wall)
	}
}

// The left channel holds the caller's audio, in order and in time, the
// right channel the prompt's samples exactly, and the recording lasts as
// long as the wall time.
func TestRecordCallerAndPrompt(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	c := startCaller(t, peer, s.LocalAddr())
	time.Sleep(100 * time.Millisecond) // the caller talks before the recording

	var prompt [][]int16
	var clip []int16
	for j := range 50 {
		prompt = append(prompt, toneFrame(j, 440))
		clip = append(clip, prompt[j]...)
	}
	sink := &memSink{}
	t0 := time.Now()
	r, err := s.Record(sink)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	pb := s.Play([]Clip{{Samples: clip}})
	waitDone(t, pb.Done(), 2*time.Second, "prompt")
	time.Sleep(200 * time.Millisecond)
	t1 := time.Now()
	stop(t, r)
	c.halt()

	checkDuration(t, sink.duration(), t1.Sub(t0))
	left, right := sink.frames()

	// Right: the prompt's 50 frames in a row, silence around them (and on
	// the ticks a stalled pacer skipped: nothing was sent on them).
	st := r.Stats()
	f0 := slices.IndexFunc(right, func(f []int16) bool { return !isSilent(f) })
	if f0 < 0 || f0+len(prompt) > len(right) {
		t.Fatalf("prompt not found on the right channel (first sound at frame %d of %d)", f0, len(right))
	}
	i, gaps := f0, 0
	for j, want := range prompt {
		for ; i < len(right) && isSilent(right[i]) && gaps < int(st.Skipped); i++ {
			gaps++
		}
		if i == len(right) || !slices.Equal(right[i], want) {
			t.Fatalf("right frame %d is not prompt frame %d (%d ticks skipped)", i, j, st.Skipped)
		}
		i++
	}
	for ; i < len(right); i++ {
		if !isSilent(right[i]) {
			t.Fatalf("right frame %d after the prompt is not silence", i)
		}
	}
	// About 200 ms of silence before the prompt.
	if at := time.Duration(f0) * frameDuration; at < 140*time.Millisecond || at > 300*time.Millisecond {
		t.Errorf("prompt starts %v into the recording, want about 200ms", at)
	}

	// Left: the caller's frames in the order sent, recorded a tick or two
	// after they were sent. A loaded machine delays the caller, the
	// receiver or the pacer, which the jitter queue absorbs only up to
	// 60 ms: frames may be lost then, but never reordered, and the median
	// lag stays small.
	c.mu.Lock()
	heard, sentAt := c.heard, c.sentAt
	c.mu.Unlock()
	next := 0
	var lags []time.Duration
	for i, f := range left {
		if isSilent(f) {
			continue
		}
		j := slices.IndexFunc(heard[next:], func(h []int16) bool { return slices.Equal(h, f) })
		if j < 0 {
			t.Fatalf("left frame %d is not a caller frame after frame %d", i, next)
		}
		j += next
		lags = append(lags, t0.Add(time.Duration(i+1)*frameDuration).Sub(sentAt[j]))
		next = j + 1
	}
	sent := 0
	for _, at := range sentAt {
		if at.After(t0) && at.Before(t1) {
			sent++
		}
	}
	if len(lags) < sent/2 {
		t.Fatalf("left channel holds %d caller frames of the %d sent while recording", len(lags), sent)
	}
	slices.Sort(lags)
	if lag := lags[len(lags)/2]; lag < -20*time.Millisecond || lag > 80*time.Millisecond {
		t.Errorf("caller frames recorded %v after they were sent (median), want within 0-60ms", lag)
	}
	if st.Frames != uint64(len(left)) || st.Silenced != 0 {
		t.Errorf("stats %+v, want %d frames", st, len(left))
	}
}

// A caller that sends nothing: silence on the left, still the wall time.
func TestRecordSilentCaller(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMA)
	sink := &memSink{}
	t0 := time.Now()
	r, err := s.Record(sink)
	if err != nil {
		t.Fatal(err)
	}
	pb := s.Play([]Clip{{Samples: ramp(20 * samplesPerFrame)}})
	waitDone(t, pb.Done(), 2*time.Second, "prompt")
	time.Sleep(600 * time.Millisecond)
	t1 := time.Now()
	stop(t, r)

	checkDuration(t, sink.duration(), t1.Sub(t0))
	left, right := sink.frames()
	for i, f := range left {
		if !isSilent(f) {
			t.Fatalf("left frame %d is not silence", i)
		}
	}
	sound := 0
	for _, f := range right {
		if !isSilent(f) {
			sound++
		}
	}
	if sound != 20 {
		t.Errorf("%d frames of sound on the right, want the prompt's 20", sound)
	}
	if st := r.Stats(); st.Skipped > 0 {
		t.Logf("the pacer skipped %d ticks", st.Skipped)
	}
	if st := r.Stats(); st.CallerLate != uint64(len(left)) {
		t.Errorf("caller late on %d ticks of %d", st.CallerLate, len(left))
	}
}

// While paused both channels are silence; the audio comes back on resume.
func TestRecordPause(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	startCaller(t, peer, s.LocalAddr())
	var clip []int16
	for j := range 100 {
		clip = append(clip, toneFrame(j, 440)...)
	}
	s.Play([]Clip{{Samples: clip}})
	sink := &memSink{}
	t0 := time.Now()
	r, err := s.Record(sink)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	paused := time.Since(t0)
	r.Pause()
	time.Sleep(400 * time.Millisecond)
	resumed := time.Since(t0)
	r.Resume()
	time.Sleep(400 * time.Millisecond)
	t1 := time.Now()
	stop(t, r)

	checkDuration(t, sink.duration(), t1.Sub(t0))
	left, right := sink.frames()
	p, q := int(paused/frameDuration)+2, int(resumed/frameDuration)-1
	for i := p; i < q; i++ {
		if !isSilent(left[i]) || !isSilent(right[i]) {
			t.Fatalf("frame %d (paused from %d to %d) is not silence", i, p, q)
		}
	}
	count := func(frames [][]int16, from, to int) (n int) {
		for _, f := range frames[from:to] {
			if !isSilent(f) {
				n++
			}
		}
		return n
	}
	before, after := [2]int{3, p - 3}, [2]int{q + 4, len(right) - 3}
	skipped := int(r.Stats().Skipped) // silence on the right: a stalled pacer sent nothing
	for _, span := range [][2]int{before, after} {
		n := span[1] - span[0]
		if got := count(right, span[0], span[1]); got < n-skipped {
			t.Errorf("right frames %d-%d: %d of %d with sound", span[0], span[1], got, n)
		}
		if got := count(left, span[0], span[1]); got < n/4 {
			t.Errorf("left frames %d-%d: %d of %d with sound", span[0], span[1], got, n)
		}
	}
}

// The recording ends with the session; Stop afterwards flushes and returns
// at once, and again.
func TestRecordStopAfterClose(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	startCaller(t, peer, s.LocalAddr())
	sink := &memSink{}
	t0 := time.Now()
	r, err := s.Record(sink)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	closed := time.Now()
	s.Close()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	stop(t, r)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Stop after Close took %v", d)
	}
	stop(t, r)
	checkDuration(t, sink.duration(), closed.Sub(t0))
	waitDone(t, r.Done(), 50*time.Millisecond, "recording")
	if _, err := s.Record(&memSink{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Record on a closed session: %v, want ErrClosed", err)
	}
}

// Closing the endpoint ends its recordings and writes their last frames.
func TestRecordEndpointClose(t *testing.T) {
	e, err := NewEndpoint(EndpointConfig{IP: loopback, PortMin: 34100, PortMax: 34198, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	sink := &memSink{}
	t0 := time.Now()
	r, err := s.Record(sink)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	closed := time.Now()
	e.Close()
	waitDone(t, r.Done(), 50*time.Millisecond, "recording after endpoint Close")
	stop(t, r)
	checkDuration(t, sink.duration(), closed.Sub(t0))
}

func TestRecordErrors(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	idle, err := e.NewSession(quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.Record(&memSink{}); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Record before Start: %v, want ErrNotStarted", err)
	}
	if e.rec == nil {
		t.Fatal("Record before Start did not start the writer")
	}

	s := startSession(t, e, peer, CodecPCMU)
	r, err := s.Record(&memSink{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(&memSink{}); !errors.Is(err, ErrRecording) {
		t.Errorf("second Record: %v, want ErrRecording", err)
	}
	stop(t, r)
	r2, err := s.Record(&memSink{})
	if err != nil {
		t.Fatalf("Record after Stop: %v", err)
	}
	stop(t, r2)
}

// A session that never records starts no writer.
func TestNoRecordingNoWriter(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	pb := s.Play([]Clip{{Samples: ramp(5 * samplesPerFrame)}})
	waitDone(t, pb.Done(), time.Second, "playback")
	if e.rec != nil {
		t.Error("writer started without a recording")
	}
}

// A sink that fails or panics loses its recording only: Stop reports it,
// the sink is not called again, and other recordings go on.
func TestRecordSinkFailure(t *testing.T) {
	errDisk := errors.New("disk full")
	tests := []struct {
		name  string
		write func(int) error
	}{
		{"error", func(int) error { return errDisk }},
		{"panic", func(int) error { panic("sink bug") }},
	}
	e := newTestEndpoint(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := newTestPeer(t)
			bad := startSession(t, e, peer, CodecPCMU)
			good := startSession(t, e, newTestPeer(t), CodecPCMU)
			badSink, goodSink := &memSink{write: tt.write}, &memSink{}
			rb, err := bad.Record(badSink)
			if err != nil {
				t.Fatal(err)
			}
			rg, err := good.Record(goodSink)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1200 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err = rb.Stop(ctx)
			if err == nil || (tt.name == "error" && !errors.Is(err, errDisk)) {
				t.Errorf("Stop = %v, want the sink's error", err)
			}
			if badSink.calls != 1 {
				t.Errorf("failed sink called %d times, want 1", badSink.calls)
			}
			stop(t, rg)
			if d := goodSink.duration(); d < time.Second {
				t.Errorf("other recording lasts %v", d)
			}
		})
	}
}

// A writer that falls behind drops chunks and writes silence in their
// place: the pacer never waits and the file keeps time.
func TestRecordWriterBehind(t *testing.T) {
	defer func(n int) { recQueuePerRecording = n }(recQueuePerRecording)
	recQueuePerRecording = 1
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	startCaller(t, peer, s.LocalAddr())
	release := make(chan struct{})
	sink := &memSink{write: func(call int) error {
		if call == 1 {
			<-release
		}
		return nil
	}}
	t0 := time.Now()
	r, err := s.Record(sink)
	if err != nil {
		t.Fatal(err)
	}
	// The first chunk blocks the writer from 500 ms to 1.8 s: the chunk of
	// 1.0 s waits in the queue, the one of 1.5 s finds it full.
	time.AfterFunc(1800*time.Millisecond, func() { close(release) })
	time.Sleep(2200 * time.Millisecond)
	t1 := time.Now()
	stop(t, r)
	checkDuration(t, sink.duration(), t1.Sub(t0))
	st := r.Stats()
	if st.Silenced != chunkFrames {
		t.Errorf("%d frames silenced, want one chunk (%d)", st.Silenced, chunkFrames)
	}
	left, _ := sink.frames()
	for i := 2 * chunkFrames; i < 3*chunkFrames; i++ {
		if !isSilent(left[i]) {
			t.Fatalf("frame %d of the dropped chunk is not silence", i)
		}
	}
	if !slices.ContainsFunc(left[3*chunkFrames:], func(f []int16) bool { return !isSilent(f) }) {
		t.Error("no caller audio after the dropped chunk")
	}
}

func TestJitterQueue(t *testing.T) {
	frame := func(v int16, n int) []byte {
		// μ-law bytes whose decoded value identifies the packet.
		b := make([]byte, n)
		EncodeUlaw(b, slices.Repeat([]int16{v}, n))
		return b
	}
	dec := func(v int16) int16 {
		var b [1]byte
		var d [1]int16
		EncodeUlaw(b[:], []int16{v})
		DecodeUlaw(d[:], b[:])
		return d[0]
	}
	type op struct {
		write int16 // packet value; 0 means a read
		size  int   // samples written
		want  int16 // first sample read; 0 means no frame
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"underflow", []op{{want: 0}}},
		{"in order", []op{{write: 1000, size: 160}, {write: 2000, size: 160}, {want: 1000}, {want: 2000}, {want: 0}}},
		{"overflow drops the oldest", []op{
			{write: 1000, size: 160}, {write: 2000, size: 160}, {write: 3000, size: 160}, {write: 4000, size: 160},
			{want: 2000}, {want: 3000}, {want: 4000}, {want: 0},
		}},
		{"partial frame waits", []op{{write: 1000, size: 80}, {want: 0}, {write: 2000, size: 80}, {want: 1000}}},
		{"30 ms packets", []op{
			{write: 1000, size: 240}, {want: 1000}, {want: 0}, {write: 2000, size: 240}, {want: 1000}, {want: 2000},
		}},
		{"oversized packet keeps its end", []op{{write: 1000, size: 1000}, {want: 1000}, {want: 1000}, {want: 1000}, {want: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q jitterQueue
			dst := make([]int16, samplesPerFrame)
			for i, o := range tt.ops {
				if o.write != 0 {
					q.write(DecodeUlaw, frame(o.write, o.size))
					continue
				}
				ok := q.read(dst)
				if ok != (o.want != 0) || ok && dst[0] != dec(o.want) {
					t.Fatalf("op %d: read %v %d, want %d", i, ok, dst[0], dec(o.want))
				}
			}
		})
	}
}

func FuzzJitterQueue(f *testing.F) {
	f.Add([]byte{160, 160, 0, 240, 0, 0})
	f.Add([]byte{255, 1, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var q jitterQueue
		var model []byte // the queued μ-law bytes
		payload := make([]byte, 600)
		for i := range payload {
			payload[i] = byte(i)
		}
		dst := make([]int16, samplesPerFrame)
		for i, o := range ops {
			if o == 0 {
				ok := q.read(dst)
				if ok != (len(model) >= samplesPerFrame) {
					t.Fatalf("op %d: read %v with %d queued", i, ok, len(model))
				}
				if ok {
					want := make([]int16, samplesPerFrame)
					DecodeUlaw(want, model[:samplesPerFrame])
					if !slices.Equal(dst, want) {
						t.Fatalf("op %d: wrong samples", i)
					}
					model = model[samplesPerFrame:]
				}
				continue
			}
			p := payload[:int(o)*2]
			q.write(DecodeUlaw, p)
			model = append(model, p...)
			if over := len(model) - len(q.buf); over > 0 {
				model = model[over:]
			}
			if q.n != len(model) {
				t.Fatalf("op %d: %d queued, want %d", i, q.n, len(model))
			}
		}
	})
}

// BenchmarkRecordTap is a recording's per-tick path: a caller packet into
// the jitter queue, then the tick's stereo frame into the chunk, with the
// chunks going through the writer to a sink.
func BenchmarkRecordTap(b *testing.B) {
	e := newTestEndpoint(b, 0)
	s := startSession(b, e, newTestPeer(b), CodecPCMU)
	r, err := s.Record(discardSink{})
	if err != nil {
		b.Fatal(err)
	}
	const base = int64(1 << 40) // far from the endpoint's own ticks, which r then ignores
	r.mu.Lock()
	r.lastK = base
	r.mu.Unlock()
	payload := make([]byte, samplesPerFrame)
	EncodeUlaw(payload, ramp(samplesPerFrame))
	frame := ramp(samplesPerFrame)
	b.ReportAllocs()
	k := base
	for b.Loop() {
		k++
		r.feed(DecodeUlaw, payload)
		r.tick(k, frame, false)
	}
	b.StopTimer()
	if err := r.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	if r.Stats().Frames == 0 {
		b.Fatal("nothing written")
	}
}

// BenchmarkSessionReceiveRecording is the receive path of a session being
// recorded: parse, then decode into the jitter queue.
func BenchmarkSessionReceiveRecording(b *testing.B) {
	e := newTestEndpoint(b, 0)
	peer := newTestPeer(b)
	s := startSession(b, e, peer, CodecPCMU)
	r, err := s.Record(discardSink{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Stop(context.Background())
	audio := make([]byte, RTPHeaderSize+samplesPerFrame)
	(&RTPHeader{PayloadType: 0, SSRC: 7}).MarshalTo(audio)
	var rx rxState
	from := peer.addr()
	b.ReportAllocs()
	for b.Loop() {
		s.handle(&rx, audio, from)
	}
}

type discardSink struct{}

func (discardSink) WriteFrames(_, _ []int16) error { return nil }
