package ivrtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// Queue is an ivr.Queue in memory on a fake Clock.
//
// Set its fields before calls are served.
type Queue struct {
	// ConnectAfter, when positive, has Agent take each contact in the
	// browser that long after it was enqueued: the contact is offered,
	// then accepted with a Leg that is up.
	ConnectAfter time.Duration
	// TalkFor, when positive, has the agent hang up that long after the
	// call was answered; otherwise the conversation lasts until the caller
	// hangs up.
	TalkFor time.Duration
	// Agent names the agent of ConnectAfter (default "agent-1").
	Agent string
	// OnEnqueue, when set, scripts each contact's offers instead of
	// ConnectAfter: it gets the contact's Waiting, to Send events at clock
	// times.
	OnEnqueue func(w *Waiting)
	// Position is what Position reports (0: the contact is first).
	Position ivr.QueuePosition
	// Err, when set, is returned by Enqueue.
	Err error
	// AnswerErr, when set, is returned by Answer (an offer that is over).
	AnswerErr error

	// CallbackErr, when set, is returned by RequestCallback.
	CallbackErr error

	clock     *Clock
	callbacks []ivr.Callback
	offers    []string
	mu        sync.Mutex
	contacts  []ivr.Contact
	left      []Left
	log       []Event
}

// Left is a contact leaving the queue.
type Left struct {
	ContactID string
	Reason    string
	At        time.Duration // since the clock's start
}

// Event is something the engine told the queue: "answer", "decline",
// "leave" or "end", with the offer, the reason or who ended the
// conversation, at a clock time.
type Event struct {
	ContactID string
	What      string
	OfferID   string
	Detail    string // decline or leave reason, or who ended
	At        time.Duration
}

var _ ivr.Queue = (*Queue)(nil)

// NewQueue returns an empty queue.
func NewQueue(clock *Clock) *Queue { return &Queue{clock: clock} }

// Enqueue implements ivr.Queue.
func (q *Queue) Enqueue(_ context.Context, c ivr.Contact) (ivr.Waiting, error) {
	if q.Err != nil {
		return nil, q.Err
	}
	q.mu.Lock()
	if c.ID == "" {
		c.ID = fmt.Sprintf("contact-%d", len(q.contacts)+1)
	}
	c.Vars = maps.Clone(c.Vars)
	c.Skills = slices.Clone(c.Skills)
	c.Path = slices.Clone(c.Path)
	q.contacts = append(q.contacts, c)
	w := &Waiting{q: q, id: c.ID, events: make(chan ivr.QueueEvent, 16)}
	q.mu.Unlock()
	switch {
	case q.OnEnqueue != nil:
		q.OnEnqueue(w)
	case q.ConnectAfter > 0:
		agent := q.Agent
		if agent == "" {
			agent = "agent-1"
		}
		w.stop = q.clock.AfterFunc(q.ConnectAfter, func() {
			o := ivr.Offer{ID: w.id + "-offer-1", Agent: agent, Deadline: q.clock.Now().Add(15 * time.Second)}
			w.Send(ivr.QueueEvent{Kind: ivr.EventOffered, Offer: o})
			w.Send(ivr.QueueEvent{Kind: ivr.EventAccepted, Offer: o, Leg: NewLeg(q.clock)})
		})
	}
	return w, nil
}

// Contacts returns the contacts enqueued so far.
func (q *Queue) Contacts() []ivr.Contact {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.contacts)
}

// Left returns the contacts that left, in order.
func (q *Queue) Left() []Left {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.left)
}

// Events returns what the engine told the queue, in order.
func (q *Queue) Events() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.log)
}

func (q *Queue) note(e Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e.At = q.clock.Elapsed()
	q.log = append(q.log, e)
}

// Waiting is a contact's place in a Queue.
type Waiting struct {
	q      *Queue
	id     string
	events chan ivr.QueueEvent
	stop   func() bool

	mu       sync.Mutex
	answered bool
}

var _ ivr.Waiting = (*Waiting)(nil)

// Send delivers a queue event to the engine now.
func (w *Waiting) Send(ev ivr.QueueEvent) {
	select {
	case w.events <- ev:
	default:
		panic("ivrtest: queue events buffer full")
	}
}

// SendAt delivers ev when the clock reaches start+at.
func (w *Waiting) SendAt(at time.Duration, ev ivr.QueueEvent) {
	w.q.clock.At(at, func() { w.Send(ev) })
}

// ContactID implements ivr.Waiting.
func (w *Waiting) ContactID() string { return w.id }

// Events implements ivr.Waiting.
func (w *Waiting) Events() <-chan ivr.QueueEvent { return w.events }

// Position implements ivr.Waiting.
func (w *Waiting) Position(context.Context) (ivr.QueuePosition, error) {
	p := w.q.Position
	if p.Position == 0 {
		p.Position = 1
	}
	return p, nil
}

// Answer implements ivr.Waiting; the conversation then lasts TalkFor.
func (w *Waiting) Answer(_ context.Context, offerID string, leg ivr.Leg) error {
	w.q.note(Event{ContactID: w.id, What: "answer", OfferID: offerID})
	if w.q.AnswerErr != nil {
		return w.q.AnswerErr
	}
	w.mu.Lock()
	w.answered = true
	w.mu.Unlock()
	if l, ok := leg.(*Leg); ok && w.q.TalkFor > 0 {
		l.HangupAfter(w.q.TalkFor)
	}
	return nil
}

// Decline implements ivr.Waiting.
func (w *Waiting) Decline(_ context.Context, offerID, reason string) error {
	w.q.note(Event{ContactID: w.id, What: "decline", OfferID: offerID, Detail: reason})
	return nil
}

// Leave implements ivr.Waiting.
func (w *Waiting) Leave(_ context.Context, reason string) error {
	if w.stop != nil {
		w.stop()
	}
	w.q.note(Event{ContactID: w.id, What: "leave", Detail: reason})
	w.q.mu.Lock()
	defer w.q.mu.Unlock()
	w.q.left = append(w.q.left, Left{ContactID: w.id, Reason: reason, At: w.q.clock.Elapsed()})
	return nil
}

// End implements ivr.Waiting.
func (w *Waiting) End(_ context.Context, by string) error {
	w.q.note(Event{ContactID: w.id, What: "end", Detail: by})
	return nil
}
