package media

import "encoding/binary"

// dtmfDigits maps RFC 4733 event codes 0-15 to keys.
const dtmfDigits = "0123456789*#ABCD"

// DigitEvent returns the RFC 4733 event code of a DTMF key, or ok false for
// a rune that is not one of 0-9 * # A-D.
func DigitEvent(digit rune) (event uint8, ok bool) {
	for i, d := range dtmfDigits {
		if d == digit {
			return uint8(i), true
		}
	}
	return 0, false
}

// reorderWindow is how far back (in 8 kHz timestamp units, 10 s) a packet
// timestamp may lie behind the current event and still be taken for a late
// packet of an older event rather than a sender that restarted its clock.
const reorderWindow = 10 * sampleRate

// DTMFDecoder turns RFC 4733 telephone-event packets into key presses.
//
// An event is identified by its RTP timestamp, which all packets of one
// event share: the first packet seen with a new timestamp yields the digit,
// and the repeated updates and the three end packets of the same event yield
// nothing. So a digit is reported as soon as its first packet arrives, once,
// even when that first packet was lost. Volume and duration play no part in
// detection.
//
// The zero value is ready to use. A DTMFDecoder is not safe for concurrent
// use; each RTP stream has its own.
type DTMFDecoder struct {
	started  bool
	ts       uint32 // timestamp of the current event
	event    uint8
	ended    bool   // an end packet of the current event was seen
	duration uint16 // longest duration seen for the current event
}

// Reset forgets the current event, as for a new RTP stream (new SSRC).
func (d *DTMFDecoder) Reset() { *d = DTMFDecoder{} }

// Feed takes an RTP packet's timestamp and telephone-event payload. It
// returns the digit the first time it sees a new event, ok false otherwise
// (repeat of a known event, late packet of an older one, an event that is
// not a DTMF key such as flash, or a malformed payload).
func (d *DTMFDecoder) Feed(timestamp uint32, payload []byte) (digit rune, ok bool) {
	if len(payload) < 4 {
		return 0, false
	}
	event := payload[0]
	end := payload[1]&0x80 != 0
	duration := binary.BigEndian.Uint16(payload[2:4])

	if d.started {
		delta := timestamp - d.ts
		switch {
		case delta == 0:
			// Another packet of the current event.
			d.ended = d.ended || end
			d.duration = max(d.duration, duration)
			return 0, false
		case int32(delta) < 0 && int32(delta) > -reorderWindow:
			// A late packet of an event already reported.
			return 0, false
		case !d.ended && event == d.event && delta <= uint32(d.duration):
			// A long event split in segments (RFC 4733 2.5.1.3): a new
			// timestamp within the running event continues it.
			d.ts, d.duration, d.ended = timestamp, duration, end
			return 0, false
		}
	}
	if int(event) >= len(dtmfDigits) {
		return 0, false
	}
	*d = DTMFDecoder{started: true, ts: timestamp, event: event, ended: end, duration: duration}
	return rune(dtmfDigits[event]), true
}

// AppendDTMFPayload appends a 4-byte telephone-event payload to b: event,
// end bit, volume (dBm0 below zero, 0-63) and duration in timestamp units.
func AppendDTMFPayload(b []byte, event uint8, end bool, volume uint8, duration uint16) []byte {
	flags := volume & 0x3F
	if end {
		flags |= 0x80
	}
	return binary.BigEndian.AppendUint16(append(b, event, flags), duration)
}
