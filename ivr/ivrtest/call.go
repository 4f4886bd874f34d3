package ivrtest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// Call is a scripted ivr.Call on a fake Clock. Prompts last a configured
// time of the clock; keys arrive at scripted clock times. It records what
// the engine did, with clock times.
//
// Set Durations and DefaultDuration before the call is served.
type Call struct {
	// Durations gives a prompt's length by Audio.Text; a Play lasts the sum
	// of its prompts.
	Durations map[string]time.Duration
	// DefaultDuration is the length of a prompt missing from Durations.
	DefaultDuration time.Duration
	// Length, when set, gives the length of a prompt missing from
	// Durations instead of DefaultDuration.
	Length func(ivr.Audio) time.Duration
	// OnHangup, when set, runs after the first Hangup, as a driver that
	// cancels the call's context once it has sent its BYE.
	OnHangup func(reason string)
	// Phone scripts the agents' phones the call rings (ivr.Dialer): it gets
	// each request and its ringing leg, and schedules what the phone does
	// (leg.AnswerAfter, leg.FailAfter). Nil: Dial fails.
	Phone func(r ivr.DialRequest, leg *Leg)

	clock               *Clock
	id, caller, dialled string
	dtmf                chan ivr.DTMF
	mu                  sync.Mutex
	plays               []*Play
	answered            bool
	hangupReason        string
	hungUp              bool
	playErr             error
	dials               []ivr.DialRequest
	bridged             []ivr.Leg
}

// Play is one Play call on a Call; times are since the clock's start.
type Play struct {
	Text    string        // the prompts' non-empty Audio.Text, joined by spaces
	At      time.Duration // when Play was called
	End     time.Duration // when it ended or was stopped; -1 while playing
	Stopped bool          // Stop was called before the end
}

var (
	_ ivr.Call    = (*Call)(nil)
	_ ivr.Dialer  = (*Call)(nil)
	_ ivr.Bridger = (*Call)(nil)
)

// NewCall returns a call from caller to dialled, with prompts lasting one
// second unless told otherwise.
func NewCall(clock *Clock, id, caller, dialled string) *Call {
	return &Call{
		Durations:       map[string]time.Duration{},
		DefaultDuration: time.Second,
		clock:           clock,
		id:              id,
		caller:          caller,
		dialled:         dialled,
		dtmf:            make(chan ivr.DTMF, 64),
	}
}

// ID implements ivr.Call.
func (c *Call) ID() string { return c.id }

// Caller implements ivr.Call.
func (c *Call) Caller() string { return c.caller }

// Dialled implements ivr.Call.
func (c *Call) Dialled() string { return c.dialled }

// DTMF implements ivr.Call.
func (c *Call) DTMF() <-chan ivr.DTMF { return c.dtmf }

// Answer implements ivr.Call.
func (c *Call) Answer(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answered = true
	return nil
}

// Hangup implements ivr.Call.
func (c *Call) Hangup(_ context.Context, reason string) error {
	c.mu.Lock()
	first := !c.hungUp
	if first {
		c.hungUp, c.hangupReason = true, reason
	}
	after := c.OnHangup
	c.mu.Unlock()
	if first && after != nil {
		after(reason)
	}
	return nil
}

// FailPlay makes every later Play fail with err.
func (c *Call) FailPlay(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.playErr = err
}

// Play implements ivr.Call: the playback ends after the prompts' durations
// on the clock, or at once when stopped.
func (c *Call) Play(_ context.Context, prompts []ivr.Audio) (ivr.Playback, error) {
	c.mu.Lock()
	if c.playErr != nil {
		c.mu.Unlock()
		return nil, c.playErr
	}
	var d time.Duration
	texts := make([]string, 0, len(prompts))
	for _, a := range prompts {
		if a.Text != "" {
			texts = append(texts, a.Text)
		}
		switch l, ok := c.Durations[a.Text]; {
		case ok:
			d += l
		case c.Length != nil:
			d += c.Length(a)
		default:
			d += c.DefaultDuration
		}
	}
	p := &Play{Text: strings.Join(texts, " "), At: c.clock.Elapsed(), End: -1}
	c.plays = append(c.plays, p)
	c.mu.Unlock()

	pb := &playback{call: c, play: p, done: make(chan struct{})}
	pb.cancel = c.clock.AfterFunc(d, func() { pb.end(false) })
	return pb, nil
}

// Dial implements ivr.Dialer with the Phone script.
func (c *Call) Dial(_ context.Context, r ivr.DialRequest) (ivr.Ringing, error) {
	c.mu.Lock()
	c.dials = append(c.dials, r)
	phone := c.Phone
	c.mu.Unlock()
	if phone == nil {
		return nil, errors.New("dial: no phone script")
	}
	leg := newLeg(c.clock)
	phone(r, leg)
	return leg, nil
}

// Dials returns the requests Dial got.
func (c *Call) Dials() []ivr.DialRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dials)
}

// Bridge implements ivr.Bridger: it lasts until the leg ends (nil) or the
// call's context is done (its cause).
func (c *Call) Bridge(ctx context.Context, leg ivr.Leg) error {
	c.mu.Lock()
	c.bridged = append(c.bridged, leg)
	c.mu.Unlock()
	select {
	case <-leg.Done():
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Bridged returns the legs Bridge got.
func (c *Call) Bridged() []ivr.Leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.bridged)
}

// Press delivers keys now, in order.
func (c *Call) Press(keys string) {
	for _, k := range keys {
		select {
		case c.dtmf <- ivr.DTMF{Digit: k, At: c.clock.Now(), Via: "fake"}:
		default:
		}
	}
}

// PressAt delivers keys when the clock reaches start+at; several keys
// are delivered one per clock step, in order, at that same time.
func (c *Call) PressAt(at time.Duration, keys string) {
	for _, k := range keys {
		c.clock.At(at, func() { c.Press(string(k)) })
	}
}

// Plays returns a copy of the plays so far.
func (c *Call) Plays() []Play {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Play, len(c.plays))
	for i, p := range c.plays {
		out[i] = *p
	}
	return out
}

// Answered reports whether Answer was called.
func (c *Call) Answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// HungUp reports whether Hangup was called, and its first reason.
func (c *Call) HungUp() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hangupReason, c.hungUp
}

type playback struct {
	call   *Call
	play   *Play
	done   chan struct{}
	cancel func() bool
	once   sync.Once
}

func (p *playback) Done() <-chan struct{} { return p.done }

func (p *playback) Stop() {
	if p.cancel() {
		p.end(true)
	}
}

func (p *playback) end(stopped bool) {
	p.once.Do(func() {
		p.call.mu.Lock()
		p.play.End = p.call.clock.Elapsed()
		p.play.Stopped = stopped
		p.call.mu.Unlock()
		close(p.done)
	})
}
