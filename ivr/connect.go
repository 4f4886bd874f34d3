package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Queue variables, set while the call waits in a queue whose hold prompt
// says them (see usesQueueVars).
const (
	// VarQueuePosition is the caller's position: 1 is served next.
	VarQueuePosition = "queue.position"
	// VarQueueEWT is the estimated wait in whole minutes, rounded up;
	// empty when the queue cannot estimate it.
	VarQueueEWT = "queue.ewt"
)

// agentLegTimeout bounds hanging up an agent's leg once the call's context
// is done.
const agentLegTimeout = 5 * time.Second

// ringMargin is how much longer than the offer a phone may ring: the
// queue's withdrawal normally ends it first, and the driver's own timeout
// is only a safety net.
const ringMargin = 2 * time.Second

// ringing is an agent's phone being rung for an offer.
type ringing struct {
	offer Offer
	leg   Ringing
}

// connection is the agent who took the call and the leg it took it on.
type connection struct {
	offer Offer
	leg   Leg
}

// queueEvent handles the queue event wait received (rule 18); it reports
// whether an agent now has the call.
func (s *session) queueEvent(ctx context.Context) bool {
	qe := s.pending
	s.pending = QueueEvent{}
	switch qe.Kind {
	case EventOffered:
		s.offered(ctx, qe.Offer)
	case EventWithdrawn:
		if r := s.ring; r != nil && r.offer.ID == qe.Offer.ID {
			s.log.Info("offer withdrawn; cancelling the agent's phone", "agent", r.offer.Agent, "offer_id", r.offer.ID)
			s.stopRinging(ctx, "offer withdrawn")
		}
	case EventAccepted:
		return s.accepted(ctx, qe.Offer, qe.Leg)
	default:
		s.log.Warn("unknown queue event", "kind", int(qe.Kind))
	}
	return false
}

// offered rings the agent's phone for o; an agent without a phone takes
// the call in the browser, and the leg comes with EventAccepted.
func (s *session) offered(ctx context.Context, o Offer) {
	s.log.Info("offered to agent", "agent", o.Agent, "offer_id", o.ID, "phone", o.Phone)
	if o.Phone == "" && o.Dial == "" {
		return
	}
	if s.ring != nil {
		// One offer at a time: the queue has moved on from the last one.
		s.stopRinging(ctx, "superseded by another offer")
	}
	d, dok := s.call.(Dialer)
	_, bok := s.call.(Bridger)
	if !dok || !bok {
		s.log.Warn("driver cannot ring agents' phones", "agent", o.Agent)
		s.decline(ctx, o, DeclineFailed)
		return
	}
	timeout := max(o.Deadline.Sub(s.e.clock.Now()), time.Second) + ringMargin
	leg, err := d.Dial(ctx, DialRequest{Offer: o, Contact: s.contactCopy, Timeout: timeout})
	if err != nil {
		s.log.Warn("ring agent", "agent", o.Agent, "phone", o.Phone, "err", err)
		s.decline(ctx, o, DeclineFailed)
		return
	}
	s.ring = &ringing{offer: o, leg: leg}
}

// answered handles the agent's phone answering: the queue is told, and
// the call is the agent's unless the offer is over meanwhile.
func (s *session) answered(ctx context.Context) bool {
	r := s.ring
	s.ring = nil
	leg := Leg(r.leg)
	if c, ok := r.leg.(connectingLeg); ok {
		leg = c.Leg // the queue knows the leg it gave
	}
	return s.take(ctx, r.offer, leg)
}

// accepted handles an agent accepting in the browser, with leg.
func (s *session) accepted(ctx context.Context, o Offer, leg Leg) bool {
	if leg == nil {
		s.log.Warn("agent accepted without a leg", "agent", o.Agent, "offer_id", o.ID)
		s.decline(ctx, o, DeclineFailed)
		return false
	}
	if _, ok := s.call.(Bridger); !ok {
		s.log.Warn("driver cannot bridge agents", "agent", o.Agent)
		s.hangupLeg(ctx, leg, "driver cannot bridge")
		s.decline(ctx, o, DeclineFailed)
		return false
	}
	if c, ok := leg.(Connecting); ok {
		// Taken only once audio can flow: until then the leg is
		// handled as a phone that rings.
		s.stopRinging(ctx, "superseded by another offer")
		s.ring = &ringing{offer: o, leg: connectingLeg{Leg: leg, connected: c.Connected()}}
		return false
	}
	return s.take(ctx, o, leg)
}

// connectingLeg is a leg that is not ready yet, seen as a ringing phone
// that answers when it connects.
type connectingLeg struct {
	Leg
	connected <-chan struct{}
}

func (l connectingLeg) Answered() <-chan struct{} { return l.connected }
func (l connectingLeg) Err() error                { return nil }

// take tells the queue that the agent of o took the call on leg.
func (s *session) take(ctx context.Context, o Offer, leg Leg) bool {
	if err := s.waiting.Answer(ctx, o.ID, leg); err != nil {
		if errors.Is(err, ErrOfferOver) {
			s.log.Info("agent answered an offer that is over", "agent", o.Agent, "offer_id", o.ID)
		} else {
			s.log.Warn("report answer to the queue", "agent", o.Agent, "offer_id", o.ID, "err", err)
		}
		s.hangupLeg(ctx, leg, "offer over")
		return false
	}
	s.conn = &connection{offer: o, leg: leg}
	return true
}

// ringEnded handles the agent's phone giving up without an answer. A
// phone that answered and hung up at once comes here too, as either may
// be seen first: it took the call, which ends at once.
func (s *session) ringEnded(ctx context.Context) bool {
	select {
	case <-s.ring.leg.Answered():
		return s.answered(ctx)
	default:
	}
	r := s.ring
	s.ring = nil
	err := r.leg.Err()
	reason := DeclineFailed
	switch {
	case errors.Is(err, ErrAgentBusy):
		reason = DeclineBusy
	case errors.Is(err, ErrAgentDeclined):
		reason = DeclineRejected
	case errors.Is(err, ErrAgentNoAnswer):
		reason = DeclineNoAnswer
	}
	if reason == DeclineFailed {
		s.log.Warn("agent's leg failed before taking the call", "agent", r.offer.Agent, "offer_id", r.offer.ID, "phone", r.offer.Phone, "err", err)
	} else {
		s.log.Info("agent's phone did not take the call", "agent", r.offer.Agent, "offer_id", r.offer.ID, "reason", reason, "err", err)
	}
	s.decline(ctx, r.offer, reason)
	return false
}

func (s *session) decline(ctx context.Context, o Offer, reason string) {
	if err := s.waiting.Decline(context.WithoutCancel(ctx), o.ID, reason); err != nil {
		s.log.Warn("report decline to the queue", "agent", o.Agent, "offer_id", o.ID, "err", err)
	}
}

// stopRinging cancels the agent's phone still ringing, if any.
func (s *session) stopRinging(ctx context.Context, reason string) {
	r := s.ring
	if r == nil {
		return
	}
	s.ring = nil
	s.hangupLeg(ctx, r.leg, reason)
}

// hangupLeg ends an agent's leg, even once the call's context is done.
func (s *session) hangupLeg(ctx context.Context, leg Leg, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), agentLegTimeout)
	defer cancel()
	if err := leg.Hangup(ctx, reason); err != nil {
		s.log.Warn("hang up agent's leg", "reason", reason, "err", err)
	}
}

// converse is the conversation with the agent who took the call (rule
// 19): recorded when the queue says so, bridged by the driver until one of
// them hangs up; the other is then hung up.
func (s *session) converse(ctx context.Context, q *QueueNode, w Waiting, waited time.Duration) (string, error) {
	c := s.conn
	start := s.e.clock.Now()
	s.rec.Outcome = OutcomeConnected
	s.rec.Agent = c.offer.Agent
	s.rec.ConnectedAt = &start
	s.result("connected to " + c.offer.Agent + " after " + waited.String())
	s.log.Info("connected", "agent", c.offer.Agent, "wait", waited)
	switch {
	case q.Record:
		s.result(s.startRecording(ctx, s.node.Name, q.Queue))
	case s.recording != nil:
		// Only a queue with record: true records the agent (rule 17).
		s.stopRecording(ctx, "agent took the call from a queue that does not record")
		s.result("recording stopped")
	}
	s.snapshot()
	s.e.save(ctx, s.log, s.rec)

	var err error
	if b, ok := s.call.(Bridger); ok {
		if s.idler != nil {
			s.idler.Idle(Wait{CallID: s.rec.ID, Node: s.node.Name, Kind: s.node.Kind, For: WaitTalk})
		}
		err = b.Bridge(ctx, c.leg)
	} else {
		err = fmt.Errorf("bridge agent: %w", ErrCannotBridge)
	}
	by, ret := EndedByAgent, error(nil)
	switch {
	case err == nil:
		s.log.Info("agent hung up", "agent", c.offer.Agent)
		s.e.hangup(ctx, s.log, s.call, "agent hung up")
	case ctx.Err() != nil:
		by = EndedByCaller
		if cause := context.Cause(ctx); !errors.Is(cause, ErrCallerHangup) && !errors.Is(cause, ErrMediaTimeout) {
			by = EndedByIVRD
		}
		s.hangupLeg(ctx, c.leg, "caller hung up")
	default:
		by = EndedByIVRD
		s.log.Error("bridge agent", "agent", c.offer.Agent, "err", err)
		s.hangupLeg(ctx, c.leg, "bridge failed")
		s.e.hangup(ctx, s.log, s.call, "bridge failed")
		ret = fmt.Errorf("bridge agent %s: %w", c.offer.Agent, err)
	}
	s.rec.Talk = s.e.clock.Now().Sub(start).Round(time.Millisecond)
	s.rec.EndedBy = by
	s.result("ended by " + by + " after " + s.rec.Talk.String())
	if err := w.End(context.WithoutCancel(ctx), by); err != nil {
		s.log.Warn("report end of conversation to the queue", "err", err)
	}
	s.waiting = nil
	if ret != nil {
		s.rec.Error = ret.Error()
	}
	return "", ret
}
