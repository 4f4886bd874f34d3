package media

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// A Session is a Port: its receive goroutine forwards what its peer sends
// to the relay, and the relay writes to its peer through the session's own
// socket, send path and RTP stream.

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
	s.relayIn.CompareAndSwap(in, nil)
}

// Bridged reports whether the session is in a relay (Bridge).
func (s *Session) Bridged() bool { return s.relayIn.Load() != nil }

// relayWrite sends the packet of l to the session's peer, in the session's
// stream: its SSRC, the sequence continuing from the last packet sent, the
// timestamp from its clock; audio converted to the peer's codec if need
// be, telephone events with the peer's event payload type.
func (s *Session) relayWrite(l *link) {
	pk := &l.pk
	p := s.peer.Load()
	payload := pk.payload()
	pt := p.codec.PayloadType
	transcoded := false
	if pk.event {
		if p.dtmfPT == 0 {
			l.drop()
			return
		}
		pt = p.dtmfPT
	} else {
		table, ok := transcodeTable(pk.codec, p.codec)
		if !ok {
			l.drop()
			return
		}
		if table != nil {
			transcode(table, payload)
			transcoded = true
		}
	}
	if !s.sending.Load() {
		// The peer holds the call: nothing is sent to it.
		l.drop()
		return
	}
	samples := uint32(len(payload))
	if pk.event {
		samples = 0
	}

	s.txMu.Lock()
	wall := s.tsBase + uint32(time.Since(s.pacer.start)/(time.Second/sampleRate))
	seq, ts, marker := l.m.next(&pk.h, samples, pk.event, wall, s.seq, s.nextTS)
	h := RTPHeader{Marker: marker, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: s.ssrc}
	err := s.out.send(s.conn, pk.datagram(&h), p)
	// The stream moves on even if the datagram was lost on the way.
	s.seq, s.nextTS = advance(s.seq, s.nextTS, seq, ts, samples)
	s.relayed = true
	s.lastTick = -2 // the pacer's next packet starts a talkspurt
	s.txMu.Unlock()

	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.log.Debug("send relayed rtp", "err", err)
		}
		l.drop()
		return
	}
	s.sent.Add(1)
	s.sentBytes.Add(uint64(len(payload)))
	l.sent(len(payload), pk.event, transcoded)
	if !pk.event {
		if r := s.rec.Load(); r != nil {
			r.feedRelayed(p.decode, payload)
		}
	}
}

var _ Port = (*Session)(nil)
