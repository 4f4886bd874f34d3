package sip

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Payload types of the codecs the driver speaks. Both are static (RFC 3551),
// so an offer may list them without an rtpmap.
const (
	ptPCMU uint8 = 0
	ptPCMA uint8 = 8

	// ptTelephoneEvent is the payload type the driver offers for RFC 4733
	// when it makes the offer (late offer); in an answer it echoes the
	// offerer's.
	ptTelephoneEvent uint8 = 101
)

// direction is an SDP media direction attribute (RFC 3264 section 6.1).
type direction uint8

const (
	sendrecv direction = iota
	sendonly
	recvonly
	inactive
)

func (d direction) String() string {
	switch d {
	case sendonly:
		return "sendonly"
	case recvonly:
		return "recvonly"
	case inactive:
		return "inactive"
	default:
		return "sendrecv"
	}
}

// reverse is the direction an answer gives to an offer's direction: what the
// peer only sends we only receive.
func (d direction) reverse() direction {
	switch d {
	case sendonly:
		return recvonly
	case recvonly:
		return sendonly
	default:
		return d
	}
}

// audioDesc is what the driver needs of a remote SDP: its first audio
// stream.
type audioDesc struct {
	Addr      netip.Addr // media-level c= over session-level c=
	Port      uint16
	Formats   []uint8 // payload types in the offerer's order of preference
	EventPT   uint8   // telephone-event/8000 payload type, 0 if absent
	Direction direction
	// rtpmap of the dynamic payload types that name PCMU or PCMA, which
	// real offers sometimes do for static types too.
	names map[uint8]string
}

// parseSDP reads the first audio stream of an SDP body. It is lenient about
// what real user agents send (LF or CRLF line ends, missing or reordered
// lines, unknown attributes, extra streams) and strict only about what the
// driver needs: a connection address and an audio port.
func parseSDP(body []byte) (audioDesc, error) {
	var (
		desc        audioDesc
		sessionAddr netip.Addr
		sessionDir  = sendrecv
		inAudio     bool // inside the first m=audio section
		seenAudio   bool
		mediaAddr   netip.Addr
		mediaDir    direction
		mediaDirSet bool
	)
	if len(bytes.TrimSpace(body)) == 0 {
		return desc, fmt.Errorf("parse sdp: empty body: %w", ErrBadSDP)
	}
	for line := range bytes.Lines(body) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) < 2 || line[1] != '=' {
			continue // RFC 4566 says ignore what is not understood
		}
		key, val := line[0], string(bytes.TrimSpace(line[2:]))
		switch key {
		case 'm':
			if inAudio {
				inAudio = false // a second stream ends the audio section
				continue
			}
			if seenAudio {
				continue
			}
			if !strings.HasPrefix(val, "audio ") {
				continue
			}
			port, formats, err := parseMediaLine(val)
			if err != nil {
				return desc, err
			}
			desc.Port, desc.Formats = port, formats
			inAudio, seenAudio = true, true
		case 'c':
			addr, err := parseConnection(val)
			if err != nil {
				return desc, err
			}
			switch {
			case inAudio:
				mediaAddr = addr
			case !seenAudio:
				sessionAddr = addr
			}
		case 'a':
			if seenAudio && !inAudio {
				continue // attribute of a later stream
			}
			dir, isDir := parseDirection(val)
			if isDir {
				if inAudio {
					mediaDir, mediaDirSet = dir, true
				} else {
					sessionDir = dir
				}
				continue
			}
			if inAudio {
				desc.parseRTPMap(val)
			}
		}
	}
	if !seenAudio {
		return desc, fmt.Errorf("parse sdp: no m=audio line: %w", ErrNoAudio)
	}
	desc.Addr = mediaAddr
	if !desc.Addr.IsValid() {
		desc.Addr = sessionAddr
	}
	if !desc.Addr.IsValid() {
		return desc, fmt.Errorf("parse sdp: no connection address: %w", ErrNoAudio)
	}
	desc.Direction = sessionDir
	if mediaDirSet {
		desc.Direction = mediaDir
	}
	return desc, nil
}

// parseMediaLine reads "audio <port>[/<n>] <proto> <fmt>...".
func parseMediaLine(val string) (uint16, []uint8, error) {
	fields := strings.Fields(val)
	if len(fields) < 3 {
		return 0, nil, fmt.Errorf("parse sdp: short m= line %q: %w", val, ErrBadSDP)
	}
	if proto := fields[2]; proto != "RTP/AVP" && proto != "RTP/AVPF" {
		// SRTP and friends need keys the driver does not do.
		return 0, nil, fmt.Errorf("parse sdp: transport %q: %w", proto, ErrNoAudio)
	}
	portStr, _, _ := strings.Cut(fields[1], "/")
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0, nil, fmt.Errorf("parse sdp: m= port %q: %w", fields[1], ErrBadSDP)
	}
	formats := make([]uint8, 0, len(fields)-3)
	for _, f := range fields[3:] {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue // not an RTP payload type; ignore it
		}
		formats = append(formats, uint8(pt))
	}
	return uint16(port), formats, nil
}

// parseConnection reads "IN IP4 <addr>[/ttl]".
func parseConnection(val string) (netip.Addr, error) {
	fields := strings.Fields(val)
	if len(fields) < 3 || fields[0] != "IN" {
		return netip.Addr{}, fmt.Errorf("parse sdp: c= line %q: %w", val, ErrBadSDP)
	}
	host, _, _ := strings.Cut(fields[2], "/")
	addr, err := netip.ParseAddr(host)
	if err != nil {
		// A host name here is legal but the driver does not resolve media
		// addresses; treat the stream as unusable rather than guessing.
		return netip.Addr{}, fmt.Errorf("parse sdp: c= address %q: %w", fields[2], ErrNoAudio)
	}
	return addr.Unmap(), nil
}

func parseDirection(val string) (direction, bool) {
	switch val {
	case "sendrecv":
		return sendrecv, true
	case "sendonly":
		return sendonly, true
	case "recvonly":
		return recvonly, true
	case "inactive":
		return inactive, true
	}
	return sendrecv, false
}

// parseRTPMap records "rtpmap:<pt> <name>/<rate>[/<ch>]" for the formats the
// driver cares about.
func (d *audioDesc) parseRTPMap(val string) {
	rest, ok := strings.CutPrefix(val, "rtpmap:")
	if !ok {
		return
	}
	ptStr, enc, ok := strings.Cut(strings.TrimSpace(rest), " ")
	if !ok {
		return
	}
	pt, err := strconv.ParseUint(ptStr, 10, 7)
	if err != nil {
		return
	}
	name, rate, _ := strings.Cut(strings.TrimSpace(enc), "/")
	rate, _, _ = strings.Cut(rate, "/")
	if d.names == nil {
		d.names = make(map[uint8]string, 4)
	}
	if rate != "8000" {
		d.names[uint8(pt)] = "" // not something the driver can play or decode
		return
	}
	switch {
	case strings.EqualFold(name, "telephone-event"):
		if d.EventPT == 0 {
			d.EventPT = uint8(pt)
		}
	case strings.EqualFold(name, "PCMU"), strings.EqualFold(name, "PCMA"):
		d.names[uint8(pt)] = strings.ToUpper(name)
	default:
		d.names[uint8(pt)] = ""
	}
}

// codecName is the G.711 variant a payload type of this description carries,
// or "" if it is not one.
func (d *audioDesc) codecName(pt uint8) string {
	if name, ok := d.names[pt]; ok {
		return name
	}
	switch pt {
	case ptPCMU:
		return "PCMU"
	case ptPCMA:
		return "PCMA"
	}
	return ""
}

// negotiation is the outcome of an offer/answer exchange.
type negotiation struct {
	Codec   string // "PCMU" or "PCMA"
	PT      uint8  // its payload type
	EventPT uint8  // telephone-event payload type, 0 = none
	Remote  netip.AddrPort
	// Direction is the peer's; the answer carries its reverse.
	Direction direction
}

// Sending reports whether the driver may send RTP: the peer receives
// (sendrecv or recvonly) at a real address (RFC 2543 hold uses 0.0.0.0).
func (n negotiation) Sending() bool {
	if n.Remote.Addr().IsUnspecified() || n.Remote.Port() == 0 {
		return false
	}
	return n.Direction == sendrecv || n.Direction == recvonly
}

// negotiate picks the first of the offerer's formats the driver speaks.
// Used for an offer in an INVITE (early or re-INVITE) and for the answer in
// the ACK of a late offer, whose formats are a subset of what was offered.
func negotiate(d audioDesc) (negotiation, error) {
	if d.Port == 0 {
		return negotiation{}, fmt.Errorf("negotiate: audio stream rejected (port 0): %w", ErrNoAudio)
	}
	n := negotiation{
		EventPT:   d.EventPT,
		Remote:    netip.AddrPortFrom(d.Addr, d.Port),
		Direction: d.Direction,
	}
	for _, pt := range d.Formats {
		if name := d.codecName(pt); name != "" {
			n.Codec, n.PT = name, pt
			return n, nil
		}
	}
	return negotiation{}, fmt.Errorf("negotiate: offered %v: %w", d.Formats, ErrNoCommonCodec)
}

// sdpBuilder writes the driver's session descriptions; version goes up by
// one on each new description within a dialog (RFC 3264 section 8).
type sdpBuilder struct {
	sessionID uint64
	version   uint64
}

// answer writes the answer to a negotiated offer.
func (b *sdpBuilder) answer(local netip.AddrPort, n negotiation) []byte {
	formats := []uint8{n.PT}
	if n.EventPT != 0 {
		formats = append(formats, n.EventPT)
	}
	return b.write(local, formats, n.EventPT, n.Direction.reverse(), map[uint8]string{n.PT: n.Codec})
}

// offer writes an offer of both G.711 codecs and telephone-event.
func (b *sdpBuilder) offer(local netip.AddrPort) []byte {
	return b.write(local, []uint8{ptPCMU, ptPCMA, ptTelephoneEvent}, ptTelephoneEvent, sendrecv,
		map[uint8]string{ptPCMU: "PCMU", ptPCMA: "PCMA"})
}

func (b *sdpBuilder) write(local netip.AddrPort, formats []uint8, eventPT uint8, dir direction, names map[uint8]string) []byte {
	b.version++
	ipv := "IP4"
	if local.Addr().Is6() {
		ipv = "IP6"
	}
	ip := local.Addr().String()
	var buf bytes.Buffer
	buf.Grow(256)
	fmt.Fprintf(&buf, "v=0\r\no=ivrd %d %d IN %s %s\r\ns=ivrd\r\nc=IN %s %s\r\nt=0 0\r\n",
		b.sessionID, b.version, ipv, ip, ipv, ip)
	fmt.Fprintf(&buf, "m=audio %d RTP/AVP", local.Port())
	for _, pt := range formats {
		fmt.Fprintf(&buf, " %d", pt)
	}
	buf.WriteString("\r\n")
	for _, pt := range formats {
		if name, ok := names[pt]; ok {
			fmt.Fprintf(&buf, "a=rtpmap:%d %s/8000\r\n", pt, name)
		}
	}
	if eventPT != 0 {
		fmt.Fprintf(&buf, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", eventPT, eventPT)
	}
	fmt.Fprintf(&buf, "a=ptime:20\r\na=%s\r\n", dir)
	return buf.Bytes()
}
