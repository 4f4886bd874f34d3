package ivr_test

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// Each case names the bug its rule prevents.
func TestMenuKeys(t *testing.T) {
	ends := func(n ...*ivr.Node) []*ivr.Node {
		return append(n, playNode("sales", "", false), playNode("support", "", false), playNode("fallback", "", false))
	}
	nonInterruptible := input("menu")
	nonInterruptible.Interruptible = false
	flush := input("menu")
	flush.TypeAhead = ivr.TypeAheadFlush
	retry := input("menu")
	retry.RetryPrompt = say("short menu")
	twoTries := input("menu")
	twoTries.Tries = 2
	twoTries.OnFailure = "fallback"
	oneTry := input("menu")
	oneTry.Tries = 1

	tests := []struct {
		name    string
		nodes   []*ivr.Node
		vocab   map[string]ivr.Audio
		keys    []press
		plays   []ivrtest.Play
		results map[string]string
	}{{
		// fusionpbx #1115: the digit that interrupted the prompt was lost.
		name:    "key during first prompt stops it at once and is the choice",
		nodes:   ends(salesMenu(input("menu"))),
		keys:    []press{{ms(1500), "2"}},
		plays:   []ivrtest.Play{played("menu", 0, ms(1500), true), played("support", ms(1500), ms(2500), false)},
		results: map[string]string{"menu": "key 2"},
	}, {
		name:    "key during non-interruptible menu prompt counts when the prompt ends",
		nodes:   ends(salesMenu(nonInterruptible)),
		keys:    []press{{1 * s, "1"}},
		plays:   []ivrtest.Play{played("menu", 0, 4*s, false), played("sales", 4*s, 5*s, false)},
		results: map[string]string{"menu": "key 1"},
	}, {
		name:    "key during non-interruptible play is type-ahead for a keep menu, whose prompt is skipped",
		nodes:   ends(playNode("welcome", "menu", false), salesMenu(input("menu"))),
		keys:    []press{{1 * s, "1"}},
		plays:   []ivrtest.Play{played("welcome", 0, 3*s, false), played("sales", 3*s, 4*s, false)},
		results: map[string]string{"welcome": "", "menu": "key 1"},
	}, {
		name:    "key during non-interruptible play is discarded by a flush menu",
		nodes:   ends(playNode("welcome", "menu", false), salesMenu(flush)),
		keys:    []press{{1 * s, "1"}, {8 * s, "2"}},
		plays:   []ivrtest.Play{played("welcome", 0, 3*s, false), played("menu", 3*s, 7*s, false), played("support", 8*s, 9*s, false)},
		results: map[string]string{"menu": "key 2"},
	}, {
		name:    "key stops an interruptible play and stays buffered for the menu",
		nodes:   ends(playNode("welcome", "menu", true), salesMenu(input("menu"))),
		keys:    []press{{1 * s, "2"}},
		plays:   []ivrtest.Play{played("welcome", 0, 1*s, true), played("support", 1*s, 2*s, false)},
		results: map[string]string{"welcome": "interrupted", "menu": "key 2"},
	}, {
		name:    "an interruptible play is skipped when type-ahead is waiting",
		nodes:   ends(playNode("welcome", "info", false), playNode("info", "menu", true), salesMenu(input("menu"))),
		keys:    []press{{1 * s, "2"}},
		plays:   []ivrtest.Play{played("welcome", 0, 3*s, false), played("support", 3*s, 4*s, false)},
		results: map[string]string{"info": "skipped (type-ahead)", "menu": "key 2"},
	}, {
		// A timer started with the prompt would fire 4 s into the wait.
		name:  "no-input timer starts when the prompt ends",
		nodes: ends(salesMenu(oneTry)),
		vocab: map[string]ivr.Audio{"goodbye": {Text: "goodbye"}},
		plays: []ivrtest.Play{
			played("menu", 0, 4*s, false),
			played("no input", 9*s, 10*s, false),
			played("goodbye", 10*s, 11*s, false),
		},
		results: map[string]string{"menu": "no input; failed"},
	}, {
		name:  "retry prompt on later tries, invalid and no-input prompts each in their place",
		nodes: ends(salesMenu(retry)),
		keys:  []press{{1 * s, "9"}, {ms(10500), "1"}},
		plays: []ivrtest.Play{
			played("menu", 0, 1*s, true),
			played("invalid", 1*s, 2*s, false),
			played("short menu", 2*s, 3*s, false),
			played("no input", 8*s, 9*s, false),
			played("short menu", 9*s, 10*s, false),
			played("sales", ms(10500), ms(11500), false),
		},
		results: map[string]string{"menu": "invalid 9; no input; key 1"},
	}, {
		name:  "after the last try the call goes to on_failure",
		nodes: ends(salesMenu(twoTries)),
		plays: []ivrtest.Play{
			played("menu", 0, 4*s, false),
			played("no input", 9*s, 10*s, false),
			played("menu", 10*s, 14*s, false),
			played("no input", 19*s, 20*s, false),
			played("fallback", 20*s, 21*s, false),
		},
		results: map[string]string{"menu": "no input; no input; failed"},
	}, {
		// kazoo #1198: keys typed ahead leaked into the next try and chose for the caller.
		name:  "a failure discards stale type-ahead",
		nodes: ends(playNode("welcome", "menu", false), salesMenu(input("menu"))),
		keys:  []press{{1 * s, "9"}, {2 * s, "1"}, {9 * s, "2"}},
		plays: []ivrtest.Play{
			played("welcome", 0, 3*s, false),
			played("invalid", 3*s, 4*s, false),
			played("menu", 4*s, 8*s, false),
			played("support", 9*s, 10*s, false),
		},
		results: map[string]string{"menu": "invalid 9; key 2"},
	}, {
		name:  "a key during the invalid prompt is kept for the next try",
		nodes: ends(salesMenu(input("menu"))),
		keys:  []press{{1 * s, "9"}, {ms(1500), "1"}},
		plays: []ivrtest.Play{
			played("menu", 0, 1*s, true),
			played("invalid", 1*s, ms(1500), true),
			played("sales", ms(1500), ms(2500), false),
		},
		results: map[string]string{"menu": "invalid 9; key 1"},
	}, {
		name:    "operator key from a menu",
		nodes:   ends(salesMenu(input("menu"))),
		keys:    []press{{1 * s, "0"}},
		plays:   []ivrtest.Play{played("menu", 0, 1*s, true), played("agent", 1*s, 2*s, false)},
		results: map[string]string{"menu": "operator"},
	}, {
		name:    "a menu's own option wins over the operator key",
		nodes:   ends(menuNode("menu", input("menu"), map[rune]string{'0': "sales"})),
		keys:    []press{{1 * s, "0"}},
		plays:   []ivrtest.Play{played("menu", 0, 1*s, true), played("sales", 1*s, 2*s, false)},
		results: map[string]string{"menu": "key 0"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlow(tt.nodes...)
			f.Vocabulary = tt.vocab
			sv := serve(t, scenario{flow: f, keys: tt.keys, durations: map[string]time.Duration{"menu": 4 * s, "welcome": 3 * s}})
			sv.check(t, tt.plays, tt.results, ivr.OutcomeHangup)
			if _, ok := sv.call.HungUp(); !ok {
				t.Error("call not hung up at the end of the flow")
			}
		})
	}
}

func TestCollect(t *testing.T) {
	base := func(c ivr.CollectNode) ivr.CollectNode {
		if c.Input.Prompt == nil {
			c.Input = input("account")
		}
		c.Var = "account"
		if c.MaxDigits == 0 {
			c.MaxDigits = 6
		}
		return c
	}
	nonInterruptible := input("account")
	nonInterruptible.Interruptible = false

	tests := []struct {
		name    string
		collect ivr.CollectNode
		after   *ivr.Node // node after the collect; default a play "done"
		keys    []press
		plays   []ivrtest.Play
		result  string
		value   string // want account; "" not set
		digits  string
	}{{
		// jambonz #1306/#1311: the no-input timer ran from the prompt and fired after a barge-in.
		name:   "after a barge-in key only the inter-digit timer runs",
		keys:   []press{{1 * s, "7"}},
		plays:  []ivrtest.Play{played("account", 0, 1*s, true), played("done", 4*s, 5*s, false)},
		result: "collected 7 (inter-digit timeout)",
		value:  "7",
		digits: "7",
	}, {
		name:   "inter-digit timer restarts on each key",
		keys:   []press{{5 * s, "1"}, {ms(7500), "2"}, {10 * s, "3"}},
		plays:  []ivrtest.Play{played("account", 0, 4*s, false), played("done", 13*s, 14*s, false)},
		result: "collected 123 (inter-digit timeout)",
		value:  "123",
		digits: "123",
	}, {
		name:    "terminator ends the entry and is not stored",
		collect: ivr.CollectNode{Terminator: '#'},
		keys:    []press{{5 * s, "1"}, {ms(5500), "2"}, {6 * s, "#"}},
		plays:   []ivrtest.Play{played("account", 0, 4*s, false), played("done", 6*s, 7*s, false)},
		result:  "collected 12 (terminator)",
		value:   "12",
		digits:  "12#",
	}, {
		name:    "extra keys after max_digits stay for the next node",
		collect: ivr.CollectNode{MaxDigits: 4, Input: nonInterruptible},
		after:   menuNode("done", input("confirm"), map[rune]string{'5': "yes"}),
		keys:    []press{{1 * s, "12345"}},
		plays:   []ivrtest.Play{played("account", 0, 4*s, false), played("yes", 4*s, 5*s, false)},
		result:  "collected 1234 (max digits)",
		value:   "1234",
		digits:  "12345",
	}, {
		// An unanchored pattern must not accept an entry it only partly matches.
		name:    "pattern mismatch is invalid",
		collect: ivr.CollectNode{MaxDigits: 5, Terminator: '#', Pattern: regexp.MustCompile(`1\d{3}`)},
		keys:    []press{{1 * s, "12345"}, {7 * s, "1234#"}},
		plays: []ivrtest.Play{
			played("account", 0, 1*s, true),
			played("invalid", 1*s, 2*s, false),
			played("account", 2*s, 6*s, false),
			played("done", 7*s, 8*s, false),
		},
		result: "invalid 12345; collected 1234 (terminator)",
		value:  "1234",
		digits: "123451234#",
	}, {
		name:    "too few digits is invalid",
		collect: ivr.CollectNode{MinDigits: 3, Terminator: '#'},
		keys:    []press{{1 * s, "12#"}, {3 * s, "123#"}},
		plays: []ivrtest.Play{
			played("account", 0, 1*s, true),
			played("invalid", 1*s, 2*s, false),
			played("account", 2*s, 3*s, true),
			played("done", 3*s, 4*s, false),
		},
		result: "invalid 12; collected 123 (terminator)",
		value:  "123",
		digits: "12#123#",
	}, {
		name:   "operator key as the first key of a collect",
		keys:   []press{{1 * s, "0"}},
		plays:  []ivrtest.Play{played("account", 0, 1*s, true), played("agent", 1*s, 2*s, false)},
		result: "operator",
		digits: "0",
	}, {
		name:   "operator key later in an entry is a digit",
		keys:   []press{{1 * s, "10"}},
		plays:  []ivrtest.Play{played("account", 0, 1*s, true), played("done", 4*s, 5*s, false)},
		result: "collected 10 (inter-digit timeout)",
		value:  "10",
		digits: "10",
	}, {
		name:    "sensitive digits are masked",
		collect: ivr.CollectNode{Terminator: '#', Sensitive: true},
		keys:    []press{{1 * s, "4321#"}},
		plays:   []ivrtest.Play{played("account", 0, 1*s, true), played("done", 1*s, 2*s, false)},
		result:  "collected **** (terminator)",
		digits:  "****#",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := tt.after
			if after == nil {
				after = playNode("done", "", false)
			}
			f := newFlow(collectNode("collect", "done", base(tt.collect)), after, playNode("yes", "", false))
			sv := serve(t, scenario{flow: f, keys: tt.keys, durations: map[string]time.Duration{"account": 4 * s}})
			sv.check(t, tt.plays, map[string]string{"collect": tt.result}, ivr.OutcomeHangup)
			if got := sv.rec.Vars["account"]; got != tt.value {
				t.Errorf("account = %q, want %q", got, tt.value)
			}
			if sv.rec.Digits != tt.digits {
				t.Errorf("digits = %q, want %q", sv.rec.Digits, tt.digits)
			}
		})
	}
}

func TestCollectNoInputThenFailure(t *testing.T) {
	in := input("account")
	in.Tries = 2
	in.OnFailure = "agent"
	f := newFlow(collectNode("collect", "done", ivr.CollectNode{Input: in, Var: "account"}), playNode("done", "", false))
	sv := serve(t, scenario{flow: f})
	sv.check(t, []ivrtest.Play{
		played("account", 0, 1*s, false),
		played("no input", 6*s, 7*s, false),
		played("account", 7*s, 8*s, false),
		played("no input", 13*s, 14*s, false),
		played("agent", 14*s, 15*s, false),
	}, map[string]string{"collect": "no input; no input; failed"}, ivr.OutcomeHangup)
}

// The engine must leave at once when the caller hangs up, stop the prompt,
// not hang up a call that is gone, and record where the caller left.
func TestCallerHangsUpMidPrompt(t *testing.T) {
	f := newFlow(salesMenu(input("menu")), playNode("sales", "", false), playNode("support", "", false))
	sv := serve(t, scenario{flow: f, hangupAt: 2 * s, durations: map[string]time.Duration{"menu": 4 * s}})
	sv.check(t, []ivrtest.Play{played("menu", 0, 2*s, true)}, nil, ivr.OutcomeHungUpInIVR)
	if _, ok := sv.call.HungUp(); ok {
		t.Error("engine hung up a call the caller had left")
	}
	if sv.rec.EndedAt == nil || !sv.rec.EndedAt.Equal(ivrtest.Epoch.Add(2*s)) {
		t.Errorf("ended at %v, want %v", sv.rec.EndedAt, ivrtest.Epoch.Add(2*s))
	}
}

func TestLoopWithoutInput(t *testing.T) {
	f := newFlow(
		&ivr.Node{Name: "a", Kind: ivr.KindGoto, Goto: "b"},
		&ivr.Node{Name: "b", Kind: ivr.KindSet, Set: map[string]string{"x": "1"}, Next: "a"},
	)
	sv := serve(t, scenario{flow: f})
	if !errors.Is(sv.err, ivr.ErrLoop) {
		t.Fatalf("Serve = %v, want ErrLoop", sv.err)
	}
	if sv.rec.Outcome != ivr.OutcomeError {
		t.Errorf("outcome = %q, want %q", sv.rec.Outcome, ivr.OutcomeError)
	}
	if _, ok := sv.call.HungUp(); !ok {
		t.Error("call not hung up after an error")
	}
}

func TestUnknownNode(t *testing.T) {
	f := newFlow(&ivr.Node{Name: "a", Kind: ivr.KindGoto, Goto: "nowhere"})
	sv := serve(t, scenario{flow: f})
	if !errors.Is(sv.err, ivr.ErrUnknownNode) {
		t.Fatalf("Serve = %v, want ErrUnknownNode", sv.err)
	}
}

func TestSetAndBranchOnVars(t *testing.T) {
	yes := "gold"
	f := newFlow(
		&ivr.Node{Name: "set", Kind: ivr.KindSet, Next: "branch", Set: map[string]string{
			"tier": "gold", "who": "${caller}/${dialled}/${language}", "same": "${tier}",
		}},
		&ivr.Node{Name: "branch", Kind: ivr.KindBranch, Next: "other", Branch: []ivr.BranchRule{
			{If: &ivr.Condition{Var: "caller", Prefix: "+44"}, Goto: "other"},
			{If: &ivr.Condition{All: []ivr.Condition{
				{Var: "tier", Equals: &yes},
				{Var: "caller", Match: regexp.MustCompile(`^\+336`)},
				{Not: &ivr.Condition{Var: "tier", In: []string{"silver", "bronze"}}},
			}}, Goto: "vip"},
			{Goto: "other"},
		}},
		playNode("vip", "", false), playNode("other", "", false),
	)
	sv := serve(t, scenario{flow: f})
	sv.check(t, []ivrtest.Play{played("vip", 0, 1*s, false)}, map[string]string{"branch": "rule 2"}, ivr.OutcomeHangup)
	want := map[string]string{"tier": "gold", "who": "+33612345678/3000/en", "same": ""}
	for k, v := range want {
		if sv.rec.Vars[k] != v {
			t.Errorf("var %s = %q, want %q", k, sv.rec.Vars[k], v)
		}
	}
}

func TestBranchOnCalendar(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	office := &ivr.Calendar{Name: "office", Location: paris, Holidays: map[string]bool{"2026-12-25": true}}
	for d := time.Monday; d <= time.Friday; d++ {
		office.Weekly[d] = []ivr.TimeRange{{From: 9 * 60, To: 18 * 60}}
	}
	tests := []struct {
		name string
		at   time.Time
		want string
	}{
		{"open in Paris while closed in UTC", time.Date(2026, 3, 2, 8, 10, 0, 0, time.UTC), "open"},
		{"closed in Paris while open in UTC", time.Date(2026, 3, 2, 17, 30, 0, 0, time.UTC), "closed"},
		{"summer time shifts the hour", time.Date(2026, 7, 6, 7, 30, 0, 0, time.UTC), "open"},
		{"weekend", time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC), "closed"},
		{"holiday within opening hours", time.Date(2026, 12, 25, 10, 0, 0, 0, time.UTC), "closed"},
		{"the day after the holiday", time.Date(2026, 12, 28, 10, 0, 0, 0, time.UTC), "open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlow(
				&ivr.Node{Name: "hours", Kind: ivr.KindBranch, Next: "closed", Branch: []ivr.BranchRule{
					{If: &ivr.Condition{Open: "office"}, Goto: "open"},
				}},
				playNode("open", "", false), playNode("closed", "", false),
			)
			f.Calendars = map[string]*ivr.Calendar{"office": office}
			sv := serve(t, scenario{flow: f, start: tt.at})
			sv.check(t, []ivrtest.Play{played(tt.want, 0, 1*s, false)}, nil, ivr.OutcomeHangup)
		})
	}
}

func TestBranchUnknownCalendar(t *testing.T) {
	f := newFlow(&ivr.Node{Name: "hours", Kind: ivr.KindBranch, Branch: []ivr.BranchRule{
		{If: &ivr.Condition{Open: "nope"}, Goto: "agent"},
	}})
	sv := serve(t, scenario{flow: f})
	if !errors.Is(sv.err, ivr.ErrUnknownCalendar) {
		t.Fatalf("Serve = %v, want ErrUnknownCalendar", sv.err)
	}
}

func TestHangupNode(t *testing.T) {
	f := newFlow(&ivr.Node{Name: "bye", Kind: ivr.KindHangup, Hangup: &ivr.HangupNode{Prompt: say("goodbye"), Reason: "closed"}})
	sv := serve(t, scenario{flow: f, keys: []press{{ms(500), "1"}}})
	sv.check(t, []ivrtest.Play{played("goodbye", 0, 1*s, false)}, nil, ivr.OutcomeHangup)
	if reason, ok := sv.call.HungUp(); !ok || reason != "closed" {
		t.Errorf("hang-up = %q, %v; want \"closed\"", reason, ok)
	}
}

// A driver ends the call's context once ivrd's own BYE is out; that must not
// turn a flow that hung up normally into an error.
func TestHangupNodeDriverCancels(t *testing.T) {
	f := newFlow(&ivr.Node{Name: "bye", Kind: ivr.KindHangup, Hangup: &ivr.HangupNode{Prompt: say("goodbye")}})
	sv := serve(t, scenario{flow: f, cancelOnHangup: errors.New("hung up by ivrd")})
	if sv.err != nil {
		t.Errorf("Serve = %v, want nil", sv.err)
	}
	sv.check(t, []ivrtest.Play{played("goodbye", 0, 1*s, false)}, nil, ivr.OutcomeHangup)
}

func TestSayDigitsAndNumber(t *testing.T) {
	f := newFlow(
		&ivr.Node{Name: "set", Kind: ivr.KindSet, Next: "read", Set: map[string]string{"acc": "42", "n": "21"}},
		&ivr.Node{Name: "read", Kind: ivr.KindPlay, Play: &ivr.PlayNode{Prompt: ivr.Prompt{
			{Audio: &ivr.Audio{Text: "account"}}, {Digits: "${acc}"}, {Number: "${n}"},
		}}},
	)
	f.Vocabulary = map[string]ivr.Audio{}
	for _, w := range []string{"1", "2", "4", "20"} {
		f.Vocabulary[w] = ivr.Audio{Text: "<" + w + ">"}
	}
	sv := serve(t, scenario{flow: f})
	want := "account <4> <2> <20> <1>"
	if len(sv.plays) != 1 || sv.plays[0].Text != want {
		t.Fatalf("plays = %+v, want one play %q", sv.plays, want)
	}
}
