package main

import (
	"context"
	"io"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// runSimulate runs flowName of set for a caller at the terminal, in
// simulated time: keys come from dtmf, or from lines read from in when
// interactive. It prints the prompts, the keys, the timeouts and how the
// call left the IVR to out.
func runSimulate(ctx context.Context, set *ivr.FlowSet, flowName string, dtmf string, interactive bool, in io.Reader, out io.Writer, opts ...simOption) error {
	term := &ivrtest.Terminal{Out: out, Keys: dtmf}
	for _, o := range opts {
		o(term)
	}
	if interactive {
		term.In = in
	}
	_, err := term.Run(ctx, set, flowName)
	return err
}

// simOption sets up the simulated call.
type simOption func(*ivrtest.Terminal)

// simAt starts the simulated call at t (business hours see this time).
func simAt(t time.Time) simOption { return func(term *ivrtest.Terminal) { term.Start = t } }

// simCaller sets the calling number.
func simCaller(c string) simOption { return func(term *ivrtest.Terminal) { term.Caller = c } }
