package media

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// A Session is a Port: its receive goroutine queues what its peer sends in
// the relay's link to the other port, and its pacer sends the frames the
// other port's peer sent, through the session's own socket, send path and
// RTP stream.

func (s *Session) portDone() <-chan struct{} { return s.done }

func (s *Session) portLog() *slog.Logger { return s.log }

func (s *Session) bindRelay(out, in *link) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case !s.started.Load():
		return ErrNotStarted
	case s.relayOut.Load() != nil || s.relayIn.Load() != nil:
		return ErrBridged
	}
	s.relayIn.Store(in)
	s.relayOut.Store(out)
	return nil
}

func (s *Session) unbindRelay(out, in *link) {
	s.relayOut.CompareAndSwap(out, nil)
	if s.relayIn.CompareAndSwap(in, nil) {
		s.txMu.Lock()
		s.lastTick = -2 // the prompt's next packet starts a talkspurt
		s.txMu.Unlock()
	}
}

// Bridged reports whether the session is in a relay (Bridge).
func (s *Session) Bridged() bool { return s.relayIn.Load() != nil }

func (s *Session) relayAccepts() bool { return s.sending.Load() }

// relayTick sends the frame of pacer tick k from the relay's queue to the
// session's peer, in the session's stream as a prompt's frame would go:
// the next sequence number, the timestamp of tick k, the marker bit on the
// first frame after a gap. It returns the frame's samples when the session
// records, for the right channel; nil when nothing was sent.
func (s *Session) relayTick(in *link, k int64) []int16 {
	in.mu.Lock()
	defer in.mu.Unlock()
	p := s.peer.Load()
	payload := s.pkt[RTPHeaderSize:]
	ok, start, converted := in.frame(payload, p.codec)
	if !ok {
		return nil
	}
	if !s.sending.Load() {
		// On hold since the frame was queued: it is not sent.
		in.drop()
		return nil
	}
	s.txMu.Lock()
	h := RTPHeader{
		Marker:         start || s.lastTick != k-1,
		PayloadType:    p.codec.PayloadType,
		SequenceNumber: s.seq,
		Timestamp:      s.tsBase + uint32(k)*samplesPerFrame,
		SSRC:           s.ssrc,
	}
	h.MarshalTo(s.pkt[:])
	err := s.out.send(s.conn, s.pkt[:], p)
	if err == nil {
		s.seq++
		s.lastTick = k
	}
	s.txMu.Unlock()
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.log.Debug("send relayed rtp", "err", err)
		}
		in.drop()
		return nil
	}
	s.sent.Add(1)
	s.sentBytes.Add(samplesPerFrame)
	in.sent(samplesPerFrame, false, converted)
	if s.rec.Load() == nil {
		return nil
	}
	p.decode(s.heard[:], payload)
	return s.heard[:]
}

// relayEvent sends the telephone-event packet of in to the session's peer
// at once, with the peer's event payload type, the session's next sequence
// number and, for the event's timestamp, that of the frame due now.
func (s *Session) relayEvent(in *link) {
	pk := &in.pk
	p := s.peer.Load()
	if p.dtmfPT == 0 || !s.sending.Load() {
		in.drop()
		return
	}
	s.txMu.Lock()
	now := s.tsBase + uint32(s.pacer.due(time.Now()))*samplesPerFrame
	h := RTPHeader{
		Marker:         pk.h.Marker,
		PayloadType:    p.dtmfPT,
		SequenceNumber: s.seq,
		Timestamp:      in.eventTS(&pk.h, now),
		SSRC:           s.ssrc,
	}
	err := s.out.send(s.conn, pk.datagram(&h), p)
	if err == nil {
		s.seq++
	}
	s.txMu.Unlock()
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.log.Debug("send relayed rtp event", "err", err)
		}
		in.drop()
		return
	}
	n := len(pk.payload())
	s.sent.Add(1)
	s.sentBytes.Add(uint64(n))
	in.sent(n, true, false)
}

var _ Port = (*Session)(nil)
