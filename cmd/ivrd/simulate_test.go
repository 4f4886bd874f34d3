package main

import (
	"strings"
	"testing"

	"github.com/ivrd/ivrd/ivr"
)

func TestRunSimulate(t *testing.T) {
	say := func(text string) ivr.Prompt { return ivr.Prompt{{Audio: &ivr.Audio{Text: text}}} }
	set := &ivr.FlowSet{Flows: map[string]*ivr.Flow{"demo": {
		Name: "demo", Language: "en", Entry: "menu",
		Nodes: map[string]*ivr.Node{
			"menu": {Name: "menu", Kind: ivr.KindMenu, Menu: &ivr.MenuNode{
				Input:   ivr.Input{Prompt: say("Press 1."), Interruptible: true},
				Options: map[rune]ivr.MenuOption{'1': {Goto: "bye"}},
			}},
			"bye": {Name: "bye", Kind: ivr.KindHangup, Hangup: &ivr.HangupNode{Prompt: say("Bye.")}},
		},
	}}}
	var out strings.Builder
	if err := runSimulate(t.Context(), set, "demo", "1", false, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	want := "▶ [menu] Press 1.\n  ⌨ 1\n▶ [bye] Bye.\n■ ivr_hangup\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if err := runSimulate(t.Context(), set, "missing", "", false, strings.NewReader(""), &out); err == nil {
		t.Error("no error for a missing flow")
	}
}
