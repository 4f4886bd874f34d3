package main

import (
	"context"
	"io"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// runSimulate runs flowName of set for a caller at the terminal, in
// simulated time: keys come from dtmf, or from lines read from in when
// interactive. It prints the prompts, the keys, the timeouts and how the
// call left the IVR to out.
func runSimulate(ctx context.Context, set *ivr.FlowSet, flowName string, dtmf string, interactive bool, in io.Reader, out io.Writer) error {
	term := &ivrtest.Terminal{Out: out, Keys: dtmf}
	if interactive {
		term.In = in
	}
	_, err := term.Run(ctx, set, flowName)
	return err
}
