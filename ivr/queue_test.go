package ivr_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// queueFlow collects an account and a sensitive PIN, then queues the call;
// the caller types both entries during their prompts (at 0.5 s and 1 s), so
// the call reaches the queue at 1 s.
func queueFlow(q ivr.QueueNode) scenario {
	account := input("account")
	pin := input("pin")
	q.Queue = "billing"
	q.Intent = "${reason}-${account}"
	q.Priority = 5
	q.Skills = []string{"fr", "billing"}
	q.Hold = say("hold")
	f := newFlow(
		collectNode("account", "pin", ivr.CollectNode{Input: account, Var: "account", Terminator: '#'}),
		collectNode("pin", "set", ivr.CollectNode{Input: pin, Var: "pin", Terminator: '#', Sensitive: true}),
		&ivr.Node{Name: "set", Kind: ivr.KindSet, Next: "queue", Set: map[string]string{"reason": "billing"}},
		&ivr.Node{Name: "queue", Kind: ivr.KindQueue, Queue: &q},
		playNode("callback", "", false),
	)
	return scenario{
		flow:      f,
		keys:      []press{{ms(500), "1234#"}, {1 * s, "9999#"}},
		durations: map[string]time.Duration{"hold": 10 * s},
	}
}

func TestQueueHandoff(t *testing.T) {
	sc := queueFlow(ivr.QueueNode{})
	sc.connectAfter = 25 * s
	sc.talkFor = 90 * s
	sv := serve(t, sc)
	sv.check(t, []ivrtest.Play{
		played("account", 0, ms(500), true),
		played("pin", ms(500), 1*s, true),
		played("hold", 1*s, 11*s, false),
		played("hold", 11*s, 21*s, false),
		played("hold", 21*s, 26*s, true),
	}, map[string]string{"queue": "connected to agent-1 after 25s; ended by agent after 1m30s"}, ivr.OutcomeConnected)

	contacts := sv.queue.Contacts()
	if len(contacts) != 1 {
		t.Fatalf("%d contacts enqueued, want 1", len(contacts))
	}
	c := contacts[0]
	want := ivr.Contact{
		ID: "contact-1", Channel: "voice", Queue: "billing", CallID: "call-1",
		Caller: "+33612345678", Dialled: "3000", Language: "en",
		Intent: "billing-1234", Priority: 5, Flow: "main", FlowVersion: "v1",
		EnqueuedAt: ivrtest.Epoch.Add(1 * s),
	}
	got := c
	got.Vars, got.Skills, got.Path = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("contact = %+v\nwant %+v", got, want)
	}
	if !slices.Equal(c.Skills, []string{"fr", "billing"}) {
		t.Errorf("skills = %v", c.Skills)
	}
	if c.Vars["account"] != "1234" || c.Vars["reason"] != "billing" || c.Vars["caller"] != "+33612345678" {
		t.Errorf("contact vars = %v, want account, reason and caller", c.Vars)
	}
	if _, ok := c.Vars["pin"]; ok {
		t.Error("sensitive pin handed to the queue")
	}

	if want := []string{"account: collected 1234 (terminator)", "pin: collected **** (terminator)", "set"}; !slices.Equal(c.Path, want) {
		t.Errorf("contact path = %q, want %q", c.Path, want)
	}
	// The agent hung up: the engine hangs up the caller.
	if reason, ok := sv.call.HungUp(); !ok || reason != "agent hung up" {
		t.Errorf("caller hung up %v (%q), want by the engine after the agent", ok, reason)
	}
	if bridged := sv.call.Bridged(); len(bridged) != 1 {
		t.Errorf("%d legs bridged, want 1", len(bridged))
	}
	if left := sv.queue.Left(); len(left) != 0 {
		t.Errorf("left = %+v, want none: the contact was answered", left)
	}
	wantEvents := []ivrtest.Event{
		{ContactID: "contact-1", What: "answer", OfferID: "contact-1-offer-1", At: 26 * s},
		{ContactID: "contact-1", What: "end", Detail: ivr.EndedByAgent, At: 116 * s},
	}
	if ev := sv.queue.Events(); !slices.Equal(ev, wantEvents) {
		t.Errorf("queue events = %+v\nwant %+v", ev, wantEvents)
	}
	r := sv.rec
	if r.QueueWait != 25*s || r.ContactID != "contact-1" || r.Queue != "billing" {
		t.Errorf("record queue fields: wait %v contact %q queue %q", r.QueueWait, r.ContactID, r.Queue)
	}
	if r.Agent != "agent-1" || r.Talk != 90*s || r.EndedBy != ivr.EndedByAgent ||
		r.QueuedAt == nil || !r.QueuedAt.Equal(ivrtest.Epoch.Add(1*s)) ||
		r.ConnectedAt == nil || !r.ConnectedAt.Equal(ivrtest.Epoch.Add(26*s)) {
		t.Errorf("record agent fields: agent %q talk %v ended by %q queued %v connected %v",
			r.Agent, r.Talk, r.EndedBy, r.QueuedAt, r.ConnectedAt)
	}
	if sv.rec.Digits != "1234#****#" {
		t.Errorf("digits = %q, want the PIN masked", sv.rec.Digits)
	}
	if _, ok := sv.rec.Vars["pin"]; ok {
		t.Error("sensitive pin in the call record")
	}
	var outcomes []ivr.Outcome
	for _, r := range sv.log.Saves() {
		outcomes = append(outcomes, r.Outcome)
		if _, ok := r.Vars["pin"]; ok {
			t.Error("sensitive pin in a saved call record")
		}
	}
	// Start, after each of the two entries (live progress), handoff,
	// agent, end.
	if want := []ivr.Outcome{"", "", "", ivr.OutcomeQueued, ivr.OutcomeConnected, ivr.OutcomeConnected}; !slices.Equal(outcomes, want) {
		t.Errorf("saved outcomes %q, want %q (start, 2 entries, handoff, agent, end)", outcomes, want)
	}
}

func TestQueueAbandon(t *testing.T) {
	sc := queueFlow(ivr.QueueNode{})
	sc.hangupAt = 45 * s
	sv := serve(t, sc)
	sv.check(t, nil, map[string]string{"queue": "abandoned after 44s"}, ivr.OutcomeAbandoned)
	if sv.rec.QueueWait != 44*s {
		t.Errorf("queue wait = %v, want 44s", sv.rec.QueueWait)
	}
	if left := sv.queue.Left(); !slices.Equal(left, []ivrtest.Left{{ContactID: "contact-1", Reason: "abandoned", At: 45 * s}}) {
		t.Errorf("left = %+v", left)
	}
	if last := sv.plays[len(sv.plays)-1]; last != played("hold", 41*s, 45*s, true) {
		t.Errorf("last play = %+v, want hold stopped at 45s", last)
	}
}

func TestQueueMaxWait(t *testing.T) {
	sc := queueFlow(ivr.QueueNode{MaxWait: 60 * s, OnTimeout: "callback"})
	sv := serve(t, sc)
	sv.check(t, nil, map[string]string{"queue": "timeout after 1m0s"}, ivr.OutcomeHangup)
	if left := sv.queue.Left(); !slices.Equal(left, []ivrtest.Left{{ContactID: "contact-1", Reason: "timeout", At: 61 * s}}) {
		t.Errorf("left = %+v", left)
	}
	if last := sv.plays[len(sv.plays)-1]; last != played("callback", 61*s, 62*s, false) {
		t.Errorf("last play = %+v, want callback at 61s", last)
	}
	if sv.rec.QueueWait != 60*s {
		t.Errorf("queue wait = %v, want 1m0s", sv.rec.QueueWait)
	}
}

func TestQueueEnqueueFails(t *testing.T) {
	sc := queueFlow(ivr.QueueNode{})
	clock := ivrtest.NewClock(time.Time{})
	call := ivrtest.NewCall(clock, "call-1", "+33612345678", "3000")
	for _, p := range sc.keys {
		call.PressAt(p.at, p.keys)
	}
	q := ivrtest.NewQueue(clock)
	q.Err = errors.New("queue full")
	eng := ivr.NewEngine(fixed(sc.flow), ivr.WithClock(clock), ivr.WithQueue(q), ivr.WithLogger(slog.New(slog.DiscardHandler)))
	err := clock.Run(t.Context(), func(ctx context.Context) error { return eng.Serve(ctx, call, "test") }, nil)
	if err == nil || !errors.Is(err, q.Err) {
		t.Fatalf("Serve = %v, want the queue's error", err)
	}
	if _, ok := call.HungUp(); !ok {
		t.Error("call not hung up after a failed handoff")
	}
}

func fixed(f *ivr.Flow) ivr.Flows {
	set := &ivr.FlowSet{Flows: map[string]*ivr.Flow{f.Name: f}, Routes: ivr.Routes{Default: f.Name}}
	return ivr.FlowsFunc(func() *ivr.FlowSet { return set })
}

// A reload during a call must not change the flow the call runs.
func TestFlowVersionPinnedAtStart(t *testing.T) {
	build := func(version string) *ivr.FlowSet {
		f := newFlow(playNode("welcome "+version, "next", false), playNode("next", "", false))
		f.Version = version
		// Same node names in both versions, different prompts.
		f.Entry = "welcome"
		f.Nodes["welcome"] = playNode("welcome "+version, "next", false)
		f.Nodes["next"] = playNode("next "+version, "", false)
		return &ivr.FlowSet{Flows: map[string]*ivr.Flow{"main": f}, Routes: ivr.Routes{Default: "main"}}
	}
	var current atomic.Pointer[ivr.FlowSet]
	current.Store(build("v1"))
	clock := ivrtest.NewClock(time.Time{})
	calls := &ivrtest.MemCallLog{}
	eng := ivr.NewEngine(ivr.FlowsFunc(current.Load), ivr.WithClock(clock), ivr.WithCallLog(calls),
		ivr.WithLogger(slog.New(slog.DiscardHandler)))

	first := ivrtest.NewCall(clock, "call-1", "100", "3000")
	reloaded := false
	err := clock.Run(t.Context(), func(ctx context.Context) error { return eng.Serve(ctx, first, "test") },
		func(ivr.Wait) error {
			if !reloaded {
				current.Store(build("v2")) // reload while the first prompt plays
				reloaded = true
			}
			if !clock.Step() {
				return ivrtest.ErrStalled
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Plays(); got[0].Text != "welcome v1" || got[1].Text != "next v1" {
		t.Errorf("call in progress played %q, %q; want the v1 prompts", got[0].Text, got[1].Text)
	}
	if r, _ := calls.Last("call-1"); r.FlowVersion != "v1" {
		t.Errorf("record version %q, want v1", r.FlowVersion)
	}

	second := ivrtest.NewCall(clock, "call-2", "100", "3000")
	if err := clock.Run(t.Context(), func(ctx context.Context) error { return eng.Serve(ctx, second, "test") }, nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := calls.Last("call-2"); r.FlowVersion != "v2" || second.Plays()[0].Text != "welcome v2" {
		t.Errorf("new call ran version %q, want v2", r.FlowVersion)
	}
}

func TestNoFlow(t *testing.T) {
	clock := ivrtest.NewClock(time.Time{})
	calls := &ivrtest.MemCallLog{}
	eng := ivr.NewEngine(ivr.FlowsFunc(func() *ivr.FlowSet { return &ivr.FlowSet{} }),
		ivr.WithClock(clock), ivr.WithCallLog(calls), ivr.WithLogger(slog.New(slog.DiscardHandler)))
	call := ivrtest.NewCall(clock, "call-1", "100", "999")
	err := eng.Serve(t.Context(), call, "test")
	if !errors.Is(err, ivr.ErrNoFlow) {
		t.Fatalf("Serve = %v, want ErrNoFlow", err)
	}
	if r, _ := calls.Last("call-1"); r.Outcome != ivr.OutcomeError {
		t.Errorf("outcome %q, want error", r.Outcome)
	}
	if call.Answered() {
		t.Error("call without a flow answered")
	}
	if _, ok := call.HungUp(); !ok {
		t.Error("call without a flow not rejected")
	}
}

func TestPlayFails(t *testing.T) {
	clock := ivrtest.NewClock(time.Time{})
	call := ivrtest.NewCall(clock, "call-1", "100", "3000")
	broken := errors.New("no media")
	call.FailPlay(broken)
	calls := &ivrtest.MemCallLog{}
	eng := ivr.NewEngine(fixed(newFlow(playNode("welcome", "", false))), ivr.WithClock(clock),
		ivr.WithCallLog(calls), ivr.WithLogger(slog.New(slog.DiscardHandler)))
	err := clock.Run(t.Context(), func(ctx context.Context) error { return eng.Serve(ctx, call, "test") }, nil)
	if !errors.Is(err, broken) {
		t.Fatalf("Serve = %v, want the driver's error", err)
	}
	if r, _ := calls.Last("call-1"); r.Outcome != ivr.OutcomeError || r.Error == "" {
		t.Errorf("record outcome %q error %q, want error with text", r.Outcome, r.Error)
	}
}

// The fake clock can also be driven by hand: a test waits for the engine's
// timer with BlockUntil and moves time with Advance.
func TestManualClock(t *testing.T) {
	clock := ivrtest.NewClock(time.Time{})
	call := ivrtest.NewCall(clock, "call-1", "100", "3000")
	in := input("menu")
	in.Prompt = nil // the no-input timer starts at once
	f := newFlow(menuNode("menu", in, map[rune]string{'1': "bye"}), &ivr.Node{Name: "bye", Kind: ivr.KindHangup})
	calls := &ivrtest.MemCallLog{}
	eng := ivr.NewEngine(fixed(f), ivr.WithClock(clock), ivr.WithCallLog(calls), ivr.WithLogger(slog.New(slog.DiscardHandler)))
	done := make(chan error, 1)
	go func() { done <- eng.Serve(t.Context(), call, "test") }()

	if err := clock.BlockUntil(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(ms(4999)) // 1 ms before the no-input timeout
	call.Press("1")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r, _ := calls.Last("call-1")
	if got := results(r)["menu"]; got != "key 1" {
		t.Errorf("menu result %q, want key 1", got)
	}
	if !r.EndedAt.Equal(ivrtest.Epoch.Add(ms(4999))) {
		t.Errorf("ended at %v", r.EndedAt)
	}
}
