package routing

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// The test clock is the engine's fake clock.
var _ Clock = (*ivrtest.Clock)(nil)

type agentOpt func(*AgentConfig)

func agentCfg(name string, opts ...agentOpt) AgentConfig {
	a := AgentConfig{Name: name}
	for _, o := range opts {
		o(&a)
	}
	return a
}

func queues(qs ...string) agentOpt    { return func(a *AgentConfig) { a.Queues = qs } }
func languages(ls ...string) agentOpt { return func(a *AgentConfig) { a.Languages = ls } }
func phone(p string) agentOpt         { return func(a *AgentConfig) { a.Phone = p } }
func wrapUp(d time.Duration) agentOpt { return func(a *AgentConfig) { a.WrapUp = d } }
func capacity(c map[string]int) agentOpt {
	return func(a *AgentConfig) { a.Capacity = c }
}
func skills(s map[string]int) agentOpt { return func(a *AgentConfig) { a.Skills = s } }

func config(agents ...AgentConfig) Config {
	c := DefaultConfig()
	c.Agents = agents
	return c
}

// signIn makes the agents available, in order.
func signIn(t testing.TB, q *Queues, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := q.SetAgentState(context.Background(), n, AgentAvailable); err != nil {
			t.Fatal(err)
		}
	}
}

func agentState(t testing.TB, q *Queues, name string) string {
	t.Helper()
	a, err := q.Agent(name)
	if err != nil {
		t.Fatal(err)
	}
	return a.State
}

// nextEvent returns the queue event waiting for the call; the router sends
// them before its calls return, so one must be there.
func nextEvent(t testing.TB, w ivr.Waiting) ivr.QueueEvent {
	t.Helper()
	select {
	case ev := <-w.Events():
		return ev
	default:
		t.Fatalf("contact %s: no queue event", w.ContactID())
		return ivr.QueueEvent{}
	}
}

func noEvent(t testing.TB, w ivr.Waiting) {
	t.Helper()
	select {
	case ev := <-w.Events():
		t.Fatalf("contact %s: unexpected queue event %+v", w.ContactID(), ev)
	default:
	}
}

// offered reads the next event of w, which must be an offer to agent.
func offered(t testing.TB, w ivr.Waiting, agent string) ivr.Offer {
	t.Helper()
	ev := nextEvent(t, w)
	if ev.Kind != ivr.EventOffered || ev.Offer.Agent != agent {
		t.Fatalf("contact %s: event %d to %q, want an offer to %s", w.ContactID(), ev.Kind, ev.Offer.Agent, agent)
	}
	return ev.Offer
}

// answer has agent take the call w is offered to it.
func answer(t testing.TB, w ivr.Waiting, agent string) *fakeLeg {
	t.Helper()
	o := offered(t, w, agent)
	leg := newLeg()
	if err := w.Answer(context.Background(), o.ID, leg); err != nil {
		t.Fatal(err)
	}
	return leg
}

func enqueue(t testing.TB, q *Queues, c ivr.Contact) ivr.Waiting {
	t.Helper()
	w, err := q.Enqueue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func subscribe(t testing.TB, q *Queues, name string) <-chan AgentEvent {
	t.Helper()
	ch, cancel, err := q.Subscribe(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return ch
}

// deskEvents returns the events pushed to a desk so far.
func deskEvents(ch <-chan AgentEvent) []AgentEvent {
	var out []AgentEvent
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func deskOffers(ch <-chan AgentEvent) []OfferView {
	var out []OfferView
	for _, ev := range deskEvents(ch) {
		if ev.Type == "offer" {
			out = append(out, *ev.Offer)
		}
	}
	return out
}

// fakeLeg is an agent's leg that records its hang-up.
type fakeLeg struct {
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	reason string
}

func newLeg() *fakeLeg { return &fakeLeg{done: make(chan struct{})} }

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

// hungUp reports whether the leg was hung up, and why.
func (l *fakeLeg) hungUp() (bool, string) {
	select {
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return true, l.reason
	default:
		return false, ""
	}
}

func newTestClock() *ivrtest.Clock { return ivrtest.NewClock(start) }
