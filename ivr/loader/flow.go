package loader

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ivrd/ivrd/ivr"
)

// Built-in variables every call has.
var builtinVars = []string{"caller", "dialled", "call_id", "language"}

// Defaults of menu and collect settings.
const (
	defaultTimeout           = 5 * time.Second
	defaultInterDigitTimeout = 3 * time.Second
	defaultTries             = 3
	defaultMinDigits         = 1
	defaultMaxDigits         = 20
	defaultOperatorKey       = '0'
)

// edge is a reference from a node (or the flow itself: from "") to a node.
type edge struct {
	from string
	to   string
	pos  ivr.Position
	// input edges are taken only after the caller pressed keys (a menu
	// option, a collected entry); a loop made only of other edges never
	// waits for the caller.
	input bool
}

// use is a name used somewhere: a calendar, a variable.
type use struct {
	name string
	pos  ivr.Position
}

// fileUse is a `file:` part and where its recording was found.
type fileUse struct {
	name string
	pos  ivr.Position
	// shared is true when the file came from the prompts folder itself
	// rather than from the flow language's subfolder.
	shared bool
}

// sayRef is a `say:` part waiting to be rendered.
type sayRef struct {
	audio *ivr.Audio
	pos   ivr.Position
}

// parsedFlow is a decoded flow with what validation and lint need.
type parsedFlow struct {
	flow     *ivr.Flow
	namePos  ivr.Position
	langPos  ivr.Position
	entryPos ivr.Position
	// translationOf names the flow this one translates; translationPos is
	// where that name is written.
	translationOf  string
	translationPos ivr.Position
	edges          []edge
	calUses        []use
	callbackRefs   []use // queue nodes' callback: targets, which must be callback nodes
	varUses        []use
	varSets        map[string]bool
	says           []sayRef
	files          []fileUse
	localCals      map[string]ivr.Position
	// declared holds every node name written, even of nodes too broken to
	// keep, so a broken node is reported once, not at every reference.
	declared map[string]bool
	// operator is where the operator section is, zero when absent.
	operator ivr.Position
}

type flowParser struct {
	*decoder
	pf         *parsedFlow
	promptDir  string
	checkAudio func([]byte) error
	defaults   ivr.Input
	// failurePos is where defaults.on_failure was written.
	failurePos ivr.Position
}

var nodeKinds = []ivr.NodeKind{
	ivr.KindPlay, ivr.KindMenu, ivr.KindCollect, ivr.KindSet,
	ivr.KindBranch, ivr.KindGoto, ivr.KindQueue, ivr.KindHangup,
	ivr.KindConsent, ivr.KindRecord, ivr.KindCallback,
}

// parseFlow decodes one flow file. It returns nil when the file is too
// broken to say which flow it is.
func parseFlow(d *decoder, content []byte, promptDir string, checkAudio func([]byte) error) *parsedFlow {
	sum := sha256.Sum256(content)
	p := &flowParser{
		decoder:    d,
		promptDir:  promptDir,
		checkAudio: checkAudio,
		pf: &parsedFlow{
			flow: &ivr.Flow{
				File:      d.file,
				Version:   hex.EncodeToString(sum[:])[:12],
				Nodes:     map[string]*ivr.Node{},
				Calendars: map[string]*ivr.Calendar{},
			},
			varSets:   map[string]bool{},
			localCals: map[string]ivr.Position{},
			declared:  map[string]bool{},
		},
		defaults: ivr.Input{
			Timeout:           defaultTimeout,
			InterDigitTimeout: defaultInterDigitTimeout,
			Tries:             defaultTries,
			TypeAhead:         ivr.TypeAheadKeep,
			Interruptible:     true,
		},
	}
	for _, v := range slices.Concat(builtinVars, queueVars) {
		p.pf.varSets[v] = true
	}
	root := d.document(content)
	if root == nil {
		return nil
	}
	fs, ok := d.fields(root, "flow", "flow", "description", "language", "translation_of", "entry", "operator", "defaults", "calendars", "nodes")
	if !ok {
		return nil
	}
	f := p.pf.flow
	if !d.require(root, fs, "flow", "flow", "language", "entry", "nodes") {
		if _, has := fs["flow"]; !has {
			return nil
		}
	}
	if kv, has := fs["flow"]; has {
		f.Name, _ = d.name(kv.val, "flow")
		p.pf.namePos = d.at(kv.val)
	}
	if f.Name == "" {
		return nil
	}
	if kv, has := fs["language"]; has {
		p.pf.langPos = d.at(kv.val)
		if lang, ok := d.text(kv.val, "language"); ok {
			if _, supported := ivr.VocabularyText(lang); !supported {
				d.errorf(kv.val, "language: unsupported language %q (want fr or en)", lang)
			}
			f.Language = lang
		}
	}
	if kv, has := fs["translation_of"]; has {
		if orig, ok := d.name(kv.val, "translation_of"); ok {
			p.pf.translationOf = orig
			p.pf.translationPos = d.at(kv.val)
		}
	}
	if kv, has := fs["calendars"]; has {
		d.calendars(kv.val, f.Calendars, p.pf.localCals)
	}
	if kv, has := fs["defaults"]; has {
		p.parseDefaults(kv.val)
	}
	if kv, has := fs["entry"]; has {
		if entry, ok := d.name(kv.val, "entry"); ok {
			f.Entry = entry
			p.pf.entryPos = d.at(kv.val)
			p.pf.edges = append(p.pf.edges, edge{to: entry, pos: d.at(kv.val)})
		}
	}
	if kv, has := fs["operator"]; has {
		p.parseOperator(kv.val)
	}
	if kv, has := fs["nodes"]; has {
		p.parseNodes(kv.val)
	}
	return p.pf
}

// document parses YAML text and returns its root mapping node, or nil after
// reporting why.
func (d *decoder) document(content []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		d.diags = append(d.diags, yamlError(d.file, err))
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.diags = append(d.diags, ivr.Diagnostic{
			Pos: ivr.Position{File: d.file, Line: 1, Col: 1}, Severity: ivr.SeverityError, Message: "empty file",
		})
		return nil
	}
	return doc.Content[0]
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into a
// diagnostic at that line.
func yamlError(file string, err error) ivr.Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, tail
			}
		}
	}
	return ivr.Diagnostic{
		Pos:      ivr.Position{File: file, Line: line},
		Severity: ivr.SeverityError,
		Message:  "bad YAML: " + msg,
	}
}

func (p *flowParser) parseOperator(n *yaml.Node) {
	fs, ok := p.fields(n, "operator", "key", "goto")
	if !ok {
		return
	}
	p.pf.operator = p.at(p.resolve(n))
	op := &p.pf.flow.Operator
	op.Key = defaultOperatorKey
	disabled := false
	if kv, has := fs["key"]; has {
		if s, ok := p.scalar(kv.val, "operator key"); ok && s == "none" {
			op.Key, disabled = 0, true
		} else if ok {
			op.Key, _ = p.dtmfKey(kv.val, "operator key")
		}
	}
	kv, has := fs["goto"]
	if disabled && !has {
		return // key: none disables the operator: no goto to name
	}
	if !p.require(p.resolve(n), fs, "operator", "goto") {
		op.Key = 0
		return
	}
	// A goto left beside key: none must still name a node, but leads nowhere.
	if to, ok := p.name(kv.val, "operator goto"); ok {
		if !disabled {
			op.Goto = to
		}
		p.pf.edges = append(p.pf.edges, edge{to: to, pos: p.at(kv.val)})
	}
}

// inputKeys are the settings shared by menu and collect; defaultKeys those a
// flow's `defaults:` may set.
var (
	inputKeys = []string{
		"prompt", "retry_prompt", "invalid_prompt", "no_input_prompt", "timeout",
		"inter_digit_timeout", "tries", "on_failure", "typeahead", "interruptible",
	}
	defaultKeys = []string{
		"invalid_prompt", "no_input_prompt", "timeout", "inter_digit_timeout",
		"tries", "on_failure", "typeahead", "interruptible",
	}
)

func (p *flowParser) parseDefaults(n *yaml.Node) {
	fs, ok := p.fields(n, "defaults", defaultKeys...)
	if !ok {
		return
	}
	p.input(fs, &p.defaults)
	if kv, has := fs["on_failure"]; has {
		p.failurePos = p.at(kv.val)
	}
}

// input decodes menu and collect settings over in, which holds the defaults.
func (p *flowParser) input(fs map[string]pair, in *ivr.Input) {
	prompts := []struct {
		key string
		dst *ivr.Prompt
	}{
		{"prompt", &in.Prompt},
		{"retry_prompt", &in.RetryPrompt},
		{"invalid_prompt", &in.InvalidPrompt},
		{"no_input_prompt", &in.NoInputPrompt},
	}
	for _, pr := range prompts {
		if kv, has := fs[pr.key]; has {
			*pr.dst = p.prompt(kv.val, pr.key)
		}
	}
	if kv, has := fs["timeout"]; has {
		if v, ok := p.duration(kv.val, "timeout"); ok {
			in.Timeout = v
		}
	}
	if kv, has := fs["inter_digit_timeout"]; has {
		if v, ok := p.duration(kv.val, "inter_digit_timeout"); ok {
			in.InterDigitTimeout = v
		}
	}
	if kv, has := fs["tries"]; has {
		if v, ok := p.integer(kv.val, "tries"); ok {
			if v < 1 || v > 10 {
				p.errorf(kv.val, "tries: must be between 1 and 10, got %d", v)
			}
			in.Tries = v
		}
	}
	if kv, has := fs["on_failure"]; has {
		in.OnFailure, _ = p.name(kv.val, "on_failure")
	}
	if kv, has := fs["typeahead"]; has {
		if s, ok := p.scalar(kv.val, "typeahead"); ok {
			switch ta := ivr.TypeAhead(s); ta {
			case ivr.TypeAheadKeep, ivr.TypeAheadFlush:
				in.TypeAhead = ta
			default:
				p.errorf(kv.val, "typeahead: expected keep or flush, got %q", s)
			}
		}
	}
	if kv, has := fs["interruptible"]; has {
		if v, ok := p.boolean(kv.val, "interruptible"); ok {
			in.Interruptible = v
		}
	}
}

func (p *flowParser) parseNodes(n *yaml.Node) {
	ps, ok := p.pairs(n, "nodes")
	if !ok {
		return
	}
	if len(ps) == 0 {
		p.errorf(p.resolve(n), "nodes: a flow needs at least one node")
	}
	for _, kv := range ps {
		name, ok := p.name(kv.key, "node")
		if !ok {
			continue
		}
		p.pf.declared[name] = true
		if node := p.parseNode(name, kv); node != nil {
			p.pf.flow.Nodes[name] = node
		}
	}
}

// nodeKeys are the keys a node may have besides its kind.
var nodeKeys = []string{"next", "interruptible", "description"}

func (p *flowParser) parseNode(name string, kv pair) *ivr.Node {
	what := "node " + name
	allowed := append(slices.Clone(nodeKeys), kindStrings()...)
	ps, ok := p.pairs(kv.val, what)
	if !ok {
		return nil
	}
	fs := p.known(ps, what, allowed...)
	node := &ivr.Node{Name: name, Pos: p.at(kv.key)}
	var kindKey *yaml.Node
	// Walk the keys in file order so a second kind is reported where it is written.
	for _, e := range ps {
		if !slices.Contains(kindStrings(), e.key.Value) {
			continue
		}
		if kindKey != nil {
			p.errorf(e.key, "%s: has two kinds, %s and %s (a node does one thing)", what, kindKey.Value, e.key.Value)
			return nil
		}
		kindKey = e.key
	}
	if kindKey == nil {
		p.errorf(kv.key, "%s: missing kind (one of %s)", what, strings.Join(kindStrings(), ", "))
		return nil
	}
	node.Kind = ivr.NodeKind(kindKey.Value)
	val := fs[kindKey.Value].val
	switch node.Kind {
	case ivr.KindPlay:
		node.Play = &ivr.PlayNode{Prompt: p.prompt(val, "play"), Interruptible: p.defaults.Interruptible}
		if kv, has := fs["interruptible"]; has {
			node.Play.Interruptible, _ = p.boolean(kv.val, "interruptible")
		}
	case ivr.KindMenu:
		node.Menu = p.menu(name, val)
	case ivr.KindCollect:
		node.Collect = p.collect(name, val)
	case ivr.KindSet:
		node.Set = p.set(val)
	case ivr.KindBranch:
		node.Branch = p.branch(name, val)
	case ivr.KindGoto:
		if to, ok := p.name(val, "goto"); ok {
			node.Goto = to
			p.pf.edges = append(p.pf.edges, edge{from: name, to: to, pos: p.at(val)})
		}
	case ivr.KindQueue:
		node.Queue = p.queue(name, val)
	case ivr.KindHangup:
		node.Hangup = p.hangup(val)
	case ivr.KindConsent:
		node.Consent = p.consent(name, val, node.Pos)
	case ivr.KindRecord:
		node.Record = p.record(name, val)
	case ivr.KindCallback:
		node.Callback = p.callback(name, val, node.Pos)
	}
	if kv, has := fs["interruptible"]; has && node.Kind != ivr.KindPlay {
		p.errorf(kv.key, "%s: interruptible applies to play nodes; set it inside the %s", what, node.Kind)
	}
	if kv, has := fs["next"]; has {
		switch node.Kind {
		case ivr.KindPlay, ivr.KindSet, ivr.KindCollect, ivr.KindConsent, ivr.KindRecord, ivr.KindCallback:
			if to, ok := p.name(kv.val, "next"); ok {
				node.Next = to
				p.pf.edges = append(p.pf.edges, edge{from: name, to: to, pos: p.at(kv.val), input: node.Kind == ivr.KindCollect})
			}
		default:
			p.errorf(kv.key, "%s: a %s node has no next", what, node.Kind)
		}
	}
	return node
}

func kindStrings() []string {
	out := make([]string, len(nodeKinds))
	for i, k := range nodeKinds {
		out[i] = string(k)
	}
	return out
}

// inputNode decodes the shared settings of a menu or collect and records its
// failure edge.
func (p *flowParser) inputNode(name string, fs map[string]pair, n *yaml.Node, what string) ivr.Input {
	in := p.defaults
	p.input(fs, &in)
	if _, has := fs["prompt"]; !has {
		p.errorf(n, "%s: missing key %q", what, "prompt")
	}
	if kv, has := fs["on_failure"]; has {
		if in.OnFailure != "" {
			p.pf.edges = append(p.pf.edges, edge{from: name, to: in.OnFailure, pos: p.at(kv.val)})
		}
	} else if in.OnFailure != "" {
		p.pf.edges = append(p.pf.edges, edge{from: name, to: in.OnFailure, pos: p.failurePos})
	}
	return in
}

func (p *flowParser) menu(name string, n *yaml.Node) *ivr.MenuNode {
	what := "menu " + name
	fs, ok := p.fields(n, what, append(slices.Clone(inputKeys), "options")...)
	if !ok {
		return nil
	}
	n = p.resolve(n)
	m := &ivr.MenuNode{Input: p.inputNode(name, fs, n, what), Options: map[rune]ivr.MenuOption{}}
	kv, has := fs["options"]
	if !has {
		p.errorf(n, "%s: missing key %q", what, "options")
		return m
	}
	ps, ok := p.pairs(kv.val, "options")
	if !ok {
		return m
	}
	if len(ps) == 0 {
		p.errorf(p.resolve(kv.val), "options: a menu needs at least one option")
	}
	for _, o := range ps {
		key, ok := parseKey(o.key.Value)
		if !ok {
			p.errorf(o.key, "options: %q is not a single phone key (0-9, *, #, A-D)", o.key.Value)
			continue
		}
		if opt, ok := p.option(name, o.val); ok {
			m.Options[key] = opt
		}
	}
	return m
}

// option decodes `"1": node` or `"1": {goto: node, set: {var: value}}`.
func (p *flowParser) option(from string, n *yaml.Node) (ivr.MenuOption, bool) {
	var opt ivr.MenuOption
	r := p.resolve(n)
	if r == nil {
		return opt, false
	}
	target := r
	if r.Kind == yaml.MappingNode {
		fs, ok := p.fields(r, "option", "goto", "set")
		if !ok {
			return opt, false
		}
		if !p.require(r, fs, "option", "goto") {
			return opt, false
		}
		if kv, has := fs["set"]; has {
			opt.Set = p.set(kv.val)
		}
		target = fs["goto"].val
	}
	to, ok := p.name(target, "option")
	if !ok {
		return opt, false
	}
	opt.Goto = to
	p.pf.edges = append(p.pf.edges, edge{from: from, to: to, pos: p.at(target), input: true})
	return opt, true
}

func (p *flowParser) collect(name string, n *yaml.Node) *ivr.CollectNode {
	what := "collect " + name
	keys := append(slices.Clone(inputKeys), "var", "min_digits", "max_digits", "terminator", "pattern", "sensitive")
	fs, ok := p.fields(n, what, keys...)
	if !ok {
		return nil
	}
	n = p.resolve(n)
	c := &ivr.CollectNode{Input: p.inputNode(name, fs, n, what), MinDigits: defaultMinDigits, MaxDigits: defaultMaxDigits}
	if kv, has := fs["var"]; has {
		c.Var = p.setVar(kv.val)
	} else {
		p.errorf(n, "%s: missing key %q", what, "var")
	}
	if kv, has := fs["min_digits"]; has {
		if v, ok := p.integer(kv.val, "min_digits"); ok {
			if v < 1 {
				p.errorf(kv.val, "min_digits: must be at least 1, got %d", v)
			}
			c.MinDigits = v
		}
	}
	if kv, has := fs["max_digits"]; has {
		if v, ok := p.integer(kv.val, "max_digits"); ok {
			c.MaxDigits = v
			if v < c.MinDigits {
				p.errorf(kv.val, "max_digits: %d is less than min_digits %d", v, c.MinDigits)
			}
		}
	} else if c.MinDigits > c.MaxDigits {
		p.errorf(fs["min_digits"].val, "min_digits: %d is more than the default max_digits %d", c.MinDigits, c.MaxDigits)
	}
	if kv, has := fs["terminator"]; has {
		if k, ok := p.dtmfKey(kv.val, "terminator"); ok {
			if k >= '0' && k <= '9' {
				p.errorf(kv.val, "terminator: %q is a digit; use * or #", k)
			}
			c.Terminator = k
		}
	}
	if kv, has := fs["pattern"]; has {
		c.Pattern, _ = p.regex(kv.val, "pattern", true)
	}
	if kv, has := fs["sensitive"]; has {
		c.Sensitive, _ = p.boolean(kv.val, "sensitive")
	}
	return c
}

// setVar decodes the name of a variable the flow sets.
func (p *flowParser) setVar(n *yaml.Node) string {
	v, ok := p.text(n, "variable")
	if !ok {
		return ""
	}
	if !identRE.MatchString(v) {
		p.errorf(n, "variable: bad name %q (letters, digits and _ only)", v)
		return ""
	}
	if slices.Contains(builtinVars, v) {
		p.errorf(n, "variable: %q is built in and cannot be set", v)
		return ""
	}
	if v == ivr.VarConsent {
		p.errorf(n, "variable: %q is set by consent nodes only", v)
		return ""
	}
	p.pf.varSets[v] = true
	return v
}

// set decodes a map of variable -> template.
func (p *flowParser) set(n *yaml.Node) map[string]string {
	ps, ok := p.pairs(n, "set")
	if !ok {
		return nil
	}
	if len(ps) == 0 {
		p.errorf(p.resolve(n), "set: nothing to set")
	}
	out := make(map[string]string, len(ps))
	for _, kv := range ps {
		name := p.setVar(kv.key)
		val, ok := p.scalar(kv.val, "set "+kv.key.Value)
		if !ok || name == "" {
			continue
		}
		p.template(kv.val, val)
		out[name] = val
	}
	return out
}

// template checks a "${var}" template and records the variables it uses.
func (p *flowParser) template(n *yaml.Node, s string) {
	vars, err := templateVars(s)
	if err != nil {
		p.errorf(n, "template %q: %v", s, err)
		return
	}
	for _, v := range vars {
		p.pf.varUses = append(p.pf.varUses, use{v, p.at(n)})
	}
}

func (p *flowParser) queue(name string, n *yaml.Node) *ivr.QueueNode {
	what := "queue " + name
	fs, ok := p.fields(n, what, "name", "intent", "priority", "skills", "hold", "max_wait", "on_timeout", "record",
		"callback", "callback_key", "offer_callback_after", "callback_prompt")
	if !ok {
		return nil
	}
	n = p.resolve(n)
	q := &ivr.QueueNode{}
	if kv, has := fs["name"]; has {
		q.Queue, _ = p.name(kv.val, "queue name")
	} else {
		p.errorf(n, "%s: missing key %q", what, "name")
	}
	if kv, has := fs["intent"]; has {
		if s, ok := p.scalar(kv.val, "intent"); ok {
			p.template(kv.val, s)
			q.Intent = s
		}
	}
	if kv, has := fs["priority"]; has {
		q.Priority, _ = p.integer(kv.val, "priority")
	}
	if kv, has := fs["skills"]; has {
		q.Skills, _ = p.strings(kv.val, "skills")
	}
	if kv, has := fs["hold"]; has {
		q.Hold = p.prompt(kv.val, "hold")
	}
	wait, hasWait := fs["max_wait"]
	timeout, hasTimeout := fs["on_timeout"]
	switch {
	case hasWait && !hasTimeout:
		p.errorf(wait.key, "%s: max_wait needs on_timeout (where to go after the wait)", what)
	case hasTimeout && !hasWait:
		p.errorf(timeout.key, "%s: on_timeout needs max_wait", what)
	}
	if hasWait {
		q.MaxWait, _ = p.duration(wait.val, "max_wait")
	}
	if hasTimeout {
		if to, ok := p.name(timeout.val, "on_timeout"); ok {
			q.OnTimeout = to
			p.pf.edges = append(p.pf.edges, edge{from: name, to: to, pos: p.at(timeout.val)})
		}
	}
	if kv, has := fs["record"]; has {
		q.Record, _ = p.boolean(kv.val, "record")
	}
	p.queueCallback(name, fs, q, p.at(n))
	return q
}

func (p *flowParser) hangup(n *yaml.Node) *ivr.HangupNode {
	h := &ivr.HangupNode{}
	if r := p.resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		return h
	}
	fs, ok := p.fields(n, "hangup", "prompt", "reason")
	if !ok {
		return h
	}
	if kv, has := fs["prompt"]; has {
		h.Prompt = p.prompt(kv.val, "prompt")
	}
	if kv, has := fs["reason"]; has {
		h.Reason, _ = p.text(kv.val, "reason")
	}
	return h
}

// prompt decodes a prompt: text to speak, one part ({say: ...}, {file: ...}),
// or a list of texts and parts.
func (p *flowParser) prompt(n *yaml.Node, what string) ivr.Prompt {
	r := p.resolve(n)
	if r == nil {
		return nil
	}
	var out ivr.Prompt
	switch r.Kind {
	case yaml.ScalarNode:
		if r.Tag == "!!null" {
			p.errorf(r, "%s: empty prompt", what)
			return nil
		}
		out = p.sayPart(out, r)
	case yaml.MappingNode:
		out = p.parts(out, r)
	case yaml.SequenceNode:
		if len(r.Content) == 0 {
			p.errorf(r, "%s: empty prompt", what)
		}
		for _, it := range r.Content {
			it = p.resolve(it)
			if it == nil {
				return out
			}
			switch {
			case it.Kind == yaml.ScalarNode && it.Tag != "!!null":
				out = p.sayPart(out, it)
			case it.Kind == yaml.MappingNode:
				out = p.parts(out, it)
			default:
				p.errorf(it, "%s: expected text or a prompt part, got %s", what, kindName(it))
			}
		}
	default:
		p.errorf(r, "%s: expected a prompt, got %s", what, kindName(r))
	}
	return out
}

func (p *flowParser) parts(out ivr.Prompt, n *yaml.Node) ivr.Prompt {
	ps, ok := p.pairs(n, "prompt")
	if !ok {
		return out
	}
	if len(ps) == 0 {
		p.errorf(n, "prompt: empty prompt")
	}
	for _, kv := range ps {
		switch kv.key.Value {
		case "say":
			if v := p.resolve(kv.val); v != nil {
				out = p.sayPart(out, v)
			}
		case "file":
			out = p.filePart(out, kv.val)
		case "digits", "number":
			s, ok := p.text(kv.val, kv.key.Value)
			if !ok {
				continue
			}
			p.template(kv.val, s)
			if !strings.Contains(s, "${") && kv.key.Value == "number" {
				if _, err := strconv.Atoi(s); err != nil {
					p.errorf(kv.val, "number: %q is not a number", s)
				}
			}
			if kv.key.Value == "digits" {
				out = append(out, ivr.PromptPart{Digits: s})
			} else {
				out = append(out, ivr.PromptPart{Number: s})
			}
		case "silence":
			if d, ok := p.duration(kv.val, "silence"); ok {
				out = append(out, ivr.PromptPart{Audio: &ivr.Audio{Silence: d, ID: "silence-" + d.String()}})
			}
		case "sound":
			if s, ok := p.text(kv.val, "sound"); ok {
				out = append(out, ivr.PromptPart{Audio: &ivr.Audio{Sound: s, Text: s, ID: "sound-" + s}})
			}
		default:
			p.errorf(kv.key, "prompt: unknown key %q (expected one of say, file, digits, number, silence, sound)", kv.key.Value)
		}
	}
	return out
}

func (p *flowParser) sayPart(out ivr.Prompt, n *yaml.Node) ivr.Prompt {
	s, ok := p.text(n, "say")
	if !ok {
		return out
	}
	if strings.Contains(s, "${") {
		p.errorf(n, "say: %q uses a variable, but say: text is rendered when the flow loads; use digits: or number: parts", s)
		return out
	}
	a := &ivr.Audio{Text: strings.TrimSpace(s)}
	p.pf.says = append(p.pf.says, sayRef{a, p.at(n)})
	return append(out, ivr.PromptPart{Audio: a})
}

func (p *flowParser) filePart(out ivr.Prompt, n *yaml.Node) ivr.Prompt {
	name, ok := p.text(n, "file")
	if !ok {
		return out
	}
	if !filepath.IsLocal(name) {
		p.errorf(n, "file: %q must be a path inside the prompts folder", name)
		return out
	}
	path, b, shared, err := p.findPrompt(name)
	if err != nil {
		p.errorf(n, "file: %v", err)
		return out
	}
	if p.checkAudio != nil {
		if err := p.checkAudio(b); err != nil {
			p.errorf(n, "file: prompt file %q cannot be played: %v", name, err)
			return out
		}
	}
	p.pf.files = append(p.pf.files, fileUse{name: name, pos: p.at(n), shared: shared})
	sum := sha256.Sum256(b)
	return append(out, ivr.PromptPart{Audio: &ivr.Audio{
		Path: path,
		Text: "[" + name + "]",
		ID:   hex.EncodeToString(sum[:8]),
	}})
}

// findPrompt reads a prompt file from the flow language's subfolder of the
// prompts folder (prompts/en/NAME), else from the prompts folder itself
// (prompts/NAME), so a recording in the caller's language wins over a
// shared one. shared reports that the second was used.
func (p *flowParser) findPrompt(name string) (path string, content []byte, shared bool, err error) {
	var dirs []string
	if lang := p.pf.flow.Language; lang != "" && filepath.IsLocal(lang) {
		dirs = append(dirs, filepath.Join(p.promptDir, lang))
	}
	dirs = append(dirs, p.promptDir)
	for i, dir := range dirs {
		path = filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err == nil {
			return path, b, i == len(dirs)-1 && len(dirs) > 1, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", nil, false, fmt.Errorf("read prompt file %q: %w", name, err)
		}
	}
	err = fmt.Errorf("prompt file %q not found in %s", name, strings.Join(dirs, " or "))
	if others := p.otherLanguages(name); len(others) > 0 {
		err = fmt.Errorf("%w (only in %s: record it in %s)", err, strings.Join(others, ", "), dirs[0])
	}
	return "", nil, false, err
}

// otherLanguages lists the language subfolders of the prompts folder that
// hold name, for a hint when the flow's own language lacks it.
func (p *flowParser) otherLanguages(name string) []string {
	entries, err := os.ReadDir(p.promptDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == p.pf.flow.Language {
			continue
		}
		dir := filepath.Join(p.promptDir, e.Name())
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			out = append(out, dir)
		}
	}
	return out
}
