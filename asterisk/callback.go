package asterisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ivrd/ivrd/ivr"
)

// Customers called back under Asterisk (ivr.Originator): the driver
// originates the customer's channel into its own Stasis application,
// marked so that its StasisStart is known for the answer of an outbound
// call rather than a new inbound call. Until then the channel is followed
// like an agent's phone (its ChannelDestroyed and hang-up cause say why it
// was not answered); once answered it becomes a call like any other, in
// the driver's calls, so that playing, keys, hold, recording and bridging
// to an agent work on it exactly as on an inbound call, and the
// reconnection checks and the shutdown treat it the same way.

// callbackMarker is the Stasis argument of customers' channels: their
// StasisStart is the answer of a call ivrd placed.
const callbackMarker = "ivrd-callback"

// numberParam is what stands for the customer's number in
// Config.CallbackEndpoint.
const numberParam = "{number}"

// maxNumberDigits bounds a number to call: E.164 allows 15 digits; the
// margin is for national prefixes a trunk may want.
const maxNumberDigits = 20

// Hang-up cause Asterisk reports for a call cleared normally before it was
// answered: the callee's side gave up ringing (or the network did).
const causeNormal = 16

// callbackPrefix starts the channel ids of application app's customers'
// channels, so that those left by an ivrd that stopped can be told from
// others.
func callbackPrefix(app string) string { return "ivrd-cb-" + safeName(app, false) + "-" }

// validNumber reports whether n is digits with an optional leading +, the
// only numbers the driver ever puts in a dial string.
func validNumber(n string) bool {
	digits := strings.TrimPrefix(n, "+")
	if digits == "" || len(digits) > maxNumberDigits {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CheckCallbackEndpoint checks a callback dial string template
// (Config.CallbackEndpoint): one channel, Tech/resource, with {number}
// where the customer's number goes and nothing that could make Asterisk
// dial something else (& adds a channel, , ends the dial string's part).
func CheckCallbackEndpoint(template string) error {
	if !strings.Contains(template, numberParam) {
		return fmt.Errorf("callback endpoint %q: no %s for the customer's number", template, numberParam)
	}
	rest := strings.ReplaceAll(template, numberParam, "")
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("callback endpoint %q: only %s may be in braces", template, numberParam)
	}
	for _, r := range template {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("&,|\"'`", r) {
			return fmt.Errorf("callback endpoint %q: %q has no place in a dial string of one channel", template, r)
		}
	}
	tech, resource, ok := strings.Cut(template, "/")
	if !ok || tech == "" || resource == "" {
		return fmt.Errorf("callback endpoint %q is not a dial string like PJSIP/%s@trunk", template, numberParam)
	}
	for _, r := range tech {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("callback endpoint %q: %q is not a channel technology", template, tech)
		}
	}
	return nil
}

// callbackDialString puts number in template; number must be digits with
// an optional leading +.
func callbackDialString(template, number string) (string, error) {
	if !validNumber(number) {
		return "", fmt.Errorf("call back %q: %w", number, ErrBadNumber)
	}
	return strings.ReplaceAll(template, numberParam, number), nil
}

// ParseCallerID reads the caller ID customers called back see
// (Config.CallbackCallerID): a number (+33123456789) or a name and a
// number ("Acme" <+33123456789>, Acme <0123456789>). It returns it in the
// form ARI's callerId takes, "name" <number> or <number>, so that
// Asterisk never reads a number for a name.
func ParseCallerID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if validNumber(s) {
		return "<" + s + ">", nil
	}
	open := strings.LastIndexByte(s, '<')
	if open < 0 || !strings.HasSuffix(s, ">") {
		return "", fmt.Errorf("caller id %q is not a number or \"name\" <number>", s)
	}
	number := s[open+1 : len(s)-1]
	if !validNumber(number) {
		return "", fmt.Errorf("caller id %q: %q is not digits with an optional leading +", s, number)
	}
	name := strings.TrimSpace(s[:open])
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		name = name[1 : len(name)-1]
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f || strings.ContainsRune(`"<>\`, r) {
			return "", fmt.Errorf("caller id %q: the name holds %q", s, r)
		}
	}
	if name == "" {
		return "<" + number + ">", nil
	}
	return `"` + name + `" <` + number + ">", nil
}

// dialout is a customer's phone ringing for Originate. The event reader
// records the hang-up cause and, on the answer, makes the customer's call;
// c and abandoned are guarded by the driver's mu, which settles the race
// between an answer and Originate giving up.
type dialout struct {
	id       string
	log      *slog.Logger
	number   string
	answered *signal // c is set
	done     *signal // the channel is over without an answer

	// guarded by Driver.mu
	c         *call // the customer's call, once answered
	abandoned bool  // Originate gave up: an answer from now on is not taken
	requested bool  // Asterisk created the channel: it can be looked up
	cause     int
	causeText string
}

var _ ivr.Originator = (*Driver)(nil)

// Originate calls the customer r.Number through Config.CallbackEndpoint and
// blocks, as ivr.Originator says. The channel is originated into the
// driver's application with Config.CallbackCallerID and the variables
// IVRD_CALLBACK_ID, IVRD_CALLBACK_QUEUE and IVRD_CALLBACK_ATTEMPT (also
// sent as X-IVRD-Callback-ID and X-IVRD-Callback-Attempt headers when the
// endpoint is PJSIP, for the trunk's logs). It rings for the shorter of
// r.Timeout (the flow's) and Config.CallbackRingTimeout (the trunk's), so
// that each bounds the ringing as its author expects.
//
// Answered, the customer's channel becomes a call of the driver (the same
// ivr.Call as an inbound one, with its Bridger, Holder and Recordable) and
// serve runs with it on the calling goroutine; serve's context ends with
// ivr.ErrCallerHangup when the customer hangs up, with the cause of ctx
// when ctx ends, and with ivr.ErrShutdown when the driver stops. The
// customer is hung up when serve returns, unless serve handed the call to
// the dialplan, and Originate returns nil (an error if serve panicked).
//
// Not answered, it returns an error wrapping ivr.ErrCalleeBusy (cause 17),
// ivr.ErrCalleeNoAnswer (18, 19, 16 before an answer, or the ring timeout,
// after which the driver cancels the call), ivr.ErrCalleeRejected (21), or
// saying the cause. ctx ending while the phone rings cancels the call and
// returns ctx's cause. A number that is not digits with an optional
// leading + is refused (ErrBadNumber) before anything is sent, a driver
// with no CallbackEndpoint fails with ivr.ErrNoCallbacks, and a draining
// or stopping driver with ivr.ErrShutdown.
func (d *Driver) Originate(ctx context.Context, r ivr.OriginateRequest, serve func(ctx context.Context, c ivr.Call)) error {
	if d.cfg.CallbackEndpoint == "" {
		return fmt.Errorf("call back: no callback endpoint configured: %w", ivr.ErrNoCallbacks)
	}
	if serve == nil {
		return errors.New("call back: nothing to serve the call with")
	}
	endpoint, err := callbackDialString(d.cfg.CallbackEndpoint, r.Number)
	if err != nil {
		return err
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("call back: %w", err)
	}
	timeout := d.cfg.CallbackRingTimeout
	if r.Timeout > 0 {
		timeout = min(timeout, r.Timeout)
	}
	o := &dialout{
		id:       newID(callbackPrefix(d.cfg.App)),
		number:   r.Number,
		answered: newSignal(),
		done:     newSignal(),
	}
	o.log = d.log.With("call_id", o.id, "callback_id", r.CallbackID, "attempt", r.Attempt, "queue", r.Contact.Queue)

	d.mu.Lock()
	if d.stopping || d.draining.Load() {
		d.mu.Unlock()
		return fmt.Errorf("call back: %w", ivr.ErrShutdown)
	}
	// Known before it exists: its events may come before the answer to
	// the request, and the sweep of a reconnection must leave it alone.
	d.dialouts[o.id] = o
	// The driver's stop waits for the call, as for an inbound one.
	d.handlers.Add(1)
	d.mu.Unlock()
	defer d.handlers.Done()
	defer d.removeDialout(o)

	ringSecs := int(math.Ceil((timeout + ringBackstop).Seconds()))
	vars := callbackVars(r, endpoint)
	if err := d.rest.originateCallback(ctx, o.id, endpoint, d.cfg.App, callbackMarker, d.cfg.CallbackCallerID, ringSecs, vars); err != nil {
		// The request may have reached Asterisk all the same.
		d.cancelDialout(o, "normal")
		if cause := context.Cause(ctx); cause != nil {
			return fmt.Errorf("call back: %w", cause)
		}
		return fmt.Errorf("call back at %s: %w", endpoint, err)
	}
	d.mu.Lock()
	o.requested = true
	d.mu.Unlock()
	o.log.Info("calling customer back", "endpoint", endpoint, "timeout", timeout)

	t := time.NewTimer(timeout)
	defer t.Stop()
	var why error
	reason := "normal"
	select {
	case <-o.answered.c:
		return d.serveCallback(ctx, o, serve)
	case <-o.done.c:
		err := d.dialoutFailure(o)
		o.log.Info("customer not reached", "err", err)
		return err
	case <-ctx.Done():
		why = fmt.Errorf("call back: %w", context.Cause(ctx))
	case <-t.C:
		why = fmt.Errorf("call back: no answer within %v: %w", timeout, ivr.ErrCalleeNoAnswer)
		reason = "no_answer"
	case <-d.quit.c:
		why = fmt.Errorf("call back: %w", ivr.ErrShutdown)
	}
	d.mu.Lock()
	c := o.c
	o.abandoned = c == nil
	d.mu.Unlock()
	if c != nil {
		if errors.Is(why, ivr.ErrCalleeNoAnswer) {
			// Answered as the ring timeout passed: the customer is there.
			return d.serveCallback(ctx, o, serve)
		}
		// Answered, but the call is no longer wanted.
		c.end(errors.Unwrap(why))
		_ = d.runCall(c, nil)
		return why
	}
	o.log.Info("cancelling the call", "err", why)
	d.cancelDialout(o, reason)
	return why
}

// callbackVars are the channel variables of a customer's channel; on a
// PJSIP endpoint, the request and attempt also go in SIP headers.
func callbackVars(r ivr.OriginateRequest, endpoint string) map[string]string {
	vars := map[string]string{
		"IVRD_CALLBACK_ID":      r.CallbackID,
		"IVRD_CALLBACK_QUEUE":   r.Contact.Queue,
		"IVRD_CALLBACK_ATTEMPT": strconv.Itoa(r.Attempt),
	}
	if strings.HasPrefix(strings.ToUpper(endpoint), "PJSIP/") {
		if safeHeader(r.CallbackID) {
			vars["PJSIP_HEADER(add,X-IVRD-Callback-ID)"] = r.CallbackID
		}
		vars["PJSIP_HEADER(add,X-IVRD-Callback-Attempt)"] = strconv.Itoa(r.Attempt)
	}
	return vars
}

// safeHeader reports whether s can go in a SIP header value as it is.
func safeHeader(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < ' ' || r > '~' {
			return false
		}
	}
	return true
}

// serveCallback runs serve on the customer's answered call, then hangs up.
func (d *Driver) serveCallback(ctx context.Context, o *dialout, serve func(context.Context, ivr.Call)) error {
	c := o.c
	// ctx ending ends the call, with its cause.
	stop := context.AfterFunc(ctx, func() { c.end(context.Cause(ctx)) })
	defer stop()
	c.log.Info("customer answered", "to", o.number)
	if err := d.runCall(c, func() { serve(c.ctx, c) }); err != nil {
		return fmt.Errorf("serve callback: %w", err)
	}
	return nil
}

// dialoutFailure says why the customer's phone did not answer, from the
// hang-up cause Asterisk gave.
func (d *Driver) dialoutFailure(o *dialout) error {
	d.mu.Lock()
	cause, text := o.cause, o.causeText
	d.mu.Unlock()
	return calleeCauseError(cause, text)
}

// calleeCauseError maps the hang-up cause of a customer's phone that did
// not answer to the engine's reasons.
func calleeCauseError(cause int, text string) error {
	if text == "" {
		text = "unknown"
	}
	var why error
	switch cause {
	case causeBusy:
		why = ivr.ErrCalleeBusy
	case causeRejected:
		why = ivr.ErrCalleeRejected
	case causeNormal, causeNoResponse, causeNoAnswer:
		why = ivr.ErrCalleeNoAnswer
	default:
		return fmt.Errorf("call back: hang-up cause %d (%s)", cause, text)
	}
	return fmt.Errorf("call back: hang-up cause %d (%s): %w", cause, text, why)
}

// cancelDialout hangs up a customer's channel that rings (CANCEL) and
// waits, bounded, for Asterisk to report it over.
func (d *Driver) cancelDialout(o *dialout, reason string) {
	d.mu.Lock()
	o.abandoned = true
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.RequestTimeout)
	defer cancel()
	err := d.rest.hangup(ctx, o.id, reason)
	switch {
	case errors.Is(err, ErrNotFound):
		return
	case err != nil:
		o.log.Warn("cancel customer's call", "err", err)
	}
	// A stopping driver reads no events any more: ask at once.
	if !d.quit.done() {
		t := time.NewTimer(d.cfg.RequestTimeout)
		defer t.Stop()
		select {
		case <-o.done.c:
			return
		case <-t.C:
		}
	}
	// The events may be lost (a reconnecting websocket): ask.
	ok, err := d.rest.channelExists(ctx, o.id)
	switch {
	case err != nil:
		o.log.Warn("check customer's channel after cancelling it", "err", err)
	case ok:
		o.log.Warn("customer's channel still up after its hang-up")
	}
}

func (d *Driver) removeDialout(o *dialout) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dialouts[o.id] == o {
		delete(d.dialouts, o.id)
	}
}

// isCallback reports whether a channel entering the application is a
// customer's phone that answered a call the driver placed.
func (d *Driver) isCallback(e *ari.StasisStart) bool {
	return (len(e.Args) == 1 && e.Args[0] == callbackMarker) || strings.HasPrefix(e.Channel.ID, callbackPrefix(d.cfg.App))
}

// callbackEntered notes that a customer answered: the channel becomes a
// call of the driver, known before any of its later events is read. A
// customer's channel of this application that no Originate waits for was
// left by an ivrd that stopped while it rang: it is hung up. One that
// answers as Originate gives up is being hung up already.
func (d *Driver) callbackEntered(e *ari.StasisStart) {
	id := e.Channel.ID
	d.mu.Lock()
	o := d.dialouts[id]
	if o == nil {
		d.mu.Unlock()
		d.hangupStale(id, "hang up a customer's channel no callback placed")
		return
	}
	if o.abandoned || o.c != nil || d.stopping {
		d.mu.Unlock()
		o.log.Info("customer answered as the call was being cancelled")
		return
	}
	c := newCall(d, e, o.log)
	c.caller, c.dialled = o.number, o.number
	c.answered = true
	o.c = c
	d.calls[id] = c
	d.mu.Unlock()
	o.answered.fire()
}

// dialoutEvent passes the hang-up events of a customer's channel that has
// not answered to its dialout; once answered, the channel's events are
// its call's.
func (d *Driver) dialoutEvent(ev ari.Event) {
	var (
		id, text  string
		cause     int
		destroyed bool
	)
	switch e := ev.(type) {
	case *ari.ChannelHangupRequest:
		id, cause = e.Channel.ID, e.Cause
	case *ari.ChannelDestroyed:
		id, cause, text, destroyed = e.Channel.ID, e.Cause, e.CauseTxt, true
	default:
		return
	}
	d.mu.Lock()
	o := d.dialouts[id]
	if o == nil || o.c != nil {
		d.mu.Unlock()
		return
	}
	if cause != 0 {
		o.cause, o.causeText = cause, text
	}
	d.mu.Unlock()
	if destroyed {
		o.done.fire()
	}
}

// reconcileDialouts ends the customers' calls still ringing whose channel
// vanished while no events could arrive. A channel still being requested
// is not looked up: it may not exist yet.
func (d *Driver) reconcileDialouts(ctx context.Context) {
	d.mu.Lock()
	var ringing []*dialout
	for _, o := range d.dialouts {
		if o.c == nil && o.requested {
			ringing = append(ringing, o)
		}
	}
	d.mu.Unlock()
	for _, o := range ringing {
		if ok, err := d.rest.channelExists(ctx, o.id); err == nil && !ok {
			o.log.Info("customer's channel vanished while ARI was disconnected")
			d.mu.Lock()
			if o.causeText == "" {
				o.causeText = "vanished while ARI was disconnected"
			}
			d.mu.Unlock()
			o.done.fire()
		}
	}
}
