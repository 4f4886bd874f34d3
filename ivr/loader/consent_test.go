package loader

import (
	"context"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

const consentFlows = `-- entrypoints.yaml --
entrypoints:
  - {number: "1", flow: fr}
  - {number: "2", flow: en}
-- fr.yaml --
flow: fr
language: fr
entry: ask
nodes:
  ask:
    consent:
    next: rec
  rec:
    record:
    next: pin
  pin:
    collect: {var: pin, prompt: "Code.", sensitive: true}
    next: pause
  pause:
    record: pause
    next: resume
  resume:
    record: {action: resume}
    next: stop
  stop:
    record: {action: stop}
    next: agents
  agents:
    queue: {name: agents}
-- en.yaml --
flow: en
language: en
entry: ask
nodes:
  ask:
    consent:
      refuse_key: "*"
      window: 5s
      refused_prompt: "Fine."
      on_refuse: bye
    next: agents
  agents:
    queue: {name: agents, record: true}
  bye:
    hangup:
`

func TestConsentDefaults(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, consentFlows)
	tts := &fakeTTS{}
	set, diags, err := Load(context.Background(), Options{Dir: dir, TTS: tts})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diags {
		t.Errorf("unexpected %s", d)
	}
	fr, en := set.Flows["fr"], set.Flows["en"]

	tests := []struct {
		name           string
		node           *ivr.Node
		key            rune
		window         time.Duration
		notice         string
		refused        string
		next, refuseTo string
	}{{
		name: "fr defaults", node: fr.Nodes["ask"], key: '9', window: 3 * time.Second,
		notice: "Dans le cadre de notre politique d'amélioration de nos services, cet appel est susceptible d'être enregistré. " +
			"En restant en ligne, vous donnez votre consentement. Pour vous opposer à l'enregistrement, tapez 9.",
		refused: "Votre appel ne sera pas enregistré.",
		next:    "rec",
	}, {
		name: "en with its own key, window and confirmation", node: en.Nodes["ask"], key: '*', window: 5 * time.Second,
		notice: "As part of our commitment to improving our services, this call may be recorded. " +
			"By staying on the line, you consent to the recording. To object to the recording, press star.",
		refused: "Fine.",
		next:    "agents", refuseTo: "bye",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node
			c := n.Consent
			if n.Kind != ivr.KindConsent || c == nil {
				t.Fatalf("node = %+v", n)
			}
			if c.RefuseKey != tt.key || c.Window != tt.window || n.Next != tt.next || c.OnRefuse != tt.refuseTo {
				t.Errorf("consent = %+v next %q", c, n.Next)
			}
			if len(c.Prompt) != 1 || c.Prompt[0].Audio.Text != tt.notice || c.Prompt[0].Audio.Path == "" {
				t.Errorf("notice = %+v\nwant %q, rendered", c.Prompt[0].Audio, tt.notice)
			}
			if len(c.RefusedPrompt) != 1 || c.RefusedPrompt[0].Audio.Text != tt.refused || c.RefusedPrompt[0].Audio.Path == "" {
				t.Errorf("refused prompt = %+v\nwant %q, rendered", c.RefusedPrompt[0].Audio, tt.refused)
			}
		})
	}

	actions := map[string]ivr.RecordAction{"rec": ivr.RecordStart, "pause": ivr.RecordPause, "resume": ivr.RecordResume, "stop": ivr.RecordStop}
	for name, want := range actions {
		if n := fr.Nodes[name]; n.Kind != ivr.KindRecord || n.Record == nil || n.Record.Action != want {
			t.Errorf("node %s = %+v, want record %s", name, n.Record, want)
		}
	}
	if fr.Nodes["stop"].Next != "agents" || fr.Nodes["rec"].Next != "pin" {
		t.Error("record nodes lost their next")
	}
	if !fr.Nodes["pin"].Collect.Sensitive {
		t.Error("pin is not sensitive")
	}
	if !en.Nodes["agents"].Queue.Record || fr.Nodes["ask"].Consent.OnRefuse != "" {
		t.Error("queue record or on_refuse default wrong")
	}
}

func TestConsentTexts(t *testing.T) {
	tests := []struct {
		lang string
		key  rune
		tail string
		ok   bool
	}{
		{"fr", '9', "tapez 9.", true},
		{"fr", '#', "tapez dièse.", true},
		{"fr", '*', "tapez étoile.", true},
		{"en", '#', "press hash.", true},
		{"en", 'A', "press A.", true},
		{"de", '9', "", false},
	}
	for _, tt := range tests {
		notice, refused, ok := ivr.ConsentTexts(tt.lang, tt.key)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v", tt.lang, ok)
			continue
		}
		if ok && (len(notice) < len(tt.tail) || notice[len(notice)-len(tt.tail):] != tt.tail || refused == "") {
			t.Errorf("%s %c: notice %q does not end with %q (refused %q)", tt.lang, tt.key, notice, tt.tail, refused)
		}
	}
}
