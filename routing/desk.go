package routing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

// Agents returns every agent, by name.
func (q *Queues) Agents() []AgentStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	out := make([]AgentStatus, 0, len(q.names))
	for _, name := range q.names {
		out = append(out, q.status(q.agents[name], now))
	}
	return out
}

// Agent returns the agent of that name, or ErrUnknownAgent.
func (q *Queues) Agent(name string) (AgentStatus, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a, err := q.agentNamed(name)
	if err != nil {
		return AgentStatus{}, err
	}
	return q.status(a, q.clock.Now()), nil
}

// SetAgentState sets what the agent chose: available (offered contacts;
// during a wrap-up, ends it), away (offered nothing; the conversations in
// progress go on) or signed_out (refused with ErrAgentState while in a
// conversation). Leaving while a contact is offered withdraws the offer;
// the contact goes to the next agent.
func (q *Queues) SetAgentState(ctx context.Context, name, state string) error {
	err := q.do(ctx, func(now time.Time, fx *effects) error {
		a, err := q.agentNamed(name)
		if err != nil {
			return err
		}
		switch state {
		case AgentAvailable, AgentAway, AgentSignedOut:
		default:
			return fmt.Errorf("%w: %q is not one of available, away, signed_out", ErrAgentState, state)
		}
		if state == AgentSignedOut && a.busy() {
			return fmt.Errorf("%w: %s is in %d conversation(s); end them before signing out",
				ErrAgentState, name, len(a.contacts))
		}
		reason := "set by the agent"
		if state != AgentAvailable && a.offer != nil {
			q.withdraw(a.offer, now, fx, withdrawal{reason: "agent went " + state, tell: true, declined: true, presence: state})
		}
		if a.presence != AgentAvailable && state == AgentAvailable && a.wrapUntil.IsZero() && !a.busy() {
			a.idleSince = now
		}
		a.presence = state
		if state != AgentAway {
			// Available ends the wrap-up early; signed out, there is
			// none to finish.
			q.endWrapUp(a, now, fx, reason)
		}
		q.notify(a, now, fx, nil, "", reason)
		q.log.Info("agent state set", "agent", name, "presence", state, "state", a.state)
		q.match(now, fx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("set agent state: %w", err)
	}
	return nil
}

// Subscribe returns the events of the agent's desk, starting with its
// current state, and the function that ends the subscription. A desk that
// does not read its events is dropped: the channel is closed.
func (q *Queues) Subscribe(name string) (<-chan AgentEvent, func(), error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a, err := q.agentNamed(name)
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe: %w", err)
	}
	ch := make(chan AgentEvent, deskBuffer)
	if q.closed {
		close(ch)
		return ch, func() {}, nil
	}
	ch <- AgentEvent{Type: "state", Agent: q.status(a, q.clock.Now())}
	a.subs[ch] = struct{}{}
	cancel := func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if _, ok := a.subs[ch]; ok {
			delete(a.subs, ch)
			close(ch)
		}
	}
	return ch, cancel, nil
}

// offerOf returns the offer offerID of the agent.
func (q *Queues) offerOf(name, offerID string) (*offer, error) {
	a, err := q.agentNamed(name)
	if err != nil {
		return nil, err
	}
	if a.offer == nil || a.offer.id != offerID {
		return nil, fmt.Errorf("%w: %s has no offer %s", ErrNoOffer, name, offerID)
	}
	return a.offer, nil
}

// AcceptOffer is the agent taking offerID in the desk. A chat or email is
// connected at once (leg is nil). A call offered to an agent who takes
// calls in the browser needs leg, the agent's WebRTC leg: the call takes
// it (EventAccepted) and is connected when it does; should the caller
// hang up first, the leg is hung up. A call offered to an agent's phone is
// accepted by answering the phone, not here (ErrNoOffer).
func (q *Queues) AcceptOffer(ctx context.Context, agentName, offerID string, leg ivr.Leg) error {
	err := q.do(ctx, func(now time.Time, fx *effects) error {
		o, err := q.offerOf(agentName, offerID)
		if err != nil {
			return err
		}
		c := o.c
		if c.w == nil {
			q.connect(o, nil, now, fx)
			return nil
		}
		switch {
		case o.a.phone():
			return fmt.Errorf("%w on the desk: the call rings on %s's phone; answer it there", ErrNoOffer, agentName)
		case leg == nil:
			return ErrLegRequired
		case o.leg != nil:
			return fmt.Errorf("%w: offer %s is already accepted", ErrNoOffer, offerID)
		}
		o.leg = leg
		if o.stop != nil {
			o.stop()
		}
		// The deadline now bounds how long the call takes to take the leg.
		o.deadline = now.Add(acceptTimeout)
		o.stop = q.clock.AfterFunc(acceptTimeout, func() { q.expire(o) })
		if !c.w.send(ivr.QueueEvent{Kind: ivr.EventAccepted, Offer: o.ivr(), Leg: leg}) {
			q.log.Warn("call not reading its queue events; the accepted offer will time out",
				"contact_id", c.id, "agent", agentName)
		}
		q.log.Info("offer accepted in the desk", "contact_id", c.id, "agent", agentName, "offer_id", offerID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("accept offer %s: %w", offerID, err)
	}
	return nil
}

// RejectOffer is the agent declining offerID in the desk: the contact is
// offered to the next agent, and this agent stays available.
func (q *Queues) RejectOffer(ctx context.Context, agentName, offerID string) error {
	err := q.do(ctx, func(now time.Time, fx *effects) error {
		o, err := q.offerOf(agentName, offerID)
		if err != nil {
			return err
		}
		q.withdraw(o, now, fx, withdrawal{reason: "rejected", tell: true, declined: true})
		q.match(now, fx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reject offer %s: %w", offerID, err)
	}
	return nil
}

// HangUp is the agent ending its conversation with contactID. A chat or
// email is closed at once. For a call, the agent's leg is hung up; the
// call sees its bridge end and reports the end (Waiting.End).
func (q *Queues) HangUp(ctx context.Context, agentName, contactID string) error {
	err := q.do(ctx, func(now time.Time, fx *effects) error {
		a, err := q.agentNamed(agentName)
		if err != nil {
			return err
		}
		c := a.contacts[contactID]
		if c == nil {
			return fmt.Errorf("%w: %s is not talking with %s", ErrNoConversation, agentName, contactID)
		}
		if c.w == nil || c.leg == nil {
			q.end(c, ivr.EndedByAgent, now, fx)
			return nil
		}
		fx.hangup(c.leg, "agent hung up")
		return nil
	})
	if err != nil {
		return fmt.Errorf("hang up %s: %w", contactID, err)
	}
	return nil
}

// Assign offers the waiting contact to the agent now, whatever the order
// (a supervisor assigns it, or the agent picks it). The agent must be free
// (ErrAgentState) and qualified (ErrNotQualified). An offer of the contact
// to another agent is withdrawn first. It fails with ErrNotWaiting when
// the contact already left and store.ErrNotFound for an unknown one.
func (q *Queues) Assign(ctx context.Context, contactID, agentName string) error {
	found := true
	err := q.do(ctx, func(now time.Time, fx *effects) error {
		a, err := q.agentNamed(agentName)
		if err != nil {
			return err
		}
		c := q.contacts[contactID]
		if c == nil {
			found = false
			return nil
		}
		if c.state != contactWaiting {
			return fmt.Errorf("%w: it is %s", ErrNotWaiting, StateConnected)
		}
		if c.offer != nil && c.offer.a == a {
			return nil
		}
		if !a.qualifies(c) {
			return fmt.Errorf("%w: %s cannot take %s contacts of queue %s with skills %v and language %q",
				ErrNotQualified, agentName, c.info.Channel, c.info.Queue, c.info.Skills, c.info.Language)
		}
		if !a.free(c.channel()) {
			return fmt.Errorf("%w: %s is %s", ErrAgentState, agentName, a.state)
		}
		if err := q.assignable(c); err != nil {
			return err
		}
		if c.offer != nil {
			q.withdraw(c.offer, now, fx, withdrawal{reason: "assigned to " + agentName, tell: true})
		}
		q.offerContact(c, a, now, fx)
		q.log.Info("contact assigned", "contact_id", contactID, "agent", agentName)
		q.match(now, fx)
		return nil
	})
	if err == nil && !found {
		err = q.notWaiting(ctx, contactID)
	}
	if err != nil {
		return fmt.Errorf("assign contact %s: %w", contactID, err)
	}
	return nil
}

// notWaiting says why a contact the router does not hold is not waiting.
func (q *Queues) notWaiting(ctx context.Context, id string) error {
	var state string
	err := q.db.Reader().QueryRowContext(ctx, `SELECT state FROM contacts WHERE id = ?`, id).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case state == StateWaiting:
		return fmt.Errorf("%w: it waits in the store but not in this ivrd's queues", ErrNotWaiting)
	default:
		return fmt.Errorf("%w: it is %s", ErrNotWaiting, state)
	}
}

// Watch returns a channel that receives a value after the board changed
// (contacts, offers, agents), changes coalesced while it is not read, and
// the function that ends the watch.
func (q *Queues) Watch() (<-chan struct{}, func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch := make(chan struct{}, 1)
	if q.closed {
		close(ch)
		return ch, func() {}
	}
	q.watchers[ch] = struct{}{}
	return ch, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if _, ok := q.watchers[ch]; ok {
			delete(q.watchers, ch)
			close(ch)
		}
	}
}
