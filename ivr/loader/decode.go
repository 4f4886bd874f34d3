package loader

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ivrd/ivrd/ivr"
)

// The decoder walks yaml.Node trees itself rather than unmarshalling into
// structs: that is the only way to give every error a line and a column, and
// to report all errors of a file at once instead of the first.

// nodeBudget bounds the nodes visited in one file, so aliases that expand
// exponentially ("billion laughs") cannot stall a reload.
const nodeBudget = 200_000

type decoder struct {
	file   string
	diags  []ivr.Diagnostic
	budget int
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, budget: nodeBudget}
}

func (d *decoder) at(n *yaml.Node) ivr.Position {
	return ivr.Position{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.diags = append(d.diags, ivr.Diagnostic{Pos: d.at(n), Severity: ivr.SeverityError, Message: fmt.Sprintf(format, args...)})
}

// resolve follows aliases and charges the node budget. It returns nil when
// the budget is spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	d.budget--
	if d.budget == 0 {
		d.errorf(n, "document too complex (more than %d nodes after aliases)", nodeBudget)
	}
	if d.budget <= 0 {
		return nil
	}
	return n
}

// pair is one key: value of a mapping.
type pair struct {
	key, val *yaml.Node
}

// kindName describes a node for "expected X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected node"
}

// pairs returns the entries of a mapping in order, reporting duplicate keys.
// what names the mapping in messages.
func (d *decoder) pairs(n *yaml.Node, what string) ([]pair, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return nil, false
	}
	out := make([]pair, 0, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			return out, false
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be plain words, got %s", what, kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.errorf(k, "%s: merge keys (<<) are not supported", what)
			continue
		}
		if prev, ok := seen[k.Value]; ok {
			d.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	return out, true
}

// fields decodes a mapping whose keys must be among allowed.
func (d *decoder) fields(n *yaml.Node, what string, allowed ...string) (map[string]pair, bool) {
	ps, ok := d.pairs(n, what)
	if !ok {
		return nil, false
	}
	return d.known(ps, what, allowed...), true
}

// known indexes pairs by key, reporting keys not among allowed.
func (d *decoder) known(ps []pair, what string, allowed ...string) map[string]pair {
	out := make(map[string]pair, len(ps))
	for _, p := range ps {
		if !slices.Contains(allowed, p.key.Value) {
			d.errorf(p.key, "%s: unknown key %q (expected one of %s)", what, p.key.Value, strings.Join(allowed, ", "))
			continue
		}
		out[p.key.Value] = p
	}
	return out
}

// require reports a missing key of a mapping at the mapping's position.
func (d *decoder) require(n *yaml.Node, fs map[string]pair, what string, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if _, has := fs[k]; !has {
			d.errorf(n, "%s: missing key %q", what, k)
			ok = false
		}
	}
	return ok
}

// scalar returns the text of a scalar node; null is an error.
func (d *decoder) scalar(n *yaml.Node, what string) (string, bool) {
	n = d.resolve(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s: expected a value, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// text is a non-empty scalar.
func (d *decoder) text(n *yaml.Node, what string) (string, bool) {
	s, ok := d.scalar(n, what)
	if ok && strings.TrimSpace(s) == "" {
		d.errorf(n, "%s: must not be empty", what)
		return "", false
	}
	return s, ok
}

func (d *decoder) integer(n *yaml.Node, what string) (int, bool) {
	s, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		d.errorf(n, "%s: expected a whole number, got %q", what, s)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, what string) (bool, bool) {
	s, ok := d.scalar(n, what)
	if !ok {
		return false, false
	}
	switch s {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	d.errorf(n, "%s: expected true or false, got %q", what, s)
	return false, false
}

// duration parses a positive Go duration ("5s", "1m30s", "500ms").
func (d *decoder) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		d.errorf(n, "%s: bad duration %q (want e.g. 500ms, 5s, 2m)", what, s)
		return 0, false
	}
	return v, true
}

// list returns the items of a sequence.
func (d *decoder) list(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: expected a list, got %s", what, kindName(n))
		return nil, false
	}
	return n.Content, true
}

// strings decodes a list of scalars; a single scalar is a list of one.
func (d *decoder) strings(n *yaml.Node, what string) ([]string, bool) {
	r := d.resolve(n)
	if r == nil {
		return nil, false
	}
	if r.Kind == yaml.ScalarNode && r.Tag != "!!null" {
		return []string{r.Value}, true
	}
	items, ok := d.list(r, what)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := d.text(it, what)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// regex compiles an RE2 regular expression.
func (d *decoder) regex(n *yaml.Node, what string, anchored bool) (*regexp.Regexp, bool) {
	s, ok := d.text(n, what)
	if !ok {
		return nil, false
	}
	src := s
	if anchored {
		src = "^(?:" + s + ")$"
	}
	re, err := regexp.Compile(src)
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = string(se.Code)
		}
		d.errorf(n, "%s: bad regular expression %q: %s", what, s, msg)
		return nil, false
	}
	return re, true
}

// dtmfKey parses one key of a phone keypad.
func (d *decoder) dtmfKey(n *yaml.Node, what string) (rune, bool) {
	s, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	if r, ok := parseKey(s); ok {
		return r, true
	}
	d.errorf(n, "%s: %q is not a single phone key (0-9, *, #, A-D)", what, s)
	return 0, false
}

func parseKey(s string) (rune, bool) {
	if len(s) != 1 {
		return 0, false
	}
	r := rune(s[0])
	switch {
	case r >= '0' && r <= '9', r == '*', r == '#', r >= 'A' && r <= 'D':
		return r, true
	case r >= 'a' && r <= 'd':
		return r - 'a' + 'A', true
	}
	return 0, false
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// queueVars are the variables a queue sets while the call waits in it.
var queueVars = []string{ivr.VarQueuePosition, ivr.VarQueueEWT}

// nameRE is what node, flow, queue and calendar names may look like.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (d *decoder) name(n *yaml.Node, what string) (string, bool) {
	s, ok := d.text(n, what)
	if !ok {
		return "", false
	}
	if !nameRE.MatchString(s) {
		d.errorf(n, "%s: bad name %q (letters, digits, _ . - only)", what, s)
		return "", false
	}
	return s, true
}

// templateVars returns the variables a "${var}" template uses, or an error
// describing the first syntax error.
func templateVars(s string) ([]string, error) {
	var vars []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return vars, nil
		}
		s = s[i+2:]
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed ${")
		}
		v := s[:j]
		if !identRE.MatchString(v) && !slices.Contains(queueVars, v) && !slices.Contains(callbackVars, v) {
			return nil, fmt.Errorf("bad variable name %q", v)
		}
		vars = append(vars, v)
		s = s[j+1:]
	}
}
