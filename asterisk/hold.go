package asterisk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// holdBridgeName names the holding bridges of application app, so that
// bridges left behind by an ivrd that stopped can be told from others.
func holdBridgeName(app string) string { return "ivrd-hold:" + app }

// hold is a caller waiting in a holding bridge of its own.
type hold struct {
	bridge string
	stop   chan struct{} // closed when the wait ends
	done   chan struct{} // closed when the announcer has returned
}

// Hold puts the caller, waiting in ivrd's shared queue, in a holding bridge
// of its own with the configured music-on-hold class, as Asterisk's Queue()
// would. The queue node's hold prompt, if any, is an announcement played
// into the bridge when the caller starts waiting, then again after every
// AnnounceEvery of music, each time as prompt resolves it then (it may say
// the caller's position). Keys still arrive as ChannelDtmfReceived events
// while the channel is in the bridge.
//
// The bridge is destroyed by stop, or when the call ends, whichever comes
// first, and after a restart by the sweep of the first connection.
func (c *call) Hold(ctx context.Context, prompt func() []ivr.Audio) (func(), error) {
	h := &hold{bridge: newID("ivrd-hold-"), stop: make(chan struct{}), done: make(chan struct{})}
	c.mu.Lock()
	switch {
	case c.ctx.Err() != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("hold: %w", context.Cause(c.ctx))
	case c.hold != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("hold: %w", ErrOnHold)
	}
	// Known before it exists: a call ending meanwhile destroys it.
	c.hold = h
	c.mu.Unlock()

	media := c.d.mediaURIs(c.log, prompt())
	err := c.d.rest.createBridge(ctx, h.bridge, "holding", holdBridgeName(c.d.cfg.App))
	if err == nil {
		err = c.d.rest.addChannel(ctx, h.bridge, c.id, "participant")
	}
	if err == nil && len(media) == 0 {
		err = c.d.rest.startMOH(ctx, h.bridge, c.d.cfg.MOHClass)
	}
	if err != nil {
		close(h.done)
		c.unhold()
		if cause := context.Cause(c.ctx); cause != nil {
			return nil, fmt.Errorf("hold: %w", cause)
		}
		return nil, fmt.Errorf("hold in bridge %s: %w", h.bridge, err)
	}
	if len(media) > 0 {
		go c.announce(h, media, prompt)
	} else {
		close(h.done)
	}
	c.log.Info("on hold", "bridge", h.bridge, "moh_class", c.d.cfg.MOHClass, "announcement", len(media) > 0)
	return sync.OnceFunc(c.unhold), nil
}

// holding reports whether the call waits in bridge.
func (c *call) holding(bridge string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hold != nil && c.hold.bridge == bridge
}

// announce plays the hold prompt into the bridge, then music on hold for
// AnnounceEvery, and again, resolved anew, until the wait or the call
// ends. A holding bridge mixes nothing: the music stops while the
// announcement plays.
func (c *call) announce(h *hold, media []string, prompt func() []ivr.Audio) {
	defer close(h.done)
	for first := true; ; first = false {
		if !first {
			if media = c.d.mediaURIs(c.log, prompt()); len(media) == 0 {
				c.music(h)
				return
			}
		}
		p := &playback{c: c, id: newID("ivrd-pb-"), done: make(chan struct{})}
		c.mu.Lock()
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		c.playbacks[p.id] = p // before the request: PlaybackFinished may come first
		c.mu.Unlock()
		if err := c.d.rest.playBridge(c.ctx, h.bridge, p.id, media); err != nil {
			c.forget(p.id)
			if c.ctx.Err() == nil {
				c.log.Warn("hold announcement; music only", "bridge", h.bridge, "err", err)
				c.music(h)
			}
			return
		}
		select {
		case <-p.done:
		case <-h.stop:
			p.Stop()
			c.forget(p.id)
			return
		}
		c.music(h)
		if c.d.cfg.AnnounceEvery <= 0 {
			return
		}
		t := time.NewTimer(c.d.cfg.AnnounceEvery)
		select {
		case <-t.C:
		case <-h.stop:
			t.Stop()
			return
		}
		if err := c.d.rest.stopMOH(c.ctx, h.bridge); err != nil && c.ctx.Err() == nil {
			c.log.Warn("stop music on hold", "bridge", h.bridge, "err", err)
		}
	}
}

// music starts music on hold in the bridge.
func (c *call) music(h *hold) {
	if err := c.d.rest.startMOH(c.ctx, h.bridge, c.d.cfg.MOHClass); err != nil && c.ctx.Err() == nil {
		c.log.Warn("start music on hold", "bridge", h.bridge, "err", err)
	}
}

// unhold ends the announcements, takes the channel out of its holding
// bridge and destroys the bridge. The channel leaves first, so that a
// prompt played next goes to the channel alone. The requests go out even
// once the call's context is done: the bridge must not outlive the call.
func (c *call) unhold() {
	c.mu.Lock()
	h := c.hold
	c.hold = nil
	c.mu.Unlock()
	if h == nil {
		return
	}
	close(h.stop)
	<-h.done
	ctx := context.WithoutCancel(c.ctx)
	if c.ctx.Err() == nil {
		if err := c.d.rest.removeChannel(ctx, h.bridge, c.id); err != nil && !errors.Is(err, ErrNotFound) {
			c.log.Warn("take off hold", "bridge", h.bridge, "err", err)
		}
	}
	if err := c.d.rest.destroyBridge(ctx, h.bridge); err != nil && !errors.Is(err, ErrNotFound) {
		c.log.Warn("destroy holding bridge", "bridge", h.bridge, "err", err)
		return
	}
	c.log.Info("off hold", "bridge", h.bridge)
}

// sweepBridges destroys the holding bridges and the agents' mixing bridges
// of this application that no call uses: those of an ivrd that stopped
// without destroying them.
func (d *Driver) sweepBridges(ctx context.Context) {
	list, err := d.rest.bridges(ctx)
	if err != nil {
		d.log.Warn("list bridges", "err", err)
		return
	}
	names := map[string]bool{holdBridgeName(d.cfg.App): true, agentBridgeName(d.cfg.App): true}
	d.mu.Lock()
	used := make(map[string]bool, len(d.calls))
	for _, c := range d.calls {
		c.mu.Lock()
		if c.hold != nil {
			used[c.hold.bridge] = true
		}
		for _, b := range c.bridges {
			used[b] = true
		}
		c.mu.Unlock()
	}
	d.mu.Unlock()
	for _, b := range list {
		if !names[b.Name] || used[b.ID] {
			continue
		}
		if err := d.rest.destroyBridge(ctx, b.ID); err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Warn("destroy stale bridge", "bridge", b.ID, "name", b.Name, "err", err)
			continue
		}
		d.log.Info("destroyed stale bridge", "bridge", b.ID, "name", b.Name, "channels", len(b.Channels))
	}
}
