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
	// relayWrite sends l.pk to the port's peer in the port's own stream.
	// It runs on the source port's receive goroutine with l.mu held, and
	// does not allocate.
	relayWrite(l *link)
}

// relayPacket is one packet on its way through a link: the datagram as the
// source port received it, its payload at buf[off:end] with room for a
// fixed RTP header before off, so that the header is rewritten and the
// payload converted in place.
type relayPacket struct {
	h     RTPHeader // as received
	buf   []byte
	off   int
	end   int
	event bool  // RFC 4733 telephone-event, else audio of codec
	codec Codec // the source's codec for this packet (audio)
}

func (pk *relayPacket) payload() []byte { return pk.buf[pk.off:pk.end] }

// datagram writes hdr before the payload and returns the packet to send.
func (pk *relayPacket) datagram(hdr *RTPHeader) []byte {
	b := pk.buf[pk.off-RTPHeaderSize : pk.end]
	hdr.MarshalTo(b)
	return b
}
