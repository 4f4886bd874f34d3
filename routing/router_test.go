package routing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// qualifiedRef is the matching rule written out independently of the
// router: queue, channel, language, skills with levels, languages as
// skills.
func qualifiedRef(a AgentConfig, c ivr.Contact) bool {
	if len(a.Queues) > 0 && !slices.Contains(a.Queues, c.Queue) {
		return false
	}
	speaks := func(l string) bool {
		for _, al := range a.Languages {
			if strings.EqualFold(al, l) || strings.HasPrefix(strings.ToLower(l), strings.ToLower(al)+"-") {
				return true
			}
		}
		return false
	}
	if c.Language != "" && len(a.Languages) > 0 && !speaks(c.Language) {
		return false
	}
	for _, s := range c.Skills {
		name, lvl, _ := strings.Cut(s, ":")
		min := 1
		if lvl != "" {
			min, _ = strconv.Atoi(lvl)
		}
		if a.Skills[strings.ToLower(name)] < min && !speaks(name) {
			return false
		}
	}
	return true
}

var skilledAgents = []AgentConfig{
	agentCfg("tech", skills(map[string]int{"technique": 5}), languages("fr")),
	agentCfg("fact", skills(map[string]int{"facturation": 3}), languages("fr", "en")),
	agentCfg("senior", skills(map[string]int{"facturation": 8, "technique": 2}), languages("en")),
}

func TestSkillsNeverViolated(t *testing.T) {
	tests := []struct {
		name     string
		skills   []string
		language string
		want     string // "" for nobody
	}{
		{"facturation in French", []string{"facturation"}, "fr", "fact"},
		{"facturation level 5 in English", []string{"facturation:5"}, "en", "senior"},
		{"facturation level 5 in French: nobody", []string{"facturation:5"}, "fr", ""},
		{"language listed as a skill", []string{"technique", "fr"}, "fr", "tech"},
		{"technique level 3", []string{"technique:3"}, "", "tech"},
		{"English: longest idle of two", []string{"en"}, "", "fact"},
		{"case does not matter", []string{"FACTURATION"}, "FR", "fact"},
		{"regional language", []string{"facturation"}, "fr-CA", "fact"},
		{"unknown skill: nobody", []string{"compta"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, clk, _ := newQueues(t, WithConfig(config(skilledAgents...)))
			for _, a := range []string{"tech", "fact", "senior"} {
				signIn(t, q, a)
				clk.Advance(time.Second)
			}
			w := enqueue(t, q, ivr.Contact{Queue: "support", Skills: tt.skills, Language: tt.language})
			if tt.want == "" {
				noEvent(t, w)
				// Nobody ever: not after offers time out either.
				clk.Advance(time.Minute)
				noEvent(t, w)
				return
			}
			offered(t, w, tt.want)
		})
	}
}

// An agent listing no languages speaks any: a skill naming the call's
// language is met, another language is not.
func TestAgentWithoutLanguages(t *testing.T) {
	q, _, _ := newQueues(t, WithConfig(config(agentCfg("any", skills(map[string]int{"technique": 1})))))
	signIn(t, q, "any")
	w := enqueue(t, q, ivr.Contact{Queue: "support", Skills: []string{"technique", "en"}, Language: "fr"})
	noEvent(t, w)
	w2 := enqueue(t, q, ivr.Contact{Queue: "support", Skills: []string{"technique", "fr"}, Language: "fr"})
	offered(t, w2, "any")
}

// A stream of contacts with random needs: every offer goes to a qualified
// agent, and a contact some agent qualifies for is served.
func TestSkillsNeverViolatedRandom(t *testing.T) {
	cfg := config(skilledAgents...)
	cfg.WrapUp = 0
	q, clk, _ := newQueues(t, WithConfig(cfg))
	signIn(t, q, "tech", "fact", "senior")
	byName := map[string]AgentConfig{}
	for _, a := range skilledAgents {
		byName[a.Name] = a
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pool := []string{"facturation", "facturation:4", "technique", "technique:6", "fr", "en"}
	langs := []string{"", "fr", "en"}
	type call struct {
		w ivr.Waiting
		c ivr.Contact
	}
	var calls []call
	served := 0
	for i := range 300 {
		c := ivr.Contact{Queue: "support", Language: langs[rng.IntN(len(langs))], Priority: rng.IntN(3)}
		for range rng.IntN(3) {
			c.Skills = append(c.Skills, pool[rng.IntN(len(pool))])
		}
		calls = append(calls, call{enqueue(t, q, c), c})
		if i%3 != 2 {
			continue
		}
		// Take every offer made, checking it, and end the conversations.
		for _, cl := range calls {
			select {
			case ev := <-cl.w.Events():
				if ev.Kind != ivr.EventOffered {
					t.Fatalf("event %d, want an offer", ev.Kind)
				}
				if !qualifiedRef(byName[ev.Offer.Agent], cl.c) {
					t.Fatalf("contact %+v offered to %s, who is not qualified", cl.c, ev.Offer.Agent)
				}
				if err := cl.w.Answer(t.Context(), ev.Offer.ID, newLeg()); err != nil {
					t.Fatal(err)
				}
				clk.Advance(time.Second)
				if err := cl.w.End(t.Context(), ivr.EndedByCaller); err != nil {
					t.Fatal(err)
				}
				served++
			default:
			}
		}
	}
	// What is left waiting has no qualified agent at all.
	for _, cl := range calls {
		if _, err := cl.w.Position(t.Context()); err != nil {
			continue // served
		}
		for _, a := range skilledAgents {
			if qualifiedRef(a, cl.c) {
				t.Errorf("contact %+v still waits though %s qualifies", cl.c, a.Name)
			}
		}
		cl.w.Leave(t.Context(), "abandoned")
	}
	if served < 100 {
		t.Errorf("only %d contacts served", served)
	}
}

// Two agents, three callers: priority first, then the longest wait; the
// agent idle the longest takes the next call.
func TestTwoAgentsThreeCallers(t *testing.T) {
	q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"), agentCfg("bob"))))
	ctx := t.Context()
	c1 := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "c1"})
	clk.Advance(time.Second)
	c2 := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "c2"})
	clk.Advance(time.Second)
	c3 := enqueue(t, q, ivr.Contact{Queue: "vip", Caller: "c3", Priority: 5})
	for _, w := range []ivr.Waiting{c1, c2, c3} {
		noEvent(t, w) // nobody signed in
	}
	clk.Advance(8 * time.Second) // 09:00:10
	signIn(t, q, "bob")
	answer(t, c3, "bob") // the highest priority first, across queues
	noEvent(t, c1)
	clk.Advance(time.Second)
	signIn(t, q, "alice")
	answer(t, c1, "alice") // then the longest wait
	noEvent(t, c2)

	clk.Advance(9 * time.Second) // 09:00:20
	if err := c1.End(ctx, ivr.EndedByCaller); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	if err := c3.End(ctx, ivr.EndedByAgent); err != nil {
		t.Fatal(err)
	}
	// alice wraps up until 09:00:30, bob until 09:00:35: c2 waits for
	// alice.
	clk.Advance(4 * time.Second)
	noEvent(t, c2)
	clk.Advance(time.Second)
	answer(t, c2, "alice")
	if err := c2.End(ctx, ivr.EndedByCaller); err != nil {
		t.Fatal(err)
	}
	// bob free since 09:00:35, alice since 09:00:40: bob is idle longest.
	clk.Advance(time.Minute)
	c4 := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "c4"})
	c5 := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "c5"})
	offered(t, c4, "bob")
	offered(t, c5, "alice")
	c4.Leave(ctx, "abandoned")
	c5.Leave(ctx, "abandoned")
}

func TestOfferTimeoutReoffers(t *testing.T) {
	for _, noAnswer := range []string{AgentAway, AgentAvailable} {
		t.Run(noAnswer, func(t *testing.T) {
			cfg := config(agentCfg("alice"), agentCfg("bob"))
			cfg.NoAnswer = noAnswer
			q, clk, db := newQueues(t, WithConfig(cfg))
			signIn(t, q, "alice")
			clk.Advance(time.Second)
			signIn(t, q, "bob")
			desk := subscribe(t, q, "alice")
			w := enqueue(t, q, ivr.Contact{Queue: "sales"})
			first := offered(t, w, "alice")
			if want := clk.Now().Add(DefaultOfferTimeout); !first.Deadline.Equal(want) {
				t.Errorf("deadline %v, want %v", first.Deadline, want)
			}
			clk.Advance(DefaultOfferTimeout - time.Millisecond)
			noEvent(t, w)
			clk.Advance(time.Millisecond)
			if ev := nextEvent(t, w); ev.Kind != ivr.EventWithdrawn || ev.Offer.ID != first.ID {
				t.Fatalf("event %+v, want the withdrawal of %s", ev, first.ID)
			}
			second := offered(t, w, "bob")
			if second.ID == first.ID {
				t.Error("the same offer id twice")
			}
			if st := agentState(t, q, "alice"); st != noAnswer {
				t.Errorf("alice is %s after letting the offer ring out, want %s", st, noAnswer)
			}
			var withdrawn *AgentEvent
			for _, ev := range deskEvents(desk) {
				if ev.Type == "withdrawn" {
					withdrawn = &ev
				}
			}
			if withdrawn == nil || withdrawn.Reason != "no answer" || withdrawn.Offer.ID != first.ID {
				t.Errorf("alice's desk got %+v, want the offer withdrawn for no answer", withdrawn)
			}
			if err := w.Answer(t.Context(), second.ID, newLeg()); err != nil {
				t.Fatal(err)
			}
			// bob answered: the offer is over and the timer must not fire.
			clk.Advance(time.Minute)
			noEvent(t, w)
			var offers int
			if err := db.Reader().QueryRowContext(t.Context(), `SELECT offers FROM contacts WHERE id = ?`,
				w.ContactID()).Scan(&offers); err != nil {
				t.Fatal(err)
			}
			if offers != 2 {
				t.Errorf("offers = %d, want 2", offers)
			}
			w.End(t.Context(), ivr.EndedByCaller)
		})
	}
}

// A phone never rung (the call did not read the offer: it was elsewhere in
// its flow) is not the agent's fault: the agent stays available.
func TestUnreadOfferSparesPhoneAgent(t *testing.T) {
	q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice", phone("sip:alice@192.0.2.10")))))
	signIn(t, q, "alice")
	w := enqueue(t, q, ivr.Contact{Queue: "sales"})
	clk.Advance(DefaultOfferTimeout)
	if st := agentState(t, q, "alice"); st != AgentAvailable {
		t.Errorf("alice is %s, want available", st)
	}
	clk.Advance(retryDelay)
	// Only the second offer is there to read: the first one and its
	// withdrawal were taken back.
	o := offered(t, w, "alice")
	if o.Phone != "sip:alice@192.0.2.10" {
		t.Errorf("offer phone %q", o.Phone)
	}
	noEvent(t, w)
	w.Leave(t.Context(), "abandoned")
}

func TestRejectReoffers(t *testing.T) {
	q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"), agentCfg("bob"))))
	ctx := t.Context()
	signIn(t, q, "alice")
	clk.Advance(time.Second)
	signIn(t, q, "bob")
	w := enqueue(t, q, ivr.Contact{Queue: "sales"})
	o := offered(t, w, "alice")
	if err := q.RejectOffer(ctx, "bob", o.ID); !errors.Is(err, ErrNoOffer) {
		t.Errorf("bob rejecting alice's offer = %v, want ErrNoOffer", err)
	}
	if err := q.RejectOffer(ctx, "alice", o.ID); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Kind != ivr.EventWithdrawn {
		t.Fatalf("event %+v, want withdrawn", ev)
	}
	o2 := offered(t, w, "bob")
	if st := agentState(t, q, "alice"); st != AgentAvailable {
		t.Errorf("alice is %s after rejecting, want available", st)
	}
	if err := q.RejectOffer(ctx, "alice", o.ID); !errors.Is(err, ErrNoOffer) {
		t.Errorf("rejecting twice = %v, want ErrNoOffer", err)
	}
	// bob declines on his phone too: everyone declined; each is offered the
	// call again once the retry delay after its own decline passed.
	clk.Advance(2 * time.Second)
	if err := w.Decline(ctx, o2.ID, ivr.DeclineRejected); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Kind != ivr.EventWithdrawn || ev.Offer.ID != o2.ID {
		t.Fatalf("event %+v, want bob's offer withdrawn", ev)
	}
	clk.Advance(retryDelay - 2*time.Second - time.Millisecond)
	noEvent(t, w)
	clk.Advance(time.Millisecond)
	offered(t, w, "alice")
	w.Leave(ctx, "abandoned")
}

func TestDeclineReasons(t *testing.T) {
	tests := []struct {
		reason string
		want   string // the agent's state after
	}{
		{ivr.DeclineBusy, AgentAvailable},
		{ivr.DeclineRejected, AgentAvailable},
		{ivr.DeclineNoAnswer, AgentAway},
		{ivr.DeclineFailed, AgentAway},
		{"smoke", AgentAway},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			q, _, _ := newQueues(t, WithConfig(config(
				agentCfg("alice", phone("sip:alice@192.0.2.10")), agentCfg("bob", phone("sips:bob@example.com")))))
			signIn(t, q, "alice", "bob")
			w := enqueue(t, q, ivr.Contact{Queue: "sales"})
			o := offered(t, w, "alice")
			if err := w.Decline(t.Context(), o.ID, tt.reason); err != nil {
				t.Fatal(err)
			}
			if st := agentState(t, q, "alice"); st != tt.want {
				t.Errorf("alice is %s, want %s", st, tt.want)
			}
			if ev := nextEvent(t, w); ev.Kind != ivr.EventWithdrawn || ev.Offer.ID != o.ID {
				t.Fatalf("event %+v, want alice's offer withdrawn", ev)
			}
			offered(t, w, "bob")
			// A late decline of an offer that is over changes nothing.
			if err := w.Decline(t.Context(), o.ID, ivr.DeclineFailed); err != nil {
				t.Fatal(err)
			}
			if st := agentState(t, q, "bob"); st != AgentOffered {
				t.Errorf("bob is %s, want offered", st)
			}
			w.Leave(t.Context(), "abandoned")
		})
	}
}

// The caller hangs up while an agent is offered the call: the offer is
// withdrawn from the desk, the browser leg already accepted is hung up, the
// abandon is recorded and the agent is available again.
func TestCallerLeavesWhileOffered(t *testing.T) {
	for _, accepted := range []bool{false, true} {
		t.Run(fmt.Sprintf("accepted=%v", accepted), func(t *testing.T) {
			q, clk, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
			ctx := t.Context()
			signIn(t, q, "alice")
			desk := subscribe(t, q, "alice")
			w := enqueue(t, q, ivr.Contact{Queue: "sales"})
			o := offered(t, w, "alice")
			leg := newLeg()
			if accepted {
				if err := q.AcceptOffer(ctx, "alice", o.ID, leg); err != nil {
					t.Fatal(err)
				}
				if ev := nextEvent(t, w); ev.Kind != ivr.EventAccepted || ev.Leg != leg {
					t.Fatalf("event %+v, want accepted with the leg", ev)
				}
			}
			clk.Advance(4 * time.Second)
			if err := w.Leave(ctx, "abandoned"); err != nil {
				t.Fatal(err)
			}
			if up, reason := leg.hungUp(); up != accepted || (accepted && reason != "caller hung up") {
				t.Errorf("leg hung up %v (%q), want %v", up, reason, accepted)
			}
			var got *AgentEvent
			for _, ev := range deskEvents(desk) {
				if ev.Type == "withdrawn" {
					got = &ev
				}
			}
			if got == nil || got.Reason != "caller hung up" || got.Agent.State != AgentAvailable {
				t.Errorf("desk event %+v, want withdrawn because the caller hung up, agent available", got)
			}
			state, reason, waitMS, _ := contactRow(t, db, w.ContactID())
			if state != StateAbandoned || reason != "abandoned" || *waitMS != 4000 {
				t.Errorf("contact %s %s %d, want abandoned after 4000 ms", state, reason, *waitMS)
			}
			if err := w.Answer(ctx, o.ID, leg); !errors.Is(err, ivr.ErrOfferOver) {
				t.Errorf("Answer after the hang-up = %v, want ErrOfferOver", err)
			}
			if st := agentState(t, q, "alice"); st != AgentAvailable {
				t.Errorf("alice is %s, want available", st)
			}
		})
	}
}

// A browser agent accepts in the desk; the call takes the leg and answers.
func TestAcceptInDesk(t *testing.T) {
	q, clk, db := newQueues(t, WithConfig(config(agentCfg("alice"), agentCfg("bob", phone("sip:bob@192.0.2.11")))))
	ctx := t.Context()
	signIn(t, q, "alice")
	desk := subscribe(t, q, "alice")
	w := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "+33100000001", Intent: "billing",
		Language: "fr", Vars: map[string]string{"recording_consent": "accepted", "account": "42"},
		Path: []string{"accueil: key 2", "motif: key 1"}})
	clk.Advance(2 * time.Second)
	o := offered(t, w, "alice")
	if o.Phone != "" || o.Dial != "" {
		t.Errorf("offer to a browser agent with phone %q dial %q", o.Phone, o.Dial)
	}
	offers := deskOffers(desk)
	if len(offers) != 1 {
		t.Fatalf("%d offers on the desk, want 1", len(offers))
	}
	pop := offers[0]
	if pop.ID != o.ID || pop.Phone || pop.Contact.Caller != "+33100000001" || pop.Contact.Intent != "billing" ||
		pop.Contact.Vars["recording_consent"] != "accepted" || pop.Contact.Language != "fr" ||
		!slices.Equal(pop.Contact.Path, []string{"accueil: key 2", "motif: key 1"}) {
		t.Errorf("screen-pop %+v", pop)
	}
	if err := q.AcceptOffer(ctx, "alice", o.ID, nil); !errors.Is(err, ErrLegRequired) {
		t.Errorf("accept without a leg = %v, want ErrLegRequired", err)
	}
	if err := q.AcceptOffer(ctx, "alice", "nope", newLeg()); !errors.Is(err, ErrNoOffer) {
		t.Errorf("accept of an unknown offer = %v, want ErrNoOffer", err)
	}
	if err := q.AcceptOffer(ctx, "carol", o.ID, newLeg()); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("accept by an unknown agent = %v, want ErrUnknownAgent", err)
	}
	leg := newLeg()
	if err := q.AcceptOffer(ctx, "alice", o.ID, leg); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, w)
	if ev.Kind != ivr.EventAccepted || ev.Leg != leg || ev.Offer.ID != o.ID {
		t.Fatalf("event %+v, want accepted", ev)
	}
	clk.Advance(time.Second)
	if err := w.Answer(ctx, o.ID, ev.Leg); err != nil {
		t.Fatal(err)
	}
	a, _ := q.Agent("alice")
	if a.State != AgentBusy || a.Load[ChannelVoice] != 1 || len(a.Contacts) != 1 || a.Contacts[0].Agent != "alice" {
		t.Errorf("alice %+v, want busy with the call", a)
	}
	if a.Contacts[0].WaitSeconds != 3 {
		t.Errorf("wait %v s, want 3", a.Contacts[0].WaitSeconds)
	}
	// The agent hangs up: its leg ends, the call's bridge returns and the
	// call reports the end.
	clk.Advance(time.Minute)
	if err := q.HangUp(ctx, "alice", "nope"); !errors.Is(err, ErrNoConversation) {
		t.Errorf("hang up of an unknown conversation = %v, want ErrNoConversation", err)
	}
	if err := q.HangUp(ctx, "alice", w.ContactID()); err != nil {
		t.Fatal(err)
	}
	if up, _ := leg.hungUp(); !up {
		t.Fatal("agent leg not hung up")
	}
	if err := w.End(ctx, ivr.EndedByAgent); err != nil {
		t.Fatal(err)
	}
	var (
		talkMS           int64
		endedBy, agentOf string
	)
	if err := db.Reader().QueryRowContext(ctx, `SELECT talk_ms, ended_by, agent FROM contacts WHERE id = ?`,
		w.ContactID()).Scan(&talkMS, &endedBy, &agentOf); err != nil {
		t.Fatal(err)
	}
	if talkMS != 60000 || endedBy != "agent" || agentOf != "alice" {
		t.Errorf("talk %d by %q agent %q, want 60000 by agent, alice", talkMS, endedBy, agentOf)
	}

	// A call offered to a phone cannot be accepted in the desk.
	signIn(t, q, "bob")
	w2 := enqueue(t, q, ivr.Contact{Queue: "sales"})
	o2 := offered(t, w2, "bob")
	if err := q.AcceptOffer(ctx, "bob", o2.ID, newLeg()); !errors.Is(err, ErrNoOffer) {
		t.Errorf("accept of a phone offer in the desk = %v, want ErrNoOffer", err)
	}
	w2.Leave(ctx, "abandoned")
}

// An accepted leg the call never takes is hung up, and the offer withdrawn.
func TestAcceptedLegNotTaken(t *testing.T) {
	q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"))))
	signIn(t, q, "alice")
	w := enqueue(t, q, ivr.Contact{Queue: "sales"})
	o := offered(t, w, "alice")
	clk.Advance(DefaultOfferTimeout - time.Second)
	leg := newLeg()
	if err := q.AcceptOffer(t.Context(), "alice", o.ID, leg); err != nil {
		t.Fatal(err)
	}
	// Accepting gives the call acceptTimeout to take the leg, beyond the
	// offer's first deadline.
	clk.Advance(acceptTimeout - time.Millisecond)
	if up, _ := leg.hungUp(); up {
		t.Fatal("leg hung up before the accept timeout")
	}
	clk.Advance(time.Millisecond)
	if up, _ := leg.hungUp(); !up {
		t.Fatal("leg not hung up after the accept timeout")
	}
	if err := w.Answer(t.Context(), o.ID, leg); !errors.Is(err, ivr.ErrOfferOver) {
		t.Errorf("late Answer = %v, want ErrOfferOver", err)
	}
	w.Leave(t.Context(), "abandoned")
}

func TestWrapUp(t *testing.T) {
	cfg := config(agentCfg("alice", wrapUp(30*time.Second)), agentCfg("bob"))
	q, clk, _ := newQueues(t, WithConfig(cfg))
	ctx := t.Context()
	signIn(t, q, "alice")
	w := enqueue(t, q, ivr.Contact{Queue: "sales"})
	answer(t, w, "alice")
	clk.Advance(time.Minute)
	if err := w.End(ctx, ivr.EndedByCaller); err != nil {
		t.Fatal(err)
	}
	ended := clk.Now()
	a, _ := q.Agent("alice")
	if a.State != AgentWrapUp || a.WrapUpUntil == nil || !a.WrapUpUntil.Equal(ended.Add(30*time.Second)) {
		t.Fatalf("alice %s until %v, want wrap_up for 30s", a.State, a.WrapUpUntil)
	}
	// No offer during the wrap-up.
	w2 := enqueue(t, q, ivr.Contact{Queue: "sales"})
	clk.Advance(30*time.Second - time.Millisecond)
	noEvent(t, w2)
	clk.Advance(time.Millisecond)
	a, _ = q.Agent("alice")
	if !a.IdleSince.Equal(ended.Add(30 * time.Second)) {
		t.Errorf("idle since %v, want the end of the wrap-up", a.IdleSince)
	}
	answer(t, w2, "alice")
	if err := w2.End(ctx, ivr.EndedByAgent); err != nil {
		t.Fatal(err)
	}
	// Available during the wrap-up ends it.
	clk.Advance(5 * time.Second)
	signIn(t, q, "alice")
	a, _ = q.Agent("alice")
	if a.State != AgentAvailable || a.WrapUpUntil != nil || !a.IdleSince.Equal(clk.Now()) {
		t.Errorf("alice %s wrap-up %v idle since %v, want available now", a.State, a.WrapUpUntil, a.IdleSince)
	}
	// The routing.wrap_up applies to bob.
	signIn(t, q, "bob")
	q.SetAgentState(ctx, "alice", AgentAway)
	w3 := enqueue(t, q, ivr.Contact{Queue: "sales"})
	answer(t, w3, "bob")
	w3.End(ctx, ivr.EndedByCaller)
	b, _ := q.Agent("bob")
	if b.WrapUpUntil == nil || !b.WrapUpUntil.Equal(clk.Now().Add(DefaultWrapUp)) {
		t.Errorf("bob wraps up until %v, want %s from now", b.WrapUpUntil, DefaultWrapUp)
	}
}

// Chats and calls share the agents and the order; an agent takes up to its
// chat capacity at once, one call at a time, and nothing else while in a
// call.
func TestChatCapacity(t *testing.T) {
	t.Run("chats", func(t *testing.T) {
		q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"), agentCfg("bob"))))
		ctx := t.Context()
		signIn(t, q, "alice")
		clk.Advance(time.Second)
		signIn(t, q, "bob")
		da, db := subscribe(t, q, "alice"), subscribe(t, q, "bob")
		var ids []string
		for i := range 7 {
			id, err := q.Post(ctx, ivr.Contact{Channel: ChannelChat, Queue: "web", Caller: fmt.Sprint("chat", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			clk.Advance(time.Second)
		}
		got := map[string][]string{}
		for range 10 {
			for _, ad := range []struct {
				name string
				desk <-chan AgentEvent
			}{{"alice", da}, {"bob", db}} {
				name := ad.name
				for _, o := range deskOffers(ad.desk) {
					if err := q.AcceptOffer(ctx, name, o.ID, nil); err != nil {
						t.Fatal(err)
					}
					got[name] = append(got[name], o.Contact.Caller)
				}
			}
		}
		want := map[string][]string{"alice": {"chat0", "chat2", "chat4"}, "bob": {"chat1", "chat3", "chat5"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("chats taken %v, want %v", got, want)
		}
		left, _ := q.List(ctx, "web")
		if len(left) != 1 || left[0].ID != ids[6] {
			t.Errorf("waiting %+v, want chat6", left)
		}
		// Closing one chat makes room (after the wrap-up).
		a, _ := q.Agent("alice")
		if err := q.HangUp(ctx, "alice", a.Contacts[0].ID); err != nil {
			t.Fatal(err)
		}
		clk.Advance(DefaultWrapUp)
		if o := deskOffers(da); len(o) != 1 || o[0].Contact.ID != ids[6] {
			t.Errorf("alice offered %+v, want chat6", o)
		}
	})
	t.Run("calls", func(t *testing.T) {
		q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"), agentCfg("bob"))))
		signIn(t, q, "alice")
		clk.Advance(time.Second)
		signIn(t, q, "bob")
		var ws []ivr.Waiting
		for i := range 3 {
			ws = append(ws, enqueue(t, q, ivr.Contact{Queue: "web", Caller: fmt.Sprint("call", i)}))
			clk.Advance(time.Second)
		}
		answer(t, ws[0], "alice")
		answer(t, ws[1], "bob")
		noEvent(t, ws[2])
		// In a call, no chat either.
		if _, err := q.Post(t.Context(), ivr.Contact{Channel: ChannelChat, Queue: "web"}); err != nil {
			t.Fatal(err)
		}
		for _, a := range q.Agents() {
			if a.Offer != nil {
				t.Errorf("%s offered %s while in a call", a.Name, a.Offer.Contact.Channel)
			}
		}
		ws[2].Leave(t.Context(), "abandoned")
	})
	t.Run("mixed order", func(t *testing.T) {
		q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"))))
		ctx := t.Context()
		chat, _ := q.Post(ctx, ivr.Contact{Channel: ChannelChat, Queue: "web"})
		clk.Advance(time.Second)
		call := enqueue(t, q, ivr.Contact{Queue: "web"})
		desk := subscribe(t, q, "alice")
		signIn(t, q, "alice")
		// The chat waited longest: offered first. Taken, the call comes
		// next: chats in progress do not hold a call back.
		o := deskOffers(desk)
		if len(o) != 1 || o[0].Contact.ID != chat {
			t.Fatalf("offers %+v, want the chat first", o)
		}
		noEvent(t, call)
		q.AcceptOffer(ctx, "alice", o[0].ID, nil)
		offered(t, call, "alice")
		call.Leave(ctx, "abandoned")
	})
}

func TestCapacityLimits(t *testing.T) {
	q, _, _ := newQueues(t, WithConfig(config(
		agentCfg("mail", capacity(map[string]int{ChannelEmail: 2})),
	)))
	signIn(t, q, "mail")
	w := enqueue(t, q, ivr.Contact{Queue: "q"})
	noEvent(t, w) // voice capacity 0 when capacity lists only email
	desk := subscribe(t, q, "mail")
	if _, err := q.Post(t.Context(), ivr.Contact{Channel: ChannelEmail, Queue: "q"}); err != nil {
		t.Fatal(err)
	}
	if o := deskOffers(desk); len(o) != 1 {
		t.Errorf("offers %+v, want the email", o)
	}
	a, _ := q.Agent("mail")
	if a.Capacity[ChannelEmail] != 2 || a.Capacity[ChannelVoice] != 0 || a.Capacity[ChannelChat] != 0 {
		t.Errorf("capacity %v", a.Capacity)
	}
	w.Leave(t.Context(), "abandoned")
}

func TestAgentStateRules(t *testing.T) {
	q, _, db := newQueues(t, WithConfig(config(agentCfg("alice"), agentCfg("bob"))))
	ctx := t.Context()
	for _, a := range q.Agents() {
		if a.State != AgentSignedOut {
			t.Errorf("%s starts %s, want signed_out", a.Name, a.State)
		}
	}
	if err := q.SetAgentState(ctx, "carol", AgentAvailable); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("unknown agent = %v", err)
	}
	if err := q.SetAgentState(ctx, "alice", AgentBusy); !errors.Is(err, ErrAgentState) {
		t.Errorf("set busy = %v, want ErrAgentState", err)
	}
	signIn(t, q, "alice", "bob")
	w := enqueue(t, q, ivr.Contact{Queue: "q"})
	offered(t, w, "alice")
	// Going away while offered withdraws the offer: bob gets the call.
	if err := q.SetAgentState(ctx, "alice", AgentAway); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Kind != ivr.EventWithdrawn {
		t.Fatalf("event %+v, want withdrawn", ev)
	}
	answer(t, w, "bob")
	if err := q.SetAgentState(ctx, "bob", AgentSignedOut); !errors.Is(err, ErrAgentState) {
		t.Errorf("sign out in a call = %v, want ErrAgentState", err)
	}
	if err := q.SetAgentState(ctx, "bob", AgentAway); err != nil {
		t.Fatal(err)
	}
	if st := agentState(t, q, "bob"); st != AgentBusy {
		t.Errorf("bob away in a call shows %s, want busy", st)
	}
	w.End(ctx, ivr.EndedByCaller)
	if st := agentState(t, q, "bob"); st != AgentWrapUp {
		t.Errorf("bob shows %s after the call, want wrap_up", st)
	}
	if err := q.SetAgentState(ctx, "bob", AgentSignedOut); err != nil {
		t.Fatal(err)
	}

	// Every change is in the audit, with the contact it concerns.
	rows, err := db.Reader().QueryContext(ctx,
		`SELECT state, contact_id <> '', reason FROM agent_events WHERE agent = 'bob' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			state, reason string
			withContact   bool
		)
		if err := rows.Scan(&state, &withContact, &reason); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%v/%s", state, withContact, reason))
	}
	want := []string{
		"available/false/set by the agent",
		"offered/true/",
		"busy/true/",
		"wrap_up/true/ended by caller",
		"signed_out/false/set by the agent",
	}
	if !slices.Equal(got, want) {
		t.Errorf("bob's audit\n got %q\nwant %q", got, want)
	}
}

func TestSlowDeskDropped(t *testing.T) {
	q, _, _ := newQueues(t, WithConfig(config(agentCfg("alice"))))
	ch, cancel, err := q.Subscribe("alice")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	first := <-ch
	if first.Type != "state" || first.Agent.State != AgentSignedOut {
		t.Errorf("first event %+v, want the current state", first)
	}
	for i := range deskBuffer + 1 {
		state := AgentAvailable
		if i%2 == 1 {
			state = AgentAway
		}
		if err := q.SetAgentState(t.Context(), "alice", state); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range ch {
		n++
	}
	if n != deskBuffer {
		t.Errorf("%d events before the channel closed, want %d", n, deskBuffer)
	}
	cancel() // after the drop: harmless
}

func TestAssign(t *testing.T) {
	q, _, _ := newQueues(t, WithConfig(config(
		agentCfg("alice"), agentCfg("bob"), agentCfg("fr", languages("fr")))))
	ctx := t.Context()
	signIn(t, q, "alice", "bob", "fr")
	if err := q.SetAgentState(ctx, "bob", AgentAway); err != nil {
		t.Fatal(err)
	}
	w := enqueue(t, q, ivr.Contact{Queue: "q", Language: "en"})
	offered(t, w, "alice")
	if err := q.Assign(ctx, w.ContactID(), "bob"); !errors.Is(err, ErrAgentState) {
		t.Errorf("assign to an agent away = %v, want ErrAgentState", err)
	}
	if err := q.Assign(ctx, w.ContactID(), "fr"); !errors.Is(err, ErrNotQualified) {
		t.Errorf("assign to an agent without the language = %v, want ErrNotQualified", err)
	}
	signIn(t, q, "bob")
	if err := q.Assign(ctx, w.ContactID(), "bob"); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Kind != ivr.EventWithdrawn || ev.Offer.Agent != "alice" {
		t.Fatalf("event %+v, want alice's offer withdrawn", ev)
	}
	answer(t, w, "bob")
	if st := agentState(t, q, "alice"); st != AgentAvailable {
		t.Errorf("alice %s, want available", st)
	}
	if err := q.Assign(ctx, w.ContactID(), "alice"); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("assign of a connected contact = %v, want ErrNotWaiting", err)
	}
	if err := q.Assign(ctx, "no-such-contact", "alice"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("assign of an unknown contact = %v, want not found", err)
	}
	w.End(ctx, ivr.EndedByCaller)
}

func TestPositionAndEWT(t *testing.T) {
	cfg := config(agentCfg("alice", queues("sales")), agentCfg("bob", queues("sales")), agentCfg("carol", queues("other")))
	cfg.OfferTimeout = 5 * time.Minute
	cfg.WrapUp = 2 * time.Minute
	q, clk, _ := newQueues(t, WithConfig(cfg))
	ctx := t.Context()
	var ws []ivr.Waiting
	for range 3 {
		ws = append(ws, enqueue(t, q, ivr.Contact{Queue: "sales"}))
	}
	other := enqueue(t, q, ivr.Contact{Queue: "other", Priority: 9})
	// Nobody present: the estimate assumes one agent.
	p, err := ws[2].Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Position != 3 || p.EWT != 3*DefaultHandleTime {
		t.Errorf("position %+v, want 3 and 3 × %s", p, DefaultHandleTime)
	}
	// Two agents present for sales (carol only takes other).
	signIn(t, q, "alice", "bob", "carol")
	answer(t, ws[0], "alice")
	answer(t, ws[1], "bob")
	p, _ = ws[2].Position(ctx)
	if p.Position != 1 || p.EWT != DefaultHandleTime/2 {
		t.Errorf("position %+v, want 1 and %s", p, DefaultHandleTime/2)
	}
	// Conversations give the queue its handle time: talk and wrap-up.
	clk.Advance(50 * time.Second)
	ws[0].End(ctx, ivr.EndedByCaller) // 50 s + 120 s
	clk.Advance(40 * time.Second)
	ws[1].End(ctx, ivr.EndedByCaller) // 90 s + 120 s
	p, _ = ws[2].Position(ctx)
	if want := 190 * time.Second / 2; p.EWT != want {
		t.Errorf("EWT %s, want %s", p.EWT, want)
	}
	b, err := q.Board(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Queues) != 2 || b.Queues[0].Name != "other" || b.Queues[1].Name != "sales" {
		t.Fatalf("board queues %+v", b.Queues)
	}
	sales := b.Queues[1]
	if len(sales.Waiting) != 1 || sales.Waiting[0].Position != 1 || sales.Waiting[0].EWTSeconds != 95 ||
		sales.Waiting[0].ID != ws[2].ContactID() || sales.LongestWaitSeconds != 90 {
		t.Errorf("sales board %+v", sales)
	}
	if sales.Agents[AgentWrapUp] != 2 || sales.Agents[AgentOffered] != 0 {
		t.Errorf("sales agents %v, want 2 in wrap_up", sales.Agents)
	}
	if o := b.Queues[0]; len(o.Waiting) != 1 || o.Waiting[0].OfferedTo != "carol" || o.Agents[AgentOffered] != 1 {
		t.Errorf("other board %+v, want offered to carol", o)
	}
	if len(b.Agents) != 3 || b.Agents[0].Name != "alice" {
		t.Errorf("board agents %+v", b.Agents)
	}
	ws[2].Leave(ctx, "abandoned")
	if _, err := ws[2].Position(ctx); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("position after leaving = %v, want ErrNotWaiting", err)
	}
	other.Leave(ctx, "abandoned")
}

func TestWatchCoalesces(t *testing.T) {
	q, _, _ := newQueues(t, WithConfig(config(agentCfg("alice"))))
	ch, cancel := q.Watch()
	defer cancel()
	select {
	case <-ch:
		t.Fatal("change before any")
	default:
	}
	w := enqueue(t, q, ivr.Contact{Queue: "q"})
	signIn(t, q, "alice")
	w.Leave(t.Context(), "abandoned")
	n := 0
	for {
		select {
		case <-ch:
			n++
			continue
		default:
		}
		break
	}
	if n != 1 {
		t.Errorf("%d notifications pending, want 1 (coalesced)", n)
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
}

// Chats and emails still waiting when ivrd stops are offered again after
// a restart; conversations left open are ended by ivrd.
func TestRestartReloadsChats(t *testing.T) {
	path := t.TempDir() + "/ivrd.db"
	clk := newTestClock()
	db := openDB(t, path)
	cfg := config(agentCfg("alice", languages("fr")))
	q := mustNew(t, db, WithClock(clk), WithLogger(quiet), WithConfig(cfg))
	ctx := t.Context()
	chat, err := q.Post(ctx, ivr.Contact{Channel: ChannelChat, Queue: "web", Caller: "ann", Skills: []string{"fr"},
		Path: []string{"web form"}})
	if err != nil {
		t.Fatal(err)
	}
	mail, err := q.Post(ctx, ivr.Contact{Channel: ChannelEmail, Queue: "web", Caller: "bob", Priority: 3})
	if err != nil {
		t.Fatal(err)
	}
	talking, err := q.Post(ctx, ivr.Contact{Channel: ChannelChat, Queue: "web", Caller: "cy"})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Assign(ctx, talking, "alice"); !errors.Is(err, ErrAgentState) {
		t.Fatalf("assign to a signed-out agent = %v", err)
	}
	desk := subscribe(t, q, "alice")
	signIn(t, q, "alice")
	o := deskOffers(desk)
	if len(o) != 1 || o[0].Contact.ID != mail {
		t.Fatalf("offers %+v, want the email (priority 3)", o)
	}
	q.RejectOffer(ctx, "alice", o[0].ID)
	o = deskOffers(desk)
	if len(o) != 1 || o[0].Contact.ID != chat {
		t.Fatalf("offers %+v, want the chat", o)
	}
	if err := q.RejectOffer(ctx, "alice", o[0].ID); err != nil {
		t.Fatal(err)
	}
	o = deskOffers(desk)
	if len(o) != 1 || o[0].Contact.ID != talking {
		t.Fatalf("offers %+v, want the third chat", o)
	}
	if err := q.AcceptOffer(ctx, "alice", o[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	q.Close()
	db.Close() // ivrd stops

	clk.Advance(time.Hour)
	db = openDB(t, path)
	defer db.Close()
	q = mustNew(t, db, WithClock(clk), WithLogger(quiet), WithConfig(cfg))
	if _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	var endedBy string
	if err := db.Reader().QueryRowContext(ctx, `SELECT ended_by FROM contacts WHERE id = ?`, talking).Scan(&endedBy); err != nil {
		t.Fatal(err)
	}
	if endedBy != ivr.EndedByIVRD {
		t.Errorf("open conversation ended by %q, want ivrd", endedBy)
	}
	desk = subscribe(t, q, "alice")
	signIn(t, q, "alice")
	o = deskOffers(desk)
	if len(o) != 1 || o[0].Contact.ID != mail || o[0].Contact.WaitSeconds != 3600 {
		t.Fatalf("offers after restart %+v, want the email waiting for an hour", o)
	}
	q.AcceptOffer(ctx, "alice", o[0].ID, nil)
	o = deskOffers(desk)
	if len(o) != 1 || o[0].Contact.ID != chat || !slices.Equal(o[0].Contact.Path, []string{"web form"}) ||
		!slices.Equal(o[0].Contact.Skills, []string{"fr"}) {
		t.Fatalf("offers after restart %+v, want the chat with its path", o)
	}
	// Recover twice loads nothing twice.
	if _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(q.order); n != 1 {
		t.Errorf("%d contacts in order, want 1", n)
	}
}
