package ivr

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// play runs a play node (rule 2).
func (s *session) play(ctx context.Context, n *Node) (string, error) {
	p := n.Play
	if p.Interruptible && len(s.buf) > 0 {
		s.result("skipped (type-ahead)")
		return n.Next, nil
	}
	stopped, err := s.prompt(ctx, p.Prompt, p.Interruptible)
	if err != nil {
		return "", err
	}
	if stopped {
		s.result("interrupted")
	}
	return n.Next, nil
}

// assign sets variables from templates, all expanded against the values
// before the assignment so the order of a map never matters.
func (s *session) assign(set map[string]string) {
	if len(set) == 0 {
		return
	}
	vals := make(map[string]string, len(set))
	for k, t := range set {
		vals[k] = s.template(t)
	}
	for k, v := range vals {
		s.vars[k] = v
		delete(s.sensitive, k)
	}
}

// branch goes to the first rule whose condition holds, else to Next.
func (s *session) branch(n *Node) (string, error) {
	for i, r := range n.Branch {
		ok := true
		if r.If != nil {
			var err error
			if ok, err = s.cond(r.If); err != nil {
				return "", fmt.Errorf("evaluate %s: %w", r.Pos, err)
			}
		}
		if ok {
			s.result("rule " + strconv.Itoa(i+1))
			return r.Goto, nil
		}
	}
	s.result("no rule")
	return n.Next, nil
}

// cond evaluates a condition. Tests of a variable group all have to hold.
func (s *session) cond(c *Condition) (bool, error) {
	switch {
	case c.Open != "":
		return s.open(c.Open)
	case c.Closed != "":
		open, err := s.open(c.Closed)
		return !open, err
	case c.All != nil:
		for i := range c.All {
			if ok, err := s.cond(&c.All[i]); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case c.Any != nil:
		for i := range c.Any {
			if ok, err := s.cond(&c.Any[i]); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case c.Not != nil:
		ok, err := s.cond(c.Not)
		return !ok, err
	}
	v := s.vars[c.Var]
	switch {
	case c.Equals != nil && v != *c.Equals,
		c.In != nil && !slices.Contains(c.In, v),
		c.Prefix != "" && !strings.HasPrefix(v, c.Prefix),
		c.Match != nil && !c.Match.MatchString(v),
		c.Empty != nil && *c.Empty != (v == ""):
		return false, nil
	}
	return true, nil
}

func (s *session) open(name string) (bool, error) {
	cal, ok := s.flow.Calendars[name]
	if !ok || cal == nil {
		return false, fmt.Errorf("calendar %q: %w", name, ErrUnknownCalendar)
	}
	return cal.IsOpen(s.e.clock.Now()), nil
}

// enqueue hands the call to the queue and waits there (rule 10). Joining
// and leaving are methods of their own: their frames are off the stack
// while the call waits on hold, often for minutes, so the goroutine's
// stack stays small.
func (s *session) enqueue(ctx context.Context, n *Node) (string, error) {
	q := n.Queue
	now := s.e.clock.Now()
	w, done, err := s.join(ctx, q, now)
	if done || err != nil {
		return "", err
	}
	ev, err := s.hold(ctx, q)
	return s.leave(ctx, q, w, now, ev, err)
}

// join puts the call in the queue, or hands it to the driver's external
// queue; done reports that the call left ivrd there.
func (s *session) join(ctx context.Context, q *QueueNode, now time.Time) (w Waiting, done bool, err error) {
	c := Contact{
		Channel:     "voice",
		Queue:       q.Queue,
		CallID:      s.rec.ID,
		Caller:      s.rec.Caller,
		Dialled:     s.rec.Dialled,
		Language:    s.vars["language"],
		Intent:      s.template(q.Intent),
		Priority:    q.Priority,
		Skills:      slices.Clone(q.Skills),
		Vars:        s.publicVars(),
		Flow:        s.flow.Name,
		FlowVersion: s.flow.Version,
		EnqueuedAt:  now,
		Record:      q.Record,
	}
	if t, ok := s.call.(Transferer); ok {
		if done, err := s.transfer(ctx, t, c); done || err != nil {
			return nil, done, err
		}
	}
	if s.e.queue == nil {
		return nil, false, fmt.Errorf("enqueue to %q: %w", q.Queue, ErrNoQueue)
	}
	w, err = s.e.queue.Enqueue(ctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, context.Cause(ctx)
		}
		return nil, false, fmt.Errorf("enqueue to %q: %w", q.Queue, err)
	}
	s.waiting = w
	s.rec.Outcome = OutcomeQueued
	s.rec.Queue = q.Queue
	s.rec.ContactID = w.ContactID()
	s.snapshot()
	s.e.save(ctx, s.log, s.rec)
	s.log.Info("queued", "queue", q.Queue, "contact_id", w.ContactID(), "intent", c.Intent)
	return w, false, nil
}

// leave takes the call out of the queue after the hold that began at
// since ended with ev or err, and returns the next node.
func (s *session) leave(ctx context.Context, q *QueueNode, w Waiting, since time.Time, ev event, err error) (string, error) {
	waited := s.e.clock.Now().Sub(since).Round(time.Millisecond)
	s.rec.QueueWait = waited
	leave := func(reason string) {
		if err := w.Leave(context.WithoutCancel(ctx), reason); err != nil {
			s.log.Warn("leave queue", "reason", reason, "err", err)
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		leave("abandoned")
		s.rec.Outcome = OutcomeAbandoned
		s.result("abandoned after " + waited.String())
		s.log.Info("abandoned in queue", "wait", waited)
		return "", err
	case err != nil:
		leave("abandoned")
		return "", err
	case ev == evConnected:
		leave("connected")
		s.rec.Outcome = OutcomeConnected
		s.result("connected after " + waited.String())
		s.log.Info("connected", "wait", waited)
		if q.Record {
			s.result(s.recordAgent(ctx, s.node.Name, q.Queue))
		}
		return "", nil
	default: // max wait
		leave("timeout")
		s.rec.Outcome = OutcomeInProgress
		s.result("timeout after " + waited.String())
		s.log.Info("queue timeout", "wait", waited)
		return q.OnTimeout, nil
	}
}

// transfer offers the contact to a driver's external queue; done reports
// that the call left ivrd there.
func (s *session) transfer(ctx context.Context, t Transferer, c Contact) (done bool, err error) {
	c.ID = s.rec.ID
	handled, err := t.TransferToQueue(ctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return false, context.Cause(ctx)
		}
		return false, fmt.Errorf("transfer to %q: %w", c.Queue, err)
	}
	if !handled {
		return false, nil
	}
	s.transferred = true
	s.rec.Outcome = OutcomeQueued
	s.rec.Queue = c.Queue
	s.rec.ContactID = c.ID
	s.result("transferred")
	s.log.Info("transferred to external queue", "queue", c.Queue, "intent", c.Intent)
	if c.Record {
		s.result(s.recordContinued(ctx, s.node.Name, c.Queue))
	}
	return true, nil
}

// hold keeps the caller on hold until an agent connects, max_wait passes
// (evTimeout) or the call's context is done: by the driver's own means
// when the call is a Holder, else by playing the hold prompt in a loop.
func (s *session) hold(ctx context.Context, q *QueueNode) (event, error) {
	var t Timer
	if q.MaxWait > 0 {
		t = s.timer(q.MaxWait)
		defer t.Stop()
	}
	connected := s.waiting.Connected()
	audio := s.expand(q.Hold)
	if h, ok := s.call.(Holder); ok {
		stop, err := h.Hold(ctx, audio)
		switch {
		case err == nil:
			defer stop()
			return s.waitHeld(ctx, waitSpec{timer: t, timeout: q.MaxWait, connected: connected, what: WaitHold})
		case ctx.Err() != nil:
			return 0, context.Cause(ctx)
		default:
			// The caller still waits in the queue: better the engine's
			// hold prompt than losing the place.
			s.log.Warn("driver hold failed; playing the hold prompt", "err", err)
		}
	}
	for {
		var pb Playback
		started := s.e.clock.Now()
		if len(audio) > 0 {
			var err error
			if pb, err = s.call.Play(ctx, audio); err != nil {
				if ctx.Err() != nil {
					return 0, context.Cause(ctx)
				}
				return 0, fmt.Errorf("play hold prompt: %w", err)
			}
		}
		for {
			ev, err := s.wait(ctx, waitSpec{pb: pb, timer: t, timeout: q.MaxWait, connected: connected, what: WaitHold})
			if err != nil || ev == evConnected || ev == evTimeout {
				if pb != nil {
					pb.Stop()
				}
				return ev, err
			}
			if ev == evPlayed {
				break
			}
		}
		if !s.e.clock.Now().After(started) {
			audio = nil // the hold prompt ended at once: wait in silence rather than spin
		}
	}
}

// waitHeld waits while the driver holds the caller; keys are buffered.
func (s *session) waitHeld(ctx context.Context, w waitSpec) (event, error) {
	for {
		ev, err := s.wait(ctx, w)
		if err != nil || ev == evConnected || ev == evTimeout {
			return ev, err
		}
	}
}

// hangupNode plays the node's prompt to its end and hangs up.
func (s *session) hangupNode(ctx context.Context, n *Node) error {
	h := n.Hangup
	if h == nil {
		h = &HangupNode{}
	}
	if _, err := s.prompt(ctx, h.Prompt, false); err != nil {
		return err
	}
	reason := h.Reason
	if reason == "" {
		reason = "hangup node"
	}
	s.rec.Outcome = OutcomeHangup
	s.e.hangup(ctx, s.log, s.call, reason)
	return nil
}

// template expands ${var} references; unknown variables expand to "".
func (s *session) template(t string) string {
	if !strings.Contains(t, "${") {
		return t
	}
	var b strings.Builder
	for {
		i := strings.Index(t, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(t[i+2:], '}')
		if j < 0 {
			break
		}
		b.WriteString(t[:i])
		b.WriteString(s.vars[t[i+2:i+2+j]])
		t = t[i+2+j+1:]
	}
	b.WriteString(t)
	return b.String()
}

// expand resolves a prompt to audio: static parts as loaded, say-digits and
// say-number parts from the flow's vocabulary.
func (s *session) expand(p Prompt) []Audio {
	if len(p) == 0 {
		return nil
	}
	out := make([]Audio, 0, len(p))
	for _, part := range p {
		switch {
		case part.Audio != nil:
			out = append(out, *part.Audio)
		case part.Digits != "":
			out = append(out, s.flow.Say(DigitWords(s.template(part.Digits)))...)
		case part.Number != "":
			v := strings.TrimSpace(s.template(part.Number))
			n, err := strconv.Atoi(v)
			if err != nil {
				// Not a number: read what there is digit by digit.
				out = append(out, s.flow.Say(DigitWords(v))...)
				continue
			}
			out = append(out, s.flow.Say(NumberWords(s.vars["language"], n))...)
		}
	}
	return out
}
