package e2e

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawCall is a call placed by a minimal SIP user agent over UDP, written
// here by hand so that every byte and every timing on the wire is under the
// test's control: one INVITE with a PCMU + telephone-event offer, ACK, BYE.
// Its RTP socket records every packet ivrd sends, with its arrival time.
type rawCall struct {
	t       testing.TB
	sip     *net.UDPConn
	rtp     *net.UDPConn
	server  *net.UDPAddr
	callID  string
	fromTag string
	toTag   string
	target  string // the Contact of ivrd's 200 OK
	service string
	cseq    int

	remoteRTP *net.UDPAddr

	// Our RTP stream: silence every 20 ms, or telephone-events.
	sendMu sync.Mutex
	ssrc   uint32
	seq    uint16
	ts     uint32
	quiet  bool // events are being sent: no audio frames
	stop   chan struct{}
	wg     sync.WaitGroup

	recvMu   sync.Mutex
	received []rtpPacket
}

// rtpPacket is one packet received from ivrd.
type rtpPacket struct {
	at      time.Time
	marker  bool
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// parseRTPPacket decodes the fixed RTP header (RFC 3550 section 5.1).
func parseRTPPacket(b []byte, at time.Time) (rtpPacket, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpPacket{}, false
	}
	off := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 && len(b) >= off+4 {
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	if len(b) < off {
		return rtpPacket{}, false
	}
	return rtpPacket{
		at:      at,
		marker:  b[1]&0x80 != 0,
		pt:      b[1] & 0x7F,
		seq:     binary.BigEndian.Uint16(b[2:]),
		ts:      binary.BigEndian.Uint32(b[4:]),
		ssrc:    binary.BigEndian.Uint32(b[8:]),
		payload: append([]byte(nil), b[off:]...),
	}, true
}

// sipMessage is a parsed SIP response or request.
type sipMessage struct {
	first   string // status line or request line
	headers map[string][]string
	body    string
}

func (m *sipMessage) header(name string) string {
	if v := m.headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m *sipMessage) status() int {
	if !strings.HasPrefix(m.first, "SIP/2.0 ") {
		return 0
	}
	code, _ := strconv.Atoi(strings.Fields(m.first)[1])
	return code
}

// compactHeaders maps RFC 3261 compact header names to full ones.
var compactHeaders = map[string]string{
	"i": "call-id", "m": "contact", "f": "from", "t": "to", "v": "via",
	"l": "content-length", "c": "content-type",
}

func parseSIP(b []byte) (*sipMessage, error) {
	head, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		return nil, fmt.Errorf("parse sip: no end of headers in %q", b)
	}
	lines := strings.Split(head, "\r\n")
	m := &sipMessage{first: lines[0], headers: map[string][]string{}, body: body}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if full, ok := compactHeaders[k]; ok {
			k = full
		}
		m.headers[k] = append(m.headers[k], strings.TrimSpace(v))
	}
	return m, nil
}

// dialRaw calls service on ivrd and returns once the call is answered and
// acknowledged, with its RTP running.
func dialRaw(t testing.TB, p *ivrdProc, service string) *rawCall {
	t.Helper()
	server, err := net.ResolveUDPAddr("udp", p.sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	sipConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		sipConn.Close()
		t.Fatal(err)
	}
	c := &rawCall{
		t:       t,
		sip:     sipConn,
		rtp:     rtpConn,
		server:  server,
		callID:  fmt.Sprintf("raw-%d@127.0.0.1", rand.Uint64()),
		fromTag: strconv.FormatUint(rand.Uint64(), 36),
		service: service,
		ssrc:    rand.Uint32(),
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		stop:    make(chan struct{}),
	}
	t.Cleanup(c.close)

	local := sipConn.LocalAddr().String()
	rtpPort := rtpConn.LocalAddr().(*net.UDPAddr).Port
	sdp := strings.Join([]string{
		"v=0",
		"o=- 1 1 IN IP4 127.0.0.1",
		"s=-",
		"c=IN IP4 127.0.0.1",
		"t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0 101", rtpPort),
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:101 telephone-event/8000",
		"a=fmtp:101 0-15",
		"a=ptime:20",
		"a=sendrecv",
		"",
	}, "\r\n")
	c.cseq = 1
	ruri := fmt.Sprintf("sip:%s@%s", service, p.sipAddr)
	c.send(fmt.Sprintf("INVITE %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:rawcaller@127.0.0.1>;tag=%s\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:rawcaller@%s>\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		ruri, local, rand.Uint64(), c.fromTag, ruri, c.callID, local, len(sdp), sdp))

	deadline := time.Now().Add(5 * time.Second)
	var ok *sipMessage
	for ok == nil {
		m := c.read(deadline)
		switch code := m.status(); {
		case code >= 100 && code < 200:
		case code == 200 && strings.HasSuffix(m.header("cseq"), "INVITE"):
			ok = m
		default:
			t.Fatalf("INVITE: unexpected answer %q", m.first)
		}
	}
	if _, params, found := strings.Cut(ok.header("to"), ";tag="); found {
		c.toTag, _, _ = strings.Cut(params, ";")
	}
	c.target = ruri
	if ct := ok.header("contact"); ct != "" {
		if i, j := strings.Index(ct, "<"), strings.Index(ct, ">"); i >= 0 && j > i {
			c.target = ct[i+1 : j]
		}
	}
	c.remoteRTP = parseSDPAddr(t, ok.body)
	c.send(c.inDialog("ACK", 1, ""))

	c.wg.Add(2)
	go c.readRTP()
	go c.sendAudio()
	return c
}

// parseSDPAddr returns the audio address of an SDP body.
func parseSDPAddr(t testing.TB, body string) *net.UDPAddr {
	t.Helper()
	var ip string
	port := -1
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			ip = v
		}
		if v, ok := strings.CutPrefix(l, "m=audio "); ok {
			port, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if ip == "" || port <= 0 || err != nil {
		t.Fatalf("SDP answer without usable audio address (%v):\n%s", err, body)
	}
	return addr
}

func (c *rawCall) inDialog(method string, cseq int, extra string) string {
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:rawcaller@127.0.0.1>;tag=%s\r\n"+
		"To: <sip:%s@%s>;tag=%s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d %s\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n",
		method, c.target, c.sip.LocalAddr(), rand.Uint64(), c.fromTag, c.service, c.server, c.toTag,
		c.callID, cseq, method, extra)
}

func (c *rawCall) send(msg string) {
	c.t.Helper()
	if _, err := c.sip.WriteToUDP([]byte(msg), c.server); err != nil {
		c.t.Fatalf("send SIP: %v", err)
	}
}

// read returns the next SIP message, answering ivrd's requests (a BYE)
// with 200 on the way.
func (c *rawCall) read(deadline time.Time) *sipMessage {
	c.t.Helper()
	buf := make([]byte, 65535)
	for {
		_ = c.sip.SetReadDeadline(deadline)
		n, _, err := c.sip.ReadFromUDP(buf)
		if err != nil {
			c.t.Fatalf("read SIP: %v", err)
		}
		m, err := parseSIP(buf[:n])
		if err != nil {
			c.t.Fatal(err)
		}
		if m.status() == 0 {
			c.answer(m)
			continue
		}
		return m
	}
}

// answer replies 200 OK to a request from ivrd.
func (c *rawCall) answer(req *sipMessage) {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, h := range []string{"via", "from", "to", "call-id", "cseq"} {
		for _, v := range req.headers[h] {
			fmt.Fprintf(&b, "%s: %s\r\n", h, v)
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	c.send(b.String())
}

// hangup sends BYE and waits for its 200.
func (c *rawCall) hangup() {
	c.t.Helper()
	c.cseq++
	c.send(c.inDialog("BYE", c.cseq, ""))
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := c.read(deadline)
		if m.status() == 200 && m.header("cseq") == fmt.Sprintf("%d BYE", c.cseq) {
			break
		}
	}
	c.close()
}

func (c *rawCall) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.sip.Close()
	c.rtp.Close()
	c.wg.Wait()
}

func (c *rawCall) readRTP() {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := c.rtp.ReadFromUDP(buf)
		at := time.Now()
		if err != nil {
			return
		}
		if pkt, ok := parseRTPPacket(buf[:n], at); ok {
			c.recvMu.Lock()
			c.received = append(c.received, pkt)
			c.recvMu.Unlock()
		}
	}
}

// packets returns a copy of the packets received so far.
func (c *rawCall) packets() []rtpPacket {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	return append([]rtpPacket(nil), c.received...)
}

// sendAudio sends a PCMU silence frame every 20 ms, like a phone whose user
// says nothing, except while telephone-events are being sent.
func (c *rawCall) sendAudio() {
	defer c.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = 0xFF // μ-law zero
	}
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		c.sendMu.Lock()
		if !c.quiet {
			c.writeRTP(false, 0, c.ts, payload)
			c.ts += 160
		}
		c.sendMu.Unlock()
	}
}

// writeRTP sends one packet of our stream; sendMu must be held.
func (c *rawCall) writeRTP(marker bool, pt uint8, ts uint32, payload []byte) time.Time {
	b := make([]byte, 12, 12+len(payload))
	b[0] = 2 << 6
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], c.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], c.ssrc)
	b = append(b, payload...)
	c.seq++
	at := time.Now()
	_, _ = c.rtp.WriteToUDP(b, c.remoteRTP)
	return at
}

// pressRFC4733 sends digit as RFC 4733 telephone-events (payload type 101):
// the first packet with the marker bit, then updates every 20 ms, all with
// the event's start timestamp, then the end packet three times. It returns
// when the first packet was sent.
func (c *rawCall) pressRFC4733(event uint8, updates int) time.Time {
	c.sendMu.Lock()
	c.quiet = true
	start := c.ts
	first := c.writeRTP(true, 101, start, []byte{event, 10, 0, 160})
	c.sendMu.Unlock()

	dur := uint16(160)
	for range updates {
		time.Sleep(20 * time.Millisecond)
		dur += 160
		c.sendMu.Lock()
		c.writeRTP(false, 101, start, []byte{event, 10, byte(dur >> 8), byte(dur)})
		c.sendMu.Unlock()
	}
	time.Sleep(20 * time.Millisecond)
	dur += 160
	c.sendMu.Lock()
	for range 3 {
		c.writeRTP(false, 101, start, []byte{event, 0x80 | 10, byte(dur >> 8), byte(dur)})
	}
	c.ts = start + uint32(dur)
	c.quiet = false
	c.sendMu.Unlock()
	return first
}
