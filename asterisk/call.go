package asterisk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ivrd/ivrd/ivr"
)

// dtmfBuffer is how many keys a call buffers for an engine busy elsewhere,
// as in the SIP driver. Keys beyond it are dropped and logged.
const dtmfBuffer = 32

// call is one channel in the Stasis application, the driver's ivr.Call.
// Events reach it from the driver's reader goroutine; the handler runs on
// its own goroutine.
type call struct {
	d       *Driver
	log     *slog.Logger
	id      string
	caller  string
	dialled string
	ctx     context.Context
	cancel  context.CancelCauseFunc
	dtmf    chan ivr.DTMF

	mu          sync.Mutex
	answered    bool
	hungUp      bool
	transferred bool
	playbacks   map[string]*playback
	hold        *hold       // the holding bridge the call waits in, if any
	recordings  int         // recordings started, to name the next one
	recorders   []*recorder // recordings not stopped yet
	legs        []*agentLeg // agents' phones rung and not over yet
	bridges     []string    // the mixing bridges the call talks to agents in

	// gone is fired when the channel is really over: hung up or destroyed,
	// its recording's snoop channels ended on their own, or the driver no
	// longer follows it. A call continued in the dialplan outlives its
	// context; its recordings go on until gone.
	gone *signal
}

var (
	_ ivr.Call       = (*call)(nil)
	_ ivr.Transferer = (*call)(nil)
	_ ivr.Holder     = (*call)(nil)
	_ ivr.Lingerer   = (*call)(nil)
)

func newCall(d *Driver, e *ari.StasisStart, log *slog.Logger) *call {
	ch := e.Channel
	c := &call{
		d:         d,
		log:       log,
		id:        ch.ID,
		dtmf:      make(chan ivr.DTMF, dtmfBuffer),
		answered:  ch.State == "Up",
		playbacks: map[string]*playback{},
		gone:      newSignal(),
	}
	if ch.Caller != nil {
		c.caller = ch.Caller.Number
	}
	// The dialplan passes the number dialled: Stasis(ivrd,${EXTEN}).
	if len(e.Args) > 0 && e.Args[0] != "" {
		c.dialled = e.Args[0]
	} else if ch.Dialplan != nil {
		c.dialled = ch.Dialplan.Exten
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

func (c *call) ID() string      { return c.id }
func (c *call) Caller() string  { return c.caller }
func (c *call) Dialled() string { return c.dialled }

// Gone is closed when the channel is over (ChannelHangupRequest or
// ChannelDestroyed, or, once the call went on in the dialplan where the
// application may no longer hear of the channel, the end of its
// recording's snoop channels), when the driver stops following the call
// (its handler returned and nothing records it) or when the driver stops.
func (c *call) Gone() <-chan struct{} { return c.gone.c }

// DTMF delivers ChannelDtmfReceived events; never closed.
func (c *call) DTMF() <-chan ivr.DTMF { return c.dtmf }

func (c *call) deliver(digit string, at time.Time) {
	if len(digit) != 1 || !strings.ContainsRune("0123456789*#ABCD", rune(digit[0])) {
		c.log.Debug("dtmf: unknown digit", "digit", digit)
		return
	}
	select {
	case c.dtmf <- ivr.DTMF{Digit: rune(digit[0]), At: at, Via: "ari"}:
	default:
		c.log.Warn("dtmf buffer full, key dropped", "digit", digit)
	}
}

// end cancels the call's context with cause (the first cause wins) and
// ends its playbacks.
func (c *call) end(cause error) {
	c.mu.Lock()
	if c.transferred {
		cause = ErrTransferred // StasisEnd after the continue, or the handler's return
	}
	pbs := c.playbacks
	c.playbacks = map[string]*playback{}
	c.mu.Unlock()
	c.cancel(cause)
	for _, p := range pbs {
		p.finish()
	}
}

// Answer answers the channel once.
func (c *call) Answer(ctx context.Context) error {
	c.mu.Lock()
	done := c.answered
	c.mu.Unlock()
	if done {
		return nil
	}
	if err := c.d.rest.answer(ctx, c.id); err != nil {
		if cause := context.Cause(c.ctx); cause != nil {
			return fmt.Errorf("answer call: %w", cause)
		}
		return fmt.Errorf("answer call: %w", err)
	}
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.log.Info("answered")
	return nil
}

// Play starts one ARI playback of all the prompts.
func (c *call) Play(ctx context.Context, prompts []ivr.Audio) (ivr.Playback, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	media := c.d.mediaURIs(c.log, prompts)
	p := &playback{c: c, id: newID("ivrd-pb-"), done: make(chan struct{})}
	if len(media) == 0 {
		p.finish()
		return p, nil
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("play: %w", context.Cause(c.ctx))
	}
	// Registered before the request: PlaybackFinished may come first.
	c.playbacks[p.id] = p
	c.mu.Unlock()
	if err := c.d.rest.play(ctx, c.id, p.id, media); err != nil {
		c.forget(p.id)
		if cause := context.Cause(c.ctx); cause != nil {
			return nil, fmt.Errorf("play: %w", cause)
		}
		return nil, fmt.Errorf("play: %w", err)
	}
	return p, nil
}

func (c *call) forget(id string) *playback {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.playbacks[id]
	delete(c.playbacks, id)
	return p
}

func (c *call) finishPlayback(id string) {
	if p := c.forget(id); p != nil {
		p.finish()
	}
}

// reconcilePlaybacks finishes the playbacks ARI no longer knows.
func (c *call) reconcilePlaybacks(ctx context.Context) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.playbacks))
	for id := range c.playbacks {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		if ok, err := c.d.rest.playbackExists(ctx, id); err == nil && !ok {
			c.finishPlayback(id)
		}
	}
}

// Hangup deletes the channel once. A channel already gone is no error.
func (c *call) Hangup(ctx context.Context, reason string) error {
	c.mu.Lock()
	if c.hungUp || c.transferred {
		c.mu.Unlock()
		return nil
	}
	c.hungUp = true
	c.mu.Unlock()
	defer c.end(ErrHungUp)
	if errors.Is(context.Cause(c.ctx), ivr.ErrCallerHangup) {
		return nil
	}
	// The hang-up must go out even when the call's context is what ended.
	ctx = context.WithoutCancel(ctx)
	c.log.Info("hang up", "reason", reason)
	if err := c.d.rest.hangup(ctx, c.id, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("hang up: %w", err)
	}
	return nil
}

// TransferToQueue continues the channel in the dialplan for queues whose
// handoff mode is dialplan, with the IVR's context in channel variables.
func (c *call) TransferToQueue(ctx context.Context, ct ivr.Contact) (bool, error) {
	h, ok := c.d.cfg.Handoff[ct.Queue]
	if !ok || h.Mode != HandoffDialplan {
		return false, nil
	}
	for _, v := range handoffVars(ct, agentRecording(ct)) {
		if err := c.d.rest.setVar(ctx, c.id, v[0], v[1]); err != nil {
			return false, fmt.Errorf("set %s: %w", v[0], err)
		}
	}
	c.mu.Lock()
	c.transferred = true
	c.mu.Unlock()
	// A continue that works ends the call's context (StasisEnd), at times
	// before its answer comes back: the request must outlive it.
	if err := c.d.rest.continueIn(context.WithoutCancel(ctx), c.id, h.Context, h.Extension, h.Priority); err != nil {
		c.mu.Lock()
		c.transferred = false
		c.mu.Unlock()
		return false, fmt.Errorf("continue to %s,%s,%d: %w", h.Context, h.Extension, h.Priority, err)
	}
	c.log.Info("continued in dialplan", "queue", ct.Queue, "context", h.Context, "extension", h.Extension, "priority", h.Priority)
	return true, nil
}

// handoffVars are the channel variables a dialplan queue gets, in the
// order they are set. The recording ones are set first and inherited (the
// __ prefix) by every channel the dialplan creates from this one, the
// agent's included, so that the dialplan can honour the caller's choice on
// every leg:
//
//   - IVRD_RECORDING_CONSENT: accepted, refused, or empty when the flow did
//     not ask;
//   - IVRD_RECORD: 1 when ivrd records the agent conversation itself (the
//     queue asks for it and the caller accepted), else 0. The dialplan must
//     not record these calls: ivrd's recordings store keeps retention,
//     encryption and audit.
func handoffVars(ct ivr.Contact, recordAgent bool) [][2]string {
	vars, err := json.Marshal(ct.Vars)
	if err != nil || ct.Vars == nil {
		vars = []byte("{}")
	}
	consent := ""
	switch c := ivr.ConsentChoice(ct.Vars[ivr.VarConsent]); c {
	case ivr.ConsentAccepted, ivr.ConsentRefused:
		consent = string(c)
	}
	record := "0"
	if recordAgent && consent == string(ivr.ConsentAccepted) {
		record = "1"
	}
	return [][2]string{
		{"__IVRD_RECORDING_CONSENT", consent},
		{"__IVRD_RECORD", record},
		{"IVRD_QUEUE", ct.Queue},
		{"IVRD_INTENT", ct.Intent},
		{"IVRD_CONTACT_ID", ct.ID},
		{"IVRD_LANGUAGE", ct.Language},
		{"IVRD_PRIORITY", strconv.Itoa(ct.Priority)},
		{"IVRD_SKILLS", strings.Join(ct.Skills, ",")},
		{"IVRD_VARS", string(vars)},
	}
}

// agentRecording reports whether the queue asks for the agent conversation
// to be recorded (the queue node's record: true); handoffVars records only
// with an accepted consent.
func agentRecording(ct ivr.Contact) bool { return ct.Record }

// playback is one ARI playback, the driver's ivr.Playback.
type playback struct {
	c        *call
	id       string
	done     chan struct{}
	doneOnce sync.Once
	stopOnce sync.Once
}

func (p *playback) Done() <-chan struct{} { return p.done }

func (p *playback) finish() { p.doneOnce.Do(func() { close(p.done) }) }

// Stop deletes the playback. The request is sent before Stop returns, so a
// Play that follows cannot reach Asterisk first and be queued behind the
// prompt being stopped. Done still closes on PlaybackFinished.
func (p *playback) Stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		ctx := context.WithoutCancel(p.c.ctx)
		err := p.c.d.rest.stopPlayback(ctx, p.id)
		switch {
		case errors.Is(err, ErrNotFound):
			p.c.finishPlayback(p.id) // already over
		case err != nil && p.c.ctx.Err() == nil:
			p.c.log.Warn("stop playback", "playback", p.id, "err", err)
		}
	})
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
