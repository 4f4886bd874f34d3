package loader

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// The flows shipped in the flows folder must load cleanly.
func TestShippedFlows(t *testing.T) {
	tts := &fakeTTS{}
	set, diags, err := Load(context.Background(), Options{Dir: "../../flows", TTS: tts})
	for _, d := range diags {
		t.Errorf("%s", d)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"accueil-fr", "welcome-en"} {
		if set.Flows[name] == nil {
			t.Errorf("flow %s missing", name)
		}
	}
	if f, ok := set.Lookup("3901"); !ok || f.Name != "welcome-en" {
		t.Errorf("3901 -> %v", f)
	}
	if f, ok := set.Lookup("0000"); !ok || f.Name != "accueil-fr" {
		t.Errorf("default -> %v", f)
	}
	fr := set.Flows["accueil-fr"]
	menu := fr.Nodes["motif"].Menu
	if len(menu.Options) != 2 || menu.Options['1'].Goto != "consentement" || menu.Options['1'].Set["intent"] != "technique" {
		t.Errorf("motif options = %+v", menu.Options)
	}
	if menu.OnFailure != "conseiller" || menu.Tries != 3 || menu.Timeout != 5*time.Second || !menu.Interruptible {
		t.Errorf("motif input = %+v", menu.Input)
	}
	if p := menu.Prompt[0].Audio; p == nil || p.Path == "" {
		t.Errorf("menu prompt not rendered: %+v", menu.Prompt)
	}
	c := fr.Nodes["numero_client"].Collect
	if c.Var != "account" || c.MinDigits != 6 || c.MaxDigits != 8 || c.Terminator != '#' || c.TypeAhead != ivr.TypeAheadFlush {
		t.Errorf("collect = %+v", c)
	}
	if fr.Operator.Key != '0' || fr.Operator.Goto != "conseiller" {
		t.Errorf("operator = %+v", fr.Operator)
	}
	// Every queue records the agent conversation, after the one consent
	// node, whose default texts are rendered in each flow's language.
	for _, f := range []*ivr.Flow{fr, set.Flows["welcome-en"]} {
		for _, q := range []string{"technique", "facturation", "conseillers"} {
			if n := f.Nodes[q]; n == nil || n.Queue == nil || !n.Queue.Record {
				t.Errorf("%s: queue %s does not record", f.Name, q)
			}
		}
		c := f.Nodes["consentement"].Consent
		if c == nil || c.RefuseKey != '9' || c.Window != 3*time.Second || f.Nodes["consentement"].Next != "orientation" {
			t.Fatalf("%s: consentement = %+v", f.Name, c)
		}
		notice, refused, _ := ivr.ConsentTexts(f.Language, '9')
		if a := c.Prompt[0].Audio; len(c.Prompt) != 1 || a.Text != notice || a.Path == "" {
			t.Errorf("%s: notice = %+v, want %q rendered", f.Name, c.Prompt[0].Audio, notice)
		}
		if a := c.RefusedPrompt[0].Audio; len(c.RefusedPrompt) != 1 || a.Text != refused || a.Path == "" {
			t.Errorf("%s: refused prompt = %+v, want %q rendered", f.Name, c.RefusedPrompt[0].Audio, refused)
		}
	}
	cal := fr.Calendars["bureaux"]
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, tt := range []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 3, 2, 10, 0, 0, 0, paris), true},   // Monday morning
		{time.Date(2026, 3, 2, 13, 0, 0, 0, paris), false},  // lunch
		{time.Date(2026, 3, 7, 11, 59, 0, 0, paris), true},  // Saturday
		{time.Date(2026, 3, 8, 11, 0, 0, 0, paris), false},  // Sunday
		{time.Date(2026, 7, 14, 10, 0, 0, 0, paris), false}, // Bastille Day, a Tuesday
	} {
		if got := cal.IsOpen(tt.at); got != tt.open {
			t.Errorf("IsOpen(%v) = %v, want %v", tt.at, got, tt.open)
		}
	}
	words := ivr.NumberWords("fr", 71)
	if got := fr.Say(words); len(got) != len(words) {
		t.Errorf("vocabulary misses words of 71: %+v", got)
	}
	if len(fr.Version) != 12 {
		t.Errorf("version %q", fr.Version)
	}
}

// The shipped flows offer a callback on hold and when closed; a caller who
// calls again with a request pending may cancel it.
func TestShippedCallbacks(t *testing.T) {
	set, _, err := Load(context.Background(), Options{Dir: "../../flows", TTS: &fakeTTS{}})
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, tc := range []struct {
		flow, keys string
		at         time.Time
		want       []string // in the output, in order
		outcome    ivr.Outcome
	}{
		{"accueil-fr", "19111", time.Date(2026, 12, 7, 10, 0, 0, 0, paris),
			[]string{"vous pouvez être rappelé sans perdre votre place : tapez 1", "(on hold)", "Nous vous rappellerons au", "dès que possible", "dans environ"}, ivr.OutcomeCallback},
		{"accueil-fr", "1911216#", time.Date(2026, 12, 7, 10, 0, 0, 0, paris),
			[]string{"(on hold)", "Nous vous rappellerons au", "choisir l'heure", "de 0 à 23", "à partir de seize heures"}, ivr.OutcomeCallback},
		{"accueil-fr", "11", time.Date(2026, 12, 6, 20, 0, 0, 0, paris),
			[]string{"Pour être rappelé dès l'ouverture, tapez 1.", "Nous vous rappellerons au", "à partir de"}, ivr.OutcomeCallback},
		{"welcome-en", "11", time.Date(2026, 12, 6, 20, 0, 0, 0, paris),
			[]string{"To be called back when we open, press 1.", "We will call you back on", "from"}, ivr.OutcomeCallback},
	} {
		t.Run(tc.flow+"/"+tc.keys, func(t *testing.T) {
			var out strings.Builder
			term := &ivrtest.Terminal{Out: &out, Keys: tc.keys, Start: tc.at, Caller: "0612345678"}
			rec, err := term.Run(t.Context(), set, tc.flow)
			if err != nil {
				t.Fatal(err)
			}
			s := out.String()
			for _, w := range tc.want {
				i := strings.Index(s, w)
				if i < 0 {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
				s = s[i+len(w):]
			}
			if rec.Outcome != tc.outcome {
				t.Errorf("outcome %q, want %q", rec.Outcome, tc.outcome)
			}
		})
	}
}
