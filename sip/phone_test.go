package sip

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// phone is a scripted agent phone: a UAS on a plain UDP socket whose every
// answer the test writes, with an RTP socket for its SDP.
type phone struct {
	t    *testing.T
	conn *net.UDPConn
	rtp  *net.UDPConn
	in   chan phoneMsg
	tag  string
	wg   sync.WaitGroup
}

type phoneMsg struct {
	msg  sipmsg.Message
	from *net.UDPAddr
	at   time.Time
}

func newPhone(t *testing.T) *phone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, conn: conn, rtp: rtp, in: make(chan phoneMsg, 64), tag: fmt.Sprintf("ph%d", rawSeq.Add(1))}
	p.wg.Add(1)
	go p.read()
	t.Cleanup(func() {
		conn.Close()
		rtp.Close()
		p.wg.Wait()
	})
	return p
}

func (p *phone) read() {
	defer p.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := sipmsg.NewParser().ParseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		select {
		case p.in <- phoneMsg{msg: msg, from: from, at: time.Now()}:
		default:
		}
	}
}

// uri is the phone's address as an agent's configuration gives it.
func (p *phone) uri() string { return "sip:alice@" + p.conn.LocalAddr().String() }

// next returns the next message ivrd sent, nil after timeout.
func (p *phone) next(timeout time.Duration) *phoneMsg {
	select {
	case m := <-p.in:
		return &m
	case <-time.After(timeout):
		return nil
	}
}

// request waits for a request of the method, skipping anything else
// (retransmissions of what the test already handled).
func (p *phone) request(method sipmsg.RequestMethod, timeout time.Duration) (*sipmsg.Request, *net.UDPAddr) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := p.next(time.Until(deadline))
		if m == nil {
			p.t.Fatalf("phone: no %s within %v", method, timeout)
			return nil, nil
		}
		if req, ok := m.msg.(*sipmsg.Request); ok && req.Method == method {
			return req, m.from
		}
	}
}

// quiet fails if ivrd sends the phone a request of the method within d.
func (p *phone) quiet(method sipmsg.RequestMethod, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := p.next(time.Until(deadline))
		if m == nil {
			return
		}
		if req, ok := m.msg.(*sipmsg.Request); ok && req.Method == method {
			p.t.Fatalf("phone: unexpected %s", method)
		}
	}
}

// respond answers req with the phone's To tag (except for 100).
func (p *phone) respond(req *sipmsg.Request, to *net.UDPAddr, code int, reason string, body []byte, hdrs ...sipmsg.Header) *sipmsg.Response {
	p.t.Helper()
	res := sipmsg.NewResponseFromRequest(req, code, reason, body)
	if code != 100 && req.Method != sipmsg.CANCEL {
		res.To().Params.Add("tag", p.tag)
	}
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	if code >= 200 && code < 300 && req.Method == sipmsg.INVITE {
		res.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{User: "alice", Host: "127.0.0.1", Port: p.conn.LocalAddr().(*net.UDPAddr).Port}})
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	p.send(res.String(), to)
	return res
}

func (p *phone) send(msg string, to *net.UDPAddr) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), to); err != nil {
		p.t.Fatal(err)
	}
}

// sdp is the phone's answer or offer: PCMU and telephone-event on its RTP
// socket, in the direction given.
func (p *phone) sdp(dir string) []byte {
	port := p.rtp.LocalAddr().(*net.UDPAddr).Port
	return []byte(fmt.Sprintf("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n", port, dir))
}

// inDialog sends a request of the phone in the dialog the INVITE set up:
// From the phone (its tag), To ivrd, to ivrd's Contact.
func (p *phone) inDialog(inv *sipmsg.Request, to *net.UDPAddr, method sipmsg.RequestMethod, cseq int, body []byte) string {
	p.t.Helper()
	branch := fmt.Sprintf("z9hG4bK-ph-%d", rawSeq.Add(1))
	from := inv.To().Value()
	if !strings.Contains(from, "tag=") {
		from += ";tag=" + p.tag
	}
	extra := ""
	if body != nil {
		extra = "Content-Type: application/sdp\r\n"
	}
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\nMax-Forwards: 70\r\n"+
		"From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, inv.Contact().Address.String(), p.conn.LocalAddr(), branch,
		from, inv.From().Value(), inv.CallID().Value(), cseq, method, p.uri(), extra, len(body), body)
	p.send(msg, to)
	return branch
}

// response waits for the final response to the phone's request of cseq.
func (p *phone) response(cseq uint32, timeout time.Duration) *sipmsg.Response {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := p.next(time.Until(deadline))
		if m == nil {
			p.t.Fatalf("phone: no response to CSeq %d within %v", cseq, timeout)
			return nil
		}
		if res, ok := m.msg.(*sipmsg.Response); ok && res.CSeq().SeqNo == cseq && res.StatusCode >= 200 {
			return res
		}
	}
}

// digestParams reads the parameters of a Digest credentials header.
func digestParams(v string) map[string]string {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "Digest"))
	out := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		out[strings.ToLower(k)] = strings.Trim(val, `"`)
	}
	return out
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// digestResponse is the RFC 2617 response an INVITE's credentials must
// carry for password, with or without qop=auth.
func digestResponse(p map[string]string, password string) string {
	ha1 := md5hex(p["username"] + ":" + p["realm"] + ":" + password)
	ha2 := md5hex("INVITE:" + p["uri"])
	if p["qop"] == "auth" {
		return md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	}
	return md5hex(ha1 + ":" + p["nonce"] + ":" + ha2)
}
