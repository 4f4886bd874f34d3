package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ServeCallback makes one attempt at calling a customer back (rule 23).
// The queue calls it, in a goroutine of its own, when a request's turn
// comes; it returns once the attempt is over and reported to the queue
// (Waiting.End, CallbackWaiting.Failed or Leave). A context ending (ivrd
// stopping) interrupts the attempt without reporting it: the queue takes
// the request back at the next start.
func (e *Engine) ServeCallback(ctx context.Context, a CallbackAttempt) {
	cb := a.Callback
	log := e.logger.With("callback_id", cb.ID, "attempt", a.Attempt, "queue", cb.Contact.Queue)
	flow, node := e.callbackFlow(cb)
	if e.originator == nil {
		log.Error("callback attempt with no driver to place calls", "err", ErrNoCallbacks)
		e.failCallback(ctx, log, a, flow, CallbackError)
		return
	}
	log.Info("callback attempt", "mode", cb.Mode, "attempts", cb.MaxAttempts)
	if cb.Mode == CallbackCallerFirst {
		e.callerFirst(ctx, log, a, flow, node)
		return
	}
	e.agentFirst(ctx, log, a, flow, node)
}

// callbackFlow finds the flow and callback node of a request as they stand
// now; a flow or node since removed gives defaults (no greeting, not
// recorded), never a lost request.
func (e *Engine) callbackFlow(cb Callback) (*Flow, *CallbackNode) {
	var flow *Flow
	if set := e.flows.Current(); set != nil {
		flow = set.Flows[cb.Contact.Flow]
	}
	if flow == nil {
		flow = &Flow{Name: cb.Contact.Flow, Language: cb.Contact.Language, Nodes: map[string]*Node{}}
	}
	if n := flow.Nodes[cb.Node]; n != nil && n.Callback != nil {
		return flow, n.Callback
	}
	return flow, &CallbackNode{Queue: cb.Contact.Queue, Record: cb.Contact.Record}
}

// agentFirst waits for an agent to take the request, then calls the
// customer and bridges them.
func (e *Engine) agentFirst(ctx context.Context, log *slog.Logger, a CallbackAttempt, flow *Flow, node *CallbackNode) {
	cb := a.Callback
	// A session without a call yet: the queue events are handled as for a
	// caller on hold, the agent's phone rung by the originating driver.
	// Its record is never saved: the customer's call has its own.
	rec := &CallRecord{ID: "callback-" + cb.ID, Queue: cb.Contact.Queue, ContactID: cb.ID}
	s := newSession(e, dialOnly{e.originator}, flow, rec, log)
	s.waiting = a.Waiting
	s.contactCopy = cb.Contact
	s.contactCopy.ID = cb.ID
	if !s.awaitAgent(ctx) {
		return
	}
	agent := s.conn
	log = log.With("agent", agent.offer.Agent)
	log.Info("agent took the callback; calling the customer", "number", cb.Number)
	// An agent who hangs up while the customer's phone rings gives up the
	// attempt: the ringing stops.
	octx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	answered := make(chan struct{})
	go func() {
		select {
		case <-agent.leg.Done():
			select {
			case <-answered:
			default:
				stop(errAgentLeft)
			}
		case <-octx.Done():
		}
	}()
	err := e.originate(octx, a, node, func(cctx context.Context, call Call) {
		close(answered)
		cs := e.callbackSession(cctx, call, a, flow, log)
		if err := a.Waiting.Reached(cctx, call.ID()); err != nil {
			log.Warn("report the customer reached", "err", err)
		}
		cs.conn = agent
		cs.waiting = a.Waiting
		err := cs.greet(cctx, node)
		if err == nil {
			q := &QueueNode{Queue: cb.Contact.Queue, Record: node.Record}
			_, err = cs.converse(cctx, q, a.Waiting, e.clock.Now().Sub(cb.RequestedAt))
		} else {
			// The customer hung up before the agent was put through.
			cs.hangupLeg(cctx, agent.leg, "customer hung up")
			if err := a.Waiting.End(context.WithoutCancel(cctx), EndedByCaller); err != nil {
				log.Warn("report end of conversation to the queue", "err", err)
			}
		}
		_ = cs.finish(cctx, err)
	})
	agentLeft := errors.Is(context.Cause(octx), errAgentLeft)
	stop(nil) // before the agent's leg is hung up below
	if err == nil {
		return
	}
	s.hangupLeg(ctx, agent.leg, "customer not reached")
	if ctx.Err() != nil || errors.Is(err, ErrShutdown) {
		// ivrd is stopping: the attempt is taken back at the next start.
		return
	}
	if agentLeft {
		// Not the customer's doing: due again at once.
		log.Info("agent hung up while the customer's phone rang")
		if err := a.Waiting.Failed(context.WithoutCancel(ctx), CallbackError, e.clock.Now()); err != nil {
			log.Warn("report failed callback attempt", "err", err)
		}
		return
	}
	log.Info("customer not reached", "number", cb.Number, "err", err)
	e.failCallback(ctx, log, a, flow, callbackResult(err))
}

// errAgentLeft cancels the customer's ringing when the agent hung up.
var errAgentLeft = errors.New("agent hung up before the customer answered")

// callerFirst calls the customer, who then waits for an agent at the
// request's place.
func (e *Engine) callerFirst(ctx context.Context, log *slog.Logger, a CallbackAttempt, flow *Flow, node *CallbackNode) {
	cb := a.Callback
	err := e.originate(ctx, a, node, func(cctx context.Context, call Call) {
		cs := e.callbackSession(cctx, call, a, flow, log)
		if err := a.Waiting.Reached(cctx, call.ID()); err != nil {
			log.Warn("report the customer reached", "err", err)
		}
		cs.waiting = a.Waiting
		err := cs.greet(cctx, node)
		if err == nil {
			q := &QueueNode{Queue: cb.Contact.Queue, Record: node.Record, Hold: node.Hold}
			cs.node = &Node{Name: cs.node.Name, Kind: KindQueue, Queue: q}
			since := e.clock.Now()
			var ev event
			ev, err = cs.hold(cctx, q)
			_, err = cs.leave(cctx, q, a.Waiting, since, ev, err)
		} else {
			_ = a.Waiting.Leave(context.WithoutCancel(cctx), "abandoned")
		}
		_ = cs.finish(cctx, err)
	})
	if err == nil || ctx.Err() != nil || errors.Is(err, ErrShutdown) {
		return
	}
	log.Info("customer not reached", "number", cb.Number, "err", err)
	e.failCallback(ctx, log, a, flow, callbackResult(err))
}

// awaitAgent handles the request's queue events until an agent has taken
// it (s.conn); false when the context ended first.
func (s *session) awaitAgent(ctx context.Context) bool {
	defer func() {
		if s.conn == nil {
			s.stopRinging(ctx, "callback attempt ended")
		}
	}()
	for {
		var answered, ringDone <-chan struct{}
		if r := s.ring; r != nil {
			answered, ringDone = r.leg.Answered(), r.leg.Done()
		}
		if s.idler != nil {
			// Take what is already there before a test clock moves on.
			select {
			case qe := <-s.waiting.Events():
				s.pending = qe
				if s.queueEvent(ctx) {
					return true
				}
				continue
			default:
			}
			s.idler.Idle(Wait{CallID: s.rec.ID, Node: s.contactCopy.ID, Kind: KindCallback, For: WaitHold})
		}
		select {
		case <-ctx.Done():
			return false
		case qe := <-s.waiting.Events():
			s.pending = qe
			if s.queueEvent(ctx) {
				return true
			}
		case <-answered:
			if s.answered(ctx) {
				return true
			}
		case <-ringDone:
			if s.ringEnded(ctx) {
				return true
			}
		}
	}
}

// originate has the driver call the customer.
func (e *Engine) originate(ctx context.Context, a CallbackAttempt, node *CallbackNode, serve func(context.Context, Call)) error {
	cb := a.Callback
	return e.originator.Originate(ctx, OriginateRequest{
		Number:     cb.Number,
		Contact:    cb.Contact,
		Timeout:    cmpOrDur(node.RingTimeout, DefaultCallbackRingTimeout),
		CallbackID: cb.ID,
		Attempt:    a.Attempt,
	}, serve)
}

// callbackSession is the session of the customer's answered call.
func (e *Engine) callbackSession(ctx context.Context, call Call, a CallbackAttempt, flow *Flow, log *slog.Logger) *session {
	cb := a.Callback
	rec := &CallRecord{
		ID:        call.ID(),
		Driver:    "callback",
		Caller:    call.Caller(),
		Dialled:   cb.Number,
		StartedAt: e.clock.Now(),
		Queue:     cb.Contact.Queue,
		ContactID: cb.ID,
	}
	// The customer's call runs no menu of the flow: no operator key.
	f := *flow
	f.Operator = Operator{}
	s := newSession(e, call, &f, rec, log.With("call_id", rec.ID))
	for k, v := range cb.Contact.Vars {
		if k != VarConsent { // asked again on this call
			s.vars[k] = v
		}
	}
	s.vars[VarCallbackNumber] = cb.Number
	s.contactCopy = cb.Contact
	s.contactCopy.ID = cb.ID
	now := e.clock.Now()
	rec.QueuedAt = &now
	s.node = &Node{Name: cb.Node, Kind: KindCallback}
	s.enter(s.node)
	s.result(fmt.Sprintf("callback %s, attempt %d", cb.ID, a.Attempt))
	s.log.Info("customer answered the callback", "callback_id", cb.ID, "attempt", a.Attempt)
	s.snapshot()
	e.save(ctx, s.log, rec)
	return s
}

// greet plays the greeting and, when the conversation is recorded, the
// recording notice with its refusal window.
func (s *session) greet(ctx context.Context, node *CallbackNode) error {
	if _, err := s.prompt(ctx, node.Greeting, false); err != nil {
		return err
	}
	if !node.Record || node.Consent == nil {
		return ctx.Err()
	}
	n := &Node{Name: s.node.Name, Kind: KindConsent, Consent: node.Consent}
	prev := s.node
	s.node = n
	_, err := s.consentNode(ctx, n)
	s.node = prev
	return err
}

// failCallback reports a failed attempt, with the time of the next one.
func (e *Engine) failCallback(ctx context.Context, log *slog.Logger, a CallbackAttempt, flow *Flow, result string) {
	cb := a.Callback
	var retry time.Time
	if a.Attempt < cb.MaxAttempts {
		retry = e.clock.Now().Add(cmpOrDur(cb.RetryDelay, DefaultCallbackRetryDelay))
		if cal := flow.Calendars[cb.Calendar]; cal != nil && !cal.IsOpen(retry) {
			if t, ok := cal.NextOpen(retry); ok {
				retry = t
			} else {
				retry = time.Time{}
			}
		}
	}
	if err := a.Waiting.Failed(context.WithoutCancel(ctx), result, retry); err != nil {
		log.Warn("report failed callback attempt", "err", err)
		return
	}
	if retry.IsZero() {
		log.Warn("callback failed: no attempt left", "result", result, "attempts", a.Attempt)
	} else {
		log.Info("callback attempt failed; retrying", "result", result, "retry_at", retry)
	}
}

// callbackResult maps a driver's error to an attempt result.
func callbackResult(err error) string {
	switch {
	case errors.Is(err, ErrCalleeBusy):
		return CallbackBusy
	case errors.Is(err, ErrCalleeNoAnswer):
		return CallbackNoAnswer
	case errors.Is(err, ErrCalleeRejected):
		return CallbackRejected
	}
	return CallbackError
}

// dialOnly stands for the call an agent-first callback does not have yet:
// it rings agents' phones through the originating driver. Bridger only
// tells the queue events that a leg can be bridged, which the customer's
// call will do.
type dialOnly struct{ o Originator }

func (d dialOnly) ID() string                                      { return "" }
func (d dialOnly) Caller() string                                  { return "" }
func (d dialOnly) Dialled() string                                 { return "" }
func (d dialOnly) Answer(context.Context) error                    { return nil }
func (d dialOnly) Play(context.Context, []Audio) (Playback, error) { return nil, ErrCannotBridge }
func (d dialOnly) DTMF() <-chan DTMF                               { return nil }
func (d dialOnly) Hangup(context.Context, string) error            { return nil }
func (d dialOnly) Dial(ctx context.Context, r DialRequest) (Ringing, error) {
	return d.o.Dial(ctx, r)
}
func (d dialOnly) Bridge(context.Context, Leg) error { return ErrCannotBridge }
