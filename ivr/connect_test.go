package ivr_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// agentFlow: a greeting, then the "support" queue whose hold prompt says
// the position, and an "agent" play node as the operator's target.
func agentFlow(extra ...*ivr.Node) *ivr.Flow {
	nodes := append([]*ivr.Node{
		playNode("greeting", "queue", false),
		{Name: "queue", Kind: ivr.KindQueue, Queue: &ivr.QueueNode{
			Queue: "support", Intent: "help", Skills: []string{"fr"},
			Hold: ivr.Prompt{{Audio: &ivr.Audio{Text: "you are number"}}, {Number: "${queue.position}"}},
		}},
	}, extra...)
	f := newFlow(nodes...)
	f.Vocabulary = map[string]ivr.Audio{}
	for i := range 10 {
		w := fmt.Sprint(i)
		f.Vocabulary[w] = ivr.Audio{Text: w}
	}
	return f
}

// agentRun is one call served against a scripted queue.
type agentRun struct {
	clock *ivrtest.Clock
	call  *ivrtest.Call
	queue *ivrtest.Queue
	calls *ivrtest.MemCallLog
	opts  []ivr.Option // more engine options
	err   error
}

func (r *agentRun) record(t *testing.T) ivr.CallRecord {
	t.Helper()
	rec, ok := r.calls.Last("call-1")
	if !ok {
		t.Fatal("no call record")
	}
	return rec
}

// runAgents serves one call of f; script sets up the queue and the call's
// phones; hangupAt, when positive, is when the caller hangs up.
func runAgents(t *testing.T, f *ivr.Flow, hangupAt time.Duration, script func(*agentRun)) *agentRun {
	t.Helper()
	clock := ivrtest.NewClock(ivrtest.Epoch)
	r := &agentRun{
		clock: clock,
		call:  ivrtest.NewCall(clock, "call-1", "+33612345678", "3000"),
		queue: ivrtest.NewQueue(clock),
		calls: &ivrtest.MemCallLog{},
	}
	r.call.Durations["you are number"] = 4 * s
	script(r)
	eng := ivr.NewEngine(fixed(f), append([]ivr.Option{ivr.WithClock(clock), ivr.WithQueue(r.queue), ivr.WithCallLog(r.calls),
		ivr.WithLogger(slog.New(slog.DiscardHandler))}, r.opts...)...)
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	r.call.OnHangup = func(string) { cancel(errHungUpByIvrd) }
	if hangupAt > 0 {
		clock.At(hangupAt, func() { cancel(ivr.ErrCallerHangup) })
	}
	r.err = clock.Run(ctx, func(ctx context.Context) error { return eng.Serve(ctx, r.call, "test") }, nil)
	return r
}

func offer(id, agent, phone string) ivr.Offer {
	return ivr.Offer{ID: id, Agent: agent, Phone: phone, Deadline: ivrtest.Epoch.Add(time.Hour)}
}

func queueEvents(t *testing.T, got []ivrtest.Event, want ...ivrtest.Event) {
	t.Helper()
	for i := range want {
		want[i].ContactID = "contact-1"
	}
	if !slices.Equal(got, want) {
		t.Errorf("queue events:\n%+v\nwant:\n%+v", got, want)
	}
}

// An agent's phone rings, is busy; the next agent's phone answers after
// 4 s and the two talk until the agent hangs up.
func TestAgentPhone(t *testing.T) {
	var legs []*ivrtest.Leg
	r := runAgents(t, agentFlow(), 0, func(r *agentRun) {
		r.queue.TalkFor = 45 * s
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o1", "alice", "sip:alice@pbx")})
			w.SendAt(15*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o2", "bob", "sip:bob@pbx")})
		}
		r.call.Phone = func(req ivr.DialRequest, leg *ivrtest.Leg) {
			legs = append(legs, leg)
			if req.Offer.Agent == "alice" {
				leg.FailAfter(2*s, fmt.Errorf("486 Busy Here: %w", ivr.ErrAgentBusy))
			} else {
				leg.AnswerAfter(4 * s)
			}
		}
	})
	if r.err != nil {
		t.Fatalf("Serve: %v", r.err)
	}
	queueEvents(t, r.queue.Events(),
		ivrtest.Event{What: "decline", OfferID: "o1", Detail: ivr.DeclineBusy, At: 12 * s},
		ivrtest.Event{What: "answer", OfferID: "o2", At: 19 * s},
		ivrtest.Event{What: "end", Detail: ivr.EndedByAgent, At: 64 * s},
	)
	dials := r.call.Dials()
	if len(dials) != 2 || dials[1].Offer.Phone != "sip:bob@pbx" || dials[1].Contact.ID != "contact-1" ||
		dials[1].Contact.Intent != "help" || dials[1].Timeout <= 0 {
		t.Errorf("dials = %+v", dials)
	}
	if b := r.call.Bridged(); len(b) != 1 || b[0] != ivr.Leg(legs[1]) {
		t.Errorf("bridged %v, want bob's leg", b)
	}
	if reason, ok := r.call.HungUp(); !ok || reason != "agent hung up" {
		t.Errorf("caller hung up %v %q, want after the agent", ok, reason)
	}
	rec := r.record(t)
	if rec.Outcome != ivr.OutcomeConnected || rec.Agent != "bob" || rec.QueueWait != 18*s || rec.Talk != 45*s || rec.EndedBy != ivr.EndedByAgent {
		t.Errorf("record: outcome %q agent %q wait %v talk %v ended by %q", rec.Outcome, rec.Agent, rec.QueueWait, rec.Talk, rec.EndedBy)
	}
	// The hold prompt said the position each time.
	plays := r.call.Plays()
	if len(plays) < 3 || plays[1].Text != "you are number 1" {
		t.Errorf("plays = %+v, want the position announced", plays)
	}
}

// The queue withdraws the offer while the phone rings: the phone is
// cancelled and nothing is declined (the queue knows).
func TestAgentOfferWithdrawn(t *testing.T) {
	var leg *ivrtest.Leg
	r := runAgents(t, agentFlow(), 40*s, func(r *agentRun) {
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			o := offer("o1", "alice", "sip:alice@pbx")
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: o})
			w.SendAt(25*s, ivr.QueueEvent{Kind: ivr.EventWithdrawn, Offer: o})
		}
		r.call.Phone = func(_ ivr.DialRequest, l *ivrtest.Leg) { leg = l }
	})
	at, reason, ok := leg.Ended()
	if !ok || at != 25*s || reason != "offer withdrawn" {
		t.Errorf("leg ended %v at %v (%q), want cancelled at 25s", ok, at, reason)
	}
	queueEvents(t, r.queue.Events(), ivrtest.Event{What: "leave", Detail: "abandoned", At: 40 * s})
	if rec := r.record(t); rec.Outcome != ivr.OutcomeAbandoned {
		t.Errorf("outcome %q, want abandoned", rec.Outcome)
	}
}

// The caller hangs up while the agent's phone rings: the phone is
// cancelled and the call recorded abandoned.
func TestAgentCallerHangsUpWhileRinging(t *testing.T) {
	var leg *ivrtest.Leg
	r := runAgents(t, agentFlow(), 14*s, func(r *agentRun) {
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o1", "alice", "sip:alice@pbx")})
		}
		r.call.Phone = func(_ ivr.DialRequest, l *ivrtest.Leg) { leg = l; l.AnswerAfter(10 * s) }
	})
	if at, reason, ok := leg.Ended(); !ok || at != 14*s || reason != "caller left the queue" {
		t.Errorf("leg ended %v at %v (%q), want cancelled at 14s", ok, at, reason)
	}
	if leg.AnsweredAt() >= 0 {
		t.Error("the phone answered after the caller left")
	}
	queueEvents(t, r.queue.Events(), ivrtest.Event{What: "leave", Detail: "abandoned", At: 14 * s})
	if rec := r.record(t); rec.Outcome != ivr.OutcomeAbandoned || rec.Agent != "" {
		t.Errorf("outcome %q agent %q, want abandoned", rec.Outcome, rec.Agent)
	}
}

// A browser agent accepts; the caller hangs up during the conversation:
// the agent's leg is hung up and the queue told who ended it.
func TestAgentBrowserCallerHangsUp(t *testing.T) {
	leg := (*ivrtest.Leg)(nil)
	r := runAgents(t, agentFlow(), 70*s, func(r *agentRun) {
		leg = ivrtest.NewLeg(r.clock)
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			o := offer("o1", "carol", "")
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: o})
			w.SendAt(18*s, ivr.QueueEvent{Kind: ivr.EventAccepted, Offer: o, Leg: leg})
		}
	})
	if len(r.call.Dials()) != 0 {
		t.Error("a browser agent's offer rang a phone")
	}
	if at, reason, ok := leg.Ended(); !ok || at != 70*s || reason != "caller hung up" {
		t.Errorf("leg ended %v at %v (%q), want hung up at 70s", ok, at, reason)
	}
	queueEvents(t, r.queue.Events(),
		ivrtest.Event{What: "answer", OfferID: "o1", At: 18 * s},
		ivrtest.Event{What: "end", Detail: ivr.EndedByCaller, At: 70 * s},
	)
	rec := r.record(t)
	if rec.Outcome != ivr.OutcomeConnected || rec.Agent != "carol" || rec.Talk != 52*s || rec.EndedBy != ivr.EndedByCaller {
		t.Errorf("record: outcome %q agent %q talk %v ended by %q", rec.Outcome, rec.Agent, rec.Talk, rec.EndedBy)
	}
}

// An acceptance that comes after the offer ended: the leg is hung up and
// the caller keeps waiting.
func TestAgentAnswerTooLate(t *testing.T) {
	leg := (*ivrtest.Leg)(nil)
	r := runAgents(t, agentFlow(), 30*s, func(r *agentRun) {
		r.queue.AnswerErr = fmt.Errorf("answer offer o1: %w", ivr.ErrOfferOver)
		leg = ivrtest.NewLeg(r.clock)
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventAccepted, Offer: offer("o1", "carol", ""), Leg: leg})
		}
	})
	if at, reason, ok := leg.Ended(); !ok || at != 10*s || reason != "offer over" {
		t.Errorf("leg ended %v at %v (%q), want hung up at 10s", ok, at, reason)
	}
	if rec := r.record(t); rec.Outcome != ivr.OutcomeAbandoned {
		t.Errorf("outcome %q, want abandoned at the caller's hang-up", rec.Outcome)
	}
}

// A driver that cannot ring phones declines phone offers at once.
func TestAgentDriverCannotDial(t *testing.T) {
	clock := ivrtest.NewClock(ivrtest.Epoch)
	call := struct{ ivr.Call }{ivrtest.NewCall(clock, "call-1", "+33612345678", "3000")}
	q := ivrtest.NewQueue(clock)
	q.OnEnqueue = func(w *ivrtest.Waiting) {
		w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o1", "alice", "sip:alice@pbx")})
	}
	eng := ivr.NewEngine(fixed(agentFlow()), ivr.WithClock(clock), ivr.WithQueue(q), ivr.WithLogger(slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	clock.At(20*s, func() { cancel(ivr.ErrCallerHangup) })
	if err := clock.Run(ctx, func(ctx context.Context) error { return eng.Serve(ctx, call, "test") }, nil); err != nil {
		t.Fatal(err)
	}
	queueEvents(t, q.Events(),
		ivrtest.Event{What: "decline", OfferID: "o1", Detail: ivr.DeclineFailed, At: 10 * s},
		ivrtest.Event{What: "leave", Detail: "abandoned", At: 20 * s},
	)
}

// The operator key on hold leaves for the operator's node; a way that
// leads back to the same queue keeps the caller's place, another one gives
// it up.
func TestAgentOperatorKeyOnHold(t *testing.T) {
	tests := []struct {
		name     string
		operator *ivr.Node // the "agent" node
		events   []ivrtest.Event
		result   string // of the second visit of "queue", if any
		contacts int
	}{{
		name:     "to another node",
		operator: playNode("agent", "", false),
		events:   []ivrtest.Event{{What: "leave", Detail: "transferred", At: 12 * s}},
		contacts: 1,
	}, {
		name:     "back to the same queue",
		operator: &ivr.Node{Name: "agent", Kind: ivr.KindGoto, Goto: "queue"},
		events: []ivrtest.Event{
			{What: "leave", Detail: "transferred", At: 12 * s},
			{What: "leave", Detail: "abandoned", At: 30 * s},
		},
		result:   "kept its place; abandoned after 29s",
		contacts: 2,
	}, {
		name:     "to another queue",
		operator: &ivr.Node{Name: "agent", Kind: ivr.KindQueue, Queue: &ivr.QueueNode{Queue: "general"}},
		events: []ivrtest.Event{
			{What: "leave", Detail: "transferred", At: 12 * s},
			{What: "leave", Detail: "abandoned", At: 30 * s},
		},
		contacts: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runAgents(t, agentFlow(tt.operator), 30*s, func(r *agentRun) {
				r.call.PressAt(12*s, "0")
			})
			events := r.queue.Events()
			for i := range events {
				events[i].ContactID = ""
			}
			if !slices.Equal(events, tt.events) {
				t.Errorf("queue events %+v, want %+v", events, tt.events)
			}
			contacts := r.queue.Contacts()
			if len(contacts) != tt.contacts {
				t.Fatalf("%d contacts enqueued, want %d", len(contacts), tt.contacts)
			}
			if tt.result != "" && !contacts[1].EnqueuedAt.Equal(contacts[0].EnqueuedAt) {
				t.Errorf("back in the queue at %v, want the place of %v", contacts[1].EnqueuedAt, contacts[0].EnqueuedAt)
			}
			rec := r.record(t)
			var queueResults []string
			for _, v := range rec.Visits {
				if v.Node == "queue" {
					queueResults = append(queueResults, v.Result)
				}
			}
			if queueResults[0] != "operator key after 11s" {
				t.Errorf("queue result %q, want the operator key", queueResults[0])
			}
			if tt.result != "" && (len(queueResults) != 2 || queueResults[1] != tt.result) {
				t.Errorf("queue results %q, want a second visit %q", queueResults, tt.result)
			}
			if rec.Digits != "0" {
				t.Errorf("digits %q, want the operator key", rec.Digits)
			}
		})
	}
}

// The operator key pressed while an agent's phone rings cancels the phone
// and the caller leaves the queue, which withdraws the offer.
func TestAgentOperatorKeyWhileRinging(t *testing.T) {
	var leg *ivrtest.Leg
	r := runAgents(t, agentFlow(), 0, func(r *agentRun) {
		r.call.PressAt(12*s, "0")
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o1", "alice", "sip:alice@pbx")})
		}
		r.call.Phone = func(_ ivr.DialRequest, l *ivrtest.Leg) { leg = l }
	})
	if at, reason, ok := leg.Ended(); !ok || at != 12*s || reason != "caller left the queue" {
		t.Errorf("leg ended %v at %v (%q), want cancelled at 12s", ok, at, reason)
	}
	queueEvents(t, r.queue.Events(), ivrtest.Event{What: "leave", Detail: "transferred", At: 12 * s})
}

// A phone that answers and hangs up at once took the call: the queue is
// told it answered, not that it failed.
func TestAgentPhoneAnswersAndHangsUp(t *testing.T) {
	r := runAgents(t, agentFlow(), 0, func(r *agentRun) {
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o1", "alice", "sip:alice@pbx")})
		}
		r.call.Phone = func(_ ivr.DialRequest, l *ivrtest.Leg) {
			l.AnswerAfter(2 * s)
			l.HangupAfter(2 * s)
		}
	})
	queueEvents(t, r.queue.Events(),
		ivrtest.Event{What: "answer", OfferID: "o1", At: 12 * s},
		ivrtest.Event{What: "end", Detail: ivr.EndedByAgent, At: 12 * s},
	)
}

// connectingLeg is a browser leg whose audio flows only once it connects.
type connectingLeg struct {
	*ivrtest.Leg
	connected chan struct{}
}

func (l connectingLeg) Connected() <-chan struct{} { return l.connected }

// A browser leg is taken only once it connects; one that fails first is
// declined and the caller keeps waiting.
func TestAgentBrowserLegConnects(t *testing.T) {
	var ok, failed connectingLeg
	r := runAgents(t, agentFlow(), 60*s, func(r *agentRun) {
		failed = connectingLeg{Leg: ivrtest.NewLeg(r.clock), connected: make(chan struct{})}
		ok = connectingLeg{Leg: ivrtest.NewLeg(r.clock), connected: make(chan struct{})}
		r.queue.OnEnqueue = func(w *ivrtest.Waiting) {
			w.SendAt(10*s, ivr.QueueEvent{Kind: ivr.EventAccepted, Offer: offer("o1", "carol", ""), Leg: failed})
			r.clock.At(13*s, func() { failed.Hangup(context.Background(), "ice failed") })
			w.SendAt(20*s, ivr.QueueEvent{Kind: ivr.EventAccepted, Offer: offer("o2", "dan", ""), Leg: ok})
			r.clock.At(22*s, func() { close(ok.connected); ok.Leg.HangupAfter(5 * s) })
		}
	})
	queueEvents(t, r.queue.Events(),
		ivrtest.Event{What: "decline", OfferID: "o1", Detail: ivr.DeclineFailed, At: 13 * s},
		ivrtest.Event{What: "answer", OfferID: "o2", At: 22 * s},
		ivrtest.Event{What: "end", Detail: ivr.EndedByAgent, At: 27 * s},
	)
	if b := r.call.Bridged(); len(b) != 1 || b[0] != ivr.Leg(ok) {
		t.Errorf("bridged %v, want dan's leg", b)
	}
}

// errHungUpByIvrd ends a call's context once the engine hung it up, as a
// driver does after its BYE.
var errHungUpByIvrd = fmt.Errorf("hung up by ivrd")
