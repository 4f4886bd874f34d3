package ivr

import (
	"context"
	"errors"
	"time"
)

// An agent takes a queued call in one of two ways, and the engine handles
// both from the call's own goroutine while the caller stays on hold:
//
//   - The agent has a phone (Offer.Phone): the routing queue offers the call
//     to the agent, and the engine has the caller's driver ring the phone
//     (Dialer). The phone answering is the agent accepting; the engine then
//     tells the queue (Waiting.Answer) and bridges the two (Bridger).
//   - The agent takes calls in the browser: the queue offers the call to the
//     agent's desk; when the agent accepts there, the queue delivers the
//     agent's leg (EventAccepted) and the engine answers and bridges it the
//     same way.
//
// The queue withdraws an offer that is not taken within its offer timeout
// (EventWithdrawn): a phone still ringing is then cancelled, and the queue
// offers the call to the next agent.

// Offer is the routing queue proposing a waiting call to one agent.
type Offer struct {
	ID    string // unique per offer
	Agent string // the agent's name
	// Phone is the agent's phone when the agent takes calls on one: a sip:
	// URI for the native driver. Empty for an agent taking calls in the
	// browser: the agent's leg then comes with EventAccepted.
	Phone string
	// Dial is the agent's Asterisk dial string (PJSIP/alice), when the
	// configuration gives one; the Asterisk driver uses it before Phone.
	Dial string
	// Deadline is when the queue withdraws the offer if the agent has not
	// taken it.
	Deadline time.Time
}

// QueueEventKind says what a QueueEvent reports.
type QueueEventKind int

// Queue events.
const (
	// EventOffered: the call is offered to Offer.Agent. With Offer.Phone
	// set, the engine rings the phone.
	EventOffered QueueEventKind = iota + 1
	// EventWithdrawn: the offer Offer.ID is over (offer timeout, the agent
	// rejected it on the desk or went away). A phone still ringing for it
	// is cancelled.
	EventWithdrawn
	// EventAccepted: the agent accepted Offer.ID in the browser; Leg is the
	// agent's side of the conversation, to answer and bridge.
	EventAccepted
	// EventTurn: a caller-first callback's turn came and an agent is free:
	// the engine calls the customer back (see callback.go). No offer.
	EventTurn
)

// QueueEvent is what the routing queue tells a waiting call.
type QueueEvent struct {
	Kind  QueueEventKind
	Offer Offer
	Leg   Leg // EventAccepted only
}

// Leg is the agent's side of a conversation: a phone the caller's driver
// rang, or a browser's WebRTC connection. Drivers bridge the legs they know
// (their own, and media ports) and refuse others with ErrCannotBridge.
type Leg interface {
	// Done is closed when the agent's side ended: hung up, failed, or
	// ended by Hangup.
	Done() <-chan struct{}
	// Hangup ends the leg: CANCEL while it rings, BYE once answered. It is
	// idempotent and returns once the leg is ended.
	Hangup(ctx context.Context, reason string) error
}

// Connecting is an optional interface of a Leg that is not ready at once,
// such as a browser's WebRTC leg, whose audio flows only once ICE and DTLS
// are up. The engine takes the call on it (Waiting.Answer) only when
// Connected is closed; a leg that ends first is declined as failed.
type Connecting interface {
	Connected() <-chan struct{}
}

// Ringing is an agent's phone being rung by the caller's driver.
type Ringing interface {
	Leg
	// Answered is closed when the phone answered; the leg is then ready to
	// bridge.
	Answered() <-chan struct{}
	// Err says, once Done is closed without an answer, why the phone did
	// not take the call: an error wrapping ErrAgentBusy, ErrAgentDeclined or
	// ErrAgentNoAnswer, or another failure. It is nil while ringing and
	// after an answer.
	Err() error
}

// DialRequest is an agent's phone to ring for a waiting call.
type DialRequest struct {
	Offer   Offer
	Contact Contact // the contact being offered: caller, intent, queue, ...
	// Timeout bounds the ringing; the driver gives up with ErrAgentNoAnswer
	// after it. The queue's withdrawal usually comes first.
	Timeout time.Duration
}

// Dialer is an optional interface of a Call whose driver can ring an
// agent's phone while the caller waits.
type Dialer interface {
	// Dial starts ringing the agent and returns at once. It fails at once
	// when the phone cannot be rung at all (no such endpoint, bad URI).
	Dial(ctx context.Context, r DialRequest) (Ringing, error)
}

// Bridger is an optional interface of a Call whose driver can put the
// caller in conversation with an agent's leg.
type Bridger interface {
	// Bridge connects the caller and leg, audio both ways, until either
	// side hangs up: it returns nil when the leg ended (the agent hung up)
	// and the cause of ctx when the call's context ended (the caller hung
	// up). It does not hang up either side; a leg it cannot bridge is
	// refused at once with an error wrapping ErrCannotBridge.
	Bridge(ctx context.Context, leg Leg) error
}

// Why an agent's phone did not take a call (Ringing.Err).
var (
	ErrAgentBusy     = errors.New("agent busy")
	ErrAgentDeclined = errors.New("agent declined")
	ErrAgentNoAnswer = errors.New("agent did not answer")
	// ErrCannotBridge: the driver cannot bridge this kind of leg.
	ErrCannotBridge = errors.New("cannot bridge this leg")
	// ErrOfferOver: the offer was withdrawn or taken before the answer was
	// reported (Waiting.Answer).
	ErrOfferOver = errors.New("offer no longer stands")
)

// Who ended a conversation with an agent (Waiting.End).
const (
	EndedByCaller = "caller"
	EndedByAgent  = "agent"
	EndedByIVRD   = "ivrd" // shutdown, media failure
)

// Decline reasons for Waiting.Decline.
const (
	DeclineBusy     = "busy"      // the phone was busy
	DeclineRejected = "rejected"  // the agent declined
	DeclineNoAnswer = "no_answer" // the phone rang out
	DeclineFailed   = "failed"    // the phone could not be rung
)

// QueuePosition is where a waiting call stands in its queue.
type QueuePosition struct {
	Position int           // 1 for the next call to be served
	EWT      time.Duration // estimated wait time; 0 when unknown
}
