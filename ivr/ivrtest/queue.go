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
// Set ConnectAfter and Err before calls are served.
type Queue struct {
	// ConnectAfter, when positive, has an agent take each contact that long
	// after it was enqueued.
	ConnectAfter time.Duration
	// Err, when set, is returned by Enqueue.
	Err error

	clock    *Clock
	mu       sync.Mutex
	contacts []ivr.Contact
	left     []Left
}

// Left is a contact leaving the queue.
type Left struct {
	ContactID string
	Reason    string
	At        time.Duration // since the clock's start
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
	defer q.mu.Unlock()
	if c.ID == "" {
		c.ID = fmt.Sprintf("contact-%d", len(q.contacts)+1)
	}
	c.Vars = maps.Clone(c.Vars)
	c.Skills = slices.Clone(c.Skills)
	q.contacts = append(q.contacts, c)
	w := &waiting{q: q, id: c.ID, connected: make(chan struct{})}
	if q.ConnectAfter > 0 {
		w.cancel = q.clock.AfterFunc(q.ConnectAfter, func() { close(w.connected) })
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

type waiting struct {
	q         *Queue
	id        string
	connected chan struct{}
	cancel    func() bool
}

func (w *waiting) ContactID() string          { return w.id }
func (w *waiting) Connected() <-chan struct{} { return w.connected }
func (w *waiting) Leave(_ context.Context, reason string) error {
	if w.cancel != nil {
		w.cancel()
	}
	w.q.mu.Lock()
	defer w.q.mu.Unlock()
	w.q.left = append(w.q.left, Left{ContactID: w.id, Reason: reason, At: w.q.clock.Elapsed()})
	return nil
}
