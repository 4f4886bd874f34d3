package ivr_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// consentNode plays "notice" (5 s in consentDurations) and, after a
// refusal, "not recorded".
func consentNode(name, next string, c ivr.ConsentNode) *ivr.Node {
	if c.Prompt == nil {
		c.Prompt = say("notice")
	}
	if c.RefusedPrompt == nil {
		c.RefusedPrompt = say("not recorded")
	}
	return &ivr.Node{Name: name, Kind: ivr.KindConsent, Next: next, Consent: &c}
}

func recordNode(name, next string, a ivr.RecordAction) *ivr.Node {
	return &ivr.Node{Name: name, Kind: ivr.KindRecord, Next: next, Record: &ivr.RecordNode{Action: a}}
}

var consentDurations = map[string]time.Duration{"notice": 5 * s, "menu": 4 * s}

// consentMenu is the menu after the consent nodes of these tests: 1 sales,
// 2 support, 9 nine (so that a 9 meant for the menu shows).
func consentMenu() []*ivr.Node {
	return []*ivr.Node{
		menuNode("menu", input("menu"), map[rune]string{'1': "sales", '2': "support", '9': "nine"}),
		playNode("sales", "", false), playNode("support", "", false), playNode("nine", "", false),
	}
}

// Each case is a caller facing a 5 s notice with a 3 s window, then the menu.
func TestConsentAnswers(t *testing.T) {
	tests := []struct {
		name    string
		first   []*ivr.Node // nodes before the menu; the first is the entry
		keys    []press
		plays   []ivrtest.Play
		results map[string]string
		choice  ivr.ConsentChoice
		key     string        // the refusing key stored
		at      time.Duration // when the choice was made
	}{{
		name:  "the refuse key during the notice stops it at once and refuses",
		first: []*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{})},
		keys:  []press{{2 * s, "9"}, {8 * s, "1"}},
		plays: []ivrtest.Play{
			played("notice", 0, 2*s, true),
			played("not recorded", 2*s, 3*s, false),
			played("menu", 3*s, 7*s, false),
			played("sales", 8*s, 9*s, false),
		},
		results: map[string]string{"consent": "refused key 9", "menu": "key 1"},
		choice:  ivr.ConsentRefused, key: "9", at: 2 * s,
	}, {
		name:  "the refuse key in the window refuses",
		first: []*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{})},
		keys:  []press{{7 * s, "9"}, {12 * s, "1"}},
		plays: []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("not recorded", 7*s, 8*s, false),
			played("menu", 8*s, 12*s, true),
			played("sales", 12*s, 13*s, false),
		},
		results: map[string]string{"consent": "refused key 9", "menu": "key 1"},
		choice:  ivr.ConsentRefused, key: "9", at: 7 * s,
	}, {
		// Anticipation still works: the key waits for the menu.
		name:  "another key during the notice does not stop it, accepts when it ends and is the menu's choice",
		first: []*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{})},
		keys:  []press{{2 * s, "2"}},
		plays: []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("support", 5*s, 6*s, false),
		},
		results: map[string]string{"consent": "accepted", "menu": "key 2"},
		choice:  ivr.ConsentAccepted, at: 5 * s,
	}, {
		name:  "another key in the window accepts at once and is the menu's choice",
		first: []*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{})},
		keys:  []press{{6 * s, "1"}},
		plays: []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("sales", 6*s, 7*s, false),
		},
		results: map[string]string{"consent": "accepted", "menu": "key 1"},
		choice:  ivr.ConsentAccepted, at: 6 * s,
	}, {
		name:  "the window passing accepts",
		first: []*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{})},
		keys:  []press{{10 * s, "2"}},
		plays: []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("menu", 8*s, 10*s, true),
			played("support", 10*s, 11*s, false),
		},
		results: map[string]string{"consent": "accepted", "menu": "key 2"},
		choice:  ivr.ConsentAccepted, at: 8 * s,
	}, {
		// A 9 typed ahead for the menu is no answer to a notice not yet heard.
		name: "a refuse key typed before the node is left for the menu",
		first: []*ivr.Node{
			playNode("welcome", "consent", false),
			consentNode("consent", "menu", ivr.ConsentNode{}),
		},
		keys: []press{{ms(500), "9"}},
		plays: []ivrtest.Play{
			played("welcome", 0, 1*s, false),
			played("notice", 1*s, 6*s, false),
			played("nine", 9*s, 10*s, false),
		},
		results: map[string]string{"consent": "accepted", "menu": "key 9"},
		choice:  ivr.ConsentAccepted, at: 9 * s,
	}, {
		name:  "with its own refuse key, 9 is just a key",
		first: []*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{RefuseKey: '*'})},
		keys:  []press{{2 * s, "9"}},
		plays: []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("nine", 5*s, 6*s, false),
		},
		results: map[string]string{"consent": "accepted", "menu": "key 9"},
		choice:  ivr.ConsentAccepted, at: 5 * s,
	}, {
		name:  "own refuse key, window and on_refuse",
		first: []*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{RefuseKey: '*', Window: 2 * s, OnRefuse: "support"})},
		keys:  []press{{6 * s, "*"}},
		plays: []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("not recorded", 6*s, 7*s, false),
			played("support", 7*s, 8*s, false),
		},
		results: map[string]string{"consent": "refused key *", "menu": ""},
		choice:  ivr.ConsentRefused, key: "*", at: 6 * s,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := &ivrtest.MemRecordings{}
			sv := serve(t, scenario{
				flow:       newFlow(append(tt.first, consentMenu()...)...),
				keys:       tt.keys,
				durations:  consentDurations,
				recordings: mem,
			})
			sv.check(t, tt.plays, tt.results, ivr.OutcomeHangup)
			consents := mem.Consents()
			if len(consents) != 1 {
				t.Fatalf("%d consents stored, want 1", len(consents))
			}
			want := ivr.Consent{
				ID: "consent-1", CallID: "call-1", Caller: "+33612345678", Driver: "test",
				At: ivrtest.Epoch.Add(tt.at), Language: "en", Flow: "main", FlowVersion: "v1",
				Node: "consent", Prompt: "notice", Choice: tt.choice, Key: tt.key,
			}
			if consents[0] != want {
				t.Errorf("consent = %+v\nwant %+v", consents[0], want)
			}
			if got := sv.rec.Vars[ivr.VarConsent]; got != string(tt.choice) {
				t.Errorf("%s = %q, want %q", ivr.VarConsent, got, tt.choice)
			}
		})
	}
}

// The notice plays once per call: a consent node reached again, or a call
// whose consent the store already has (back from a transfer), reuses the
// answer without a word.
func TestConsentAskedOnce(t *testing.T) {
	loop := func() *ivr.Flow {
		return newFlow(append([]*ivr.Node{consentNode("consent", "menu", ivr.ConsentNode{OnRefuse: "nine"})},
			menuNode("menu", input("menu"), map[rune]string{'1': "consent", '2': "support"}),
			playNode("support", "", false), playNode("nine", "", false))...)
	}
	t.Run("reached again in the call", func(t *testing.T) {
		mem := &ivrtest.MemRecordings{}
		sv := serve(t, scenario{flow: loop(), keys: []press{{9 * s, "1"}, {10 * s, "2"}}, durations: consentDurations, recordings: mem})
		sv.check(t, []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("menu", 8*s, 9*s, true),
			played("menu", 9*s, 10*s, true),
			played("support", 10*s, 11*s, false),
		}, map[string]string{"consent": "accepted | already accepted"}, ivr.OutcomeHangup)
		if n := mem.SaveCalls(); n != 1 {
			t.Errorf("SaveConsent called %d times, want 1", n)
		}
	})
	tests := []struct {
		name    string
		choice  ivr.ConsentChoice
		plays   []ivrtest.Play
		results map[string]string
	}{{
		name:    "accepted before a transfer",
		choice:  ivr.ConsentAccepted,
		plays:   []ivrtest.Play{played("menu", 0, 1*s, true), played("support", 1*s, 2*s, false)},
		results: map[string]string{"consent": "already accepted", "menu": "key 2"},
	}, {
		name:    "refused before a transfer: on_refuse, without the confirmation",
		choice:  ivr.ConsentRefused,
		plays:   []ivrtest.Play{played("nine", 0, 1*s, false)},
		results: map[string]string{"consent": "already refused", "menu": ""},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := &ivrtest.MemRecordings{}
			mem.AddConsent(ivr.Consent{CallID: "call-1", Choice: tt.choice, Node: "consent"})
			mem.AddConsent(ivr.Consent{CallID: "other-call", Choice: ivr.ConsentRefused})
			sv := serve(t, scenario{flow: loop(), keys: []press{{1 * s, "2"}}, durations: consentDurations, recordings: mem})
			sv.check(t, tt.plays, tt.results, ivr.OutcomeHangup)
			if n := mem.SaveCalls(); n != 0 {
				t.Errorf("SaveConsent called %d times, want 0", n)
			}
			if got := sv.rec.Vars[ivr.VarConsent]; got != string(tt.choice) {
				t.Errorf("%s = %q, want %q", ivr.VarConsent, got, tt.choice)
			}
		})
	}
	t.Run("a failing lookup asks again", func(t *testing.T) {
		mem := &ivrtest.MemRecordings{FindErr: errors.New("database locked")}
		sv := serve(t, scenario{flow: loop(), keys: []press{{9 * s, "2"}}, durations: consentDurations, recordings: mem})
		sv.check(t, nil, map[string]string{"consent": "accepted", "menu": "key 2"}, ivr.OutcomeHangup)
		if n := mem.SaveCalls(); n != 1 {
			t.Errorf("SaveConsent called %d times, want 1", n)
		}
	})
}

// Nothing is recorded without a stored consent: an answer the store could
// not keep is a refusal.
func TestConsentNotStored(t *testing.T) {
	flow := func() *ivr.Flow {
		return newFlow(
			consentNode("consent", "rec", ivr.ConsentNode{}),
			recordNode("rec", "after", ivr.RecordStart),
			playNode("after", "", false),
		)
	}
	t.Run("store fails", func(t *testing.T) {
		mem := &ivrtest.MemRecordings{SaveErr: errors.New("disk full")}
		sv := serve(t, scenario{flow: flow(), durations: consentDurations, recordings: mem, recordable: true})
		sv.check(t, []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("not recorded", 8*s, 9*s, false),
			played("after", 9*s, 10*s, false),
		}, map[string]string{
			"consent": "accepted; not stored, recording off",
			"rec":     "not recorded: consent refused",
		}, ivr.OutcomeHangup)
		if got := sv.rec.Vars[ivr.VarConsent]; got != string(ivr.ConsentRefused) {
			t.Errorf("%s = %q, want refused", ivr.VarConsent, got)
		}
		if n := len(mem.Recordings()) + len(sv.rcall.Recorders()); n != 0 {
			t.Errorf("%d recordings or recorders, want none", n)
		}
	})
	t.Run("no recordings store", func(t *testing.T) {
		sv := serve(t, scenario{flow: flow(), durations: consentDurations, recordable: true})
		sv.check(t, []ivrtest.Play{
			played("notice", 0, 5*s, false),
			played("after", 8*s, 9*s, false),
		}, map[string]string{
			"consent": "accepted",
			"rec":     "not recorded: no recordings store",
		}, ivr.OutcomeHangup)
		if got := sv.rec.Vars[ivr.VarConsent]; got != string(ivr.ConsentAccepted) {
			t.Errorf("%s = %q, want accepted", ivr.VarConsent, got)
		}
		if n := len(sv.rcall.Recorders()); n != 0 {
			t.Errorf("%d recorders, want none", n)
		}
	})
}

// Drivers index the audio they may play from Node.Prompts: a consent
// node's notice and confirmation must be among them.
func TestNodePrompts(t *testing.T) {
	in := input("menu")
	tests := []struct {
		node *ivr.Node
		want []string
	}{
		{consentNode("c", "", ivr.ConsentNode{}), []string{"notice", "not recorded"}},
		{menuNode("m", in, nil), []string{"menu", "", "invalid", "no input"}},
		{playNode("p", "", false), []string{"p"}},
		{recordNode("r", "", ivr.RecordStart), nil},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range tt.node.Prompts() {
			text := ""
			if len(p) > 0 {
				text = p[0].Audio.Text
			}
			got = append(got, text)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: prompts %q, want %q", tt.node.Name, got, tt.want)
		}
	}
}
