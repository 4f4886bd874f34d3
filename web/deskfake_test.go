package web

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// fakeDesk is an AgentDesk kept in memory whose offers the test makes. It
// follows the router's rules the desk relies on: the agent's events with
// its status after each, a browser agent's call accepted with a leg only,
// offers and conversations that are the agent's own.
type fakeDesk struct {
	mu       sync.Mutex
	now      func() time.Time
	wrapUp   time.Duration
	agents   map[string]*routing.AgentStatus
	subs     map[string]map[chan routing.AgentEvent]struct{}
	watchers map[chan struct{}]struct{}
	legs     map[string]ivr.Leg // accepted legs, by contact id
	assigned []string           // "contact→agent"
	hungUp   []string           // contact ids the agents hung up
	waiting  map[string]bool    // contacts Assign may offer
	board    routing.Board
	stats    routing.Stats
	err      error // returned by Board and Stats when set
	nstats   int   // calls of Stats
}

func (d *fakeDesk) statsCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nstats
}

func newFakeDesk(now func() time.Time) *fakeDesk {
	if now == nil {
		now = time.Now
	}
	return &fakeDesk{
		now: now, wrapUp: 10 * time.Second,
		agents:   map[string]*routing.AgentStatus{},
		subs:     map[string]map[chan routing.AgentEvent]struct{}{},
		watchers: map[chan struct{}]struct{}{},
		legs:     map[string]ivr.Leg{},
		waiting:  map[string]bool{},
	}
}

// addAgent adds an agent, signed out; phone empty takes calls in the
// browser.
func (d *fakeDesk) addAgent(name, phone string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.agents[name] = &routing.AgentStatus{
		Name: name, State: routing.AgentSignedOut, Since: now, Phone: phone, Browser: phone == "",
		Skills: map[string]int{"facturation": 5}, Languages: []string{"fr"},
		Capacity: map[string]int{"voice": 1, "chat": 2}, Load: map[string]int{}, IdleSince: now,
	}
}

func (d *fakeDesk) Agents() []routing.AgentStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []routing.AgentStatus
	for _, a := range d.agents {
		out = append(out, clone(a))
	}
	slices.SortFunc(out, func(a, b routing.AgentStatus) int { return compare(a.Name, b.Name) })
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func clone(a *routing.AgentStatus) routing.AgentStatus {
	c := *a
	c.Contacts = slices.Clone(a.Contacts)
	if a.Offer != nil {
		o := *a.Offer
		c.Offer = &o
	}
	return c
}

func (d *fakeDesk) Agent(name string) (routing.AgentStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agents[name]
	if !ok {
		return routing.AgentStatus{}, fmt.Errorf("agent %s: %w", name, routing.ErrUnknownAgent)
	}
	return clone(a), nil
}

// emit sends an event with the agent's status; called with mu held.
func (d *fakeDesk) emit(a *routing.AgentStatus, ev routing.AgentEvent) {
	ev.Agent = clone(a)
	for ch := range d.subs[a.Name] {
		select {
		case ch <- ev:
		default: // a desk that does not read is not waited for
		}
	}
	for ch := range d.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (d *fakeDesk) setState(a *routing.AgentStatus, state string) {
	a.State, a.Since = state, d.now()
	if state != routing.AgentWrapUp {
		a.WrapUpUntil = nil
	}
}

func (d *fakeDesk) SetAgentState(_ context.Context, name, state string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agents[name]
	if !ok {
		return fmt.Errorf("set state: %w", routing.ErrUnknownAgent)
	}
	if state == routing.AgentSignedOut && len(a.Contacts) > 0 {
		return fmt.Errorf("set state: %w: in a conversation", routing.ErrAgentState)
	}
	d.setState(a, state)
	d.emit(a, routing.AgentEvent{Type: "state"})
	return nil
}

func (d *fakeDesk) Subscribe(name string) (<-chan routing.AgentEvent, func(), error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agents[name]
	if !ok {
		return nil, nil, fmt.Errorf("subscribe: %w", routing.ErrUnknownAgent)
	}
	ch := make(chan routing.AgentEvent, 16)
	ch <- routing.AgentEvent{Type: "state", Agent: clone(a)}
	if d.subs[name] == nil {
		d.subs[name] = map[chan routing.AgentEvent]struct{}{}
	}
	d.subs[name][ch] = struct{}{}
	return ch, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.subs[name][ch]; ok {
			delete(d.subs[name], ch)
			close(ch)
		}
	}, nil
}

// subscribers counts the event streams of an agent.
func (d *fakeDesk) subscribers(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs[name])
}

// offer offers c to the agent, as the router would.
func (d *fakeDesk) offer(name, offerID string, c routing.ContactView, timeout time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.agents[name]
	o := &routing.OfferView{ID: offerID, Contact: c, Deadline: d.now().Add(timeout), Phone: !a.Browser && isCall(c.Channel)}
	a.Offer = o
	d.setState(a, routing.AgentOffered)
	d.emit(a, routing.AgentEvent{Type: "offer", Offer: o})
}

// withdraw ends the agent's offer, as the router does on a timeout.
func (d *fakeDesk) withdraw(name, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.agents[name]
	o := a.Offer
	a.Offer = nil
	d.setState(a, routing.AgentAvailable)
	d.emit(a, routing.AgentEvent{Type: "withdrawn", Offer: o, Reason: reason})
}

func (d *fakeDesk) AcceptOffer(_ context.Context, name, offerID string, leg ivr.Leg) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agents[name]
	if !ok {
		return fmt.Errorf("accept: %w", routing.ErrUnknownAgent)
	}
	if a.Offer == nil || a.Offer.ID != offerID {
		return fmt.Errorf("accept offer %s: %w", offerID, routing.ErrNoOffer)
	}
	c := a.Offer.Contact
	if isCall(c.Channel) {
		if a.Offer.Phone {
			return fmt.Errorf("accept offer %s: %w: answer the phone", offerID, routing.ErrNoOffer)
		}
		if leg == nil {
			return fmt.Errorf("accept offer %s: %w", offerID, routing.ErrLegRequired)
		}
		d.legs[c.ID] = leg
	}
	now := d.now()
	c.ConnectedAt, c.Agent = &now, name
	a.Offer = nil
	a.Contacts = append(a.Contacts, c)
	a.Load[c.Channel]++
	d.setState(a, routing.AgentBusy)
	d.emit(a, routing.AgentEvent{Type: "connected", Contact: &c})
	return nil
}

// leg returns the leg accepted for a contact.
func (d *fakeDesk) leg(contactID string) ivr.Leg {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.legs[contactID]
}

func (d *fakeDesk) RejectOffer(_ context.Context, name, offerID string) error {
	d.mu.Lock()
	a, ok := d.agents[name]
	if !ok || a.Offer == nil || a.Offer.ID != offerID {
		d.mu.Unlock()
		return fmt.Errorf("reject offer %s: %w", offerID, routing.ErrNoOffer)
	}
	d.mu.Unlock()
	d.withdraw(name, "rejected")
	return nil
}

func (d *fakeDesk) HangUp(ctx context.Context, name, contactID string) error {
	d.mu.Lock()
	a, ok := d.agents[name]
	var c *routing.ContactView
	if ok {
		for i := range a.Contacts {
			if a.Contacts[i].ID == contactID {
				c = &a.Contacts[i]
			}
		}
	}
	if c == nil {
		d.mu.Unlock()
		return fmt.Errorf("hang up %s: %w", contactID, routing.ErrNoConversation)
	}
	leg := d.legs[contactID]
	d.mu.Unlock()
	if leg != nil {
		if err := leg.Hangup(ctx, "agent hung up"); err != nil {
			return err
		}
	}
	d.end(name, contactID, ivr.EndedByAgent)
	return nil
}

// end ends a conversation: the agent wraps up.
func (d *fakeDesk) end(name, contactID, by string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.agents[name]
	i := slices.IndexFunc(a.Contacts, func(c routing.ContactView) bool { return c.ID == contactID })
	if i < 0 {
		return
	}
	c := a.Contacts[i]
	a.Contacts = slices.Delete(a.Contacts, i, i+1)
	a.Load[c.Channel]--
	d.hungUp = append(d.hungUp, contactID)
	d.setState(a, routing.AgentWrapUp)
	until := d.now().Add(d.wrapUp)
	a.WrapUpUntil = &until
	d.emit(a, routing.AgentEvent{Type: "ended", Contact: &c, Reason: by})
}

func (d *fakeDesk) endedContacts() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.hungUp)
}

func (d *fakeDesk) Assign(_ context.Context, contactID, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agents[name]
	switch {
	case !ok:
		return fmt.Errorf("assign: %w", routing.ErrUnknownAgent)
	case contactID == "gone":
		return fmt.Errorf("assign: %w: it is abandoned", routing.ErrNotWaiting)
	case !d.waiting[contactID]:
		return fmt.Errorf("assign: %w", store.ErrNotFound)
	case a.State != routing.AgentAvailable:
		return fmt.Errorf("assign: %w: %s is %s", routing.ErrAgentState, name, a.State)
	}
	d.assigned = append(d.assigned, contactID+"→"+name)
	return nil
}

func (d *fakeDesk) Board(context.Context) (routing.Board, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return routing.Board{}, d.err
	}
	b := d.board
	b.At = d.now()
	b.Agents = nil
	for _, a := range d.agents {
		b.Agents = append(b.Agents, clone(a))
	}
	slices.SortFunc(b.Agents, func(a, b routing.AgentStatus) int { return compare(a.Name, b.Name) })
	return b, nil
}

// setBoard replaces the queues of the board and signals the watchers.
func (d *fakeDesk) setBoard(queues []routing.QueueBoard) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.board.Queues = queues
	for ch := range d.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (d *fakeDesk) Watch() (<-chan struct{}, func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan struct{}, 1)
	d.watchers[ch] = struct{}{}
	return ch, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.watchers[ch]; ok {
			delete(d.watchers, ch)
			close(ch)
		}
	}
}

func (d *fakeDesk) Stats(context.Context) (routing.Stats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nstats++
	if d.err != nil {
		return routing.Stats{}, d.err
	}
	return d.stats, nil
}

// fakeLeg is an ivr.Leg that ends when hung up.
type fakeLeg struct {
	once   sync.Once
	done   chan struct{}
	mu     sync.Mutex
	reason string
}

func newFakeLeg() *fakeLeg { return &fakeLeg{done: make(chan struct{})} }

func (l *fakeLeg) Done() <-chan struct{} { return l.done }
func (l *fakeLeg) Hangup(_ context.Context, reason string) error {
	l.once.Do(func() {
		l.mu.Lock()
		l.reason = reason
		l.mu.Unlock()
		close(l.done)
	})
	return nil
}

func (l *fakeLeg) hungUp() (string, bool) {
	select {
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.reason, true
	default:
		return "", false
	}
}

// fakeWebRTC answers every offer with a fixed SDP and a fakeLeg, or fails.
type fakeWebRTC struct {
	mu     sync.Mutex
	offers []string
	legs   []*fakeLeg
	err    error
}

func (f *fakeWebRTC) Answer(_ context.Context, offer string, _ *slog.Logger) (*fakeLeg, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offers = append(f.offers, offer)
	if f.err != nil {
		return nil, "", f.err
	}
	l := newFakeLeg()
	f.legs = append(f.legs, l)
	return l, "v=0 answer", nil
}
