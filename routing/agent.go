package routing

import (
	"time"
)

// Agent states. An agent starts signed out, makes itself available, is
// offered a contact, is busy with one (or more: chats), wraps up after
// each, and is available again when the wrap-up time is over or it ends
// the wrap-up itself. Signed out, it is offered nothing.
const (
	AgentSignedOut = "signed_out"
	AgentAway      = "away"
	AgentAvailable = "available"
	AgentOffered   = "offered"
	AgentBusy      = "busy"
	AgentWrapUp    = "wrap_up"
)

// AgentStatus is an agent as its desk and the supervisors see it.
type AgentStatus struct {
	Name      string         `json:"name"`
	State     string         `json:"state"`
	Since     time.Time      `json:"since"` // when State began
	Phone     string         `json:"phone,omitempty"`
	Browser   bool           `json:"browser"` // takes calls in the desk (WebRTC) rather than on a phone
	Skills    map[string]int `json:"skills"`
	Languages []string       `json:"languages,omitempty"`
	Queues    []string       `json:"queues,omitempty"` // empty: every queue
	Capacity  map[string]int `json:"capacity"`         // per channel
	Load      map[string]int `json:"load"`             // contacts in progress per channel
	// IdleSince is when the agent last became free (signed in or came
	// back, ended its wrap-up) or took a contact; the longest idle
	// qualified agent is offered the next contact.
	IdleSince time.Time `json:"idle_since"`
	// WrapUpUntil is when the wrap-up ends, in state wrap_up.
	WrapUpUntil *time.Time `json:"wrap_up_until,omitempty"`
	// Offer is the offer the agent has to answer, if any.
	Offer *OfferView `json:"offer,omitempty"`
	// Contacts are the contacts the agent is in conversation with.
	Contacts []ContactView `json:"contacts,omitempty"`
}

// OfferView is an offer as the agent's desk shows it: the screen-pop,
// before the agent accepts.
type OfferView struct {
	ID       string      `json:"id"`
	Contact  ContactView `json:"contact"`
	Deadline time.Time   `json:"deadline"`
	// Phone says the agent's phone is ringing for this offer: the agent
	// accepts by answering it.
	Phone bool `json:"phone"`
}

// ContactView is everything the IVR learned about a contact, for the
// agent: who, why, what was typed, the recording consent, the language,
// how long it waited and the path through the IVR.
type ContactView struct {
	WaitingContact
	Path []string `json:"path,omitempty"`
	// ConnectedAt is set once an agent took the contact.
	ConnectedAt *time.Time `json:"connected_at,omitempty"`
	Agent       string     `json:"agent,omitempty"`
}

// AgentEvent is pushed to an agent's desk.
type AgentEvent struct {
	// Type is "state" (the agent's state changed), "offer" (a contact is
	// offered: Offer is the screen-pop), "withdrawn" (the offer Offer.ID is
	// over: Reason says why), "connected" (Contact is in conversation),
	// "ended" (the conversation with Contact ended: Reason says who ended
	// it).
	Type    string       `json:"type"`
	Agent   AgentStatus  `json:"agent"` // the agent after the event
	Offer   *OfferView   `json:"offer,omitempty"`
	Contact *ContactView `json:"contact,omitempty"`
	Reason  string       `json:"reason,omitempty"`
}

// Board is the live picture of the queues and agents for supervisors.
type Board struct {
	At     time.Time     `json:"at"`
	Queues []QueueBoard  `json:"queues"`
	Agents []AgentStatus `json:"agents"`
}

// QueueBoard is one queue on the Board: who waits, in the order they will
// be served.
type QueueBoard struct {
	Name               string           `json:"name"`
	Waiting            []PositionedWait `json:"waiting"`
	LongestWaitSeconds float64          `json:"longest_wait_seconds"`
	// Agents counts the agents who may take this queue's contacts, by
	// state.
	Agents map[string]int `json:"agents"`
}

// PositionedWait is a waiting contact with its position in its queue (1
// is served first) and estimated wait.
type PositionedWait struct {
	WaitingContact
	Position   int     `json:"position"`
	EWTSeconds float64 `json:"ewt_seconds"`
	OfferedTo  string  `json:"offered_to,omitempty"` // the agent it is offered to now
}

// Stats are the service figures of the queues over the intervals
// supervisors follow (today, the last 15 minutes), per queue and for all.
type Stats struct {
	At time.Time `json:"at"`
	// ThresholdSeconds is the service level's answer time (90 s unless
	// configured); ShortAbandonSeconds the abandons left out of it.
	ThresholdSeconds    float64         `json:"threshold_seconds"`
	ShortAbandonSeconds float64         `json:"short_abandon_seconds"`
	Intervals           []IntervalStats `json:"intervals"`
}

// IntervalStats are the figures of one interval.
type IntervalStats struct {
	Name   string       `json:"name"` // "today", "15m"
	Since  time.Time    `json:"since"`
	Total  QueueStats   `json:"total"`
	Queues []QueueStats `json:"queues"`
}

// QueueStats are the figures of one queue (or of all, Queue ""), over the
// contacts that left the queue during the interval.
//
// Offered counts every contact that left: answered, abandoned (short
// abandons included), timed out. Callback requests are counted apart, in
// Callbacks. The service level is the share of the
// offered contacts, short abandons left out, answered within the
// threshold: AnsweredInThreshold / (Offered - ShortAbandoned). The abandon
// rate is Abandoned / Offered (short abandons included in both). The
// average speed of answer is the mean wait of the answered contacts.
// Ratios are nil when their denominator is zero.
type QueueStats struct {
	Queue               string   `json:"queue,omitempty"`
	Offered             int      `json:"offered"`
	Answered            int      `json:"answered"`
	AnsweredInThreshold int      `json:"answered_in_threshold"`
	Abandoned           int      `json:"abandoned"`
	ShortAbandoned      int      `json:"short_abandoned"`
	TimedOut            int      `json:"timed_out"`
	Transferred         int      `json:"transferred"` // left for another queue; not offered here
	ServiceLevel        *float64 `json:"service_level"`
	AbandonRate         *float64 `json:"abandon_rate"`
	ASASeconds          *float64 `json:"asa_seconds"`
	// AverageTalkSeconds is the mean conversation length of the answered
	// contacts whose conversation ended in the interval.
	AverageTalkSeconds *float64 `json:"average_talk_seconds"`
	// Waiting and LongestWaitSeconds are now, whatever the interval
	// (callback requests left out: see Callbacks.Open).
	Waiting            int     `json:"waiting"`
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
	// Callbacks are the callback requests' figures, apart from the
	// others: none of them counts in the figures above.
	Callbacks CallbackStats `json:"callbacks"`
}

// CallbackStats are the callback figures of a queue over an interval.
type CallbackStats struct {
	// Offered counts the callbacks the flows offered to callers
	// (CallbackOffered), taken or not; Requested the requests stored.
	Offered   int `json:"offered"`
	Requested int `json:"requested"`
	// Completed, Failed and Cancelled count the requests that ended so
	// in the interval.
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	// AverageTimeToCallbackSeconds is the mean time from the request to
	// the customer's conversation with an agent, of the requests
	// completed in the interval.
	AverageTimeToCallbackSeconds *float64 `json:"average_time_to_callback_seconds"`
	// AverageTalkSeconds is the mean length of the callback conversations
	// that ended in the interval.
	AverageTalkSeconds *float64 `json:"average_talk_seconds"`
	// Open is the requests pending or in an attempt now, whatever the
	// interval.
	Open int `json:"open"`
}
