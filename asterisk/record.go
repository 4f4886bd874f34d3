package asterisk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ivrd/ivrd/ivr"
)

// Recording under Asterisk: Asterisk records, ivrd keeps.
//
// A recording is two snoop channels on the caller's channel, in the
// driver's own Stasis application: one spies on what the caller says
// (spy=in), the other on what the caller hears (spy=out: ivrd's prompts,
// music on hold, the agent). Asterisk records each into its recordings
// spool as an 8 kHz 16-bit WAV file, named after the call and a counter.
// Pause and Resume mute both recordings: a muted recording writes silence,
// so the two files keep time with each other and with the call. Stop brings
// both files over ARI into the sink as stereo frames (the caller on the
// left), then deletes them from the spool: nothing of the call stays in
// Asterisk.

const (
	// snoopMarker is the Stasis argument of the driver's snoop channels:
	// their StasisStart is not a call.
	snoopMarker = "ivrd-snoop"
	// frameSamples is one 20 ms frame at 8 kHz, the unit the sink receives.
	frameSamples = 160
	sampleRate   = 8000
	// finishTimeout bounds the wait for Asterisk to close a recording's
	// file once it was told to stop.
	finishTimeout = 5 * time.Second
	// fetchTimeout bounds bringing a recording's files home; each minute of
	// audio adds fetchPerMinute.
	fetchTimeout   = 30 * time.Second
	fetchPerMinute = 5 * time.Second
	// maxStartSkew caps the alignment of the two files on the times
	// Asterisk says they started: more than this is a clock jump, not skew.
	maxStartSkew = time.Second
	// blankMargin widens, on each side, a pause Asterisk could not mute,
	// when the driver blanks it itself.
	blankMargin = 100 * time.Millisecond
	// retryDelay is the wait before a second try to fetch a recording.
	retryDelay = 500 * time.Millisecond
	// sweepWait bounds how long the sweep of leftovers waits for Asterisk
	// to close their files after hanging up their snoop channels.
	sweepWait = 2 * time.Second
)

// Directions of the two snoop channels of a recording.
const (
	spyIn  = "in"  // what the caller says: the left channel
	spyOut = "out" // what the caller hears: the right channel
)

// recordingPrefix starts the names of application app's recordings and the
// ids of its snoop channels, so that those left by an ivrd that stopped can
// be told from others. The application name keeps letters, digits and _,
// so no prefix of one application is a prefix of another's.
func recordingPrefix(app string) string { return "ivrd-rec-" + safeName(app, false) + "-" }

// recordingName names the recording (and the snoop channel) of direction
// spy of the n-th recording of channel.
func recordingName(app, channel string, n int, spy string) string {
	return recordingPrefix(app) + safeName(channel, true) + "-" + strconv.Itoa(n) + "-" + spy
}

// safeName keeps ASCII letters, digits, _ and, if dash, -; anything else
// becomes _, so that a name is a plain file name in Asterisk's spool.
func safeName(s string, dash bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		case r == '-' && dash:
			return r
		}
		return '_'
	}, s)
}

// signal is closed once.
type signal struct {
	once sync.Once
	c    chan struct{}
}

func newSignal() *signal     { return &signal{c: make(chan struct{})} }
func (s *signal) fire()      { s.once.Do(func() { close(s.c) }) }
func (s *signal) done() bool { return closed(s.c) }

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// leg is one direction of a recording: a snoop channel and its recording,
// both named name. The driver's event reader fires its signals.
type leg struct {
	name     string
	spy      string
	r        *recorder // set before the leg is known to the driver
	entered  *signal   // StasisStart of the snoop channel
	started  *signal   // RecordingStarted
	finished *signal   // RecordingFinished or RecordingFailed

	mu        sync.Mutex
	startedAt time.Time // Asterisk's time of RecordingStarted
	failure   string    // the cause of RecordingFailed
}

func newLeg(name, spy string) *leg {
	return &leg{name: name, spy: spy, entered: newSignal(), started: newSignal(), finished: newSignal()}
}

// recorder is one recording of a call, the driver's ivr.Recorder.
type recorder struct {
	c    *call
	sink ivr.RecordSink
	log  *slog.Logger
	legs [2]*leg // in, out
	// begun is the driver's time when the recordings were requested; the
	// pauses it could not mute are blanked relative to it.
	begun time.Time

	mu      sync.Mutex
	paused  bool
	pauses  []pause // pauses that Asterisk failed to mute
	open    *pause  // the pause in progress, if it could not be muted
	stopped bool

	stopOnce sync.Once
	stopErr  error
}

// pause is a span of wall time to blank in the files.
type pause struct{ from, to time.Time }

var _ ivr.Recordable = (*call)(nil)

// Record starts recording the call: both directions, until the recorder is
// stopped. The audio reaches sink when Stop is called.
func (c *call) Record(ctx context.Context, sink ivr.RecordSink) (ivr.Recorder, error) {
	if sink == nil {
		return nil, errors.New("record: no sink")
	}
	c.mu.Lock()
	switch {
	case c.gone.done():
		c.mu.Unlock()
		return nil, fmt.Errorf("record: %w", ivr.ErrCallerHangup)
	case c.ctx.Err() != nil && !c.transferred:
		// A call continued in the dialplan can still be recorded there
		// (the agent conversation), until it is gone.
		c.mu.Unlock()
		return nil, fmt.Errorf("record: %w", context.Cause(c.ctx))
	}
	c.recordings++
	n := c.recordings
	c.mu.Unlock()

	d := c.d
	r := &recorder{c: c, sink: sink}
	for i, spy := range [2]string{spyIn, spyOut} {
		r.legs[i] = newLeg(recordingName(d.cfg.App, c.id, n, spy), spy)
		r.legs[i].r = r
	}
	r.log = c.log.With("recording", strings.TrimSuffix(r.legs[0].name, "-"+spyIn))
	// Known before they exist: the snoops' StasisStart may come before the
	// answer to their creation, and the sweep must leave them alone.
	d.addLegs(r.legs[:])
	if err := r.start(ctx); err != nil {
		r.discard()
		if c.gone.done() {
			return nil, fmt.Errorf("record: %w", ivr.ErrCallerHangup)
		}
		if cause := context.Cause(c.ctx); cause != nil && !c.isTransferred() {
			return nil, fmt.Errorf("record: %w", cause)
		}
		return nil, fmt.Errorf("record: %w", err)
	}
	c.mu.Lock()
	c.recorders = append(c.recorders, r)
	c.mu.Unlock()
	r.log.Info("recording", "snoop_in", r.legs[0].name, "snoop_out", r.legs[1].name)
	return r, nil
}

// start creates the two snoop channels and records them.
func (r *recorder) start(ctx context.Context) error {
	d := r.c.d
	for _, l := range r.legs {
		if err := d.rest.snoop(ctx, r.c.id, l.name, l.spy, d.cfg.App, snoopMarker); err != nil {
			return fmt.Errorf("snoop %s: %w", l.spy, err)
		}
	}
	// A channel can be recorded once it runs in the application.
	for _, l := range r.legs {
		if err := r.wait(ctx, l.entered); err != nil {
			return fmt.Errorf("wait for snoop %s: %w", l.name, err)
		}
	}
	r.begun = time.Now()
	for _, l := range r.legs {
		if err := d.rest.recordChannel(ctx, l.name, l.name); err != nil {
			var se *StatusError
			if errors.As(err, &se) && se.Code == http.StatusInternalServerError {
				// What Asterisk answers when it cannot create the file.
				return fmt.Errorf("record snoop %s (is Asterisk's recordings spool folder there and writable?): %w", l.spy, err)
			}
			return fmt.Errorf("record snoop %s: %w", l.spy, err)
		}
	}
	for _, l := range r.legs {
		if err := r.wait(ctx, l.started); err != nil {
			// The recording exists; only its start time, used to align the
			// two files, is missing.
			r.log.Warn("recording start not seen", "name", l.name, "err", err)
		}
	}
	return nil
}

// wait waits for s, for at most the request timeout, while the call can
// be recorded.
func (r *recorder) wait(ctx context.Context, s *signal) error {
	t := time.NewTimer(r.c.d.cfg.RequestTimeout)
	defer t.Stop()
	ended, cause := r.c.recordable()
	select {
	case <-s.c:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-ended:
		return cause()
	case <-t.C:
		return errors.New("no event from Asterisk")
	}
}

// recordable returns a channel closed once the call can no longer be
// recorded, and the reason then: the end of its context, or, for a call
// continued in the dialplan, its end there.
func (c *call) recordable() (<-chan struct{}, func() error) {
	if c.isTransferred() {
		return c.gone.c, func() error { return ivr.ErrCallerHangup }
	}
	return c.ctx.Done(), func() error { return context.Cause(c.ctx) }
}

func (c *call) isTransferred() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transferred
}

// Pause mutes both recordings: they write silence until Resume.
func (r *recorder) Pause() { r.mute(true) }

// Resume unmutes both recordings.
func (r *recorder) Resume() { r.mute(false) }

func (r *recorder) mute(on bool) {
	r.mu.Lock()
	if r.stopped || r.paused == on {
		r.mu.Unlock()
		return
	}
	r.paused = on
	r.mu.Unlock()
	at := time.Now()
	// Pause is called without a context (the engine's contract); a request
	// still has the driver's deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.c.ctx), r.c.d.cfg.RequestTimeout)
	defer cancel()
	failed := false
	for _, l := range r.legs {
		err := r.c.d.rest.muteRecording(ctx, l.name, on)
		if err != nil && !errors.Is(err, ErrNotFound) { // not found: the recording ended with the call
			r.log.Error("mute recording; its audio will be blanked when it is brought home", "name", l.name, "mute", on, "err", err)
			failed = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case on && failed:
		r.open = &pause{from: at}
	case !on && r.open != nil:
		r.open.to = at
		r.pauses = append(r.pauses, *r.open)
		r.open = nil
	}
	// A failed unmute leaves the recording silent: nothing to blank.
}

// Stop stops both recordings, brings their files into the sink and deletes
// them from Asterisk's spool. It works after the call ended, and only the
// first call does anything; the others return its result.
func (r *recorder) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() { r.stopErr = r.stop(ctx) })
	return r.stopErr
}

func (r *recorder) stop(ctx context.Context) error {
	d := r.c.d
	r.mu.Lock()
	r.stopped = true
	if r.open != nil {
		r.open.to = time.Now()
		r.pauses = append(r.pauses, *r.open)
		r.open = nil
	}
	r.mu.Unlock()
	defer r.c.forgetRecorder(r)
	defer d.removeLegs(r.legs[:])

	// The call may be over and its context done: the audio must still come
	// home and the spool be emptied, within bounds of their own.
	base := context.WithoutCancel(ctx)
	reqCtx, cancel := context.WithTimeout(base, 2*finishTimeout)
	defer cancel()
	for _, l := range r.legs {
		// Not found: the recording ended with the channel, Asterisk closed it.
		if err := d.rest.stopRecording(reqCtx, l.name); err != nil && !errors.Is(err, ErrNotFound) {
			r.log.Warn("stop recording", "name", l.name, "err", err)
		}
	}
	for _, l := range r.legs {
		r.waitFinished(reqCtx, l)
	}
	for _, l := range r.legs {
		if err := d.rest.hangup(reqCtx, l.name, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
			r.log.Warn("hang up snoop channel", "name", l.name, "err", err)
		}
	}

	length := time.Since(r.begun)
	fetchCtx, cancelFetch := context.WithTimeout(base, fetchTimeout+fetchPerMinute*(length/time.Minute))
	defer cancelFetch()
	frames, err := r.deliver(fetchCtx)
	if err != nil && frames == 0 && fetchCtx.Err() == nil {
		// Nothing reached the sink: one more try before the files go.
		r.log.Warn("bring recording home; trying again", "err", err)
		time.Sleep(retryDelay)
		frames, err = r.deliver(fetchCtx)
	}

	delCtx, cancelDel := context.WithTimeout(base, 2*d.cfg.RequestTimeout)
	defer cancelDel()
	for _, l := range r.legs {
		if derr := d.rest.deleteStored(delCtx, l.name); derr != nil && !errors.Is(derr, ErrNotFound) {
			r.log.Error("delete recording from Asterisk's spool", "name", l.name, "err", derr)
			err = errors.Join(err, fmt.Errorf("delete recording %s: %w", l.name, derr))
		}
	}
	for _, l := range r.legs {
		r.waitGone(delCtx, l)
	}
	if err != nil {
		return fmt.Errorf("stop recording: %w", err)
	}
	r.log.Info("recording stopped", "duration", time.Duration(frames)*20*time.Millisecond)
	return nil
}

// waitFinished waits until Asterisk closed the leg's file: its
// RecordingFinished event, or the live recording gone (events may be lost
// while the websocket reconnects).
func (r *recorder) waitFinished(ctx context.Context, l *leg) {
	t := time.NewTimer(finishTimeout)
	defer t.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-l.finished.c:
			return
		case <-tick.C:
			if live, err := r.c.d.rest.recordingLive(ctx, l.name); err == nil && !live {
				return
			}
		case <-t.C:
			r.log.Warn("recording still open after its stop; reading what Asterisk wrote", "name", l.name)
			return
		case <-ctx.Done():
			return
		}
	}
}

// waitGone waits until the leg's snoop channel, hung up, is destroyed. The
// application hears nothing of it once it left Stasis: Asterisk is asked.
func (r *recorder) waitGone(ctx context.Context, l *leg) {
	deadline := time.Now().Add(finishTimeout)
	for {
		ok, err := r.c.d.rest.channelExists(ctx, l.name)
		if err != nil || !ok {
			return
		}
		if time.Now().After(deadline) {
			r.log.Warn("snoop channel still up after its hang-up", "name", l.name)
			return
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// deliver streams the two files into the sink, as frames of 160 samples
// (the last one padded with silence) and returns the number of frames.
func (r *recorder) deliver(ctx context.Context) (int, error) {
	d := r.c.d
	var src [2]*wavReader
	for i, l := range r.legs {
		l.mu.Lock()
		failure := l.failure
		l.mu.Unlock()
		if failure != "" {
			r.log.Warn("Asterisk reported the recording failed; reading what it wrote", "name", l.name, "cause", failure)
		}
		body, err := d.rest.storedFile(ctx, l.name)
		if err != nil {
			return 0, fmt.Errorf("fetch recording %s: %w", l.name, err)
		}
		defer body.Close()
		w, err := newWAVReader(bufio.NewReaderSize(body, 32<<10))
		if err != nil {
			return 0, fmt.Errorf("fetch recording %s: %w", l.name, err)
		}
		src[i] = w
	}
	pad := r.skew()
	r.mu.Lock()
	blanks := r.blankRanges()
	r.mu.Unlock()

	var (
		left, right [frameSamples]int16
		frames      int
	)
	for {
		nl, err := fill(left[:], &pad[0], &src[0])
		if err != nil {
			return frames, fmt.Errorf("read recording %s: %w", r.legs[0].name, err)
		}
		nr, err := fill(right[:], &pad[1], &src[1])
		if err != nil {
			return frames, fmt.Errorf("read recording %s: %w", r.legs[1].name, err)
		}
		if nl == 0 && nr == 0 {
			return frames, nil
		}
		clear(left[nl:])
		clear(right[nr:])
		blank(blanks, frames*frameSamples, left[:], right[:])
		if err := r.sink.WriteFrames(left[:], right[:]); err != nil {
			return frames, fmt.Errorf("write recording frames: %w", err)
		}
		frames++
	}
}

// fill fills dst with pad samples of silence, then samples of src, and
// returns how many it wrote; it sets src to nil at the end of its file.
func fill(dst []int16, pad *int, src **wavReader) (int, error) {
	n := min(*pad, len(dst))
	clear(dst[:n])
	*pad -= n
	for n < len(dst) && *src != nil {
		k, err := (*src).read(dst[n:])
		n += k
		if errors.Is(err, io.EOF) {
			*src = nil
		} else if err != nil {
			return n, err
		}
	}
	return n, nil
}

// skew returns the silence, in samples, to put before each file so that
// both start at the same time: the recording that started later (by
// Asterisk's clock) starts later in the stereo file.
func (r *recorder) skew() [2]int {
	var at [2]time.Time
	for i, l := range r.legs {
		l.mu.Lock()
		at[i] = l.startedAt
		l.mu.Unlock()
		if at[i].IsZero() {
			return [2]int{}
		}
	}
	diff := at[1].Sub(at[0])
	if diff > maxStartSkew || diff < -maxStartSkew {
		return [2]int{}
	}
	n := int(diff.Abs() * sampleRate / time.Second)
	if diff > 0 {
		return [2]int{0, n}
	}
	return [2]int{n, 0}
}

// blankRanges returns the pauses that could not be muted as sample ranges
// [from, to) of the stereo file, widened by blankMargin; r.mu is held.
func (r *recorder) blankRanges() [][2]int {
	out := make([][2]int, 0, len(r.pauses))
	for _, p := range r.pauses {
		from := int((p.from.Sub(r.begun) - blankMargin) * sampleRate / time.Second)
		to := int((p.to.Sub(r.begun) + blankMargin) * sampleRate / time.Second)
		out = append(out, [2]int{max(from, 0), to})
	}
	return out
}

// blank silences, in a frame starting at sample offset, the samples inside
// ranges.
func blank(ranges [][2]int, offset int, frames ...[]int16) {
	for _, rg := range ranges {
		from, to := max(rg[0]-offset, 0), min(rg[1]-offset, frameSamples)
		if from >= to {
			continue
		}
		for _, f := range frames {
			clear(f[from:to])
		}
	}
}

// discard undoes a recording that could not start: hangs up its snoop
// channels, deletes whatever was recorded.
func (r *recorder) discard() {
	d := r.c.d
	r.mu.Lock()
	r.stopped = true // its snoops end by ivrd's hand, not the call's
	r.mu.Unlock()
	defer d.removeLegs(r.legs[:])
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.c.ctx), 2*d.cfg.RequestTimeout)
	defer cancel()
	for _, l := range r.legs {
		if err := d.rest.hangup(ctx, l.name, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
			r.log.Warn("hang up snoop channel", "name", l.name, "err", err)
		}
	}
	for _, l := range r.legs {
		// Hung up, the snoop channel ends its recording, if it started.
		r.waitFinished(ctx, l)
		if err := d.rest.deleteStored(ctx, l.name); err != nil && !errors.Is(err, ErrNotFound) {
			r.log.Error("delete recording from Asterisk's spool", "name", l.name, "err", err)
		}
	}
}

// forgetRecorder drops a stopped recorder from the call.
func (c *call) forgetRecorder(r *recorder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.recorders {
		if x == r {
			c.recorders = append(c.recorders[:i], c.recorders[i+1:]...)
			return
		}
	}
}

// stopRecorders stops the recordings still running, so that nothing of
// the call stays in Asterisk's spool. When the handler returned, a
// recording still running was forgotten (warned). Once a call continued in
// the dialplan is gone, its recording ends as it should: the engine stops
// it too, and the first Stop does the work.
func (c *call) stopRecorders(forgotten bool) {
	c.mu.Lock()
	rs := c.recorders
	c.recorders = nil
	c.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		running := !r.stopped
		r.mu.Unlock()
		switch {
		case running && forgotten:
			r.log.Warn("recording still running when the call's handler returned; stopping it")
		case running:
			r.log.Info("call gone; stopping the recording of its agent conversation")
		}
		if err := r.Stop(context.Background()); err != nil {
			r.log.Error("stop recording", "err", err)
		}
	}
}

func (d *Driver) addLegs(legs []*leg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range legs {
		d.legs[l.name] = l
	}
}

func (d *Driver) removeLegs(legs []*leg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range legs {
		delete(d.legs, l.name)
	}
}

func (d *Driver) leg(name string) *leg {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.legs[name]
}

// snoopEnded notes that a snoop channel left the application. Unless the
// recording is being stopped, Asterisk hung it up because the channel it
// spies on is gone: the only sign of it the application may get once the
// call went on in the dialplan.
func (d *Driver) snoopEnded(id string) {
	l := d.leg(id)
	if l == nil || l.r == nil {
		return
	}
	r := l.r
	r.mu.Lock()
	stopping := r.stopped
	r.mu.Unlock()
	if stopping || r.c.gone.done() {
		return
	}
	r.log.Info("snoop channel ended: the call is gone", "name", l.name)
	r.c.gone.fire()
}

// isSnoop reports whether a channel entering the application is one of the
// driver's snoop channels rather than a call.
func isSnoop(e *ari.StasisStart) bool {
	return len(e.Args) == 1 && e.Args[0] == snoopMarker && strings.HasPrefix(e.Channel.Name, "Snoop/")
}

// snoopEntered notes that a snoop channel runs in the application. A snoop
// channel of this application that no recording owns was left by an ivrd
// that stopped: it is hung up.
func (d *Driver) snoopEntered(e *ari.StasisStart) {
	id := e.Channel.ID
	if l := d.leg(id); l != nil {
		l.entered.fire()
		return
	}
	if !strings.HasPrefix(id, recordingPrefix(d.cfg.App)) {
		d.log.Debug("snoop channel of another client", "channel", id)
		return
	}
	d.log.Warn("hang up a snoop channel no recording owns", "channel", id)
	d.handlers.Add(1)
	go func() {
		defer d.handlers.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.RequestTimeout)
		defer cancel()
		if err := d.rest.hangup(ctx, id, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Warn("hang up snoop channel", "channel", id, "err", err)
		}
	}()
}

// recordingEvent passes a recording's events to its leg.
func (d *Driver) recordingEvent(ev ari.Event) {
	switch e := ev.(type) {
	case *ari.RecordingStarted:
		if l := d.leg(e.Recording.Name); l != nil {
			l.mu.Lock()
			l.startedAt = time.Time(e.Timestamp)
			l.mu.Unlock()
			l.started.fire()
		}
	case *ari.RecordingFinished:
		if l := d.leg(e.Recording.Name); l != nil {
			l.finished.fire()
		}
	case *ari.RecordingFailed:
		if l := d.leg(e.Recording.Name); l != nil {
			l.mu.Lock()
			l.failure = e.Recording.Cause
			l.mu.Unlock()
			l.started.fire()
			l.finished.fire()
		}
	}
}

// sweepRecordings removes what recordings of this application left in
// Asterisk when an ivrd stopped without stopping them (a crash, a kill):
// their snoop channels are hung up and their files deleted from the spool,
// each logged. Their audio is lost to ivrd, which no longer knows the
// recording it belonged to; the recordings store reports those on its
// side. Recordings of calls in progress are left alone.
func (d *Driver) sweepRecordings(ctx context.Context) {
	prefix := recordingPrefix(d.cfg.App)
	stale := func(name string) bool { return strings.HasPrefix(name, prefix) && d.leg(name) == nil }

	chans, err := d.rest.channelIDs(ctx)
	if err != nil {
		d.log.Warn("list channels", "err", err)
		return
	}
	for _, id := range chans {
		if !stale(id) {
			continue
		}
		if err := d.rest.hangup(ctx, id, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Warn("hang up stale snoop channel", "channel", id, "err", err)
			continue
		}
		d.log.Warn("hung up a snoop channel left by an ivrd that stopped", "channel", id)
	}

	names, err := d.rest.storedRecordings(ctx)
	if err != nil {
		d.log.Warn("list stored recordings", "err", err)
		return
	}
	var left []string
	for _, name := range names {
		if !stale(name) {
			continue
		}
		if err := d.rest.stopRecording(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Warn("stop stale recording", "name", name, "err", err)
		}
		left = append(left, name)
	}
	deadline := time.Now().Add(sweepWait)
	for _, name := range left {
		for time.Now().Before(deadline) {
			if live, err := d.rest.recordingLive(ctx, name); err != nil || !live {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := d.rest.deleteStored(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Error("delete stale recording from Asterisk's spool", "name", name, "err", err)
			continue
		}
		d.log.Warn("deleted a recording left in Asterisk's spool by an ivrd that stopped; its audio is lost", "name", name)
	}
}
