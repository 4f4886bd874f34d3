package loader

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ivrd/ivrd/ivr"
)

// A flow may say `translation_of: other-flow`: it is the same service in
// another language. The original is the reference; every translation is
// compared with it node by node, by name, so callers get the same choices,
// the same questions and the same queues whatever their language.
// Translations of translations are refused: all the language versions of a
// service name the same original, which keeps the comparison one level deep
// and makes cycles impossible.

// checkTranslations reports the errors of `translation_of:` keys. unnamed is
// the number of flow files too broken to know their name: the original may be
// one of them, and that file already has an error.
func (l *load) checkTranslations(byName map[string]*parsedFlow, unnamed int) {
	for _, pf := range sortedFlows(byName) {
		if pf.translationOf == "" {
			continue
		}
		orig, ok := byName[pf.translationOf]
		switch {
		case !ok:
			if unnamed == 0 {
				l.errorAt(pf.translationPos, "translation_of: unknown flow %q", pf.translationOf)
			}
		case orig == pf:
			l.errorAt(pf.translationPos, "translation_of: flow %s cannot be a translation of itself", pf.flow.Name)
		case orig.translationOf != "":
			l.errorAt(pf.translationPos, "translation_of: %s is itself a translation of %s; name the original, %s",
				orig.flow.Name, orig.translationOf, orig.translationOf)
		case orig.flow.Language != "" && orig.flow.Language == pf.flow.Language:
			l.errorAt(pf.translationPos, "translation_of: %s is also in language %s; a translation is in another language",
				orig.flow.Name, orig.flow.Language)
		}
	}
}

// lintTranslation warns where translation pf differs from its original in
// what the caller can do, or lacks a prompt or a recording the original has.
// routed holds the flows that entrypoints.yaml sends calls to.
func (l *load) lintTranslation(pf, orig *parsedFlow, routed map[string]bool) {
	f, of := pf.flow, orig.flow
	if routed[of.Name] && !routed[f.Name] {
		l.warnAt(pf.translationPos, "no number in %s leads to %s: callers cannot reach the %s version of %s",
			EntrypointsFile, f.Name, f.Language, of.Name)
	}
	if f.Entry != of.Entry {
		l.warnAt(pf.entryPos, "entry %s differs from the entry of %s, %s", f.Entry, of.Name, of.Entry)
	}
	if operatorText(f.Operator) != operatorText(of.Operator) {
		pos := pf.operator
		if pos.Line == 0 {
			pos = pf.translationPos
		}
		l.warnAt(pos, "operator (%s) differs from the operator of %s (%s)", operatorText(f.Operator), of.Name, operatorText(of.Operator))
	}
	for _, on := range sortedNodes(of) {
		if f.Nodes[on.Name] == nil {
			l.warnAt(pf.translationPos, "node %s of %s (%s) is missing from this translation", on.Name, of.Name, on.Pos)
		}
	}
	next, origNext := successors(pf), successors(orig)
	for _, n := range sortedNodes(f) {
		on := of.Nodes[n.Name]
		if on == nil {
			l.warnAt(n.Pos, "node %s is not in %s, the original", n.Name, of.Name)
			continue
		}
		if n.Kind != on.Kind {
			l.warnAt(n.Pos, "node %s is a %s here but a %s in %s (%s)", n.Name, n.Kind, on.Kind, of.Name, on.Pos)
			continue
		}
		what := string(n.Kind) + " " + n.Name
		sameKeys := true
		switch {
		case n.Menu != nil && on.Menu != nil:
			sameKeys = l.compareOptions(n, on, of.Name)
		case n.Collect != nil && on.Collect != nil:
			if n.Collect.Var != on.Collect.Var {
				l.warnAt(n.Pos, "%s sets variable %s but the same node of %s sets %s", what, n.Collect.Var, of.Name, on.Collect.Var)
			}
		case n.Queue != nil && on.Queue != nil:
			if n.Queue.Queue != on.Queue.Queue {
				l.warnAt(n.Pos, "%s hands calls to queue %s but the same node of %s to %s: agents must get the same calls whatever the language",
					what, n.Queue.Queue, of.Name, on.Queue.Queue)
			}
			if n.Queue.Record != on.Queue.Record {
				l.warnAt(n.Pos, "%s %s the agent conversation but the same node of %s %s",
					what, recordsText(n.Queue.Record), of.Name, recordsText(on.Queue.Record))
			}
		case n.Consent != nil && on.Consent != nil:
			if n.Consent.RefuseKey != on.Consent.RefuseKey {
				l.warnAt(n.Pos, "%s refuses with key %c but the same node of %s with key %c",
					what, n.Consent.RefuseKey, of.Name, on.Consent.RefuseKey)
			}
		case n.Record != nil && on.Record != nil:
			if n.Record.Action != on.Record.Action {
				l.warnAt(n.Pos, "%s does %s but the same node of %s does %s", what, n.Record.Action, of.Name, on.Record.Action)
			}
		}
		// A menu whose keys differ already explains why its targets do.
		if sameKeys && !slices.Equal(next[n.Name], origNext[n.Name]) {
			l.warnAt(n.Pos, "%s leads to %s but the same node of %s leads to %s",
				what, nodeList(next[n.Name]), of.Name, nodeList(origNext[n.Name]))
		}
		slots, origSlots := promptSlots(n), promptSlots(on)
		for i, s := range slots {
			if i >= len(origSlots) {
				break
			}
			switch has, origHas := len(s.prompt) > 0, len(origSlots[i].prompt) > 0; {
			case origHas && !has:
				l.warnAt(n.Pos, "%s has no %s but the same node of %s has one", what, s.key, of.Name)
			case has && !origHas:
				l.warnAt(n.Pos, "%s has a %s but the same node of %s has none", what, s.key, of.Name)
			}
		}
	}
	l.lintPromptFiles(pf, orig)
}

// compareOptions warns about menu keys present in only one of the two
// menus, and reports whether the keys are the same.
func (l *load) compareOptions(n, on *ivr.Node, origName string) bool {
	same := true
	for _, k := range sortedKeys(on.Menu.Options) {
		if _, ok := n.Menu.Options[k]; !ok {
			same = false
			l.warnAt(n.Pos, "menu %s has no option %c; the same menu of %s has one", n.Name, k, origName)
		}
	}
	for _, k := range sortedKeys(n.Menu.Options) {
		if _, ok := on.Menu.Options[k]; !ok {
			same = false
			l.warnAt(n.Pos, "menu %s has an option %c that the same menu of %s lacks", n.Name, k, origName)
		}
	}
	return same
}

// lintPromptFiles warns about a recording the original has in its own
// language that the translation lacks in its language: the translation
// would play the shared file of the prompts folder instead.
func (l *load) lintPromptFiles(pf, orig *parsedFlow) {
	own := map[string]bool{}
	for _, u := range orig.files {
		if !u.shared {
			own[u.name] = true
		}
	}
	for _, u := range pf.files {
		if u.shared && own[u.name] {
			l.warnAt(u.pos, "file: %q has a %s recording for %s but none in %s/: this plays the shared prompts/%s",
				u.name, orig.flow.Language, orig.flow.Name, pf.flow.Language, u.name)
		}
	}
}

// promptSlot is one prompt a node may have, by its key in the flow file.
type promptSlot struct {
	key    string
	prompt ivr.Prompt
}

// promptSlots lists the prompts of a node in a fixed order for its kind.
func promptSlots(n *ivr.Node) []promptSlot {
	input := func(in ivr.Input) []promptSlot {
		return []promptSlot{
			{"prompt", in.Prompt},
			{"retry_prompt", in.RetryPrompt},
			{"invalid_prompt", in.InvalidPrompt},
			{"no_input_prompt", in.NoInputPrompt},
		}
	}
	switch {
	case n.Play != nil:
		return []promptSlot{{"prompt", n.Play.Prompt}}
	case n.Menu != nil:
		return input(n.Menu.Input)
	case n.Collect != nil:
		return input(n.Collect.Input)
	case n.Queue != nil:
		return []promptSlot{{"hold prompt", n.Queue.Hold}}
	case n.Hangup != nil:
		return []promptSlot{{"prompt", n.Hangup.Prompt}}
	case n.Consent != nil:
		return []promptSlot{{"prompt", n.Consent.Prompt}, {"refused_prompt", n.Consent.RefusedPrompt}}
	}
	return nil
}

func recordsText(record bool) string {
	if record {
		return "records"
	}
	return "does not record"
}

// successors returns, by node, the sorted distinct nodes it can lead to.
func successors(pf *parsedFlow) map[string][]string {
	out := map[string][]string{}
	for _, e := range pf.edges {
		if e.from != "" && !slices.Contains(out[e.from], e.to) {
			out[e.from] = append(out[e.from], e.to)
		}
	}
	for _, to := range out {
		slices.Sort(to)
	}
	return out
}

func nodeList(names []string) string {
	if len(names) == 0 {
		return "no other node"
	}
	return strings.Join(names, ", ")
}

func operatorText(op ivr.Operator) string {
	if op.Key == 0 {
		return "none"
	}
	return fmt.Sprintf("key %c to %s", op.Key, op.Goto)
}

func sortedKeys(m map[rune]ivr.MenuOption) []rune {
	out := make([]rune, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
