package routing

import "errors"

var (
	// ErrInvalidContact: a contact is missing its queue or has a bad field.
	ErrInvalidContact = errors.New("invalid contact")
	// ErrNotWaiting: the contact already left the queue (connected,
	// abandoned, timed out, transferred or closed).
	ErrNotWaiting = errors.New("contact is not waiting")
	// ErrUnknownAgent: no agent of that name in routing.agents.
	ErrUnknownAgent = errors.New("unknown agent")
	// ErrNoOffer: the agent has no such offer: unknown, over, or another
	// agent's.
	ErrNoOffer = errors.New("no such offer")
	// ErrLegRequired: an agent taking calls in the browser accepted a call
	// without its audio leg.
	ErrLegRequired = errors.New("the call needs the agent's audio leg")
	// ErrAgentState: the agent cannot do that in its state now (sign out
	// while in a conversation, be assigned a contact while busy, ...).
	ErrAgentState = errors.New("not allowed in the agent's state")
	// ErrNoConversation: the agent is in no conversation with that contact.
	ErrNoConversation = errors.New("no such conversation")
	// ErrNotQualified: the agent lacks a skill, language, queue or channel
	// the contact needs.
	ErrNotQualified = errors.New("agent not qualified for the contact")
)

// ErrCallbackState: the callback request cannot do that in its state now
// (cancel one already over, offer a caller-first request to an agent
// before its customer answered, report on an attempt that is over).
var ErrCallbackState = errors.New("not allowed in the callback's state")
