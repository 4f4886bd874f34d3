package loader

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "time/tzdata" // calendars must not depend on the host's zoneinfo

	"github.com/ivrd/ivrd/ivr"
)

// EntrypointsFile is the file of the flows folder that maps numbers to flows.
const EntrypointsFile = "entrypoints.yaml"

// entrypoints is the decoded entrypoints.yaml.
type entrypoints struct {
	routes    ivr.Routes
	refs      []use // flow names used, with where
	calendars map[string]*ivr.Calendar
	calPos    map[string]ivr.Position
}

func parseEntrypoints(d *decoder, content []byte) *entrypoints {
	ep := &entrypoints{
		routes:    ivr.Routes{ByNumber: map[string]string{}},
		calendars: map[string]*ivr.Calendar{},
		calPos:    map[string]ivr.Position{},
	}
	root := d.document(content)
	if root == nil {
		return ep
	}
	fs, ok := d.fields(root, "entrypoints file", "entrypoints", "default", "calendars", "description")
	if !ok {
		return ep
	}
	if kv, has := fs["entrypoints"]; has {
		items, _ := d.list(kv.val, "entrypoints")
		numbers := map[string]ivr.Position{}
		for _, it := range items {
			e, ok := d.fields(it, "entrypoint", "number", "flow", "description")
			if !ok || !d.require(d.resolve(it), e, "entrypoint", "number", "flow") {
				continue
			}
			num, ok1 := d.text(e["number"].val, "number")
			flow, ok2 := d.name(e["flow"].val, "flow")
			if !ok1 || !ok2 {
				continue
			}
			if strings.ContainsAny(num, " \t") {
				d.errorf(e["number"].val, "number: %q must not contain spaces", num)
				continue
			}
			if prev, dup := numbers[num]; dup {
				d.errorf(e["number"].val, "number: %q already routed at line %d", num, prev.Line)
				continue
			}
			numbers[num] = d.at(e["number"].val)
			ep.routes.ByNumber[num] = flow
			ep.refs = append(ep.refs, use{flow, d.at(e["flow"].val)})
		}
	}
	if kv, has := fs["default"]; has {
		if flow, ok := d.name(kv.val, "default"); ok {
			ep.routes.Default = flow
			ep.refs = append(ep.refs, use{flow, d.at(kv.val)})
		}
	}
	if kv, has := fs["calendars"]; has {
		d.calendars(kv.val, ep.calendars, ep.calPos)
	}
	return ep
}

// Load parses, validates and lints every file of the flows folder, renders
// every `say:` prompt and the say-digits/say-number vocabulary of each flow's
// language (through the TTS cache), and returns a ready FlowSet.
//
// The diagnostics hold errors and warnings, sorted by position. When there is
// any error, Load returns a nil FlowSet and an error wrapping ErrInvalid;
// otherwise the warnings are also in FlowSet.Warnings.
func Load(ctx context.Context, opts Options) (*ivr.FlowSet, []ivr.Diagnostic, error) {
	l := &load{opts: opts, promptDir: opts.promptDir()}
	set := l.run(ctx)
	diags := dedupe(l.diags)
	var errs []ivr.Diagnostic
	var warns []ivr.Diagnostic
	for _, d := range diags {
		if d.Severity == ivr.SeverityError {
			errs = append(errs, d)
		} else {
			warns = append(warns, d)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, diags, fmt.Errorf("load flows: %w", context.Cause(ctx))
	}
	if len(errs) > 0 {
		more := ""
		if len(errs) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(errs)-1)
		}
		return nil, diags, fmt.Errorf("load flows: %w: %s%s", ErrInvalid, errs[0], more)
	}
	set.Warnings = warns
	return set, diags, nil
}

type load struct {
	opts      Options
	promptDir string
	diags     []ivr.Diagnostic
}

func (l *load) errorAt(pos ivr.Position, format string, args ...any) {
	l.diags = append(l.diags, ivr.Diagnostic{Pos: pos, Severity: ivr.SeverityError, Message: fmt.Sprintf(format, args...)})
}

func (l *load) warnAt(pos ivr.Position, format string, args ...any) {
	l.diags = append(l.diags, ivr.Diagnostic{Pos: pos, Severity: ivr.SeverityWarning, Message: fmt.Sprintf(format, args...)})
}

func (l *load) failed() bool {
	return slices.ContainsFunc(l.diags, func(d ivr.Diagnostic) bool { return d.Severity == ivr.SeverityError })
}

func (l *load) run(ctx context.Context) *ivr.FlowSet {
	dirPos := ivr.Position{File: l.opts.Dir}
	entries, err := os.ReadDir(l.opts.Dir)
	if err != nil {
		l.errorAt(dirPos, "read flows folder: %v", err)
		return nil
	}
	var ep *entrypoints
	var flows []*parsedFlow
	// unnamed counts flow files too broken to know their name: a route to
	// a flow not found may be a route to one of them.
	unnamed := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		ext := filepath.Ext(name)
		if ext != ".yaml" && ext != ".yml" {
			continue
		}
		path := filepath.Join(l.opts.Dir, name)
		content, err := os.ReadFile(path)
		if err != nil {
			l.errorAt(ivr.Position{File: path}, "read flow: %v", err)
			continue
		}
		d := newDecoder(path)
		if strings.TrimSuffix(name, ext) == strings.TrimSuffix(EntrypointsFile, ".yaml") {
			ep = safeParse(d, func() *entrypoints { return parseEntrypoints(d, content) })
		} else if pf := safeParse(d, func() *parsedFlow { return parseFlow(d, content, l.promptDir, l.opts.CheckAudio) }); pf != nil {
			flows = append(flows, pf)
		} else {
			unnamed++
		}
		l.diags = append(l.diags, d.diags...)
	}
	if ep == nil {
		l.errorAt(dirPos, "no %s: nothing says which flow answers which number", EntrypointsFile)
		ep = &entrypoints{calendars: map[string]*ivr.Calendar{}, calPos: map[string]ivr.Position{}}
	}
	set := &ivr.FlowSet{Flows: map[string]*ivr.Flow{}, Routes: ep.routes, LoadedAt: time.Now()}
	byName := map[string]*parsedFlow{}
	for _, pf := range flows {
		if prev, dup := byName[pf.flow.Name]; dup {
			l.errorAt(pf.namePos, "flow %q is already defined at %s", pf.flow.Name, prev.namePos)
			continue
		}
		byName[pf.flow.Name] = pf
		set.Flows[pf.flow.Name] = pf.flow
		l.validate(pf, ep)
	}
	routed := map[string]bool{}
	for _, r := range ep.refs {
		routed[r.name] = true
		if _, ok := byName[r.name]; !ok && unnamed == 0 {
			l.errorAt(r.pos, "unknown flow %q", r.name)
		}
	}
	l.checkTranslations(byName, unnamed)
	if len(flows) == 0 && !l.failed() {
		l.errorAt(dirPos, "no flow in the flows folder")
	}
	if l.failed() {
		return nil
	}
	for _, pf := range sortedFlows(byName) {
		l.lint(pf)
		if pf.translationOf != "" {
			l.lintTranslation(pf, byName[pf.translationOf], routed)
		}
	}
	l.render(ctx, sortedFlows(byName))
	return set
}

// safeParse turns a panic of the YAML library on hostile input into an
// error: one bad file must not take the server down on reload.
func safeParse[T any](d *decoder, parse func() *T) (out *T) {
	defer func() {
		if r := recover(); r != nil {
			d.diags = append(d.diags, ivr.Diagnostic{
				Pos: ivr.Position{File: d.file}, Severity: ivr.SeverityError,
				Message: fmt.Sprintf("bad YAML: %v", r),
			})
			out = nil
		}
	}()
	return parse()
}

// validate checks the references of a flow (nodes, calendars) and that
// nothing records before a consent node.
func (l *load) validate(pf *parsedFlow, ep *entrypoints) {
	f := pf.flow
	for name, c := range ep.calendars {
		if pos, local := pf.localCals[name]; local {
			l.errorAt(pos, "calendar %q is already defined at %s", name, ep.calPos[name])
			continue
		}
		f.Calendars[name] = c
	}
	for _, e := range pf.edges {
		if !pf.declared[e.to] {
			l.errorAt(e.pos, "unknown node %q", e.to)
		}
	}
	for _, u := range pf.callbackRefs {
		if n := f.Nodes[u.name]; n != nil && n.Kind != ivr.KindCallback {
			l.errorAt(u.pos, "callback: node %q is a %s node, not a callback node", u.name, n.Kind)
		}
	}
	for _, u := range pf.calUses {
		if _, ok := f.Calendars[u.name]; !ok {
			l.errorAt(u.pos, "unknown calendar %q", u.name)
		}
	}
	l.consentFirst(pf)
}

func sortedFlows(m map[string]*parsedFlow) []*parsedFlow {
	out := make([]*parsedFlow, 0, len(m))
	for _, pf := range m {
		out = append(out, pf)
	}
	slices.SortFunc(out, func(a, b *parsedFlow) int { return cmp.Compare(a.flow.Name, b.flow.Name) })
	return out
}

// dedupe sorts diagnostics by position and drops exact repeats (a default
// on_failure shared by many menus is reported once).
func dedupe(ds []ivr.Diagnostic) []ivr.Diagnostic {
	slices.SortStableFunc(ds, func(a, b ivr.Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(ds)
}
