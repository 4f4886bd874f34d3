package ivrtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

var _ ivr.Callbacks = (*Queue)(nil)

// CallbackState is what the Queue knows of a callback request.
type CallbackState struct {
	ivr.Callback
	Offered int // CallbackOffered calls for its queue
}

// RequestCallback implements ivr.Callbacks: the request is kept in
// memory; Expected is now plus the queue's Position EWT.
func (q *Queue) RequestCallback(_ context.Context, r ivr.CallbackRequest) (ivr.Callback, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, cb := range q.callbacks {
		if cb.Number == r.Number && cb.Contact.Queue == r.Contact.Queue && cb.State == ivr.CallbackPending {
			return cb, fmt.Errorf("request callback: %w", ivr.ErrCallbackExists)
		}
	}
	if q.CallbackErr != nil {
		return ivr.Callback{}, q.CallbackErr
	}
	now := q.clock.Now()
	cb := ivr.Callback{
		ID:              fmt.Sprintf("callback-%d", len(q.callbacks)+1),
		CallbackRequest: r,
		State:           ivr.CallbackPending,
		RequestedAt:     now,
		NextAttempt:     r.NotBefore,
		Expected:        now.Add(q.Position.EWT),
	}
	if cb.NextAttempt.After(cb.Expected) {
		cb.Expected = cb.NextAttempt
	}
	q.callbacks = append(q.callbacks, cb)
	return cb, nil
}

// PendingCallbacks implements ivr.Callbacks.
func (q *Queue) PendingCallbacks(_ context.Context, number string) ([]ivr.Callback, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []ivr.Callback
	for _, cb := range q.callbacks {
		if cb.Number == number && cb.State == ivr.CallbackPending {
			out = append(out, cb)
		}
	}
	return out, nil
}

// CancelCallback implements ivr.Callbacks.
func (q *Queue) CancelCallback(_ context.Context, id, _ string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.callbacks {
		if q.callbacks[i].ID == id {
			q.callbacks[i].State = ivr.CallbackCancelled
			return nil
		}
	}
	return fmt.Errorf("cancel callback %s: not found", id)
}

// CallbackOffered implements ivr.Callbacks.
func (q *Queue) CallbackOffered(_ context.Context, queue string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.offers = append(q.offers, queue)
	return nil
}

// Callbacks returns the requests stored so far.
func (q *Queue) Callbacks() []ivr.Callback {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.callbacks)
}

// CallbackOffers returns the queues a callback was offered in, in order.
func (q *Queue) CallbackOffers() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.offers)
}

// Attempt returns an attempt at callback cb with a Waiting of this queue;
// events are scripted with its Send and SendAt.
func (q *Queue) Attempt(cb ivr.Callback, n int) (ivr.CallbackAttempt, *Waiting) {
	w := &Waiting{q: q, id: cb.ID, events: make(chan ivr.QueueEvent, 16)}
	return ivr.CallbackAttempt{Callback: cb, Attempt: n, Waiting: w}, w
}

// Reached implements ivr.CallbackWaiting.
func (w *Waiting) Reached(_ context.Context, callID string) error {
	w.q.note(Event{ContactID: w.id, What: "reached", Detail: callID})
	return nil
}

// Failed implements ivr.CallbackWaiting; the retry time is noted in
// Detail as "result retry-at-offset" (offset from the clock's start, or
// "never").
func (w *Waiting) Failed(_ context.Context, result string, retryAt time.Time) error {
	at := "never"
	if !retryAt.IsZero() {
		at = retryAt.Sub(w.q.clock.start).String()
	}
	w.q.note(Event{ContactID: w.id, What: "failed", Detail: result + " " + at})
	return nil
}

// Originator is an ivr.Originator on a fake Clock: each Originate takes
// the next scripted Answer.
type Originator struct {
	clock *Clock
	mu    sync.Mutex
	// Answers script the Originate calls in order: an error (busy, no
	// answer) after RingFor, or, nil, a Call that answers after RingFor
	// and is served. Past the script, calls are answered at once.
	Answers []Answer
	calls   []*Call
	dials   []ivr.DialRequest
	reqs    []ivr.OriginateRequest
	// Legs are the agents' phones rung by Dial, in order; a missing one is
	// a Leg that answers after a second.
	Legs []*Leg
}

// Answer is how a customer answers a callback.
type Answer struct {
	RingFor time.Duration
	Err     error
	// Setup prepares the answered call (keys to press).
	Setup func(c *Call)
	// HangupAfter, when positive, is when the customer hangs up, after
	// answering.
	HangupAfter time.Duration
}

// NewOriginator returns an Originator on clock.
func NewOriginator(clock *Clock) *Originator { return &Originator{clock: clock} }

var _ ivr.Originator = (*Originator)(nil)

// Originate implements ivr.Originator.
func (o *Originator) Originate(ctx context.Context, r ivr.OriginateRequest, serve func(context.Context, ivr.Call)) error {
	o.mu.Lock()
	n := len(o.reqs)
	o.reqs = append(o.reqs, r)
	var a Answer
	if n < len(o.Answers) {
		a = o.Answers[n]
	}
	o.mu.Unlock()
	if a.RingFor > 0 {
		t := o.clock.NewTimer(a.RingFor)
		o.clock.Idle(ivr.Wait{CallID: r.CallbackID, For: ivr.WaitHold})
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C():
		}
	}
	if a.Err != nil {
		return fmt.Errorf("originate %s: %w", r.Number, a.Err)
	}
	c := NewCall(o.clock, fmt.Sprintf("%s-attempt-%d", r.CallbackID, r.Attempt), "3900", r.Number)
	o.mu.Lock()
	o.calls = append(o.calls, c)
	o.mu.Unlock()
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.OnHangup = func(string) { cancel(ivr.ErrShutdown) }
	if a.Setup != nil {
		a.Setup(c)
	}
	if a.HangupAfter > 0 {
		stop := o.clock.AfterFunc(a.HangupAfter, func() { cancel(ivr.ErrCallerHangup) })
		defer stop()
	}
	serve(cctx, c)
	return nil
}

// Dial implements ivr.Originator.
func (o *Originator) Dial(_ context.Context, r ivr.DialRequest) (ivr.Ringing, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.dials)
	o.dials = append(o.dials, r)
	if n < len(o.Legs) {
		return o.Legs[n], nil
	}
	l := NewLeg(o.clock)
	l.AnswerAfter(time.Second)
	return l, nil
}

// Requests returns the Originate requests so far.
func (o *Originator) Requests() []ivr.OriginateRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reqs)
}

// Calls returns the customers' answered calls.
func (o *Originator) Calls() []*Call {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

// Dials returns the agents' phones rung.
func (o *Originator) Dials() []ivr.DialRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.dials)
}
