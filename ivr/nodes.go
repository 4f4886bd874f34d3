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
func (s *session) branch(ctx context.Context, n *Node) (string, error) {
	for i, r := range n.Branch {
		ok := true
		if r.If != nil {
			var err error
			if ok, err = s.cond(ctx, r.If); err != nil {
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
func (s *session) cond(ctx context.Context, c *Condition) (bool, error) {
	switch {
	case c.Open != "":
		return s.open(c.Open)
	case c.Closed != "":
		open, err := s.open(c.Closed)
		return !open, err
	case c.All != nil:
		for i := range c.All {
			if ok, err := s.cond(ctx, &c.All[i]); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case c.Any != nil:
		for i := range c.Any {
			if ok, err := s.cond(ctx, &c.Any[i]); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case c.CallbackPending != "":
		return s.callbackPending(ctx, c.CallbackPending), nil
	case c.Not != nil:
		ok, err := s.cond(ctx, c.Not)
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

// enqueue hands the call to the queue and waits there until an agent takes
// it, max_wait passes, the caller presses the operator key or hangs up
// (rules 10 and 18-21). Joining and leaving are methods of their own: their
// frames are off the stack while the call waits on hold, often for
// minutes, so the goroutine's stack stays small.
func (s *session) enqueue(ctx context.Context, n *Node) (string, error) {
	q := n.Queue
	w, since, done, err := s.rejoin(ctx, q)
	if done || err != nil {
		return "", err
	}
	ev, err := s.hold(ctx, q)
	return s.leave(ctx, q, w, since, ev, err)
}

// rejoin joins the queue, at the place the call had in it when the
// operator key brought it back here (rule 20).
func (s *session) rejoin(ctx context.Context, q *QueueNode) (w Waiting, since time.Time, done bool, err error) {
	since = s.e.clock.Now()
	k := s.kept
	s.kept = nil
	if k != nil && k.queue == q.Queue {
		since = k.since
	}
	w, done, err = s.join(ctx, q, since)
	if err == nil && !done && k != nil && k.queue == q.Queue {
		s.result("kept its place")
		s.log.Info("back in the queue, place kept", "queue", q.Queue, "contact_id", w.ContactID())
	}
	return w, since, done, err
}

// join puts the call in the queue, or hands it to the driver's external
// queue; done reports that the call left ivrd there.
func (s *session) join(ctx context.Context, q *QueueNode, now time.Time) (w Waiting, done bool, err error) {
	c := s.contact(q, now)
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
	s.contactCopy = c
	s.contactCopy.ID = w.ContactID()
	s.rec.Outcome = OutcomeQueued
	s.rec.Queue = q.Queue
	s.rec.ContactID = w.ContactID()
	if s.rec.QueuedAt == nil {
		s.rec.QueuedAt = &now
	}
	s.snapshot()
	s.e.save(ctx, s.log, s.rec)
	s.log.Info("queued", "queue", q.Queue, "contact_id", w.ContactID(), "intent", c.Intent)
	return w, false, nil
}

// contact is what the agent will know of the call.
func (s *session) contact(q *QueueNode, now time.Time) Contact {
	return Contact{
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
		Path:        s.path(),
		Record:      q.Record,
	}
}

// path is the IVR path so far, for the agent's screen-pop: each node
// visited before the current one, with its result.
func (s *session) path() []string {
	visits := s.rec.Visits[:s.visit]
	out := make([]string, 0, len(visits))
	for _, v := range visits {
		if v.Result == "" {
			out = append(out, v.Node)
		} else {
			out = append(out, v.Node+": "+v.Result)
		}
	}
	return out
}

// leave takes the call out of the queue after the hold that began at
// since ended with ev or err, and returns the next node. A call an agent
// took is in conversation until one of them hangs up.
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
		return s.converse(ctx, q, w, waited)
	case ev == evOperator:
		// The caller leaves; the place is taken back if the operator's way
		// leads to this queue again without asking anything (rule 20).
		leave("transferred")
		s.kept = &keptPlace{queue: q.Queue, since: since}
		s.waiting = nil
		s.rec.Outcome = OutcomeInProgress
		s.result("operator key after " + waited.String())
		s.log.Info("operator key in queue", "wait", waited)
		return s.flow.Operator.Goto, nil
	case ev == evCallback:
		// The caller would rather be called back: the request the
		// callback node takes keeps this place (rule 22).
		leave("transferred")
		s.left = &leftQueue{queue: q.Queue, since: since, intent: s.contactCopy.Intent,
			priority: q.Priority, skills: slices.Clone(q.Skills)}
		s.waiting = nil
		s.rec.Outcome = OutcomeInProgress
		s.result("callback key after " + waited.String())
		s.log.Info("callback key in queue", "wait", waited)
		return q.Callback, nil
	default: // max wait
		leave("timeout")
		s.rec.Outcome = OutcomeInProgress
		s.result("timeout after " + waited.String())
		s.log.Info("queue timeout", "wait", waited)
		return q.OnTimeout, nil
	}
}

// keptPlace is the place a caller had in a queue when it left with the
// operator key.
type keptPlace struct {
	queue string
	since time.Time // when the caller joined the queue
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

// hold keeps the caller on hold until an agent takes the call
// (evConnected), max_wait passes (evTimeout), the caller presses the
// operator key (evOperator) or the call's context is done: by the driver's
// own means when the call is a Holder, else by playing the hold prompt in
// a loop. Meanwhile it answers the queue's offers (ringing agents' phones)
// and keeps the caller's keys as type-ahead.
func (s *session) hold(ctx context.Context, q *QueueNode) (ev event, err error) {
	var t Timer
	if q.MaxWait > 0 {
		t = s.timer(q.MaxWait)
		defer t.Stop()
	}
	defer func() {
		if ev != evConnected {
			s.stopRinging(ctx, "caller left the queue")
		}
	}()
	spec := waitSpec{timer: t, timeout: q.MaxWait, what: WaitHold}
	if h, ok := s.call.(Holder); ok {
		stop, err := h.Hold(ctx, func() []Audio { return s.holdPrompt(ctx, q) })
		switch {
		case err == nil:
			defer stop()
			return s.waitHeld(ctx, spec)
		case ctx.Err() != nil:
			return 0, context.Cause(ctx)
		default:
			// The caller still waits in the queue: better the engine's
			// hold prompt than losing the place.
			s.log.Warn("driver hold failed; playing the hold prompt", "err", err)
		}
	}
	loop := true
	for {
		var pb Playback
		started := s.e.clock.Now()
		if audio := s.holdPrompt(ctx, q); loop && len(audio) > 0 {
			if pb, err = s.call.Play(ctx, audio); err != nil {
				if ctx.Err() != nil {
					return 0, context.Cause(ctx)
				}
				return 0, fmt.Errorf("play hold prompt: %w", err)
			}
		}
		spec.pb = pb
		ev, err := s.waitHeld(ctx, spec)
		if pb != nil {
			pb.Stop()
		}
		if err != nil || ev != evPlayed {
			return ev, err
		}
		if !s.e.clock.Now().After(started) {
			loop = false // the hold prompt ended at once: wait in silence rather than spin
		}
	}
}

// holdPrompt is the queue's hold prompt with the caller's position and
// estimated wait as they stand now (${queue.position}, ${queue.ewt}).
func (s *session) holdPrompt(ctx context.Context, q *QueueNode) []Audio {
	offer := s.callbackOffer(ctx, q)
	if len(q.Hold) == 0 {
		return offer
	}
	if usesQueueVars(q.Hold) {
		s.position(ctx)
	}
	return append(offer, s.expand(q.Hold)...)
}

// callbackInHold reports whether the key just pressed on hold is the
// queue's callback key; the key is then consumed.
func (s *session) callbackInHold() bool {
	q := s.node.Queue
	if q == nil || q.Callback == "" || len(s.buf) == 0 || s.buf[len(s.buf)-1].Digit != q.CallbackKey {
		return false
	}
	s.buf = s.buf[:len(s.buf)-1]
	return true
}

// callbackOffer is the queue's callback offer, once, when the estimated
// wait has grown past offer_callback_after (rule 22); nil otherwise.
func (s *session) callbackOffer(ctx context.Context, q *QueueNode) []Audio {
	if q.OfferCallbackAfter <= 0 || q.Callback == "" || s.offeredCallback || s.waiting == nil {
		return nil
	}
	p, err := s.waiting.Position(ctx)
	if err != nil {
		s.log.Warn("queue position", "err", err)
		return nil
	}
	if p.EWT <= q.OfferCallbackAfter {
		return nil
	}
	s.offeredCallback = true
	s.result(fmt.Sprintf("callback offered (position %d, estimated wait %s)", p.Position, p.EWT.Round(time.Second)))
	s.log.Info("callback offered", "position", p.Position, "ewt", p.EWT)
	s.snapshot()
	s.e.save(ctx, s.log, s.rec) // supervisors see the offer in the live call
	if cbs, ok := s.e.queue.(Callbacks); ok {
		if err := cbs.CallbackOffered(context.WithoutCancel(ctx), q.Queue); err != nil {
			s.log.Warn("count callback offer", "err", err)
		}
	}
	return s.expand(q.CallbackOffer)
}

// usesQueueVars reports whether a prompt says the queue position or wait.
func usesQueueVars(p Prompt) bool {
	for _, part := range p {
		if strings.Contains(part.Digits, "${queue.") || strings.Contains(part.Number, "${queue.") {
			return true
		}
	}
	return false
}

// position sets the queue.* variables from the queue.
func (s *session) position(ctx context.Context) {
	if s.waiting == nil {
		return
	}
	p, err := s.waiting.Position(ctx)
	if err != nil {
		s.log.Warn("queue position", "err", err)
		return
	}
	s.vars[VarQueuePosition] = strconv.Itoa(p.Position)
	s.vars[VarQueueEWT] = ""
	if p.EWT > 0 {
		s.vars[VarQueueEWT] = strconv.Itoa(int((p.EWT + time.Minute - 1) / time.Minute))
	}
}

// waitHeld waits while the caller is on hold: keys are buffered, the
// queue's events handled; it returns when the playback ends (evPlayed), an
// agent took the call, max_wait passed or the operator key was pressed.
func (s *session) waitHeld(ctx context.Context, w waitSpec) (event, error) {
	for {
		w.events = s.waiting.Events()
		w.answered, w.ringDone = nil, nil
		if r := s.ring; r != nil {
			w.answered, w.ringDone = r.leg.Answered(), r.leg.Done()
		}
		ev, err := s.wait(ctx, w)
		if err != nil {
			return ev, err
		}
		switch ev {
		case evPlayed, evTimeout:
			return ev, nil
		case evKey:
			if s.operatorInHold() {
				return evOperator, nil
			}
			if s.callbackInHold() {
				return evCallback, nil
			}
		case evQueue:
			if s.queueEvent(ctx) {
				return evConnected, nil
			}
		case evAnswered:
			if s.answered(ctx) {
				return evConnected, nil
			}
		case evRingEnded:
			if s.ringEnded(ctx) {
				return evConnected, nil
			}
		}
	}
}

// operatorInHold reports whether the key just pressed on hold is the
// operator key and the operator is elsewhere than this queue (rule 20); the
// key is then consumed.
func (s *session) operatorInHold() bool {
	op := s.flow.Operator
	if op.Key == 0 || op.Goto == "" || op.Goto == s.node.Name || len(s.buf) == 0 {
		return false
	}
	if s.buf[len(s.buf)-1].Digit != op.Key {
		return false
	}
	s.buf = s.buf[:len(s.buf)-1]
	return true
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
