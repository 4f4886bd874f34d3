package asterisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ivrd/ivrd/ivr"
)

// Agents' phones under Asterisk: the driver originates the agent's channel
// into its own Stasis application, marked so that no flow runs on it, and
// follows it by its events: StasisStart is the answer, ChannelDestroyed
// (with its hang-up cause) the end. Once answered, Bridge puts it and the
// caller's channel in a mixing bridge.

const (
	// agentMarker is the Stasis argument of the agents' channels: their
	// StasisStart is an answer, not a call.
	agentMarker = "ivrd-agent"
	// defaultRingTimeout bounds the ringing when the dial request gives no
	// timeout.
	defaultRingTimeout = 30 * time.Second
	// ringBackstop is how much longer than the driver's own timer Asterisk
	// lets a phone ring: the driver ends the ringing and knows why; should
	// its request be lost, Asterisk still ends it.
	ringBackstop = 2 * time.Second
)

// Q.850 hang-up causes Asterisk reports for a phone that did not answer.
const (
	causeBusy       = 17 // SIP 486, 600
	causeNoResponse = 18 // SIP 408
	causeNoAnswer   = 19 // SIP 480, or a ring timeout
	causeRejected   = 21 // SIP 603
)

// agentPrefix starts the channel ids of application app's agents' legs,
// so that those left by an ivrd that stopped can be told from others.
func agentPrefix(app string) string { return "ivrd-agent-" + safeName(app, false) + "-" }

// agentBridgeName names the mixing bridges of application app in which
// callers talk to agents.
func agentBridgeName(app string) string { return "ivrd-agent:" + app }

// agentLeg is an agent's phone the driver rings for a caller, the
// driver's ivr.Ringing. Its state changes come from the driver's event
// reader, its timer and Hangup.
type agentLeg struct {
	d        *Driver
	c        *call // the caller's call; nil for a leg the driver owns (Driver.Dial)
	id       string
	endpoint string
	log      *slog.Logger
	answered *signal
	done     *signal

	mu        sync.Mutex
	ringFor   time.Duration
	timer     *time.Timer
	ended     bool
	hungUp    bool // Hangup was called
	timedOut  bool // the driver's ring timeout ended the ringing
	cause     int  // the last hang-up cause Asterisk reported
	causeText string
	err       error // why it ended without an answer; set before done fires
}

var (
	_ ivr.Dialer  = (*call)(nil)
	_ ivr.Ringing = (*agentLeg)(nil)
)

// Done is closed when the agent's channel is over: hung up by either
// side, failed, or destroyed.
func (l *agentLeg) Done() <-chan struct{} { return l.done.c }

// Answered is closed when the agent's phone answered: its channel entered
// the application.
func (l *agentLeg) Answered() <-chan struct{} { return l.answered.c }

// Err says why the phone did not take the call once Done is closed
// without an answer; nil otherwise.
func (l *agentLeg) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Dial rings the agent's phone: Offer.Dial if set, else
// PJSIP/<AgentEndpoint>/<Offer.Phone>. The channel enters the application
// when answered, with the caller's number as caller ID. It fails at once
// when Asterisk refuses the dial string.
func (c *call) Dial(ctx context.Context, r ivr.DialRequest) (ivr.Ringing, error) {
	return c.d.dial(ctx, r, c)
}

// Dial rings an agent's phone for no caller's call: an agent-first
// callback takes the agent before the customer is called. It works as a
// call's Dial (the phone shows r.Contact.Caller, the customer's number),
// and its leg is the driver's own: any call of the driver bridges to it
// (the customer's call of Originate, in a mixing bridge). Since no call
// hangs it up when it ends, whoever dialled hangs the leg up; the driver
// does so only for the legs still up when it stops.
func (d *Driver) Dial(ctx context.Context, r ivr.DialRequest) (ivr.Ringing, error) {
	return d.dial(ctx, r, nil)
}

// dial rings an agent's phone for the call c, or for the driver when c is
// nil.
func (d *Driver) dial(ctx context.Context, r ivr.DialRequest, c *call) (ivr.Ringing, error) {
	endpoint, err := d.dialString(r.Offer)
	if err != nil {
		return nil, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = defaultRingTimeout
	}
	l := &agentLeg{
		d:        d,
		c:        c,
		id:       newID(agentPrefix(d.cfg.App)),
		endpoint: endpoint,
		answered: newSignal(),
		done:     newSignal(),
		ringFor:  timeout,
	}
	shown, originator := callerID(r.Contact.Caller), ""
	if c != nil {
		l.log = c.log.With("agent", r.Offer.Agent, "agent_channel", l.id)
		shown, originator = callerID(c.caller), c.id
		c.mu.Lock()
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("ring agent: %w", context.Cause(c.ctx))
		}
		c.legs = append(c.legs, l)
		c.mu.Unlock()
	} else {
		l.log = d.log.With("agent", r.Offer.Agent, "agent_channel", l.id, "contact_id", r.Contact.ID)
		if err := context.Cause(ctx); err != nil {
			return nil, fmt.Errorf("ring agent: %w", err)
		}
	}
	// Known before it exists: its events may come before the answer to the
	// request.
	d.mu.Lock()
	if c == nil && d.stopping {
		d.mu.Unlock()
		return nil, fmt.Errorf("ring agent: %w", ivr.ErrShutdown)
	}
	d.agents[l.id] = l
	d.mu.Unlock()
	ringSecs := int(math.Ceil((timeout + ringBackstop).Seconds()))
	if err := d.rest.originate(ctx, l.id, endpoint, d.cfg.App, agentMarker, shown, originator, ringSecs); err != nil {
		// The request may have reached Asterisk all the same.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.RequestTimeout)
		_ = d.rest.hangup(hctx, l.id, "normal")
		cancel()
		l.mu.Lock()
		l.hungUp = true
		l.mu.Unlock()
		l.end()
		return nil, fmt.Errorf("ring agent %s at %s: %w", r.Offer.Agent, endpoint, err)
	}
	l.mu.Lock()
	if !l.ended && !l.answered.done() {
		l.timer = time.AfterFunc(timeout, l.ringOut)
	}
	l.mu.Unlock()
	l.log.Info("ringing agent", "endpoint", endpoint, "timeout", timeout)
	return l, nil
}

// dialString is the Asterisk dial string of an offer's agent.
func (d *Driver) dialString(o ivr.Offer) (string, error) {
	if o.Dial != "" {
		return o.Dial, nil
	}
	phone := o.Phone
	lower := strings.ToLower(phone)
	switch {
	case phone == "":
		return "", fmt.Errorf("ring agent %s: no phone and no dial string", o.Agent)
	case !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:"):
		return "", fmt.Errorf("ring agent %s: phone %q is not a sip: URI", o.Agent, phone)
	case strings.ContainsAny(phone, "&, \t\r\n"):
		// & would dial a second channel; , ends the dial string's part.
		return "", fmt.Errorf("ring agent %s: phone %q has characters a dial string cannot hold", o.Agent, phone)
	}
	return "PJSIP/" + d.cfg.AgentEndpoint + "/" + phone, nil
}

// callerID is what the agent's phone shows: the caller's number, in the
// <number> form of ARI's callerId, so that Asterisk never reads it as a
// name; empty when the caller has none.
func callerID(number string) string {
	n := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`"<>`, r) || r < ' ' {
			return -1
		}
		return r
	}, number)
	if n == "" {
		return ""
	}
	return "<" + n + ">"
}

// ringOut ends the ringing once the ring timeout passed.
func (l *agentLeg) ringOut() {
	l.mu.Lock()
	if l.ended || l.hungUp || l.answered.done() {
		l.mu.Unlock()
		return
	}
	l.timedOut = true
	l.mu.Unlock()
	l.log.Info("agent did not answer; cancelling", "timeout", l.ringFor)
	ctx, cancel := context.WithTimeout(context.Background(), l.d.cfg.RequestTimeout)
	defer cancel()
	err := l.d.rest.hangup(ctx, l.id, "no_answer")
	switch {
	case errors.Is(err, ErrNotFound):
		l.end()
	case err != nil:
		l.log.Warn("cancel agent's phone", "err", err)
	}
}

// answer notes the agent's channel entering the application: the phone
// answered.
func (l *agentLeg) answer() {
	l.mu.Lock()
	if l.ended || l.hungUp || l.timedOut {
		// Answered as ivrd was cancelling it: the hang-up goes on.
		l.mu.Unlock()
		return
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.answered.fire()
	l.log.Info("agent answered")
}

// hangupCause notes a hang-up cause Asterisk reported for the channel.
func (l *agentLeg) hangupCause(cause int, text string) {
	if cause == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cause, l.causeText = cause, text
}

// end notes that the agent's channel is over and fires Done, once.
func (l *agentLeg) end() {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	if l.timer != nil {
		l.timer.Stop()
	}
	if !l.answered.done() {
		l.err = l.failure()
	}
	err, cause := l.err, l.cause
	l.mu.Unlock()
	l.d.removeAgent(l)
	if l.c != nil {
		l.c.forgetLeg(l)
	}
	if err != nil {
		l.log.Info("agent's phone did not take the call", "cause", cause, "err", err)
	} else {
		l.log.Info("agent's leg ended", "cause", cause)
	}
	l.done.fire()
}

// failure says why the phone did not answer; l.mu is held.
func (l *agentLeg) failure() error {
	switch {
	case l.timedOut:
		return fmt.Errorf("ring agent: no answer within %v: %w", l.ringFor, ivr.ErrAgentNoAnswer)
	case l.hungUp:
		return fmt.Errorf("ring agent: %w", ErrAgentCancelled)
	}
	return causeError(l.cause, l.causeText)
}

// causeError maps the hang-up cause of a phone that did not answer to the
// engine's reasons.
func causeError(cause int, text string) error {
	if text == "" {
		text = "unknown"
	}
	var why error
	switch cause {
	case causeBusy:
		why = ivr.ErrAgentBusy
	case causeRejected:
		why = ivr.ErrAgentDeclined
	case causeNoResponse, causeNoAnswer:
		why = ivr.ErrAgentNoAnswer
	default:
		return fmt.Errorf("ring agent: hang-up cause %d (%s)", cause, text)
	}
	return fmt.Errorf("ring agent: hang-up cause %d (%s): %w", cause, text, why)
}

// Hangup cancels the phone while it rings, or hangs up the agent once
// answered, and returns once Asterisk reports the channel over. It is
// idempotent, and sends its request even when ctx is done; ctx bounds the
// wait.
func (l *agentLeg) Hangup(ctx context.Context, reason string) error {
	l.mu.Lock()
	first := !l.ended && !l.hungUp
	l.hungUp = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	if first {
		l.log.Info("hang up agent's leg", "reason", reason)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.d.cfg.RequestTimeout)
		err := l.d.rest.hangup(rctx, l.id, "normal")
		cancel()
		switch {
		case errors.Is(err, ErrNotFound):
			l.end()
		case err != nil:
			return fmt.Errorf("hang up agent: %w", err)
		}
	}
	if l.done.done() {
		return nil
	}
	t := time.NewTimer(l.d.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case <-l.done.c:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hang up agent: %w", context.Cause(ctx))
	case <-t.C:
	}
	// The events may be lost (a reconnecting websocket): ask.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.d.cfg.RequestTimeout)
	defer cancel()
	ok, err := l.d.rest.channelExists(rctx, l.id)
	switch {
	case err != nil:
		return fmt.Errorf("hang up agent: %w", err)
	case ok:
		return fmt.Errorf("hang up agent: channel %s still up after its hang-up", l.id)
	}
	l.end()
	return nil
}

// forgetLeg drops an ended agent's leg from the call.
func (c *call) forgetLeg(l *agentLeg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.legs {
		if x == l {
			c.legs = append(c.legs[:i], c.legs[i+1:]...)
			return
		}
	}
}

// hangupLegs hangs up the agents' legs still up when the caller's call is
// over: a phone still ringing is cancelled, an agent still there hung up.
func (c *call) hangupLegs() {
	c.mu.Lock()
	legs := append([]*agentLeg(nil), c.legs...)
	c.mu.Unlock()
	for _, l := range legs {
		ctx, cancel := context.WithTimeout(context.Background(), 2*c.d.cfg.RequestTimeout)
		if err := l.Hangup(ctx, "caller's call over"); err != nil {
			l.log.Warn("hang up agent's leg", "err", err)
		}
		cancel()
	}
}

// dropOwnLegs hangs up, once the driver stopped, the agents' legs it owns
// (Driver.Dial) that are still up. No event comes any more: the hang-up
// is sent and the leg ended at once.
func (d *Driver) dropOwnLegs() {
	d.mu.Lock()
	var own []*agentLeg
	for _, l := range d.agents {
		if l.c == nil {
			own = append(own, l)
		}
	}
	d.mu.Unlock()
	for _, l := range own {
		l.mu.Lock()
		first := !l.ended && !l.hungUp
		l.hungUp = true
		l.mu.Unlock()
		if first {
			l.log.Info("driver stopping: hang up agent's leg")
			ctx, cancel := context.WithTimeout(context.Background(), d.cfg.RequestTimeout)
			if err := d.rest.hangup(ctx, l.id, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
				l.log.Warn("hang up agent's leg", "err", err)
			}
			cancel()
		}
		l.end()
	}
}

func (d *Driver) removeAgent(l *agentLeg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.agents[l.id] == l {
		delete(d.agents, l.id)
	}
}

func (d *Driver) agent(id string) *agentLeg {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.agents[id]
}

// isAgent reports whether a channel entering the application is an
// agent's phone that answered rather than a call.
func isAgent(e *ari.StasisStart) bool {
	return len(e.Args) == 1 && e.Args[0] == agentMarker
}

// agentEntered notes that an agent's phone answered. An agent's channel of
// this application that no call rang was left by an ivrd that stopped
// while it rang: it is hung up.
func (d *Driver) agentEntered(e *ari.StasisStart) {
	id := e.Channel.ID
	if l := d.agent(id); l != nil {
		l.answer()
		return
	}
	d.hangupStale(id, "hang up an agent's channel no call rang")
}

// agentEvent passes the hang-up events of an agent's channel to its leg.
func (d *Driver) agentEvent(ev ari.Event) {
	switch e := ev.(type) {
	case *ari.ChannelHangupRequest:
		if l := d.agent(e.Channel.ID); l != nil {
			l.hangupCause(e.Cause, "")
			if l.answered.done() {
				l.end()
			}
		}
	case *ari.StasisEnd:
		// An answered channel leaving the application is over for ivrd.
		if l := d.agent(e.Channel.ID); l != nil && l.answered.done() {
			l.end()
		}
	case *ari.ChannelDestroyed:
		if l := d.agent(e.Channel.ID); l != nil {
			l.hangupCause(e.Cause, e.CauseTxt)
			l.end()
		}
	}
}

// hangupStale hangs up, in the background, a channel of this application
// that nothing of this ivrd owns.
func (d *Driver) hangupStale(id, msg string) {
	d.log.Warn(msg, "channel", id)
	d.handlers.Add(1)
	go func() {
		defer d.handlers.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.RequestTimeout)
		defer cancel()
		if err := d.rest.hangup(ctx, id, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Warn("hang up stale channel", "channel", id, "err", err)
		}
	}()
}

// reconcileAgents ends the agents' legs whose channel vanished while no
// events could arrive.
func (d *Driver) reconcileAgents(ctx context.Context) {
	d.mu.Lock()
	legs := make([]*agentLeg, 0, len(d.agents))
	for _, l := range d.agents {
		legs = append(legs, l)
	}
	d.mu.Unlock()
	for _, l := range legs {
		if ok, err := d.rest.channelExists(ctx, l.id); err == nil && !ok {
			l.log.Info("agent's channel vanished while ARI was disconnected")
			l.end()
		}
	}
}

// sweepAgents hangs up the agents' channels of this application that no
// call of this ivrd rang: those of an ivrd that stopped without hanging
// them up.
func (d *Driver) sweepAgents(ctx context.Context) {
	ids, err := d.rest.channelIDs(ctx)
	if err != nil {
		d.log.Warn("list channels", "err", err)
		return
	}
	prefixes := d.ownedChannelPrefixes()
	for _, id := range ids {
		owned := false
		for _, p := range prefixes {
			owned = owned || strings.HasPrefix(id, p)
		}
		if !owned || d.ownsChannel(id) {
			continue
		}
		if err := d.rest.hangup(ctx, id, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Warn("hang up stale agent's channel", "channel", id, "err", err)
			continue
		}
		d.log.Warn("hung up an agent's channel left by an ivrd that stopped", "channel", id)
	}
}
