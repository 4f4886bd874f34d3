package media

import (
	"sync"
	"sync/atomic"
)

// link is one direction of a relay: what src's peer sends, written to
// dst's peer. The source's receive goroutine forwards under mu; Stop takes
// mu to mark it stopped, so once Stop returns nothing more goes through.
type link struct {
	dst Port

	mu      sync.Mutex
	stopped bool
	pk      relayPacket // the packet being forwarded
	m       streamMap

	packets, bytes, events, transcoded, dropped atomic.Uint64
}

// halt stops the link; once it returns, no packet goes through it.
func (l *link) halt() {
	l.mu.Lock()
	l.stopped = true
	l.pk = relayPacket{}
	l.mu.Unlock()
}

func (l *link) stats() RelayDirectionStats {
	l.mu.Lock()
	resyncs := l.m.resyncs
	l.mu.Unlock()
	return RelayDirectionStats{
		Packets:    l.packets.Load(),
		Bytes:      l.bytes.Load(),
		Events:     l.events.Load(),
		Transcoded: l.transcoded.Load(),
		Dropped:    l.dropped.Load(),
		Resyncs:    resyncs,
	}
}

// forward relays one packet the source port received from its peer: buf is
// the datagram (the source's read buffer, modified in place), its payload
// at buf[off:end]. It runs on the source's receive goroutine and does not
// allocate.
func (l *link) forward(h *RTPHeader, buf []byte, off, end int, event bool, codec Codec) {
	l.mu.Lock()
	if !l.stopped {
		l.pk = relayPacket{h: *h, buf: buf, off: off, end: end, event: event, codec: codec}
		l.dst.relayWrite(l)
		l.pk.buf = nil
	}
	l.mu.Unlock()
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

// drop counts a packet from the source's peer that was not relayed. A
// source calls it for payload types it does not relay.
func (l *link) drop() { l.dropped.Add(1) }
