package asterisk

import (
	"context"
	"errors"
	"fmt"

	"github.com/ivrd/ivrd/ivr"
)

var _ ivr.Bridger = (*call)(nil)

// Bridge puts the caller in conversation with an agent's leg until either
// side hangs up: it returns nil when the leg ended and the cause of ctx
// when ctx ended (the caller hung up). It hangs up neither side and
// deletes neither channel: it destroys only the mixing bridge, and the
// caller's channel stays in the application, for the engine to hang up or
// go on with.
//
// The driver's own agents' legs (Dial) join the bridge as they are; other
// legs are refused with an error wrapping ivr.ErrCannotBridge.
func (c *call) Bridge(ctx context.Context, leg ivr.Leg) error {
	switch l := leg.(type) {
	case *agentLeg:
		if l.d != c.d {
			return fmt.Errorf("bridge agent: leg of another driver: %w", ivr.ErrCannotBridge)
		}
		if !l.answered.done() {
			return fmt.Errorf("bridge agent: %w", ErrNotAnswered)
		}
		return c.bridgeChannel(ctx, l.id, l.done.c)
	case nil:
		return fmt.Errorf("bridge agent: no leg: %w", ivr.ErrCannotBridge)
	}
	return fmt.Errorf("bridge agent: leg %T: %w", leg, ivr.ErrCannotBridge)
}

// bridgeChannel puts the caller and channel in a mixing bridge of their
// own until legDone, ctx or the call ends, then destroys the bridge.
func (c *call) bridgeChannel(ctx context.Context, channel string, legDone <-chan struct{}) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	// The engine stops the hold first; a holding bridge left would keep
	// the caller from joining this one.
	c.unhold()
	if err := c.Answer(ctx); err != nil {
		return c.bridgeFailed(ctx, legDone, err)
	}
	id := newID("ivrd-bridge-")
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return context.Cause(c.ctx)
	}
	// Known before it exists: the sweep of a reconnection leaves it alone.
	c.bridges = append(c.bridges, id)
	c.mu.Unlock()
	defer c.destroyBridge(id)

	d := c.d
	err := d.rest.createBridge(ctx, id, "mixing", agentBridgeName(d.cfg.App))
	if err == nil {
		err = d.rest.addChannel(ctx, id, c.id, "participant")
	}
	if err == nil {
		err = d.rest.addChannel(ctx, id, channel, "participant")
	}
	if err != nil {
		return c.bridgeFailed(ctx, legDone, fmt.Errorf("bridge agent in %s: %w", id, err))
	}
	c.log.Info("bridged to agent", "bridge", id, "agent_channel", channel)
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	case <-legDone:
		return nil
	}
}

// bridgeFailed returns what Bridge returns when the bridge could not be
// set up: the end of either side if that is why, else err.
func (c *call) bridgeFailed(ctx context.Context, legDone <-chan struct{}, err error) error {
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case c.ctx.Err() != nil:
		return context.Cause(c.ctx)
	case closed(legDone):
		return nil
	}
	return err
}

// destroyBridge destroys a mixing bridge of the call. Its channels go on
// in the application; the request goes out even once the call is over.
func (c *call) destroyBridge(id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.d.cfg.RequestTimeout)
	defer cancel()
	if err := c.d.rest.destroyBridge(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		c.log.Warn("destroy agent's bridge", "bridge", id, "err", err)
	} else {
		c.log.Info("agent's bridge destroyed", "bridge", id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range c.bridges {
		if b == id {
			c.bridges = append(c.bridges[:i], c.bridges[i+1:]...)
			break
		}
	}
}

// ownedChannelPrefixes are the prefixes of the ids of the channels the
// driver creates for agents.
func (d *Driver) ownedChannelPrefixes() []string {
	return []string{agentPrefix(d.cfg.App)}
}

// ownsChannel reports whether a channel created for agents belongs to a
// call of this driver.
func (d *Driver) ownsChannel(id string) bool {
	return d.agent(id) != nil
}
