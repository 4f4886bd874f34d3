package media

import (
	"sync"
	"sync/atomic"
)

// maxMisorder is how far back (RFC 3550 A.1) an audio packet's sequence
// number may be from the newest queued before it counts as a stream that
// restarted rather than a duplicate or a packet overtaken.
const maxMisorder = 100

// link is one direction of a relay: what src's peer sends, written to
// dst's peer. The source's receive goroutine queues audio in q and
// forwards telephone events at once; the driver's pacer sends q's frames
// on its ticks. Each holds mu for its part, and Stop takes mu to mark the
// link stopped, so once Stop returns nothing more goes through.
type link struct {
	dst Port
	// driver is the session whose pacer sends the link's frames: the
	// destination, or the source when the destination has no pacer (a
	// WebRTC leg).
	driver *Session

	mu      sync.Mutex
	stopped bool
	q       relayQueue
	pk      relayPacket // the event being forwarded

	// The newest audio packet queued, to drop duplicates and packets
	// overtaken by a later one.
	haveSeq bool
	ssrc    uint32
	seq     uint16

	// The event being relayed: the source's stream and timestamp, and the
	// destination's timestamp for it.
	haveEvent bool
	evSSRC    uint32
	evSrcTS   uint32
	evDstTS   uint32

	packets, bytes, events, transcoded, dropped atomic.Uint64
}

// halt stops the link; once it returns, no packet goes through it.
func (l *link) halt() {
	l.mu.Lock()
	l.stopped = true
	l.pk = relayPacket{}
	l.q = relayQueue{}
	l.mu.Unlock()
}

func (l *link) stats() RelayDirectionStats {
	l.mu.Lock()
	underruns, overflows, trims := l.q.underruns, l.q.overflows, l.q.trims
	l.mu.Unlock()
	return RelayDirectionStats{
		Packets:    l.packets.Load(),
		Bytes:      l.bytes.Load(),
		Events:     l.events.Load(),
		Transcoded: l.transcoded.Load(),
		Dropped:    l.dropped.Load(),
		Underruns:  underruns,
		Overflows:  overflows,
		Trimmed:    trims,
	}
}

// audio queues an audio packet the source port received from its peer
// (payload in codec) for the driver's pacer. It runs on the source's
// receive goroutine and does not allocate.
func (l *link) audio(h *RTPHeader, payload []byte, codec Codec) {
	l.mu.Lock()
	switch {
	case l.stopped:
	case !l.dst.relayAccepts() || !l.inOrder(h):
		l.dropped.Add(1)
	default:
		l.q.push(payload, codec)
	}
	l.mu.Unlock()
}

// inOrder reports whether an audio packet comes after the newest one
// queued, and makes it the newest. A new SSRC, or a sequence number far
// behind, is a new stream.
func (l *link) inOrder(h *RTPHeader) bool {
	if l.haveSeq && h.SSRC == l.ssrc {
		if d := int16(h.SequenceNumber - l.seq); d <= 0 && d > -maxMisorder {
			return false
		}
	}
	l.haveSeq, l.ssrc, l.seq = true, h.SSRC, h.SequenceNumber
	return true
}

// event sends a telephone-event packet the source port received from its
// peer to the destination's peer at once: buf is the datagram (the
// source's read buffer, rewritten in place), its payload at buf[off:end].
// It runs on the source's receive goroutine and does not allocate.
func (l *link) event(h *RTPHeader, buf []byte, off, end int) {
	l.mu.Lock()
	if !l.stopped {
		l.pk = relayPacket{h: *h, buf: buf, off: off, end: end}
		l.dst.relayEvent(l)
		l.pk.buf = nil
	}
	l.mu.Unlock()
}

// eventTS returns the destination's timestamp for the event packet h:
// now, the timestamp of the destination's current frame, for the first
// packet of an event, and the same for the rest of that event (its
// updates and end packets carry the source's timestamp of its start).
// mu is held.
func (l *link) eventTS(h *RTPHeader, now uint32) uint32 {
	if !l.haveEvent || h.SSRC != l.evSSRC || h.Timestamp != l.evSrcTS {
		l.haveEvent, l.evSSRC, l.evSrcTS, l.evDstTS = true, h.SSRC, h.Timestamp, now
	}
	return l.evDstTS
}

// frame takes the frame of a pacer tick into dst, converted into the
// destination's codec to. It reports whether there was one, whether it
// starts the queue's output again (the marker bit), and whether it was
// converted. mu is held.
func (l *link) frame(dst []byte, to Codec) (ok, start, converted bool) {
	if l.stopped {
		return false, false, false
	}
	ok, start = l.q.pop(dst)
	if !ok {
		return false, false, false
	}
	table, ok := transcodeTable(l.q.codec, to)
	if !ok {
		l.drop()
		return false, false, false
	}
	if table != nil {
		transcode(table, dst[:samplesPerFrame])
	}
	return true, start, table != nil
}

// sent counts a packet relayed.
func (l *link) sent(payload int, event, transcoded bool) {
	l.packets.Add(1)
	l.bytes.Add(uint64(payload))
	if event {
		l.events.Add(1)
	}
	if transcoded {
		l.transcoded.Add(1)
	}
}

// drop counts a packet from the source's peer, or a frame of the queue,
// that was not relayed.
func (l *link) drop() { l.dropped.Add(1) }
