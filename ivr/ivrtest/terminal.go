package ivrtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// Terminal runs a flow for a caller at a terminal, in simulated time: it
// prints each prompt as "▶ [node] text", takes the caller's keys from a
// script or from lines typed, lets timeouts pass at once, and prints how the
// call left the IVR.
type Terminal struct {
	Out io.Writer
	// Keys are the caller's keys, in order. Each is pressed when a menu or
	// collect first waits (during its prompt), as a caller who knows the
	// menus types ahead. After a consent notice, the next key is pressed
	// only if it is the refuse key; otherwise the caller stays on the line
	// and accepts.
	Keys string
	// In, when set, is read for more keys (one line at a time) whenever a
	// menu or collect waits for input, or a consent node for the refuse
	// key, and no scripted key is left; an empty line lets the timeout pass.
	In io.Reader
	// MaxDuration stops a simulation that runs longer in simulated time
	// (a flow that loops on no input). Default one hour.
	MaxDuration time.Duration
	// Start is the simulated time the call starts at, which business-hours
	// conditions see. Zero means Epoch.
	Start time.Time
	// Caller is the calling number. Default "simulator".
	Caller string
}

// simulatedEWT is the wait a simulated caller is told: routing's default
// handle time.
const simulatedEWT = 3 * time.Minute

// errCallerWaits ends a simulation once the call waits in a queue.
var errCallerWaits = errors.New("caller waits in queue")

// errTooLong ends a simulation that ran past MaxDuration.
var errTooLong = errors.New("simulation too long")

// promptLength estimates a prompt's length from its text.
func promptLength(a ivr.Audio) time.Duration {
	if a.Silence > 0 {
		return a.Silence
	}
	return max(500*time.Millisecond, time.Duration(len(a.Text))*60*time.Millisecond)
}

// Run simulates one call to the named flow of set and returns its record.
func (t *Terminal) Run(ctx context.Context, set *ivr.FlowSet, flow string) (ivr.CallRecord, error) {
	f, ok := set.Flows[flow]
	if !ok {
		return ivr.CallRecord{}, fmt.Errorf("simulate flow %q: %w", flow, ivr.ErrNoFlow)
	}
	only := &ivr.FlowSet{Flows: map[string]*ivr.Flow{flow: f}, Routes: ivr.Routes{Default: flow}}
	clock := NewClock(t.Start)
	caller := t.Caller
	if caller == "" {
		caller = "simulator"
	}
	call := NewCall(clock, "simulation", caller, "simulate")
	call.Length = promptLength
	queue := NewQueue(clock)
	// A simulated caller is first in line, with the estimate an empty
	// queue gives (routing's default handle time, one agent).
	queue.Position = ivr.QueuePosition{Position: 1, EWT: simulatedEWT}
	calls := &MemCallLog{}
	eng := ivr.NewEngine(ivr.FlowsFunc(func() *ivr.FlowSet { return only }),
		ivr.WithClock(clock), ivr.WithQueue(queue), ivr.WithCallLog(calls),
		ivr.WithOriginator(NewOriginator(clock)), ivr.WithLogger(slog.New(slog.DiscardHandler)))

	limit := t.MaxDuration
	if limit <= 0 {
		limit = time.Hour
	}
	var lines *bufio.Scanner
	if t.In != nil {
		lines = bufio.NewScanner(t.In)
	}
	keys := []rune(t.Keys)
	printed := 0
	show := func(node string) {
		plays := call.Plays()
		for _, p := range plays[printed:] {
			fmt.Fprintf(t.Out, "▶ [%s] %s\n", node, p.Text)
		}
		printed = len(plays)
	}

	serve := func(ctx context.Context) error { return eng.Serve(ctx, call, "simulate") }
	err := clock.Run(ctx, serve, func(w ivr.Wait) error {
		show(w.Node)
		if clock.Elapsed() > limit {
			return errTooLong
		}
		input := w.Kind == ivr.KindMenu || w.Kind == ivr.KindCollect
		answer := w.For == ivr.WaitAnswer // after a consent notice
		asks := input && (w.For == ivr.WaitInput || w.For == ivr.WaitDigits) || answer
		if asks && len(keys) == 0 && lines != nil {
			fmt.Fprint(t.Out, "  keys> ")
			if lines.Scan() {
				keys = []rune(strings.TrimSpace(lines.Text()))
			} else {
				lines = nil // end of input: no more keys
				fmt.Fprintln(t.Out)
			}
		}
		if answer && len(keys) > 0 && keys[0] == refuseKey(f, w.Node) {
			input = true // the caller refuses
		}
		if input && len(keys) > 0 {
			fmt.Fprintf(t.Out, "  ⌨ %c\n", keys[0])
			call.Press(string(keys[0]))
			keys = keys[1:]
			return nil
		}
		switch w.For {
		case ivr.WaitAnswer:
			fmt.Fprintf(t.Out, "… stays on the line (%s)\n", w.Timeout)
		case ivr.WaitHold:
			if len(keys) > 0 {
				// A key on hold: the operator or callback key.
				fmt.Fprintf(t.Out, "  ⌨ %c (on hold)\n", keys[0])
				call.Press(string(keys[0]))
				keys = keys[1:]
				return nil
			}
			return errCallerWaits
		case ivr.WaitInput:
			fmt.Fprintf(t.Out, "… no input (%s)\n", w.Timeout)
		case ivr.WaitDigits:
			fmt.Fprintf(t.Out, "… no more digits (%s)\n", w.Timeout)
		}
		if !clock.Step() {
			return ErrStalled
		}
		return nil
	})
	show("end")
	rec, _ := calls.Last(call.ID())
	if errors.Is(err, errTooLong) || errors.Is(err, ErrStalled) {
		return rec, fmt.Errorf("simulate flow %q: %w", flow, err)
	}
	if contacts := queue.Contacts(); len(contacts) > 0 && rec.Outcome == ivr.OutcomeAbandoned {
		t.printContact(contacts[len(contacts)-1])
		return rec, nil
	}
	if err != nil {
		fmt.Fprintf(t.Out, "■ error: %v\n", err)
		return rec, err
	}
	fmt.Fprintf(t.Out, "■ %s\n", rec.Outcome)
	return rec, nil
}

// refuseKey is the refuse key of a consent node.
func refuseKey(f *ivr.Flow, node string) rune {
	if n := f.Nodes[node]; n != nil && n.Consent != nil && n.Consent.RefuseKey != 0 {
		return n.Consent.RefuseKey
	}
	return ivr.DefaultRefuseKey
}

func (t *Terminal) printContact(c ivr.Contact) {
	fmt.Fprintf(t.Out, "⇒ queue %q: intent %q, priority %d, skills [%s], language %s\n",
		c.Queue, c.Intent, c.Priority, strings.Join(c.Skills, " "), c.Language)
	for _, k := range slices.Sorted(maps.Keys(c.Vars)) {
		fmt.Fprintf(t.Out, "    %s = %s\n", k, c.Vars[k])
	}
}
