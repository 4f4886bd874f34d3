package sip

import (
	"context"
	"fmt"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

var _ ivr.Bridger = (*call)(nil)

// Bridge puts the caller in conversation with an agent's leg: the driver's
// own agent leg (an answered phone), or any media port such as a browser's
// WebRTC leg. media.Bridge relays RTP between the caller's session and the
// leg's packet by packet, in each leg's own stream, converting only when
// one is μ-law and the other A-law. It returns nil when the leg ended and
// the cause of ctx when ctx ended (the caller hung up); the relay stops as
// it returns, and neither side is hung up.
func (c *call) Bridge(ctx context.Context, leg ivr.Leg) error {
	var port media.Port
	switch l := leg.(type) {
	case *agentLeg:
		if l.srv != c.srv {
			return fmt.Errorf("bridge: agent leg of another server: %w", ivr.ErrCannotBridge)
		}
		select {
		case <-l.answered:
		default:
			return fmt.Errorf("bridge: %w", ErrNotAnswered)
		}
		port = l.sess
	case media.Port:
		port = l
	default:
		return fmt.Errorf("bridge: %T: %w", leg, ivr.ErrCannotBridge)
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if !answered {
		return fmt.Errorf("bridge: call not answered: %w", media.ErrNotStarted)
	}
	relay, err := media.Bridge(c.sess, port)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	defer func() {
		relay.Stop()
		st := relay.Stats()
		c.log.Info("bridge ended", "to_agent", st.AToB.Packets, "to_caller", st.BToA.Packets,
			"transcoded", st.AToB.Transcoded+st.BToA.Transcoded, "dropped", st.AToB.Dropped+st.BToA.Dropped)
	}()
	c.log.Info("bridged to agent")
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-leg.Done():
	case <-relay.Done():
		// A port ended: the leg's (it is ending) or the caller's (media
		// timeout, which ends the call's context too).
		select {
		case <-ctx.Done():
		case <-c.ctx.Done():
			return context.Cause(c.ctx)
		case <-leg.Done():
		}
	}
	// The caller's hang-up wins when both sides went together.
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
