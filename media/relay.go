package media

import (
	"cmp"
	"errors"
	"fmt"
	"sync"
)

// Relay bridges two ports (Bridge): what a's peer sends goes to b's peer
// and what b's peer sends goes to a's, each direction through a jitter
// queue that the destination's pacer empties one 20 ms frame per tick.
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
	Packets    uint64 // packets sent to the destination's peer: 20 ms audio frames and events
	Bytes      uint64 // their payload bytes
	Events     uint64 // RFC 4733 telephone-event packets among them
	Transcoded uint64 // audio frames converted between μ-law and A-law
	// Dropped counts packets from the source's peer not relayed: a payload
	// type the source did not negotiate, telephone events for a
	// destination that negotiated none, a duplicate or an audio packet
	// overtaken by a later one, a destination not sending (hold, not
	// connected yet); and frames the queue had but could not send (hold
	// since they were queued, a failed send).
	Dropped uint64
	// Underruns counts the ticks the jitter queue ran dry while it was
	// sending: nothing was sent then, and the audio resumed with the
	// marker bit once the queue filled again. Each talkspurt of the
	// source ends with one.
	Underruns uint64
	// Overflows counts the packets that found the queue full and dropped
	// its oldest audio.
	Overflows uint64
	// Trimmed counts the frames dropped to bring the latency back down
	// after the queue kept a frame it did not need for 5 s.
	Trimmed uint64
}

// Bridge relays a's and b's media to each other until Stop or until either
// port ends: the audio of the negotiated codec and RFC 4733 telephone
// events that each port receives from its peer (the only source it
// accepts) go to the other port's peer.
//
// Audio is re-paced, as by a media server's jitter buffer: each packet
// received is queued (relayqueue.go) and the pacer of the destination
// session sends one 20 ms frame per tick in the destination's own RTP
// stream, on the same clock as its prompts (its SSRC, its sequence
// numbers, timestamps of its 8 kHz tick clock), so that the destination's
// peer gets an even stream however bunched or late the source's packets
// came. Payloads pass untouched, or converted byte for byte when one leg
// is μ-law and the other A-law; packets of other lengths than 20 ms are
// re-framed. A WebRTC leg has no pacer: the session it is bridged to
// paces both directions. Telephone events go out at once, in the
// destination's stream, with the destination's negotiated event payload
// type (dropped if it has none).
//
// While bridged a Session sends no prompt (see Session.Play), keeps
// delivering its peer's key presses to its hooks and DTMF channel, and
// records on the right channel the frames its pacer sends to its peer. A
// port is in one relay at a time (ErrBridged); a Session must be started;
// one of the ports must be a Session (ErrNoPacer).
//
// Bridge starts one goroutine, which waits for the relay's end.
func Bridge(a, b Port) (*Relay, error) {
	if a == nil || b == nil {
		return nil, errors.New("bridge: nil port")
	}
	if a == b {
		return nil, fmt.Errorf("bridge: %w", ErrSamePort)
	}
	sa, _ := a.(*Session)
	sb, _ := b.(*Session)
	if sa == nil && sb == nil {
		return nil, fmt.Errorf("bridge: %w", ErrNoPacer)
	}
	r := &Relay{a: a, b: b, stop: make(chan struct{}), done: make(chan struct{})}
	r.ab.dst, r.ab.driver = b, cmp.Or(sb, sa)
	r.ba.dst, r.ba.driver = a, cmp.Or(sa, sb)
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

// Stop ends the relay and returns once no packet is relayed any more (the
// audio still queued is dropped). It is idempotent, and returns at once
// after the relay ended on its own. The ports stay up: each goes back to
// what it did before (a Session's pacer plays its prompts again).
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
