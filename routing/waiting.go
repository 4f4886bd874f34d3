package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// waiting is a call's place in a queue: what the engine holds while the
// caller is on hold, and through which it hears of offers and reports what
// became of them.
type waiting struct {
	q      *Queues
	c      *contact
	events chan ivr.QueueEvent
}

var _ ivr.Waiting = (*waiting)(nil)

func (w *waiting) ContactID() string             { return w.c.id }
func (w *waiting) Events() <-chan ivr.QueueEvent { return w.events }
func (w *waiting) Position(ctx context.Context) (ivr.QueuePosition, error) {
	return w.q.position(w.c)
}

// send delivers ev without waiting; it reports false when the call lets
// its events pile up. The router's mutex is held.
func (w *waiting) send(ev ivr.QueueEvent) bool {
	select {
	case w.events <- ev:
		return true
	default:
		return false
	}
}

// drain takes back the events the call has not read: they are about
// offers that are over. It reports whether the offer of offerID was among
// them, that is, the call never saw it.
func (w *waiting) drain(offerID string) (unseen bool) {
	for {
		select {
		case ev := <-w.events:
			if ev.Kind == ivr.EventOffered && ev.Offer.ID == offerID {
				unseen = true
			}
		default:
			return unseen
		}
	}
}

// Answer connects the call to the agent of offerID, on leg: the agent's
// phone answered, or the call took the browser leg of EventAccepted.
func (w *waiting) Answer(ctx context.Context, offerID string, leg ivr.Leg) error {
	err := w.q.do(ctx, func(now time.Time, fx *effects) error {
		o := w.c.offer
		if w.c.state != contactWaiting || o == nil || o.id != offerID {
			return ivr.ErrOfferOver
		}
		if leg == nil {
			return errors.New("no leg")
		}
		if o.leg != nil && o.leg != leg {
			// The call took another leg than the one accepted: the
			// accepted one is not bridged, end it.
			fx.hangup(o.leg, "replaced")
			o.leg = nil
		}
		w.q.connect(o, leg, now, fx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("answer offer %s: %w", offerID, err)
	}
	return nil
}

// Decline reports that the agent's phone did not take offerID. Busy or
// rejected, the agent stays available; rung out, it goes to the
// no_answer state; a phone that could not be rung sets the agent away. An
// unknown reason counts as a failure. The call is offered to the next
// agent. Declining an offer that is already over does nothing.
func (w *waiting) Decline(ctx context.Context, offerID, reason string) error {
	return w.q.do(ctx, func(now time.Time, fx *effects) error {
		o := w.c.offer
		if w.c.state != contactWaiting || o == nil || o.id != offerID {
			return nil
		}
		// The call is told too, as for any withdrawal: a driver still
		// holding the ringing leg lets it go.
		wd := withdrawal{declined: true, tell: true}
		switch reason {
		case ivr.DeclineBusy:
			wd.reason = "phone busy"
		case ivr.DeclineRejected:
			wd.reason = "declined on the phone"
		case ivr.DeclineNoAnswer:
			wd.reason, wd.presence = reasonNoAnswer, w.q.cfg.NoAnswer
		default:
			phone := o.a.cfg.Dial
			if phone == "" {
				phone = o.a.cfg.Phone
			}
			if phone == "" {
				// A browser agent whose audio did not connect (ICE or
				// DTLS failed): the desk says so; the agent stays.
				wd.reason = "audio could not connect"
				w.q.log.Warn("the browser of the agent who accepted could not connect its audio",
					"agent", o.a.name, "contact_id", w.c.id, "call_id", w.c.info.CallID, "offer_id", o.id)
				break
			}
			wd.reason, wd.presence = "phone could not be rung", AgentAway
			// Why is in the call's log (the driver's error): sip.agent_auth,
			// the transport, the address.
			w.q.log.Warn("agent set away: its phone could not be rung; see the call's log for why",
				"agent", o.a.name, "phone", phone, "contact_id", w.c.id, "call_id", w.c.info.CallID, "offer_id", o.id)
		}
		w.q.withdraw(o, now, fx, wd)
		w.q.match(now, fx)
		return nil
	})
}

// Leave removes a call no agent took. An offer in progress is withdrawn,
// its agent available again. Only the first way out counts: after Answer
// or a first Leave, Leave does nothing. An unknown reason is recorded as
// abandoned, keeping the reason text. The write outlives ctx: the caller's
// context is typically cancelled by the very hang-up that makes it leave.
func (w *waiting) Leave(ctx context.Context, reason string) error {
	state, ok := leaveState(reason)
	if !ok {
		state = StateAbandoned
	}
	if state == StateConnected {
		return nil // the conversation is recorded by Answer and End
	}
	why := leaveWhy[state]
	return w.q.do(ctx, func(now time.Time, fx *effects) error {
		if w.c.state != contactWaiting {
			return nil
		}
		if o := w.c.offer; o != nil {
			w.q.withdraw(o, now, fx, withdrawal{reason: why})
		}
		w.q.leave(w.c, state, reason, now, fx)
		w.q.match(now, fx)
		return nil
	})
}

// leaveWhy is why an offer is withdrawn when its contact leaves in a
// state, for the desk.
var leaveWhy = map[string]string{
	StateAbandoned:   "caller hung up",
	StateTimeout:     "caller reached the queue's maximum wait",
	StateTransferred: "caller left the queue",
	StateClosed:      "contact closed",
}

// End ends the conversation with the agent, ended by by (ivr.EndedBy*);
// the agent wraps up. It does nothing when the call is not in
// conversation.
func (w *waiting) End(ctx context.Context, by string) error {
	return w.q.do(ctx, func(now time.Time, fx *effects) error {
		if w.c.state != contactConnected {
			return nil
		}
		w.q.end(w.c, by, now, fx)
		return nil
	})
}
