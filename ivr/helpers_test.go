package ivr_test

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const s = time.Second

// ms is a number of milliseconds, for readable tables.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func say(text string) ivr.Prompt { return ivr.Prompt{{Audio: &ivr.Audio{Text: text}}} }

// newFlow builds flow "main" starting at the first node. It adds an "agent"
// play node, the operator's target, unless one is given.
func newFlow(nodes ...*ivr.Node) *ivr.Flow {
	f := &ivr.Flow{
		Name:     "main",
		Version:  "v1",
		Language: "en",
		Entry:    nodes[0].Name,
		Operator: ivr.Operator{Key: '0', Goto: "agent"},
		Nodes:    map[string]*ivr.Node{},
	}
	for _, n := range nodes {
		f.Nodes[n.Name] = n
	}
	if _, ok := f.Nodes["agent"]; !ok {
		f.Nodes["agent"] = playNode("agent", "", false)
	}
	return f
}

// playNode plays its own name.
func playNode(name, next string, interruptible bool) *ivr.Node {
	return &ivr.Node{Name: name, Kind: ivr.KindPlay, Next: next,
		Play: &ivr.PlayNode{Prompt: say(name), Interruptible: interruptible}}
}

// input is an interruptible input prompting with text, with the default
// timeouts and tries, "invalid" and "no input" prompts.
func input(text string) ivr.Input {
	return ivr.Input{
		Prompt:            say(text),
		InvalidPrompt:     say("invalid"),
		NoInputPrompt:     say("no input"),
		Timeout:           5 * s,
		InterDigitTimeout: 3 * s,
		Tries:             3,
		Interruptible:     true,
	}
}

// menuNode prompts with its name; opts maps a key to a node.
func menuNode(name string, in ivr.Input, opts map[rune]string) *ivr.Node {
	m := &ivr.MenuNode{Input: in, Options: map[rune]ivr.MenuOption{}}
	for k, to := range opts {
		m.Options[k] = ivr.MenuOption{Goto: to}
	}
	return &ivr.Node{Name: name, Kind: ivr.KindMenu, Menu: m}
}

// salesMenu is the menu most tests use: 1 sales, 2 support.
func salesMenu(in ivr.Input) *ivr.Node {
	return menuNode("menu", in, map[rune]string{'1': "sales", '2': "support"})
}

func collectNode(name, next string, c ivr.CollectNode) *ivr.Node {
	return &ivr.Node{Name: name, Kind: ivr.KindCollect, Next: next, Collect: &c}
}

type press struct {
	at   time.Duration
	keys string
}

// scenario is a call to run in simulated time.
type scenario struct {
	flow         *ivr.Flow
	start        time.Time // clock start; zero: ivrtest.Epoch
	keys         []press
	hangupAt     time.Duration
	durations    map[string]time.Duration // prompt lengths by text; others last 1 s
	connectAfter time.Duration
	// talkFor is how long the agent talks before hanging up (0: until the
	// caller hangs up).
	talkFor time.Duration
	// cancelOnHangup makes the call's context end with this cause once the
	// engine hangs up, as the SIP driver does after its BYE.
	cancelOnHangup error
	// recordings, when set, is the engine's recordings store.
	recordings *ivrtest.MemRecordings
	// recordable serves an ivrtest.RecordableCall; recordErr makes its
	// Record fail.
	recordable bool
	recordErr  error
	// logger replaces the discarding logger.
	logger *slog.Logger
	// duringTalk runs once the call is bridged to its agent, before the
	// conversation goes on; it may move the clock.
	duringTalk func(*ivrtest.Clock, *ivrtest.RecordableCall)
}

type served struct {
	err   error
	plays []ivrtest.Play
	rec   ivr.CallRecord
	call  *ivrtest.Call
	rcall *ivrtest.RecordableCall // set when the scenario is recordable
	queue *ivrtest.Queue
	log   *ivrtest.MemCallLog
	eng   *ivr.Engine
}

// serve runs sc to its end on a fake clock.
func serve(t *testing.T, sc scenario) served {
	t.Helper()
	clock := ivrtest.NewClock(sc.start)
	var (
		call   *ivrtest.Call
		rcall  *ivrtest.RecordableCall
		target ivr.Call
	)
	if sc.recordable {
		rcall = ivrtest.NewRecordableCall(clock, "call-1", "+33612345678", "3000")
		rcall.RecordErr = sc.recordErr
		call, target = rcall.Call, rcall
	} else {
		call = ivrtest.NewCall(clock, "call-1", "+33612345678", "3000")
		target = call
	}
	maps.Copy(call.Durations, sc.durations)
	for _, p := range sc.keys {
		call.PressAt(p.at, p.keys)
	}
	q := ivrtest.NewQueue(clock)
	q.ConnectAfter = sc.connectAfter
	q.TalkFor = sc.talkFor
	calls := &ivrtest.MemCallLog{}
	set := &ivr.FlowSet{Flows: map[string]*ivr.Flow{"main": sc.flow}, Routes: ivr.Routes{Default: "main"}}
	logger := sc.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := []ivr.Option{ivr.WithClock(clock), ivr.WithQueue(q), ivr.WithCallLog(calls), ivr.WithLogger(logger)}
	if sc.recordings != nil {
		opts = append(opts, ivr.WithRecordings(sc.recordings))
	}
	eng := ivr.NewEngine(ivr.FlowsFunc(func() *ivr.FlowSet { return set }), opts...)

	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	if sc.cancelOnHangup != nil {
		call.OnHangup = func(string) { cancel(sc.cancelOnHangup) }
	}
	if sc.hangupAt > 0 {
		clock.At(sc.hangupAt, func() { cancel(ivr.ErrCallerHangup) })
	}
	onIdle := func(w ivr.Wait) error {
		if w.For == ivr.WaitTalk && sc.duringTalk != nil {
			sc.duringTalk(clock, rcall)
			sc.duringTalk = nil
		}
		if !clock.Step() {
			return ivrtest.ErrStalled
		}
		return nil
	}
	err := clock.Run(ctx, func(ctx context.Context) error { return eng.Serve(ctx, target, "test") }, onIdle)
	if eng.Active() != 0 {
		t.Errorf("Active() = %d after Serve returned, want 0", eng.Active())
	}
	rec, ok := calls.Last("call-1")
	if !ok {
		t.Fatal("no call record saved")
	}
	return served{err: err, plays: call.Plays(), rec: rec, call: call, rcall: rcall, queue: q, log: calls, eng: eng}
}

// results returns each node's visit results; repeated visits are joined by " | ".
func results(r ivr.CallRecord) map[string]string {
	out := map[string]string{}
	for _, v := range r.Visits {
		if prev, ok := out[v.Node]; ok {
			out[v.Node] = prev + " | " + v.Result
		} else {
			out[v.Node] = v.Result
		}
	}
	return out
}

// played is a finished play.
func played(text string, at, end time.Duration, stopped bool) ivrtest.Play {
	return ivrtest.Play{Text: text, At: at, End: end, Stopped: stopped}
}

func formatPlays(p []ivrtest.Play) string {
	var b strings.Builder
	for _, x := range p {
		b.WriteString("\n\t")
		b.WriteString(x.Text)
		b.WriteString(" ")
		b.WriteString(x.At.String())
		b.WriteString("-")
		b.WriteString(x.End.String())
		if x.Stopped {
			b.WriteString(" stopped")
		}
	}
	return b.String()
}

// check compares what a served call did with what a test wants; nil and
// empty wants are not checked.
func (sv served) check(t *testing.T, plays []ivrtest.Play, res map[string]string, outcome ivr.Outcome) {
	t.Helper()
	if sv.err != nil {
		t.Errorf("Serve: %v", sv.err)
	}
	if plays != nil && !slices.Equal(sv.plays, plays) {
		t.Errorf("plays:%s\nwant:%s", formatPlays(sv.plays), formatPlays(plays))
	}
	got := results(sv.rec)
	for node, want := range res {
		if got[node] != want {
			t.Errorf("node %q result = %q, want %q", node, got[node], want)
		}
	}
	if outcome != "" && sv.rec.Outcome != outcome {
		t.Errorf("outcome = %q, want %q", sv.rec.Outcome, outcome)
	}
}
