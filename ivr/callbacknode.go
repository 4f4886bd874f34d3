package ivr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Callback variables, set by a callback node for its prompts (and the
// nodes after it).
const (
	// VarCallbackNumber is the number the caller will be called back on.
	VarCallbackNumber = "callback.number"
	// VarCallbackMinutes is in how many minutes, rounded up, the call
	// can be expected.
	VarCallbackMinutes = "callback.minutes"
	// VarCallbackHour and VarCallbackMinute are the local time (in the
	// request's calendar's zone) from which the call can be expected;
	// the minute is empty on the hour.
	VarCallbackHour   = "callback.hour"
	VarCallbackMinute = "callback.minute"
	// VarCallbackSlot is the hour the caller chose to be called back
	// from (ask_slot).
	VarCallbackSlot = "callback.slot"
)

// Defaults of a callback node and of a queue's callback key.
const (
	DefaultCallbackKey         = '1'
	DefaultCallbackAttempts    = 3
	DefaultCallbackRetryDelay  = 10 * time.Minute
	DefaultCallbackMinDigits   = 4
	DefaultCallbackMaxDigits   = 15
	DefaultCallbackRingTimeout = 30 * time.Second
	// CallbackConfirmKey confirms the number read back, CallbackChangeKey
	// asks for another; for a pending request they keep and cancel it.
	CallbackConfirmKey = '1'
	CallbackChangeKey  = '2'
)

// Targets of a callback node's own menus (Confirm, Ask, Existing): node
// names cannot start with '#', so these never name a flow's node.
const (
	CallbackTargetConfirm = "#confirm" // the number is confirmed; a pending request kept
	CallbackTargetChange  = "#change"  // another number; a pending request cancelled
	CallbackTargetFailure = "#failure" // no valid answer
)

const (
	cbConfirm = CallbackTargetConfirm
	cbChange  = CallbackTargetChange
	cbFailure = CallbackTargetFailure
)

// CallbackNode takes a callback request: it confirms the number to call,
// stores the request in the queue, at the place the caller had there if
// they came from it, and says when to expect the call.
type CallbackNode struct {
	// Queue is where the request waits; "" for the queue the caller just
	// left with its callback key.
	Queue    string
	Intent   string // template; "" keeps the queue's
	Priority int
	Skills   []string
	// Number is the number to call (template); default ${caller}.
	Number string
	// Confirm reads the number back and asks for 1 (confirm) or 2 (another
	// number); Ask collects another number, which the loader builds as
	// menu and collect nodes of their own. Existing asks, when the number
	// already has a request pending there, 1 to keep it or 2 to cancel.
	Confirm  *Node
	Ask      *Node
	Existing *Node
	// Slot, when set, asks 1 for as soon as possible or 2 to choose the
	// hour, which SlotAsk collects (0 to 23, ended by #): the first
	// attempt then waits for that hour (the next one in open hours).
	Slot    *Node
	SlotAsk *Node
	// Done confirms the request when the call can be expected within the
	// open hours of today, Later when it is placed from a later opening.
	Done, Later Prompt
	Kept        Prompt // the pending request is kept
	Cancelled   Prompt // the pending request is cancelled
	Failure     Prompt // the request could not be taken
	// Greeting is what the customer hears when called back, before the
	// recording notice (Consent, when Record) and the agent. Hold is the
	// prompt of a caller-first callback waiting for an agent.
	Greeting Prompt
	Hold     Prompt
	Consent  *ConsentNode
	// Calendar names the flow calendar whose open hours the calls are made
	// in; "" for any time.
	Calendar    string
	MaxAttempts int
	RetryDelay  time.Duration
	RingTimeout time.Duration
	Mode        string // CallbackAgentFirst (default) or CallbackCallerFirst
	Record      bool   // record the conversation with the agent
	// OnFailure is where the call goes when no request could be taken (no
	// valid number, the daily limit); "" means Next.
	OnFailure            string
	MinDigits, MaxDigits int
}

func (c *CallbackNode) prompts() []Prompt {
	out := []Prompt{c.Done, c.Later, c.Kept, c.Cancelled, c.Failure, c.Greeting, c.Hold}
	for _, n := range []*Node{c.Confirm, c.Ask, c.Existing, c.Slot, c.SlotAsk} {
		if n != nil {
			out = append(out, n.Prompts()...)
		}
	}
	if c.Consent != nil {
		out = append(out, c.Consent.Prompt, c.Consent.RefusedPrompt)
	}
	return out
}

// callbackNode runs a callback node (rule 22).
func (s *session) callbackNode(ctx context.Context, n *Node) (string, error) {
	cb := n.Callback
	fail := func(why string, err error) (string, error) {
		s.result("no callback: " + why)
		if err != nil {
			s.log.Warn("callback request", "why", why, "err", err)
		} else {
			s.log.Info("no callback request", "why", why)
		}
		if _, err := s.prompt(ctx, cb.Failure, false); err != nil {
			return "", err
		}
		return cmpOr(cb.OnFailure, n.Next), nil
	}
	store, ok := s.e.queue.(Callbacks)
	if !ok || s.e.originator == nil {
		return fail("callbacks not available", ErrNoCallbacks)
	}
	queue := cb.Queue
	if queue == "" && s.left != nil {
		queue = s.left.queue
	}
	// A request already pending for this number: keep or cancel it. A
	// node without a queue, reached other than from one, finds the
	// caller's request in any queue.
	number := s.template(cmpOr(cb.Number, "${caller}"))
	if validCallbackNumber(number, cb) {
		pending, err := store.PendingCallbacks(ctx, number)
		if err != nil {
			if ctx.Err() != nil {
				return "", context.Cause(ctx)
			}
			s.log.Warn("look up pending callbacks", "err", err)
		}
		for _, p := range pending {
			if p.Contact.Queue == queue || queue == "" {
				return s.pendingCallback(ctx, n, store, p)
			}
		}
	}
	if queue == "" {
		return fail("no queue", fmt.Errorf("callback node %s: no queue and the caller came from none", n.Name))
	}

	number, next, err := s.callbackNumber(ctx, n, number)
	if err != nil || next != "" {
		return next, err
	}
	if number == "" {
		return fail("no valid number", nil)
	}

	now := s.e.clock.Now()
	place := now
	if s.left != nil && s.left.queue == queue {
		place = s.left.since // the caller keeps the place they had
	}
	c := Contact{
		Channel:     "callback",
		Queue:       queue,
		CallID:      s.rec.ID,
		Caller:      number,
		Dialled:     s.rec.Dialled,
		Language:    s.vars["language"],
		Priority:    cb.Priority,
		Skills:      slices.Clone(cb.Skills),
		Flow:        s.flow.Name,
		FlowVersion: s.flow.Version,
		EnqueuedAt:  place,
		Path:        s.path(),
		Record:      cb.Record,
	}
	if s.left != nil && s.left.queue == queue {
		c.Intent, c.Priority = s.left.intent, max(c.Priority, s.left.priority)
		if len(c.Skills) == 0 {
			c.Skills = slices.Clone(s.left.skills)
		}
	}
	if cb.Intent != "" {
		c.Intent = s.template(cb.Intent)
	}
	c.Vars = s.publicVars()
	req := CallbackRequest{
		Contact:     c,
		Number:      number,
		Calendar:    cb.Calendar,
		MaxAttempts: cmpOrInt(cb.MaxAttempts, DefaultCallbackAttempts),
		RetryDelay:  cmpOrDur(cb.RetryDelay, DefaultCallbackRetryDelay),
		Mode:        cmpOr(cb.Mode, CallbackAgentFirst),
		Node:        n.Name,
	}
	cal := s.flow.Calendars[cb.Calendar]
	if cal != nil && !cal.IsOpen(now) {
		if t, ok := cal.NextOpen(now); ok {
			req.NotBefore = t
		}
	}
	if cb.Slot != nil {
		at, next, err := s.callbackSlot(ctx, cb, cal, now)
		if err != nil || next != "" {
			return next, err
		}
		if at.After(req.NotBefore) {
			req.NotBefore = at
		}
	}
	got, err := store.RequestCallback(ctx, req)
	switch {
	case errors.Is(err, ErrCallbackExists):
		return s.pendingCallback(ctx, n, store, got)
	case errors.Is(err, ErrCallbackLimit):
		return fail("daily limit", nil)
	case err != nil:
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return fail("store failed", err)
	}
	s.left = nil
	s.rec.Outcome = OutcomeCallback
	s.rec.Queue = queue
	s.rec.ContactID = got.ID
	s.result("callback requested " + got.ID)
	s.log.Info("callback requested", "callback_id", got.ID, "queue", queue, "expected", got.Expected)
	s.snapshot()
	s.e.save(ctx, s.log, s.rec)

	later := s.setCallbackTime(got, cal, now)
	p := cb.Done
	if later {
		p = cb.Later
	}
	if _, err := s.prompt(ctx, p, false); err != nil {
		return "", err
	}
	return n.Next, nil
}

// callbackPending reports whether the caller's number has a callback
// request pending in queue ("any": in any queue). Without a callbacks
// store, or when it fails, nothing is pending: the caller goes on.
func (s *session) callbackPending(ctx context.Context, queue string) bool {
	store, ok := s.e.queue.(Callbacks)
	if !ok {
		return false
	}
	pending, err := store.PendingCallbacks(ctx, s.rec.Caller)
	if err != nil {
		s.log.Warn("look up pending callbacks", "err", err)
		return false
	}
	for _, p := range pending {
		if queue == "any" || p.Contact.Queue == queue {
			return true
		}
	}
	return false
}

// callbackSlot asks when the caller wants to be called back: as soon as
// possible (zero time) or from an hour of their choosing, the next time
// that hour comes, moved into the calendar's open hours. next is set when
// the caller left for elsewhere (the operator key).
func (s *session) callbackSlot(ctx context.Context, cb *CallbackNode, cal *Calendar, now time.Time) (at time.Time, next string, err error) {
	to, err := s.inner(ctx, cb.Slot)
	switch {
	case err != nil:
		return time.Time{}, "", err
	case to == cbConfirm, to == cbFailure:
		s.result("slot: as soon as possible")
		return time.Time{}, "", nil
	case to != cbChange:
		return time.Time{}, to, nil
	}
	for try := 0; try < 2; try++ {
		to, err := s.inner(ctx, cb.SlotAsk)
		switch {
		case err != nil:
			return time.Time{}, "", err
		case to == cbFailure:
			s.result("slot: as soon as possible")
			return time.Time{}, "", nil
		case to != cbConfirm:
			return time.Time{}, to, nil
		}
		h, err := strconv.Atoi(s.vars[VarCallbackSlot])
		if err != nil || h < 0 || h > 23 {
			if _, err := s.prompt(ctx, cb.SlotAsk.Collect.InvalidPrompt, false); err != nil {
				return time.Time{}, "", err
			}
			continue
		}
		loc := time.Local
		if cal != nil {
			loc = cal.Location
		}
		lt := now.In(loc)
		at = time.Date(lt.Year(), lt.Month(), lt.Day(), h, 0, 0, 0, loc)
		if at.Before(now) {
			at = at.AddDate(0, 0, 1)
		}
		if cal != nil && !cal.IsOpen(at) {
			if t, ok := cal.NextOpen(at); ok {
				at = t
			}
		}
		s.result(fmt.Sprintf("slot: from %d h", h))
		return at, "", nil
	}
	s.result("slot: as soon as possible")
	return time.Time{}, "", nil
}

// setCallbackTime sets the callback.* time variables from the request's
// expected time; it reports whether the call is expected from a later
// opening rather than within today's open hours.
func (s *session) setCallbackTime(cb Callback, cal *Calendar, now time.Time) (later bool) {
	at := cb.Expected
	if at.IsZero() || at.Before(now) {
		at = now
	}
	if !cb.NotBefore.IsZero() && cb.NotBefore.After(at) {
		at = cb.NotBefore
	}
	loc := time.Local
	if cal != nil {
		loc = cal.Location
	}
	lt := at.In(loc)
	s.vars[VarCallbackMinutes] = strconv.Itoa(int((at.Sub(now) + time.Minute - 1) / time.Minute))
	s.vars[VarCallbackHour] = strconv.Itoa(lt.Hour())
	s.vars[VarCallbackMinute] = ""
	if lt.Minute() != 0 {
		s.vars[VarCallbackMinute] = strconv.Itoa(lt.Minute())
	}
	return !cb.NotBefore.IsZero() && cb.NotBefore.After(now)
}

// callbackNumber confirms the number to call, or asks for another; it
// returns "" when no valid number was had, or next when the caller left
// for elsewhere (the operator key).
func (s *session) callbackNumber(ctx context.Context, n *Node, number string) (got, next string, err error) {
	cb := n.Callback
	if validCallbackNumber(number, cb) {
		if cb.Confirm == nil {
			return number, "", nil
		}
		s.vars[VarCallbackNumber] = number
		to, err := s.inner(ctx, cb.Confirm)
		switch {
		case err != nil:
			return "", "", err
		case to == cbConfirm:
			return number, "", nil
		case to == cbChange:
		case to == cbFailure:
			return "", "", nil
		default:
			return "", to, nil
		}
	}
	if cb.Ask == nil {
		return "", "", nil
	}
	to, err := s.inner(ctx, cb.Ask)
	switch {
	case err != nil:
		return "", "", err
	case to == cbConfirm:
		number = s.vars[VarCallbackNumber]
		if validCallbackNumber(number, cb) {
			return number, "", nil
		}
		return "", "", nil
	case to == cbFailure:
		return "", "", nil
	default:
		return "", to, nil
	}
}

// pendingCallback offers to keep or cancel the request p.
func (s *session) pendingCallback(ctx context.Context, n *Node, store Callbacks, p Callback) (string, error) {
	cb := n.Callback
	s.vars[VarCallbackNumber] = p.Number
	to := cbConfirm
	if cb.Existing != nil {
		var err error
		if to, err = s.inner(ctx, cb.Existing); err != nil {
			return "", err
		}
	}
	switch to {
	case cbChange:
		if err := store.CancelCallback(context.WithoutCancel(ctx), p.ID, "cancelled by the caller"); err != nil {
			s.log.Warn("cancel callback", "callback_id", p.ID, "err", err)
			s.result("cancel failed")
			if _, err := s.prompt(ctx, cb.Failure, false); err != nil {
				return "", err
			}
			return n.Next, nil
		}
		s.result("callback cancelled " + p.ID)
		s.log.Info("callback cancelled by the caller", "callback_id", p.ID)
		if _, err := s.prompt(ctx, cb.Cancelled, false); err != nil {
			return "", err
		}
		return n.Next, nil
	case cbConfirm, cbFailure:
		s.result("callback kept " + p.ID)
		if _, err := s.prompt(ctx, cb.Kept, false); err != nil {
			return "", err
		}
		return n.Next, nil
	default:
		return to, nil
	}
}

// inner runs one of a callback node's own menu or collect nodes, as the
// node being run (for waits and their kind).
func (s *session) inner(ctx context.Context, n *Node) (string, error) {
	prev := s.node
	s.node = n
	defer func() { s.node = prev }()
	if n.Kind == KindCollect {
		return s.collect(ctx, n)
	}
	return s.menu(ctx, n)
}

// validCallbackNumber reports whether s can be dialled back: digits with
// an optional leading +, of the node's length. Anything else (a hidden
// caller ID, a SIP user name) is not a number to call.
func validCallbackNumber(s string, cb *CallbackNode) bool {
	d := s
	if len(d) > 0 && d[0] == '+' {
		d = d[1:]
	}
	lo, hi := cmpOrInt(cb.MinDigits, DefaultCallbackMinDigits), cmpOrInt(cb.MaxDigits, DefaultCallbackMaxDigits)
	if len(d) < lo || len(d) > hi {
		return false
	}
	for _, r := range d {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmpOrInt(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

func cmpOrDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// leftQueue is the queue a caller just left on hold with the callback
// key, and what the call had there.
type leftQueue struct {
	queue    string
	since    time.Time // when the caller joined it: the place kept
	intent   string
	priority int
	skills   []string
}
