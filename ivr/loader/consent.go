package loader

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ivrd/ivrd/ivr"
)

// maxConsentWindow bounds the time a caller is given to refuse after the
// notice: a longer silence makes callers think the line is dead.
const maxConsentWindow = 30 * time.Second

// consent decodes a consent node. Its prompts default to the texts of the
// flow's language, which name the refuse key; pos is the node's position,
// where a missing default is reported.
func (p *flowParser) consent(name string, n *yaml.Node, pos ivr.Position) *ivr.ConsentNode {
	what := "consent " + name
	c := &ivr.ConsentNode{RefuseKey: ivr.DefaultRefuseKey, Window: ivr.DefaultConsentWindow}
	p.pf.varSets[ivr.VarConsent] = true
	var fs map[string]pair
	if r := p.resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		fs = map[string]pair{}
	} else {
		var ok bool
		if fs, ok = p.fields(n, what, "prompt", "refuse_key", "window", "refused_prompt", "on_refuse"); !ok {
			return c
		}
	}
	if kv, has := fs["refuse_key"]; has {
		if k, ok := p.dtmfKey(kv.val, "refuse_key"); ok {
			c.RefuseKey = k
		}
	}
	if kv, has := fs["window"]; has {
		if d, ok := p.duration(kv.val, "window"); ok {
			if d > maxConsentWindow {
				p.errorf(kv.val, "window: %s is too long (at most %s)", d, maxConsentWindow)
			}
			c.Window = d
		}
	}
	if kv, has := fs["prompt"]; has {
		c.Prompt = p.prompt(kv.val, "prompt")
	}
	if kv, has := fs["refused_prompt"]; has {
		c.RefusedPrompt = p.prompt(kv.val, "refused_prompt")
	}
	if c.Prompt == nil || c.RefusedPrompt == nil {
		lang := p.pf.flow.Language
		notice, refused, ok := ivr.ConsentTexts(lang, c.RefuseKey)
		switch {
		case !ok:
			missing := "prompt"
			if c.Prompt != nil {
				missing = "refused_prompt"
			} else if c.RefusedPrompt == nil {
				missing = "prompt and refused_prompt"
			}
			p.errorf(p.resolve(n), "%s: no default texts in language %q: write its %s", what, lang, missing)
		default:
			if c.Prompt == nil {
				c.Prompt = p.defaultSay(notice, pos)
			}
			if c.RefusedPrompt == nil {
				c.RefusedPrompt = p.defaultSay(refused, pos)
			}
		}
	}
	if kv, has := fs["on_refuse"]; has {
		if to, ok := p.name(kv.val, "on_refuse"); ok {
			c.OnRefuse = to
			p.pf.edges = append(p.pf.edges, edge{from: name, to: to, pos: p.at(kv.val)})
		}
	}
	return c
}

// defaultSay is a text the loader supplies, rendered like a `say:` part.
func (p *flowParser) defaultSay(text string, pos ivr.Position) ivr.Prompt {
	a := &ivr.Audio{Text: text}
	p.pf.says = append(p.pf.says, sayRef{a, pos})
	return ivr.Prompt{{Audio: a}}
}

var recordActions = []ivr.RecordAction{ivr.RecordStart, ivr.RecordStop, ivr.RecordPause, ivr.RecordResume}

// record decodes a record node: `record: start` (or nothing), `record:
// stop`, or `record: {action: pause}`.
func (p *flowParser) record(name string, n *yaml.Node) *ivr.RecordNode {
	rn := &ivr.RecordNode{Action: ivr.RecordStart}
	r := p.resolve(n)
	if r == nil {
		return rn
	}
	val := r
	switch {
	case r.Kind == yaml.ScalarNode && r.Tag == "!!null":
		return rn
	case r.Kind == yaml.MappingNode:
		fs, ok := p.fields(r, "record "+name, "action")
		if !ok {
			return rn
		}
		kv, has := fs["action"]
		if !has {
			return rn
		}
		val = kv.val
	}
	s, ok := p.scalar(val, "record action")
	if !ok {
		return rn
	}
	if !slices.Contains(recordActions, ivr.RecordAction(s)) {
		p.errorf(val, "record action: expected start, stop, pause or resume, got %q", s)
		return rn
	}
	rn.Action = ivr.RecordAction(s)
	return rn
}

// records reports whether n can start a recording or let one go on: a
// record node that starts or resumes, or a queue node with record: true.
func records(n *ivr.Node) bool {
	switch {
	case n.Record != nil:
		return n.Record.Action == ivr.RecordStart || n.Record.Action == ivr.RecordResume
	case n.Queue != nil:
		return n.Queue.Record
	}
	return false
}

// consentFirst reports, as errors, the nodes that record and that a call
// can reach from the entry without passing a consent node: nothing may be
// recorded before the caller was told and could refuse. The search follows
// every way a call moves (next, menu options, branch rules, goto,
// on_failure, on_timeout, on_refuse, the operator key from menus and
// collects) and does not go through consent nodes.
func (l *load) consentFirst(pf *parsedFlow) {
	f := pf.flow
	next := map[string][]string{}
	for _, e := range pf.edges {
		if e.from != "" && !slices.Contains(next[e.from], e.to) {
			next[e.from] = append(next[e.from], e.to)
		}
	}
	if f.Operator.Key != 0 && f.Operator.Goto != "" {
		for _, n := range f.Nodes {
			if n.Menu != nil || n.Collect != nil {
				next[n.Name] = append(next[n.Name], f.Operator.Goto)
			}
		}
	}
	for _, to := range next {
		slices.SortFunc(to, func(a, b string) int { return nodeOrder(f, a, b) })
	}
	// Breadth first, so the path in the message is a shortest one.
	from := map[string]string{}
	var queue []string
	if start := f.Nodes[f.Entry]; start != nil && start.Consent == nil {
		from[f.Entry] = ""
		queue = append(queue, f.Entry)
	}
	var bad []string
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if records(f.Nodes[name]) {
			bad = append(bad, name)
		}
		for _, to := range next[name] {
			n := f.Nodes[to]
			if _, seen := from[to]; seen || n == nil || n.Consent != nil {
				continue
			}
			from[to] = name
			queue = append(queue, to)
		}
	}
	for _, name := range bad {
		path := []string{name}
		for at := from[name]; at != ""; at = from[at] {
			path = append(path, at)
		}
		slices.Reverse(path)
		n := f.Nodes[name]
		what := fmt.Sprintf("record node %q", name)
		if n.Queue != nil {
			what = fmt.Sprintf("queue node %q records (record: true) and", name)
		}
		l.errorAt(n.Pos, "%s can be reached before any consent node (path: %s): ask for consent first",
			what, strings.Join(path, " → "))
	}
}

// nodeOrder orders node names as written in the file.
func nodeOrder(f *ivr.Flow, a, b string) int {
	na, nb := f.Nodes[a], f.Nodes[b]
	switch {
	case na == nil || nb == nil:
		return strings.Compare(a, b)
	case na.Pos.Line != nb.Pos.Line:
		return na.Pos.Line - nb.Pos.Line
	}
	return strings.Compare(a, b)
}

// lintConsent warns about consent nodes whose refuse key a caller may
// press for something else.
func (l *load) lintConsent(pf *parsedFlow) {
	f := pf.flow
	for _, n := range sortedNodes(f) {
		c := n.Consent
		if c == nil {
			continue
		}
		if f.Operator.Key != 0 && c.RefuseKey == f.Operator.Key {
			l.warnAt(n.Pos, "consent %s refuses with %c, the operator key: a caller asking for an advisor during the notice refuses the recording", n.Name, c.RefuseKey)
		}
		for _, to := range []string{n.Next, c.OnRefuse} {
			m := f.Nodes[to]
			if to == "" || m == nil || m.Menu == nil {
				continue
			}
			if _, ok := m.Menu.Options[c.RefuseKey]; ok {
				l.warnAt(n.Pos, "consent %s refuses with %c, an option of menu %s right after it: a caller typing ahead refuses the recording", n.Name, c.RefuseKey, m.Name)
			}
		}
	}
}
