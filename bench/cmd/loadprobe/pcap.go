package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// A capture file as tcpdump -w writes it (libpcap's classic format): a
// 24-byte file header, then per packet a 16-byte record header and the
// captured bytes. Only what the bench captures is decoded: UDP over IPv4
// or IPv6, on Ethernet (loopback), Linux cooked (any), or raw IP links.

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d

	linkNull     = 0
	linkEthernet = 1
	linkRaw      = 101
	linkLinuxSLL = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276

	// maxSnap bounds a record's captured length: a corrupt length must not
	// make the reader allocate gigabytes.
	maxSnap = 1 << 18
)

var errNotPcap = errors.New("not a pcap file (pcapng is not read: capture with tcpdump -w)")

// udpPacket is one UDP datagram of a capture. Payload is valid until the
// next call to next (it is the reader's buffer).
type udpPacket struct {
	At       time.Time
	Src, Dst netip.AddrPort
	Payload  []byte
	// Truncated: the capture kept less than the datagram (snap length).
	Truncated bool
}

// pcapReader reads the UDP datagrams of a capture file in order.
type pcapReader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	nano  bool
	link  uint32
	hdr   [16]byte
	buf   []byte
}

func newPcapReader(r io.Reader) (*pcapReader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var h [24]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("read pcap header: %w", err)
	}
	p := &pcapReader{r: br}
	switch {
	case binary.LittleEndian.Uint32(h[:]) == pcapMagicMicro:
		p.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h[:]) == pcapMagicNano:
		p.order, p.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[:]) == pcapMagicMicro:
		p.order = binary.BigEndian
	case binary.BigEndian.Uint32(h[:]) == pcapMagicNano:
		p.order, p.nano = binary.BigEndian, true
	default:
		return nil, errNotPcap
	}
	// The link type is the low 16 bits (the high ones hold FCS flags).
	p.link = p.order.Uint32(h[20:]) & 0xffff
	switch p.link {
	case linkNull, linkEthernet, linkRaw, linkLinuxSLL, linkIPv4, linkIPv6, linkSLL2:
	default:
		return nil, fmt.Errorf("read pcap header: link type %d not supported", p.link)
	}
	return p, nil
}

// next returns the next UDP datagram, skipping every other packet, or
// io.EOF at the end of the file. A file cut short in its last record (a
// capture stopped while writing) ends cleanly.
func (p *pcapReader) next() (udpPacket, error) {
	for {
		if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return udpPacket{}, err
		}
		sec, frac := p.order.Uint32(p.hdr[0:]), p.order.Uint32(p.hdr[4:])
		caplen, origlen := p.order.Uint32(p.hdr[8:]), p.order.Uint32(p.hdr[12:])
		if caplen > maxSnap {
			return udpPacket{}, fmt.Errorf("read pcap record: captured length %d", caplen)
		}
		if cap(p.buf) < int(caplen) {
			p.buf = make([]byte, caplen, max(caplen, 2048))
		}
		p.buf = p.buf[:caplen]
		if _, err := io.ReadFull(p.r, p.buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return udpPacket{}, err
		}
		ns := int64(frac)
		if !p.nano {
			ns *= 1000
		}
		pk, ok := decodeUDP(p.link, p.buf, p.order)
		if !ok {
			continue
		}
		pk.At = time.Unix(int64(sec), ns)
		pk.Truncated = pk.Truncated || origlen > caplen
		return pk, nil
	}
}

// decodeUDP finds the UDP datagram in a captured frame of the link type.
func decodeUDP(link uint32, b []byte, order binary.ByteOrder) (udpPacket, bool) {
	var ethertype uint16
	switch link {
	case linkEthernet:
		if len(b) < 14 {
			return udpPacket{}, false
		}
		ethertype, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		for ethertype == 0x8100 && len(b) >= 4 { // 802.1Q tag
			ethertype, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case linkLinuxSLL:
		if len(b) < 16 {
			return udpPacket{}, false
		}
		ethertype, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	case linkSLL2:
		if len(b) < 20 {
			return udpPacket{}, false
		}
		ethertype, b = binary.BigEndian.Uint16(b[0:]), b[20:]
	case linkNull:
		if len(b) < 4 {
			return udpPacket{}, false
		}
		// The address family, in the byte order of the capturing host.
		switch order.Uint32(b) {
		case 2:
			ethertype = 0x0800
		case 10, 24, 28, 30:
			ethertype = 0x86dd
		}
		b = b[4:]
	case linkRaw, linkIPv4, linkIPv6:
		if len(b) == 0 {
			return udpPacket{}, false
		}
		switch b[0] >> 4 {
		case 4:
			ethertype = 0x0800
		case 6:
			ethertype = 0x86dd
		}
	}
	var src, dst netip.Addr
	switch ethertype {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return udpPacket{}, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl || b[9] != 17 {
			return udpPacket{}, false
		}
		if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return udpPacket{}, false // a fragment: RTP never is
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		if total := int(binary.BigEndian.Uint16(b[2:])); total >= ihl && total < len(b) {
			b = b[:total] // Ethernet padding
		}
		b = b[ihl:]
	case 0x86dd:
		if len(b) < 40 || b[0]>>4 != 6 || b[6] != 17 {
			return udpPacket{}, false // extension headers are not followed
		}
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		b = b[40:]
	default:
		return udpPacket{}, false
	}
	if len(b) < 8 {
		return udpPacket{}, false
	}
	sport, dport := binary.BigEndian.Uint16(b[0:]), binary.BigEndian.Uint16(b[2:])
	ulen := int(binary.BigEndian.Uint16(b[4:]))
	pk := udpPacket{Src: netip.AddrPortFrom(src, sport), Dst: netip.AddrPortFrom(dst, dport)}
	switch {
	case ulen < 8:
		return udpPacket{}, false
	case ulen > len(b):
		pk.Truncated = true
		pk.Payload = b[8:]
	default:
		pk.Payload = b[8:ulen]
	}
	return pk, true
}
