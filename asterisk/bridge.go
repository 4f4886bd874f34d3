package asterisk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// externalPrefix starts the channel ids of application app's ExternalMedia
// channels, so that those left by an ivrd that stopped can be told from
// others.
func externalPrefix(app string) string { return "ivrd-xm-" + safeName(app, false) + "-" }

var _ ivr.Bridger = (*call)(nil)

// Bridge puts the caller in conversation with an agent's leg until either
// side hangs up: it returns nil when the leg ended and the cause of ctx
// when ctx ended (the caller hung up). It hangs up neither side and
// deletes neither channel: it destroys only the mixing bridge, and the
// caller's channel stays in the application, for the engine to hang up or
// go on with.
//
// The driver's own agents' legs (Dial) join the bridge as they are. A leg
// that is a media.Port (an agent in the browser) joins through an
// ExternalMedia channel whose RTP ivrd relays to it (see bridgePort). Other
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
		return c.bridgeChannel(ctx, l.id, l.done.c, nil)
	case media.Port:
		if c.d.cfg.Media == nil {
			return fmt.Errorf("bridge agent: no media endpoint configured for a %T: %w", leg, ivr.ErrCannotBridge)
		}
		return c.bridgePort(ctx, leg, l)
	case nil:
		return fmt.Errorf("bridge agent: no leg: %w", ivr.ErrCannotBridge)
	}
	return fmt.Errorf("bridge agent: leg %T: %w", leg, ivr.ErrCannotBridge)
}

// bridgePort bridges the caller to a media port: an ExternalMedia channel
// of Asterisk exchanges G.711 RTP (the port's codec if it has a Codec
// method, else μ-law) with a session of ivrd's media endpoint,
// which media.Bridge relays packet by packet to and from the port; the
// caller and the ExternalMedia channel share a mixing bridge. It ends as
// bridgeChannel does, or with an error when the relay fails on ivrd's side
// (the session timing out).
func (c *call) bridgePort(ctx context.Context, leg ivr.Leg, port media.Port) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	d := c.d
	s, err := d.cfg.Media.NewSession(c.log)
	if err != nil {
		return fmt.Errorf("bridge agent: open rtp session: %w", err)
	}
	defer s.Close()
	local := s.LocalAddr()
	host := d.cfg.MediaAddr
	if !host.IsValid() {
		host = local.Addr()
	}
	if host.IsUnspecified() {
		return fmt.Errorf("bridge agent: rtp bound to %v: set the address Asterisk reaches ivrd's rtp at", host)
	}
	id := newID(externalPrefix(d.cfg.App))
	entered := d.addExternal(id) // before it exists: it enters the application at once
	defer d.removeExternal(id)
	defer func() {
		// The ExternalMedia channel is ivrd's own: it goes with the bridge.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.RequestTimeout)
		defer cancel()
		if err := d.rest.hangup(hctx, id, "normal"); err != nil && !errors.Is(err, ErrNotFound) {
			c.log.Warn("hang up external media channel", "channel", id, "err", err)
		}
	}()
	// The ExternalMedia channel speaks the port's codec, when it says
	// which: the relay then passes packets through untouched.
	codec, format := media.CodecPCMU, "ulaw"
	if cp, ok := port.(interface{ Codec() media.Codec }); ok && cp.Codec().Name == media.CodecPCMA.Name {
		codec, format = media.CodecPCMA, "alaw"
	}
	ip, p, err := d.rest.externalMedia(ctx, id, d.cfg.App, netip.AddrPortFrom(host, local.Port()).String(), format)
	if err != nil {
		return c.bridgeFailed(ctx, leg.Done(), fmt.Errorf("bridge agent: create external media channel: %w", err))
	}
	remote, err := asteriskRTP(ip, p, d.cfg.URL)
	if err != nil {
		return fmt.Errorf("bridge agent: external media channel %s: %w", id, err)
	}
	// A channel joins a bridge once it runs in the application, which
	// Asterisk reports after answering the request.
	t := time.NewTimer(d.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case <-entered.c:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	case <-leg.Done():
		return nil
	case <-t.C:
		return fmt.Errorf("bridge agent: external media channel %s never entered the application", id)
	}
	if err := s.Start(remote, codec, 0); err != nil {
		return fmt.Errorf("bridge agent: %w", err)
	}
	relay, err := media.Bridge(s, port)
	if err != nil {
		return c.bridgeFailed(ctx, leg.Done(), fmt.Errorf("bridge agent: relay: %w", err))
	}
	defer relay.Stop()
	c.log.Info("agent's media relayed through external media", "channel", id, "codec", codec.Name, "rtp", local, "asterisk_rtp", remote)
	return c.bridgeChannel(ctx, id, leg.Done(), relay.Done())
}

// asteriskRTP is where an ExternalMedia channel receives RTP, from the
// UNICASTRTP_LOCAL_* variables Asterisk gives it. Asterisk bound to a
// wildcard address is reached at the host of ARI's URL.
func asteriskRTP(ip, port, ariURL string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("parse UNICASTRTP_LOCAL_ADDRESS %q: %w", ip, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}, fmt.Errorf("parse UNICASTRTP_LOCAL_PORT %q", port)
	}
	if a.IsUnspecified() {
		host := ariURL
		if i := strings.Index(host, "://"); i >= 0 {
			host = host[i+3:]
		}
		if i := strings.IndexByte(host, '/'); i >= 0 {
			host = host[:i]
		}
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ha, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("asterisk sends rtp from %v and its ARI host %q is not an address", a, host)
		}
		a = ha
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(n)), nil
}

// bridgeChannel puts the caller and channel in a mixing bridge of their
// own until legDone, ctx or the call ends, or until relayDone (if not nil)
// without legDone, then destroys the bridge.
func (c *call) bridgeChannel(ctx context.Context, channel string, legDone, relayDone <-chan struct{}) error {
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
	case <-relayDone:
		// The relay ends with the agent's port: the leg's end may be
		// reported a moment later.
		t := time.NewTimer(legGrace)
		defer t.Stop()
		select {
		case <-legDone:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
		return errors.New("bridge agent: the relay to the agent's leg ended")
	}
}

// legGrace is how long after its relay ended a media port's leg may take
// to report its end.
const legGrace = 500 * time.Millisecond

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
// driver creates: for agents, and for customers called back.
func (d *Driver) ownedChannelPrefixes() []string {
	return []string{agentPrefix(d.cfg.App), externalPrefix(d.cfg.App), callbackPrefix(d.cfg.App)}
}

// ownsChannel reports whether a channel the driver created belongs to a
// call of this driver, or to a callback in progress.
func (d *Driver) ownsChannel(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.agents[id] != nil || d.externals[id] != nil || d.dialouts[id] != nil || d.calls[id] != nil
}

func (d *Driver) addExternal(id string) *signal {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := newSignal()
	d.externals[id] = s
	return s
}

func (d *Driver) removeExternal(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.externals, id)
}

// isExternal reports whether a channel entering the application is one of
// the driver's ExternalMedia channels, which enter it without argument.
func (d *Driver) isExternal(e *ari.StasisStart) bool {
	return strings.HasPrefix(e.Channel.ID, externalPrefix(d.cfg.App))
}

// externalEntered notes an ExternalMedia channel entering the application;
// one no call of this ivrd made was left by an ivrd that stopped.
func (d *Driver) externalEntered(e *ari.StasisStart) {
	d.mu.Lock()
	s := d.externals[e.Channel.ID]
	d.mu.Unlock()
	if s == nil {
		d.hangupStale(e.Channel.ID, "hang up an external media channel no call made")
		return
	}
	s.fire()
}
