package media

import "log/slog"

// Port is one side of a bridge: a call leg whose peer sends RTP that a
// Relay forwards to the other side, and to whose peer the Relay writes what
// the other side's peer sent. *Session and *WebRTCLeg are ports; the set is
// closed (the methods are unexported) because a relay writes into the
// port's own RTP stream and must know how it is sent.
type Port interface {
	// portDone is closed when the port ended (hang-up, media timeout,
	// Close): the relay stops with it.
	portDone() <-chan struct{}
	// portLog is the call's logger.
	portLog() *slog.Logger
	// bindRelay makes out the link the port's received packets go to and
	// in the link writing to its peer. It fails with ErrBridged when the
	// port is already in a relay, ErrClosed when it ended.
	bindRelay(out, in *link) error
	// unbindRelay undoes bindRelay; the links are stopped already.
	unbindRelay(out, in *link)
	// relayAccepts reports whether the port sends to its peer now: a
	// session not on hold, a WebRTC leg connected. Audio for a port that
	// does not is dropped as it arrives.
	relayAccepts() bool
	// relayTick sends the frame of tick k of in.driver's pacer from in's
	// queue to the port's peer, if there is one, and returns its samples
	// when the port records them. It runs on the pacer with in.mu free,
	// and does not allocate.
	relayTick(in *link, k int64) []int16
	// relayEvent sends in.pk, a telephone-event packet, to the port's peer
	// at once, in the port's own stream. It runs on the source port's
	// receive goroutine with in.mu held, and does not allocate.
	relayEvent(in *link)
}

// relayPacket is a telephone-event packet on its way through a link: the
// datagram as the source port received it, its payload at buf[off:end]
// with room for a fixed RTP header before off, so that the header is
// rewritten in place.
type relayPacket struct {
	h   RTPHeader // as received
	buf []byte
	off int
	end int
}

func (pk *relayPacket) payload() []byte { return pk.buf[pk.off:pk.end] }

// datagram writes hdr before the payload and returns the packet to send.
func (pk *relayPacket) datagram(hdr *RTPHeader) []byte {
	b := pk.buf[pk.off-RTPHeaderSize : pk.end]
	hdr.MarshalTo(b)
	return b
}
