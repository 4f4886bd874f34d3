package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ivrd/ivrd/media"
)

// frame is the packet time ivrd paces its RTP at.
const frame = 20 * time.Millisecond

// telephoneEvent is the RFC 4733 payload type the probe offers.
const telephoneEvent = 101

// uac is a minimal SIP user agent client over one UDP socket, enough to place
// calls to ivrd: INVITE with SDP, ACK, BYE. Responses are routed to the call
// by Call-ID.
type uac struct {
	conn   *net.UDPConn
	server netip.AddrPort
	local  netip.AddrPort

	mu    sync.Mutex
	calls map[string]chan *sipMsg
}

func newUAC(server netip.AddrPort) (*uac, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(server.Addr(), 0)))
	if err != nil {
		return nil, fmt.Errorf("listen sip: %w", err)
	}
	u := &uac{
		conn:   conn,
		server: server,
		local:  conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		calls:  make(map[string]chan *sipMsg),
	}
	go u.read()
	return u, nil
}

func (u *uac) Close() error { return u.conn.Close() }

// read dispatches responses to their calls and answers the requests ivrd
// may send inside a dialog (BYE) with 200.
func (u *uac) read() {
	buf := make([]byte, 65535)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m, err := parseSIP(buf[:n])
		if err != nil {
			continue
		}
		if m.status == 0 {
			u.conn.WriteToUDPAddrPort(m.reply(200, "OK"), from)
			continue
		}
		u.mu.Lock()
		ch := u.calls[m.header("call-id")]
		u.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
		}
	}
}

// callResult is what one probe call measured.
type callResult struct {
	Deltas   []time.Duration // |arrival interval - 20ms| of consecutive packets
	Packets  int             // RTP packets received
	Lost     int             // sequence numbers skipped inside talkspurts
	Spurts   int             // packets with the marker bit
	Err      error
	Answered bool
}

// probeCall places one call, presses 1 after dtmfAfter, records the arrival
// times of ivrd's RTP for listen, then hangs up.
func (u *uac) probeCall(ctx context.Context, number string, dtmfAfter, listen time.Duration) (res callResult) {
	rtp, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(u.local.Addr(), 0)))
	if err != nil {
		res.Err = fmt.Errorf("listen rtp: %w", err)
		return res
	}
	defer rtp.Close()
	rtp.SetReadBuffer(1 << 20)
	if err := enableTimestamps(rtp); err != nil {
		res.Err = err
		return res
	}
	rtpAddr := rtp.LocalAddr().(*net.UDPAddr).AddrPort()

	d := &dialog{
		uac:     u,
		callID:  fmt.Sprintf("probe-%08x@%s", rand.Uint32(), u.local.Addr()),
		fromTag: fmt.Sprintf("%08x", rand.Uint32()),
		number:  number,
		rx:      make(chan *sipMsg, 16),
	}
	u.mu.Lock()
	u.calls[d.callID] = d.rx
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.calls, d.callID)
		u.mu.Unlock()
	}()

	remote, err := d.invite(ctx, rtpAddr)
	if err != nil {
		res.Err = err
		return res
	}
	res.Answered = true
	defer func() {
		if err := d.bye(); err != nil && res.Err == nil {
			res.Err = err
		}
	}()

	// Press 1 (RFC 4733) from the RTP socket, the address offered in SDP.
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(dtmfAfter):
		}
		sendDTMF(rtp, remote, '1')
	}()

	res.receive(rtp, listen)
	return res
}

// receive reads RTP until listen has passed and records, for each packet
// that follows the previous one in the same talkspurt, how far its arrival
// interval is from 20 ms. Arrival is the kernel receive timestamp.
func (res *callResult) receive(rtp *net.UDPConn, listen time.Duration) {
	end := time.Now().Add(listen)
	rtp.SetReadDeadline(end)
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	var (
		have    bool
		lastSeq uint16
		lastTS  uint32
		lastAt  time.Time
	)
	for {
		n, oobn, _, _, err := rtp.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return
		}
		at, ok := rxTimestamp(oob[:oobn])
		if !ok {
			at = time.Now()
		}
		h, _, err := media.ParseRTP(buf[:n])
		if err != nil || h.PayloadType == telephoneEvent {
			continue
		}
		res.Packets++
		if h.Marker {
			res.Spurts++
		}
		if have && !h.Marker {
			gap := h.SequenceNumber - lastSeq
			switch {
			case gap == 1 && h.Timestamp-lastTS == 160:
				dt := at.Sub(lastAt) - frame
				res.Deltas = append(res.Deltas, max(dt, -dt))
			case gap > 1 && gap < 1000:
				res.Lost += int(gap - 1)
			}
		}
		have, lastSeq, lastTS, lastAt = true, h.SequenceNumber, h.Timestamp, at
	}
}

// dialog is one probe call's SIP state.
type dialog struct {
	uac     *uac
	callID  string
	fromTag string
	toTag   string
	number  string
	target  string // request URI for in-dialog requests
	rx      chan *sipMsg
}

func (d *dialog) headers(method string, cseq int, branch string) string {
	to := fmt.Sprintf("<sip:%s@%s>", d.number, d.uac.server)
	if d.toTag != "" {
		to += ";tag=" + d.toTag
	}
	return fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n"+
		"From: <sip:probe@%s>;tag=%s\r\n"+
		"To: %s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d %s\r\n"+
		"Contact: <sip:probe@%s>\r\n"+
		"Max-Forwards: 70\r\n",
		d.uac.local, branch, d.uac.local.Addr(), d.fromTag, to, d.callID, cseq, method, d.uac.local)
}

// invite sends the INVITE (retransmitted every 500 ms until a response),
// waits for the 200 and acknowledges it. It returns ivrd's RTP address.
func (d *dialog) invite(ctx context.Context, rtpAddr netip.AddrPort) (netip.AddrPort, error) {
	sdp := fmt.Sprintf("v=0\r\no=probe 1 1 IN IP4 %[1]s\r\ns=-\r\nc=IN IP4 %[1]s\r\nt=0 0\r\n"+
		"m=audio %[2]d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n",
		rtpAddr.Addr(), rtpAddr.Port())
	branch := fmt.Sprintf("%08x", rand.Uint32())
	d.target = fmt.Sprintf("sip:%s@%s", d.number, d.uac.server)
	msg := "INVITE " + d.target + " SIP/2.0\r\n" + d.headers("INVITE", 1, branch) +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	retrans := time.NewTicker(500 * time.Millisecond)
	defer retrans.Stop()
	provisional := false
	send := func() { d.uac.conn.WriteToUDPAddrPort([]byte(msg), d.uac.server) }
	send()
	for {
		select {
		case <-ctx.Done():
			return netip.AddrPort{}, fmt.Errorf("invite: no final response: %w", ctx.Err())
		case <-retrans.C:
			if !provisional {
				send()
			}
		case m := <-d.rx:
			if !strings.HasSuffix(m.header("cseq"), "INVITE") {
				continue
			}
			switch {
			case m.status < 200:
				provisional = true
				continue
			case m.status >= 300:
				return netip.AddrPort{}, fmt.Errorf("invite: %d %s", m.status, m.reason)
			}
			d.toTag = tagOf(m.header("to"))
			if c := uriOf(m.header("contact")); c != "" {
				d.target = c
			}
			d.ack()
			remote, err := sdpAudio(m.body)
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("invite: answer: %w", err)
			}
			return remote, nil
		}
	}
}

func (d *dialog) ack() {
	msg := "ACK " + d.target + " SIP/2.0\r\n" + d.headers("ACK", 1, fmt.Sprintf("%08x", rand.Uint32())) + "Content-Length: 0\r\n\r\n"
	d.uac.conn.WriteToUDPAddrPort([]byte(msg), d.uac.server)
}

// bye hangs up and waits (bounded) for the 200.
func (d *dialog) bye() error {
	msg := "BYE " + d.target + " SIP/2.0\r\n" + d.headers("BYE", 2, fmt.Sprintf("%08x", rand.Uint32())) + "Content-Length: 0\r\n\r\n"
	for range 6 {
		d.uac.conn.WriteToUDPAddrPort([]byte(msg), d.uac.server)
		timeout := time.After(500 * time.Millisecond)
	wait:
		for {
			select {
			case m := <-d.rx:
				if strings.HasSuffix(m.header("cseq"), "BYE") && m.status >= 200 {
					return nil
				}
			case <-timeout:
				break wait
			}
		}
	}
	return errors.New("bye: no response")
}

// sendDTMF sends one RFC 4733 key: three start/update packets 20 ms apart
// with the same timestamp, then the end packet three times.
func sendDTMF(conn *net.UDPConn, to netip.AddrPort, digit rune) {
	ev, ok := media.DigitEvent(digit)
	if !ok {
		return
	}
	ssrc, seq, ts := rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()
	for i := range 6 {
		h := media.RTPHeader{Marker: i == 0, PayloadType: telephoneEvent, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}
		pkt := make([]byte, media.RTPHeaderSize, media.RTPHeaderSize+4)
		h.MarshalTo(pkt)
		end := i >= 3
		pkt = media.AppendDTMFPayload(pkt, ev, end, 10, uint16(min(i+1, 4)*160))
		conn.WriteToUDPAddrPort(pkt, to)
		seq++
		if i < 3 {
			time.Sleep(frame)
		}
	}
}

// sipMsg is a parsed SIP message: a response when status is set.
type sipMsg struct {
	status  int
	reason  string
	method  string
	headers map[string][]string // lower-case full names
	raw     []string            // header lines, in order, for replies
	body    []byte
}

var compact = map[string]string{"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length", "c": "content-type"}

func parseSIP(b []byte) (*sipMsg, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("parse sip: no end of headers")
	}
	lines := strings.Split(string(head), "\r\n")
	m := &sipMsg{headers: make(map[string][]string), body: body}
	first := strings.SplitN(lines[0], " ", 3)
	if len(first) < 3 {
		return nil, errors.New("parse sip: bad start line")
	}
	if first[0] == "SIP/2.0" {
		code, err := strconv.Atoi(first[1])
		if err != nil {
			return nil, fmt.Errorf("parse sip: status: %w", err)
		}
		m.status, m.reason = code, first[2]
	} else {
		m.method = first[0]
	}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if full, ok := compact[name]; ok {
			name = full
		}
		m.headers[name] = append(m.headers[name], strings.TrimSpace(value))
		m.raw = append(m.raw, l)
	}
	return m, nil
}

func (m *sipMsg) header(name string) string {
	if v := m.headers[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// reply builds a response to request m, copying Via, From, To, Call-ID and CSeq.
func (m *sipMsg) reply(code int, reason string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, name := range []string{"via", "from", "to", "call-id", "cseq"} {
		for _, v := range m.headers[name] {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

func tagOf(h string) string {
	for _, p := range strings.Split(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "tag="); ok {
			return v
		}
	}
	return ""
}

func uriOf(h string) string {
	start, end := strings.IndexByte(h, '<'), strings.IndexByte(h, '>')
	if start < 0 || end < start {
		return ""
	}
	return h[start+1 : end]
}

// sdpAudio returns the connection address and audio port of an SDP answer.
func sdpAudio(body []byte) (netip.AddrPort, error) {
	var addr netip.Addr
	var port uint64
	for _, l := range strings.Split(string(body), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("parse c= line: %w", err)
			}
			addr = a
		}
		if v, ok := strings.CutPrefix(l, "m=audio "); ok {
			p, err := strconv.ParseUint(strings.Fields(v)[0], 10, 16)
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("parse m= line: %w", err)
			}
			port = p
		}
	}
	if !addr.IsValid() || port == 0 {
		return netip.AddrPort{}, errors.New("no audio address")
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// enableTimestamps asks the kernel to stamp each datagram with its arrival
// time, so the probe's own scheduling delays do not count as jitter.
func enableTimestamps(conn *net.UDPConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("enable timestamps: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return fmt.Errorf("enable timestamps: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("enable timestamps: %w", serr)
	}
	return nil
}

func rxTimestamp(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}
