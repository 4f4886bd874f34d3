package loader

import (
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/ivrd/ivrd/ivr"
)

// branch decodes a list of `- if: <cond>` / `goto: node` rules, the last of
// which may be `- else: node`.
func (p *flowParser) branch(name string, n *yaml.Node) []ivr.BranchRule {
	items, ok := p.list(n, "branch")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(p.resolve(n), "branch: needs at least one rule")
	}
	var rules []ivr.BranchRule
	for i, it := range items {
		fs, ok := p.fields(it, "branch rule", "if", "goto", "else")
		if !ok {
			continue
		}
		it = p.resolve(it)
		rule := ivr.BranchRule{Pos: p.at(it)}
		var target *yaml.Node
		if kv, has := fs["else"]; has {
			if _, hasIf := fs["if"]; hasIf {
				p.errorf(kv.key, "branch rule: else cannot have an if")
				continue
			}
			if g, hasGoto := fs["goto"]; hasGoto {
				p.errorf(g.key, "branch rule: else names its node itself (else: node)")
				continue
			}
			if i != len(items)-1 {
				p.errorf(kv.key, "branch rule: else must be the last rule")
			}
			target = kv.val
		} else {
			cond, hasIf := fs["if"]
			g, hasGoto := fs["goto"]
			if !hasIf || !hasGoto {
				p.errorf(it, "branch rule: needs if and goto (or else: node)")
				continue
			}
			rule.If = p.condition(cond.val)
			target = g.val
		}
		if to, ok := p.name(target, "goto"); ok {
			rule.Goto = to
			p.pf.edges = append(p.pf.edges, edge{from: name, to: to, pos: p.at(target)})
		}
		rules = append(rules, rule)
	}
	return rules
}

var (
	varTests  = []string{"equals", "in", "prefix", "match", "empty"}
	condKeys  = []string{"var", "equals", "in", "prefix", "match", "empty", "caller", "dialled", "open", "closed", "all", "any", "not", "callback_pending"}
	condGroup = []string{"var", "caller", "dialled", "open", "closed", "all", "any", "not", "callback_pending"}
)

// condition decodes one condition. It returns nil after reporting an error.
func (p *flowParser) condition(n *yaml.Node) *ivr.Condition {
	ps, ok := p.pairs(n, "condition")
	if !ok {
		return nil
	}
	n = p.resolve(n)
	fs := p.known(ps, "condition", condKeys...)
	var group *pair
	for i := range ps {
		kv := ps[i]
		if !slices.Contains(condGroup, kv.key.Value) {
			continue
		}
		if group != nil {
			p.errorf(kv.key, "condition: %s and %s cannot be combined (use all: or any:)", group.key.Value, kv.key.Value)
			return nil
		}
		group = &ps[i]
	}
	if group == nil {
		p.errorf(n, "condition: needs one of %s", joinOr(condGroup))
		return nil
	}
	c := &ivr.Condition{}
	switch g := group.key.Value; g {
	case "var":
		v, ok := p.text(group.val, "var")
		if !ok {
			return nil
		}
		if !identRE.MatchString(v) {
			p.errorf(group.val, "var: bad variable name %q", v)
			return nil
		}
		p.pf.varUses = append(p.pf.varUses, use{v, p.at(group.val)})
		c.Var = v
		if !p.varTest(c, n, fs) {
			return nil
		}
	case "caller", "dialled":
		// Sugar: {caller: {prefix: "+33"}} is {var: caller, prefix: "+33"}.
		if len(ps) != 1 {
			p.errorf(n, "condition: put the test inside %s:", g)
			return nil
		}
		sub, ok := p.fields(group.val, g, varTests...)
		if !ok {
			return nil
		}
		c.Var = g
		if !p.varTest(c, p.resolve(group.val), sub) {
			return nil
		}
	case "open", "closed":
		if !p.alone(n, ps, g) {
			return nil
		}
		cal, ok := p.name(group.val, g)
		if !ok {
			return nil
		}
		p.pf.calUses = append(p.pf.calUses, use{cal, p.at(group.val)})
		if g == "open" {
			c.Open = cal
		} else {
			c.Closed = cal
		}
	case "callback_pending":
		if !p.alone(n, ps, g) {
			return nil
		}
		q, ok := p.name(group.val, g)
		if !ok {
			return nil
		}
		c.CallbackPending = q
	case "all", "any":
		if !p.alone(n, ps, g) {
			return nil
		}
		items, ok := p.list(group.val, g)
		if !ok {
			return nil
		}
		if len(items) == 0 {
			p.errorf(p.resolve(group.val), "%s: needs at least one condition", g)
			return nil
		}
		subs := make([]ivr.Condition, 0, len(items))
		for _, it := range items {
			s := p.condition(it)
			if s == nil {
				return nil
			}
			subs = append(subs, *s)
		}
		if g == "all" {
			c.All = subs
		} else {
			c.Any = subs
		}
	case "not":
		if !p.alone(n, ps, g) {
			return nil
		}
		if c.Not = p.condition(group.val); c.Not == nil {
			return nil
		}
	}
	return c
}

// alone reports an error when a condition group has other keys beside it.
func (p *flowParser) alone(n *yaml.Node, ps []pair, g string) bool {
	for _, kv := range ps {
		if kv.key.Value != g {
			p.errorf(kv.key, "condition: %s does not go with %s", kv.key.Value, g)
			return false
		}
	}
	return true
}

// varTest decodes the one test of a variable condition.
func (p *flowParser) varTest(c *ivr.Condition, n *yaml.Node, fs map[string]pair) bool {
	var test *pair
	for _, t := range varTests {
		if kv, has := fs[t]; has {
			if test != nil {
				p.errorf(kv.key, "condition: %s and %s cannot be combined", test.key.Value, t)
				return false
			}
			test = &kv
		}
	}
	if test == nil {
		p.errorf(n, "condition: needs a test: %s", joinOr(varTests))
		return false
	}
	var ok bool
	switch test.key.Value {
	case "equals":
		var s string
		if s, ok = p.scalar(test.val, "equals"); ok {
			c.Equals = &s
		}
	case "in":
		c.In, ok = p.strings(test.val, "in")
	case "prefix":
		c.Prefix, ok = p.text(test.val, "prefix")
	case "match":
		c.Match, ok = p.regex(test.val, "match", false)
	case "empty":
		var b bool
		if b, ok = p.boolean(test.val, "empty"); ok {
			c.Empty = &b
		}
	}
	return ok
}

func joinOr(list []string) string {
	out := ""
	for i, s := range list {
		switch {
		case i == 0:
		case i == len(list)-1:
			out += " or "
		default:
			out += ", "
		}
		out += s
	}
	return out
}
