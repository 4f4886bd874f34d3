package ivrtest_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

func say(text string) ivr.Prompt { return ivr.Prompt{{Audio: &ivr.Audio{Text: text}}} }

// simFlows is a small flow: a welcome, a menu (1: account then queue, 2:
// goodbye) with the default timeouts.
func simFlows() *ivr.FlowSet {
	in := func(text string) ivr.Input {
		return ivr.Input{Prompt: say(text), NoInputPrompt: say("Sorry, I did not hear you."),
			InvalidPrompt: say("That is not a choice."), Timeout: 5 * time.Second, Tries: 2,
			Interruptible: true, OnFailure: "bye"}
	}
	acc := in("Enter your account number, then hash.")
	f := &ivr.Flow{
		Name: "support", Version: "abc123", Language: "en", Entry: "welcome",
		Operator: ivr.Operator{Key: '0', Goto: "queue"},
		Nodes: map[string]*ivr.Node{
			"welcome": {Name: "welcome", Kind: ivr.KindPlay, Next: "menu",
				Play: &ivr.PlayNode{Prompt: say("Welcome to Acme.")}},
			"menu": {Name: "menu", Kind: ivr.KindMenu, Menu: &ivr.MenuNode{
				Input: in("For billing press 1, to leave press 2."),
				Options: map[rune]ivr.MenuOption{
					'1': {Goto: "account", Set: map[string]string{"intent": "billing"}},
					'2': {Goto: "bye"},
				}}},
			"account": {Name: "account", Kind: ivr.KindCollect, Next: "queue", Collect: &ivr.CollectNode{
				Input: acc, Var: "account", MinDigits: 4, MaxDigits: 8, Terminator: '#',
				Pattern: regexp.MustCompile(`\d+`)}},
			"queue": {Name: "queue", Kind: ivr.KindQueue, Queue: &ivr.QueueNode{
				Queue: "support", Intent: "${intent}", Priority: 2, Skills: []string{"en"},
				Hold: say("Please hold.")}},
			"bye": {Name: "bye", Kind: ivr.KindHangup, Hangup: &ivr.HangupNode{Prompt: say("Goodbye.")}},
		},
	}
	return &ivr.FlowSet{Flows: map[string]*ivr.Flow{"support": f}}
}

func TestTerminal(t *testing.T) {
	tests := []struct {
		name  string
		keys  string
		input string // interactive lines; "" not interactive
		want  string
	}{{
		name: "scripted keys reach the queue",
		keys: "11234#",
		want: `▶ [welcome] Welcome to Acme.
▶ [menu] For billing press 1, to leave press 2.
  ⌨ 1
▶ [account] Enter your account number, then hash.
  ⌨ 1
  ⌨ 2
  ⌨ 3
  ⌨ 4
  ⌨ #
▶ [queue] Please hold.
⇒ queue "support": intent "billing", priority 2, skills [en], language en
    account = 1234
    call_id = simulation
    caller = simulator
    dialled = simulate
    intent = billing
    language = en
`,
	}, {
		name: "no keys: timeouts pass at once until the failure node",
		want: `▶ [welcome] Welcome to Acme.
▶ [menu] For billing press 1, to leave press 2.
… no input (5s)
▶ [menu] Sorry, I did not hear you.
▶ [menu] For billing press 1, to leave press 2.
… no input (5s)
▶ [menu] Sorry, I did not hear you.
▶ [bye] Goodbye.
■ ivr_hangup
`,
	}, {
		name:  "interactive keys are read when the menu waits",
		input: "\n2\n",
		want: `▶ [welcome] Welcome to Acme.
▶ [menu] For billing press 1, to leave press 2.
  keys> … no input (5s)
▶ [menu] Sorry, I did not hear you.
▶ [menu] For billing press 1, to leave press 2.
  keys>   ⌨ 2
▶ [bye] Goodbye.
■ ivr_hangup
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			term := &ivrtest.Terminal{Out: &out, Keys: tt.keys}
			if tt.input != "" {
				term.In = strings.NewReader(tt.input)
			}
			if _, err := term.Run(t.Context(), simFlows(), "support"); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.want)
			}
		})
	}
}

func TestTerminalUnknownFlow(t *testing.T) {
	var out strings.Builder
	term := &ivrtest.Terminal{Out: &out}
	if _, err := term.Run(t.Context(), simFlows(), "nope"); err == nil {
		t.Fatal("no error for an unknown flow")
	}
}

// consentFlows asks for consent after the menu's choice, before the queue.
func consentFlows() *ivr.FlowSet {
	set := simFlows()
	f := set.Flows["support"]
	f.Nodes["menu"].Menu.Options['1'] = ivr.MenuOption{Goto: "consent"}
	f.Nodes["consent"] = &ivr.Node{Name: "consent", Kind: ivr.KindConsent, Next: "queue", Consent: &ivr.ConsentNode{
		Prompt: say("This call may be recorded; press 9 to object."), RefusedPrompt: say("Not recorded."),
		Window: 3 * time.Second,
	}}
	return set
}

// After a consent notice the caller stays on the line unless the next key
// is the refuse key.
func TestTerminalConsent(t *testing.T) {
	tests := []struct {
		keys, want string
	}{{
		keys: "1",
		want: `▶ [welcome] Welcome to Acme.
▶ [menu] For billing press 1, to leave press 2.
  ⌨ 1
▶ [consent] This call may be recorded; press 9 to object.
… stays on the line (3s)
▶ [queue] Please hold.
⇒ queue "support": intent "", priority 2, skills [en], language en
    call_id = simulation
    caller = simulator
    dialled = simulate
    language = en
    recording_consent = accepted
`,
	}, {
		keys: "19",
		want: `▶ [welcome] Welcome to Acme.
▶ [menu] For billing press 1, to leave press 2.
  ⌨ 1
▶ [consent] This call may be recorded; press 9 to object.
  ⌨ 9
▶ [consent] Not recorded.
▶ [queue] Please hold.
⇒ queue "support": intent "", priority 2, skills [en], language en
    call_id = simulation
    caller = simulator
    dialled = simulate
    language = en
    recording_consent = refused
`,
	}}
	for _, tt := range tests {
		t.Run(tt.keys, func(t *testing.T) {
			var out strings.Builder
			term := &ivrtest.Terminal{Out: &out, Keys: tt.keys}
			if _, err := term.Run(t.Context(), consentFlows(), "support"); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.want)
			}
		})
	}
}
