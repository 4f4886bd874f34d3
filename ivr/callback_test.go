package ivr_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// cbNode is a callback node with short prompts named after what they say.
func cbNode(name, queue string) *ivr.Node {
	choice := func(text string) *ivr.Node {
		in := input(text)
		in.OnFailure = ivr.CallbackTargetFailure
		in.TypeAhead = ivr.TypeAheadFlush
		return &ivr.Node{Name: name, Kind: ivr.KindMenu, Menu: &ivr.MenuNode{Input: in, Options: map[rune]ivr.MenuOption{
			'1': {Goto: ivr.CallbackTargetConfirm}, '2': {Goto: ivr.CallbackTargetChange}}}}
	}
	ask := input("your number")
	ask.OnFailure = ivr.CallbackTargetFailure
	return &ivr.Node{Name: name, Kind: ivr.KindCallback, Callback: &ivr.CallbackNode{
		Queue:    queue,
		Confirm:  choice("confirm number"),
		Existing: choice("keep or cancel"),
		Ask: &ivr.Node{Name: name, Kind: ivr.KindCollect, Next: ivr.CallbackTargetConfirm, Collect: &ivr.CollectNode{
			Input: ask, Var: ivr.VarCallbackNumber, MinDigits: 4, MaxDigits: 15, Terminator: '#'}},
		Done:      ivr.Prompt{{Audio: &ivr.Audio{Text: "in about"}}, {Number: "${callback.minutes}"}, {Audio: &ivr.Audio{Text: "minutes"}}},
		Later:     ivr.Prompt{{Audio: &ivr.Audio{Text: "from"}}, {Number: "${callback.hour}"}, {Audio: &ivr.Audio{Text: "hours"}}},
		Kept:      say("kept"),
		Cancelled: say("cancelled"),
		Failure:   say("cannot"),
		Greeting:  say("hello again"),
		Hold:      say("hold on"),
		Consent:   &ivr.ConsentNode{Prompt: say("notice"), RefusedPrompt: say("refused"), RefuseKey: '9', Window: 3 * s},
		Calendar:  "hours", MaxAttempts: 3, RetryDelay: 10 * time.Minute, Record: true,
		MinDigits: 4, MaxDigits: 15,
	}}
}

// callbackFlow: the support queue with callback key 5 and an offer after
// a minute of estimated wait, then the "rappel" callback node.
func callbackFlow() *ivr.Flow {
	f := agentFlow(cbNode("rappel", ""))
	q := f.Nodes["queue"].Queue
	q.Callback, q.CallbackKey = "rappel", '5'
	q.OfferCallbackAfter = time.Minute
	q.CallbackOffer = say("press 5 to be called back")
	f.Calendars = map[string]*ivr.Calendar{"hours": weekdays9to18()}
	return f
}

func weekdays9to18() *ivr.Calendar {
	c := &ivr.Calendar{Name: "hours", Location: time.UTC}
	for d := time.Monday; d <= time.Friday; d++ {
		c.Weekly[d] = []ivr.TimeRange{{From: 9 * 60, To: 18 * 60}}
	}
	return c
}

func TestCallbackKeyKeepsThePlace(t *testing.T) {
	f := callbackFlow()
	r := runAgents(t, f, 0, func(r *agentRun) {
		r.queue.Position = ivr.QueuePosition{Position: 3, EWT: 4 * time.Minute}
		r.opts = append(r.opts, ivr.WithOriginator(ivrtest.NewOriginator(r.clock)))
		r.call.PressAt(8*s, "5")
		r.call.PressAt(12*s, "1")
	})
	if r.err != nil {
		t.Fatalf("serve: %v", r.err)
	}
	cbs := r.queue.Callbacks()
	if len(cbs) != 1 {
		t.Fatalf("callbacks = %d, want 1", len(cbs))
	}
	cb := cbs[0]
	joined := ivrtest.Epoch.Add(time.Second) // after the 1 s greeting
	if !cb.Contact.EnqueuedAt.Equal(joined) {
		t.Errorf("place = %s, want the time the caller joined the queue %s", cb.Contact.EnqueuedAt, joined)
	}
	if cb.Number != "+33612345678" || cb.Contact.Queue != "support" || cb.Contact.Intent != "help" || cb.Contact.Channel != "callback" {
		t.Errorf("request = %+v", cb.CallbackRequest)
	}
	if left := r.queue.Left(); len(left) != 1 || left[0].Reason != "transferred" {
		t.Errorf("left = %+v", left)
	}
	rec := r.record(t)
	if rec.Outcome != ivr.OutcomeCallback || rec.ContactID != cb.ID {
		t.Errorf("record outcome %q contact %q", rec.Outcome, rec.ContactID)
	}
	var texts []string
	for _, p := range r.call.Plays() {
		texts = append(texts, p.Text)
	}
	all := strings.Join(texts, " | ")
	// The offer came with the first hold prompt: 4 min > 1 min.
	if !strings.Contains(all, "press 5 to be called back you are number 3") {
		t.Errorf("no callback offer with the hold prompt: %s", all)
	}
	if !strings.Contains(all, "in about 4 minutes") {
		t.Errorf("no confirmation with the expected wait: %s", all)
	}
	if got := r.queue.CallbackOffers(); !slices.Equal(got, []string{"support"}) {
		t.Errorf("offers counted = %v", got)
	}
}

func TestCallbackChosenSlot(t *testing.T) {
	f := agentFlow(cbNode("rappel", "support"))
	f.Entry = "rappel"
	f.Calendars = map[string]*ivr.Calendar{"hours": weekdays9to18()}
	cb := f.Nodes["rappel"].Callback
	slot := input("now or later")
	slot.OnFailure = ivr.CallbackTargetFailure
	cb.Slot = &ivr.Node{Name: "rappel", Kind: ivr.KindMenu, Menu: &ivr.MenuNode{Input: slot, Options: map[rune]ivr.MenuOption{
		'1': {Goto: ivr.CallbackTargetConfirm}, '2': {Goto: ivr.CallbackTargetChange}}}}
	hour := input("which hour")
	hour.OnFailure = ivr.CallbackTargetFailure
	cb.SlotAsk = &ivr.Node{Name: "rappel", Kind: ivr.KindCollect, Next: ivr.CallbackTargetConfirm, Collect: &ivr.CollectNode{
		Input: hour, Var: ivr.VarCallbackSlot, MinDigits: 1, MaxDigits: 2, Terminator: '#'}}
	for _, tc := range []struct {
		keys string
		want time.Time
	}{
		{"1214#", time.Date(2026, time.March, 2, 14, 0, 0, 0, time.UTC)}, // this afternoon
		{"128#", time.Date(2026, time.March, 3, 9, 0, 0, 0, time.UTC)},   // 8:00 has passed; tomorrow 8:00 is closed: 9:00
		{"11", time.Time{}}, // as soon as possible
	} {
		t.Run(tc.keys, func(t *testing.T) {
			clock := ivrtest.NewClock(ivrtest.Epoch) // Monday 9:00
			call := ivrtest.NewCall(clock, "call-1", "0612345678", "3000")
			q := ivrtest.NewQueue(clock)
			for i, k := range tc.keys {
				call.PressAt(time.Duration(2+2*i)*s, string(k))
			}
			serveWithCallbacks(t, f, clock, q, call)
			cbs := q.Callbacks()
			if len(cbs) != 1 || !cbs[0].NotBefore.Equal(tc.want) {
				t.Fatalf("requests %+v, want one not before %v", cbs, tc.want)
			}
		})
	}
}

func TestCallbackWhenClosedIsPlacedAtTheOpening(t *testing.T) {
	f := agentFlow(cbNode("rappel", "support"))
	f.Entry = "rappel"
	f.Calendars = map[string]*ivr.Calendar{"hours": weekdays9to18()}
	clock := ivrtest.NewClock(time.Date(2026, time.March, 6, 19, 30, 0, 0, time.UTC)) // a Friday evening
	call := ivrtest.NewCall(clock, "call-1", "0612345678", "3000")
	q := ivrtest.NewQueue(clock)
	call.PressAt(2*s, "1")
	serveWithCallbacks(t, f, clock, q, call)
	cbs := q.Callbacks()
	if len(cbs) != 1 {
		t.Fatalf("callbacks = %d", len(cbs))
	}
	monday9 := time.Date(2026, time.March, 9, 9, 0, 0, 0, time.UTC)
	if !cbs[0].NotBefore.Equal(monday9) {
		t.Errorf("not before = %s, want the next opening %s", cbs[0].NotBefore, monday9)
	}
	var got []string
	for _, p := range call.Plays() {
		got = append(got, p.Text)
	}
	if !slices.Contains(got, "from 9 hours") {
		t.Errorf("plays = %q, want the opening time said", got)
	}
}

func TestCallbackPendingCanBeCancelled(t *testing.T) {
	f := agentFlow(cbNode("rappel", "support"))
	f.Entry = "rappel"
	clock := ivrtest.NewClock(ivrtest.Epoch)
	q := ivrtest.NewQueue(clock)
	if _, err := q.RequestCallback(t.Context(), ivr.CallbackRequest{Number: "0612345678", Contact: ivr.Contact{Queue: "support"}}); err != nil {
		t.Fatal(err)
	}
	call := ivrtest.NewCall(clock, "call-1", "0612345678", "3000")
	call.PressAt(2*s, "2")
	serveWithCallbacks(t, f, clock, q, call)
	cbs := q.Callbacks()
	if len(cbs) != 1 || cbs[0].State != ivr.CallbackCancelled {
		t.Fatalf("callbacks = %+v, want the one request cancelled", cbs)
	}
	var got []string
	for _, p := range call.Plays() {
		got = append(got, p.Text)
	}
	if !slices.Equal(got, []string{"keep or cancel", "cancelled"}) {
		t.Errorf("plays = %q", got)
	}
}

// serveWithCallbacks serves call on f to its end, with q storing the
// callbacks and a fake originator.
func serveWithCallbacks(t *testing.T, f *ivr.Flow, clock *ivrtest.Clock, q *ivrtest.Queue, call *ivrtest.Call) {
	t.Helper()
	eng := ivr.NewEngine(fixed(f), ivr.WithClock(clock), ivr.WithQueue(q),
		ivr.WithOriginator(ivrtest.NewOriginator(clock)), ivr.WithLogger(slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	call.OnHangup = func(string) { cancel(errHungUpByIvrd) }
	if err := clock.Run(ctx, func(ctx context.Context) error { return eng.Serve(ctx, call, "test") }, nil); err != nil {
		t.Fatal(err)
	}
}

// attemptRun serves one callback attempt of flow f on a fake clock.
func attemptRun(t *testing.T, f *ivr.Flow, n int, answers []ivrtest.Answer, events func(w *ivrtest.Waiting)) (*ivrtest.Queue, *ivrtest.Originator, *ivrtest.MemCallLog) {
	t.Helper()
	clock := ivrtest.NewClock(ivrtest.Epoch)
	q := ivrtest.NewQueue(clock)
	q.TalkFor = 30 * s
	o := ivrtest.NewOriginator(clock)
	o.Answers = answers
	calls := &ivrtest.MemCallLog{}
	cb := ivr.Callback{ID: "cb-1", State: ivr.CallbackPending, RequestedAt: ivrtest.Epoch.Add(-5 * time.Minute),
		CallbackRequest: ivr.CallbackRequest{Number: "0612345678", Node: "rappel", Calendar: "hours",
			MaxAttempts: 3, RetryDelay: 10 * time.Minute, Mode: ivr.CallbackAgentFirst,
			Contact: ivr.Contact{Queue: "support", Flow: f.Name, Record: true, Vars: map[string]string{"account": "123456"}}}}
	if events == nil {
		cb.Mode = ivr.CallbackCallerFirst
	}
	a, w := q.Attempt(cb, n)
	if events != nil {
		events(w)
	} else {
		w.Send(ivr.QueueEvent{Kind: ivr.EventTurn})
		w.SendAt(20*s, ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o-1", "alice", "sip:alice@pbx")})
	}
	eng := ivr.NewEngine(fixed(f), ivr.WithClock(clock), ivr.WithQueue(q), ivr.WithCallLog(calls),
		ivr.WithOriginator(o), ivr.WithLogger(slog.New(slog.DiscardHandler)))
	err := clock.Run(t.Context(), func(ctx context.Context) error { eng.ServeCallback(ctx, a); return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q, o, calls
}

func callbackAttemptFlow() *ivr.Flow {
	f := agentFlow(cbNode("rappel", "support"))
	f.Calendars = map[string]*ivr.Calendar{"hours": weekdays9to18()}
	return f
}

func whats(q *ivrtest.Queue) []string {
	var out []string
	for _, e := range q.Events() {
		out = append(out, strings.TrimSpace(e.What+" "+e.Detail))
	}
	return out
}

func TestServeCallbackAgentFirst(t *testing.T) {
	q, o, calls := attemptRun(t, callbackAttemptFlow(), 1, nil, func(w *ivrtest.Waiting) {
		w.Send(ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o-1", "alice", "sip:alice@pbx")})
	})
	if got, want := whats(q), []string{"answer", "reached cb-1-attempt-1", "end agent"}; !slices.Equal(got, want) {
		t.Errorf("queue told %q, want %q", got, want)
	}
	if d := o.Dials(); len(d) != 1 || d[0].Offer.Phone != "sip:alice@pbx" {
		t.Errorf("agent phones rung = %+v", d)
	}
	calls1 := o.Calls()
	if len(calls1) != 1 {
		t.Fatalf("customer calls = %d", len(calls1))
	}
	var got []string
	for _, p := range calls1[0].Plays() {
		got = append(got, p.Text)
	}
	if !slices.Equal(got, []string{"hello again", "notice"}) {
		t.Errorf("customer heard %q, want the greeting then the recording notice", got)
	}
	if len(calls1[0].Bridged()) != 1 {
		t.Error("customer not bridged to the agent")
	}
	rec, ok := calls.Last(calls1[0].ID())
	if !ok {
		t.Fatal("no record of the customer's call")
	}
	if rec.Outcome != ivr.OutcomeConnected || rec.Agent != "alice" || rec.Driver != "callback" || rec.ContactID != "cb-1" {
		t.Errorf("record = %+v", rec)
	}
	if rec.Vars[ivr.VarConsent] != "accepted" {
		t.Errorf("consent on the callback = %q, want asked again and accepted", rec.Vars[ivr.VarConsent])
	}
}

func TestServeCallbackBusyRetries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		attempt int
		want    string
	}{
		{"first attempt", 1, "failed busy 10m"}, // after the few seconds of ringing, 10 minutes
		{"last attempt", 3, "failed busy never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			legs := []*ivrtest.Leg{}
			q, o, _ := attemptRun(t, callbackAttemptFlow(), tc.attempt, []ivrtest.Answer{{RingFor: 5 * s, Err: ivr.ErrCalleeBusy}}, func(w *ivrtest.Waiting) {
				w.Send(ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o-1", "alice", "sip:alice@pbx")})
			})
			_ = legs
			// The agent answered at 1 s, the customer was busy at 6 s: the
			// next attempt is 10 minutes later, within the open hours.
			got := whats(q)
			if len(got) == 2 && strings.HasPrefix(got[1], "failed busy 10m") {
				d, err := time.ParseDuration(strings.TrimPrefix(got[1], "failed busy "))
				if err == nil && d >= 10*time.Minute && d <= 10*time.Minute+10*s {
					got[1] = "failed busy 10m"
				}
			}
			if !slices.Equal(got, []string{"answer", tc.want}) {
				t.Errorf("queue told %q, want answer then %q", got, tc.want)
			}
			if len(o.Calls()) != 0 {
				t.Error("a busy customer was served")
			}
		})
	}
}

func TestServeCallbackRetryWaitsForTheOpening(t *testing.T) {
	f := callbackAttemptFlow()
	// Open until 9:05 only: 10 minutes after 9:00 is closed, so the next
	// attempt is the next day's opening.
	f.Calendars["hours"].Weekly[time.Monday] = []ivr.TimeRange{{From: 9 * 60, To: 9*60 + 5}}
	q, _, _ := attemptRun(t, f, 1, []ivrtest.Answer{{Err: ivr.ErrCalleeNoAnswer}}, func(w *ivrtest.Waiting) {
		w.Send(ivr.QueueEvent{Kind: ivr.EventOffered, Offer: offer("o-1", "alice", "sip:alice@pbx")})
	})
	if got := whats(q); !slices.Equal(got, []string{"answer", "failed no_answer 24h0m0s"}) {
		t.Errorf("queue told %q, want the retry at Tuesday's opening", got)
	}
}

func TestServeCallbackCallerFirst(t *testing.T) {
	q, o, calls := attemptRun(t, callbackAttemptFlow(), 1, []ivrtest.Answer{{RingFor: 3 * s, Setup: func(c *ivrtest.Call) {
		// The agent's phone is rung by the customer's call, as for a caller.
		c.Phone = func(_ ivr.DialRequest, leg *ivrtest.Leg) { leg.AnswerAfter(2 * s) }
	}}}, nil)
	calls1 := o.Calls()
	if len(calls1) != 1 {
		t.Fatalf("customer calls = %d", len(calls1))
	}
	got := whats(q)
	if len(got) != 3 || !strings.HasPrefix(got[0], "reached ") || got[1] != "answer" || got[2] != "end agent" {
		t.Errorf("queue told %q, want reached, answer, end", got)
	}
	if len(o.Dials()) != 0 {
		t.Error("caller-first rang the agent through the originator rather than the customer's call")
	}
	rec, _ := calls.Last(calls1[0].ID())
	if rec.Outcome != ivr.OutcomeConnected {
		t.Errorf("outcome = %q", rec.Outcome)
	}
}
