package sip

import (
	"context"
	"fmt"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

var _ ivr.Recordable = (*call)(nil)

// Record records the call through its media session: the caller's audio on
// the left channel, what ivrd plays on the right, one stereo frame per
// 20 ms tick of the session's pacer. The call must be answered and its
// media started. The recording ends when the returned Recorder is stopped
// or when the call ends (BYE either way, media timeout, shutdown), at that
// instant; Stop then still flushes and returns.
func (c *call) Record(ctx context.Context, sink ivr.RecordSink) (ivr.Recorder, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := context.Cause(c.ctx); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if !answered {
		return nil, fmt.Errorf("record: call not answered: %w", media.ErrNotStarted)
	}
	r, err := c.sess.Record(sink)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	// The call's context ends at BYE, before the handler returns and the
	// session closes: the recording must not go on meanwhile.
	unhook := context.AfterFunc(c.ctx, r.End)
	c.log.Debug("recording the call")
	return &recorder{Recorder: r, unhook: unhook}, nil
}

// recorder is a media recorder that also lets go of the call's context
// when stopped, so a call recorded several times keeps no stopped
// recorder referenced until it ends.
type recorder struct {
	*media.Recorder
	unhook func() bool
}

func (r *recorder) Stop(ctx context.Context) error {
	r.unhook()
	return r.Recorder.Stop(ctx)
}
