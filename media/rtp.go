package media

import (
	"encoding/binary"
	"fmt"
)

// RTPHeaderSize is the size of the fixed RTP header ivrd sends (no CSRC, no extension).
const RTPHeaderSize = 12

// RTPHeader is the part of an RTP header (RFC 3550) the media plane uses.
// Parsing accepts CSRC lists, header extensions and padding; marshalling
// always writes the 12-byte fixed header.
type RTPHeader struct {
	Marker         bool
	PayloadType    uint8
	SequenceNumber uint16
	Timestamp      uint32
	SSRC           uint32
}

// MarshalTo writes h as a version 2 RTP header into b and returns the number
// of bytes written (RTPHeaderSize).
func (h *RTPHeader) MarshalTo(b []byte) (int, error) {
	if len(b) < RTPHeaderSize {
		return 0, fmt.Errorf("marshal rtp header: buffer of %d bytes: %w", len(b), ErrShortPacket)
	}
	b[0] = 2 << 6
	b[1] = h.PayloadType & 0x7F
	if h.Marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], h.SequenceNumber)
	binary.BigEndian.PutUint32(b[4:8], h.Timestamp)
	binary.BigEndian.PutUint32(b[8:12], h.SSRC)
	return RTPHeaderSize, nil
}

// ParseRTP parses the RTP packet in b. It returns the header and the payload,
// a sub-slice of b without CSRCs, header extension or padding.
func ParseRTP(b []byte) (h RTPHeader, payload []byte, err error) {
	if len(b) < RTPHeaderSize {
		return h, nil, ErrShortPacket
	}
	if b[0]>>6 != 2 {
		return h, nil, ErrRTPVersion
	}
	padding := b[0]&0x20 != 0
	extension := b[0]&0x10 != 0
	csrcs := int(b[0] & 0x0F)

	h.Marker = b[1]&0x80 != 0
	h.PayloadType = b[1] & 0x7F
	h.SequenceNumber = binary.BigEndian.Uint16(b[2:4])
	h.Timestamp = binary.BigEndian.Uint32(b[4:8])
	h.SSRC = binary.BigEndian.Uint32(b[8:12])

	off := RTPHeaderSize + 4*csrcs
	if extension {
		// Extension header: 16-bit profile, 16-bit length in 32-bit words.
		if len(b) < off+4 {
			return h, nil, ErrShortPacket
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:off+4]))
	}
	if len(b) < off {
		return h, nil, ErrShortPacket
	}
	end := len(b)
	if padding {
		// The last byte counts the padding bytes, itself included.
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return h, nil, ErrShortPacket
		}
		end -= pad
	}
	return h, b[off:end], nil
}
