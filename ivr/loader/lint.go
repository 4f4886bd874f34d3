package loader

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ivrd/ivrd/ivr"
)

// maxMenuOptions is the most choices a caller can keep in mind at once.
const maxMenuOptions = 5

// lint reports design mistakes that still load: they are warnings.
func (l *load) lint(pf *parsedFlow) {
	f := pf.flow
	hasInput := false
	for _, n := range sortedNodes(f) {
		switch {
		case n.Menu != nil:
			hasInput = true
			if len(n.Menu.Options) > maxMenuOptions {
				l.warnAt(n.Pos, "menu %s offers %d choices; callers remember at most %d, split it", n.Name, len(n.Menu.Options), maxMenuOptions)
			}
			if opt, ok := n.Menu.Options[f.Operator.Key]; ok && f.Operator.Key != 0 && opt.Goto != f.Operator.Goto {
				l.warnAt(n.Pos, "menu %s uses the operator key %c for %s instead of the operator", n.Name, f.Operator.Key, opt.Goto)
			}
		case n.Collect != nil:
			hasInput = true
		}
	}
	reach := reachable(pf)
	for _, n := range sortedNodes(f) {
		if !reach[n.Name] {
			l.warnAt(n.Pos, "node %s is unreachable", n.Name)
		}
	}
	for _, loop := range freeLoops(pf) {
		first := f.Nodes[loop[0]]
		l.warnAt(first.Pos, "nodes %s form a loop that never waits for a key: the call can go round forever", strings.Join(loop, ", "))
	}
	if hasInput && (f.Operator.Key == 0 || f.Operator.Goto == "") {
		queued := false
		for name := range reach {
			if f.Nodes[name] != nil && f.Nodes[name].Queue != nil {
				queued = true
			}
		}
		if !queued {
			l.warnAt(pf.namePos, "flow %s has menus but no way to an operator (no operator key and no queue)", f.Name)
		}
	}
	l.lintConsent(pf)
	seen := map[string]bool{}
	for _, u := range pf.varUses {
		if !pf.varSets[u.name] && !seen[u.name] {
			seen[u.name] = true
			l.warnAt(u.pos, "variable %q is never set in this flow", u.name)
		}
	}
}

func sortedNodes(f *ivr.Flow) []*ivr.Node {
	out := make([]*ivr.Node, 0, len(f.Nodes))
	for _, n := range f.Nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *ivr.Node) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// reachable returns the nodes a call can reach from the entry, counting the
// operator key as reachable from every menu and collect.
func reachable(pf *parsedFlow) map[string]bool {
	f := pf.flow
	next := map[string][]string{}
	for _, e := range pf.edges {
		if e.from != "" {
			next[e.from] = append(next[e.from], e.to)
		}
	}
	reach := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		if reach[name] || f.Nodes[name] == nil {
			return
		}
		reach[name] = true
		n := f.Nodes[name]
		if (n.Menu != nil || n.Collect != nil) && f.Operator.Key != 0 {
			visit(f.Operator.Goto)
		}
		for _, to := range next[name] {
			visit(to)
		}
	}
	visit(f.Entry)
	return reach
}

// freeLoops returns the cycles made only of edges that do not wait for a key
// (next, goto, branch, on_failure, on_timeout): the strongly connected
// components of that graph with a cycle in them, each listed from its first
// node in the file.
func freeLoops(pf *parsedFlow) [][]string {
	f := pf.flow
	next := map[string][]string{}
	self := map[string]bool{}
	for _, e := range pf.edges {
		if e.from == "" || e.input || f.Nodes[e.to] == nil {
			continue
		}
		next[e.from] = append(next[e.from], e.to)
		if e.from == e.to {
			self[e.from] = true
		}
	}
	// Tarjan's algorithm.
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var loops [][]string
	var strong func(string)
	strong = func(v string) {
		index[v] = len(index)
		low[v] = index[v]
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range next[v] {
			if _, seen := index[w]; !seen {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var comp []string
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		if len(comp) > 1 || self[v] {
			// A loop through a goto alone is caught by the engine's step
			// limit, but it is still a mistake worth flagging.
			loops = append(loops, comp)
		}
	}
	for _, n := range sortedNodes(f) {
		if _, seen := index[n.Name]; !seen {
			strong(n.Name)
		}
	}
	for _, comp := range loops {
		slices.SortFunc(comp, func(a, b string) int {
			return cmp.Or(cmp.Compare(f.Nodes[a].Pos.Line, f.Nodes[b].Pos.Line), cmp.Compare(a, b))
		})
	}
	slices.SortFunc(loops, func(a, b []string) int { return cmp.Compare(f.Nodes[a[0]].Pos.Line, f.Nodes[b[0]].Pos.Line) })
	return loops
}
