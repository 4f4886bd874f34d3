package media

import (
	"errors"
	"fmt"
	"sync"
)

// Relay forwards the media of two ports to each other (Bridge): what a's
// peer sends goes to b's peer and what b's peer sends goes to a's, packet
// by packet, as it arrives.
type Relay struct {
	a, b   Port
	ab, ba link

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// RelayStats are a relay's counters, per direction.
type RelayStats struct {
	AToB RelayDirectionStats // from a's peer to b's peer
	BToA RelayDirectionStats // from b's peer to a's peer
}

// RelayDirectionStats count one direction of a relay.
type RelayDirectionStats struct {
	Packets    uint64 // packets sent to the destination's peer, audio and events
	Bytes      uint64 // their payload bytes
	Events     uint64 // RFC 4733 telephone-event packets among them
	Transcoded uint64 // audio packets converted between μ-law and A-law
	// Dropped counts packets from the source's peer not relayed: a payload
	// type the source did not negotiate, telephone events for a
	// destination that negotiated none, a destination not sending (hold,
	// not connected yet) or a failed send.
	Dropped uint64
	// Resyncs counts the source streams the relay mapped into the
	// destination's stream: the first, then one per new SSRC or restarted
	// sequence or clock.
	Resyncs uint64
}

// Bridge relays a's and b's media to each other until Stop or until either
// port ends: the audio of the negotiated codec and RFC 4733 telephone
// events that each port receives from its peer (the only source it
// accepts) go to the other port's peer as they arrive, with no pacing and
// no goroutine per packet. Each packet is rewritten into the destination's
// own RTP stream (its SSRC; its sequence numbers and 8 kHz timestamps
// continuing from what it sent before; the marker bit on the first packet
// and after gaps), and its payload is passed through untouched, or
// converted byte for byte when one leg is μ-law and the other A-law.
// Telephone events take the destination's negotiated event payload type,
// or are dropped if it has none.
//
// While bridged a Session sends no prompt (see Session.Play), keeps
// delivering its peer's key presses to its hooks and DTMF channel, and
// records what is relayed to its peer on the right channel. A port is in
// one relay at a time (ErrBridged); a Session must be started.
//
// Bridge starts one goroutine, which waits for the relay's end.
func Bridge(a, b Port) (*Relay, error) {
	if a == nil || b == nil {
		return nil, errors.New("bridge: nil port")
	}
	if a == b {
		return nil, fmt.Errorf("bridge: %w", ErrSamePort)
	}
	r := &Relay{a: a, b: b, stop: make(chan struct{}), done: make(chan struct{})}
	r.ab.dst = b
	r.ba.dst = a
	if err := a.bindRelay(&r.ab, &r.ba); err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	if err := b.bindRelay(&r.ba, &r.ab); err != nil {
		r.ab.halt()
		r.ba.halt()
		a.unbindRelay(&r.ab, &r.ba)
		return nil, fmt.Errorf("bridge: %w", err)
	}
	go r.watch()
	a.portLog().Debug("relay started")
	return r, nil
}

// watch ends the relay when either port ends or Stop is called.
func (r *Relay) watch() {
	select {
	case <-r.a.portDone():
	case <-r.b.portDone():
	case <-r.stop:
	}
	r.ab.halt()
	r.ba.halt()
	r.a.unbindRelay(&r.ab, &r.ba)
	r.b.unbindRelay(&r.ba, &r.ab)
	st := r.Stats()
	r.a.portLog().Debug("relay stopped",
		"a_to_b", st.AToB.Packets, "b_to_a", st.BToA.Packets,
		"a_to_b_dropped", st.AToB.Dropped, "b_to_a_dropped", st.BToA.Dropped)
	close(r.done)
}

// Stop ends the relay and returns once no packet is relayed any more. It is
// idempotent, and returns at once after the relay ended on its own. The
// ports stay up: each goes back to what it did before (a Session's pacer
// plays its prompts again).
func (r *Relay) Stop() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

// Done is closed when the relay has stopped: Stop, or either port ended.
func (r *Relay) Done() <-chan struct{} { return r.done }

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{AToB: r.ab.stats(), BToA: r.ba.stats()}
}
