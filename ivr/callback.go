package ivr

import (
	"context"
	"errors"
	"time"
)

// A caller who would rather not wait asks to be called back (a callback
// node). The request keeps the caller's place in the queue (virtual hold)
// and is routed like a call when its turn comes:
//
//   - Agent-first (the default): the queue offers the request to an agent
//     as it would a call (EventOffered, EventAccepted). Once the agent has
//     taken it (the phone answered, or the browser leg connected, then
//     Waiting.Answer), the engine has the driver call the customer
//     (Originator.Originate); on answer the customer hears the greeting
//     (and the recording notice when the conversation is recorded) and is
//     bridged to the agent.
//   - Caller-first: when the request's turn comes and an agent is free, the
//     queue hands it over without an agent (EventTurn); the engine calls the
//     customer, who hears the greeting and then waits for an agent like a
//     caller in the queue, at the head of it.
//
// An attempt that does not reach the customer (busy, no answer, failure)
// is reported with CallbackWaiting.Failed, with the time of the next
// attempt: after the retry delay, moved into the open hours of the
// request's calendar; none once MaxAttempts attempts were made.
//
// The queue stores requests durably before the caller hears the
// confirmation, and hands the pending ones to the engine again after a
// restart.

// Callback modes.
const (
	CallbackAgentFirst  = "agent_first"
	CallbackCallerFirst = "caller_first"
)

// CallbackRequest is what a callback node asks the queue to store.
type CallbackRequest struct {
	// Contact is the context the agent will see; Contact.Queue is the
	// queue it waits in, Contact.EnqueuedAt its place: when the caller
	// joined the queue before choosing a callback, else when asked.
	// Contact.Channel is "callback".
	Contact Contact
	// Number is the number to call: digits, with an optional leading +.
	Number string
	// NotBefore is when the first attempt may be made at the earliest (the
	// next opening when asked while closed); zero when at once.
	NotBefore time.Time
	// Calendar names the calendar whose open hours attempts are made in;
	// empty for any time.
	Calendar string
	// MaxAttempts is how many calls are made at most (≥ 1); RetryDelay is
	// the least time between two of them.
	MaxAttempts int
	RetryDelay  time.Duration
	// Mode is CallbackAgentFirst or CallbackCallerFirst.
	Mode string
	// Node is the callback node that took the request: its greeting is
	// what the customer hears, from the flow Contact.Flow as it stands when
	// the call is placed.
	Node string
}

// Callback states.
const (
	CallbackPending   = "pending"   // waiting for its turn or its next attempt
	CallbackActive    = "active"    // an attempt is in progress
	CallbackCompleted = "completed" // the customer talked to an agent
	CallbackFailed    = "failed"    // every attempt failed, or it expired
	CallbackCancelled = "cancelled" // the customer cancelled it
)

// Callback is a stored callback request.
type Callback struct {
	ID string // the contact's id in the queue
	CallbackRequest
	State       string
	Attempts    int       // attempts made so far
	RequestedAt time.Time // when it was stored
	// NextAttempt is when the next attempt may be made (NotBefore, then
	// after each failure the retry time); zero when none is due.
	NextAttempt time.Time
	// Expected is when the customer can expect the call, as estimated when
	// stored: the later of NextAttempt and now plus the queue's estimated
	// wait.
	Expected time.Time
}

// Callbacks stores callback requests; the routing queue implements it. A
// Queue whose implementation also implements Callbacks makes callback
// nodes work; without one they fail with ErrNoCallbacks.
type Callbacks interface {
	// RequestCallback stores r durably and puts it in its queue at its
	// place; it returns once stored. It fails with an error wrapping
	// ErrCallbackExists when the number already has a pending request in
	// that queue (the Callback returned is that request), and ErrCallbackLimit when the
	// number asked too many callbacks today.
	RequestCallback(ctx context.Context, r CallbackRequest) (Callback, error)
	// PendingCallbacks lists the pending (or active) requests for number,
	// in every queue.
	PendingCallbacks(ctx context.Context, number string) ([]Callback, error)
	// CancelCallback cancels a pending request; an attempt in progress is
	// not stopped.
	CancelCallback(ctx context.Context, id, reason string) error
	// CallbackOffered counts a callback offered to a caller in queue, for
	// the statistics (offered, then accepted or not).
	CallbackOffered(ctx context.Context, queue string) error
}

// CallbackAttempt is one attempt at calling a customer back, handed by the
// queue to the engine's ServeCallback when the request's turn comes.
type CallbackAttempt struct {
	Callback Callback
	Attempt  int // 1 for the first attempt
	// Waiting is the request's place in the queue for this attempt: its
	// first event is EventOffered or EventAccepted (agent-first) or
	// EventTurn (caller-first).
	Waiting CallbackWaiting
}

// CallbackWaiting is a callback request's place in the queue during an
// attempt. Waiting's methods work as for a call; Leave ends the attempt
// without an agent (the customer hung up while waiting, caller-first).
type CallbackWaiting interface {
	Waiting
	// Reached reports that the customer answered the call callID; in
	// caller-first mode the request is then offered to agents.
	Reached(ctx context.Context, callID string) error
	// Failed reports that the attempt did not reach the customer: result
	// is one of CallbackBusy, CallbackNoAnswer, CallbackRejected or
	// CallbackError. An agent taken for it is released (no wrap-up). The
	// request is tried again from retryAt, or failed when retryAt is zero.
	Failed(ctx context.Context, result string, retryAt time.Time) error
}

// Results of an attempt that did not reach the customer.
const (
	CallbackBusy     = "busy"
	CallbackNoAnswer = "no_answer"
	CallbackRejected = "rejected"
	CallbackError    = "failed"
)

// OriginateRequest is a customer to call back.
type OriginateRequest struct {
	Number string // digits, optional leading +
	// Contact is the request's context, for headers and logs.
	Contact Contact
	// Timeout bounds the ringing; the driver gives up with
	// ErrCalleeNoAnswer after it.
	Timeout time.Duration
	// CallbackID and Attempt say which request and attempt the call is,
	// for headers and logs.
	CallbackID string
	Attempt    int
}

// Originator is a driver that can call customers back and ring agents'
// phones without a caller's call (agent-first callbacks).
type Originator interface {
	// Originate calls r.Number (through the configured trunk or Asterisk
	// endpoint) and blocks. When the call is answered it calls serve with
	// the answered call, from the calling goroutine, with a context that
	// ends (cause ErrCallerHangup) when the customer hangs up, and hangs up
	// when serve returns; Originate then returns nil. When the call is not
	// answered it returns an error wrapping ErrCalleeBusy, ErrCalleeNoAnswer,
	// ErrCalleeRejected or another failure, without calling serve. ctx
	// cancelled while ringing cancels the call.
	Originate(ctx context.Context, r OriginateRequest, serve func(ctx context.Context, c Call)) error
	// Dial rings an agent's phone as Dialer does for a caller's call.
	// Its Ringing is a leg the driver's calls can bridge to (Bridger).
	Dial(ctx context.Context, r DialRequest) (Ringing, error)
}

// The Call that Originate hands to serve implements Bridger (and Recorder
// when the driver records) like an inbound call does: the engine bridges
// the customer to the agent's leg with it.

// Why a customer was not reached (Originator.Originate).
var (
	ErrCalleeBusy     = errors.New("callee busy")
	ErrCalleeNoAnswer = errors.New("callee did not answer")
	ErrCalleeRejected = errors.New("callee rejected the call")
	// ErrNoCallbacks: a callback node ran but the queue stores no
	// callbacks, or no driver can place the calls.
	ErrNoCallbacks = errors.New("callbacks not available")
	// ErrCallbackExists: the number already has a pending request there.
	ErrCallbackExists = errors.New("callback already requested")
	// ErrCallbackLimit: the number asked too many callbacks today.
	ErrCallbackLimit = errors.New("too many callback requests")
)
