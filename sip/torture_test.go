package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
)

// tortureWant is what the server must answer to a torture message over one
// transport.
type tortureWant struct {
	// finals are the final responses, in order; none means no answer.
	finals []int
	// call: the INVITE reaches the handler, which answers it: 200, the
	// test's ACK, then the server's BYE when the handler returns.
	call bool
	// closed (TCP): the server closes the connection; finals are then the
	// answers that may come before it.
	closed bool
	// header: headers the last final response carries, with a value
	// containing the given text.
	header map[string]string
}

type tortureCase struct {
	section, file string
	udp, tcp      tortureWant
	// caller and dialled, for a call: what the handler sees.
	caller, dialled string
	// check looks at every message the server sent, over both transports.
	check func(t *testing.T, msgs []sipmsg.Message)
}

var (
	answers = func(codes ...int) tortureWant { return tortureWant{finals: codes} }
	both    = func(w tortureWant) (tortureWant, tortureWant) { return w, w }
	noReply = tortureWant{}
	closes  = func(codes ...int) tortureWant { return tortureWant{finals: codes, closed: true} }
	aCall   = tortureWant{call: true}
	allow   = map[string]string{"Allow": "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"}
)

func withHeader(w tortureWant, h map[string]string) tortureWant { w.header = h; return w }

func tortureCases() []tortureCase {
	tc := func(section, file string, udp, tcp tortureWant) tortureCase {
		return tortureCase{section: section, file: file, udp: udp, tcp: tcp}
	}
	same := func(section, file string, w tortureWant) tortureCase {
		udp, tcp := both(w)
		return tc(section, file, udp, tcp)
	}
	esc01 := same("3.1.1.3", "valid/esc01.dat", aCall)
	esc01.caller, esc01.dialled = "I have spaces", "sips:user@example.com"
	baddate := same("3.1.2.12", "invalid/baddate.dat", aCall)
	baddate.check = func(t *testing.T, msgs []sipmsg.Message) {
		// Liberal, as section 3.1.2.12 allows: the Date is neither
		// returned nor used.
		for _, m := range msgs {
			var h sipmsg.Header
			switch m := m.(type) {
			case *sipmsg.Request:
				h = m.GetHeader("Date")
			case *sipmsg.Response:
				h = m.GetHeader("Date")
			}
			if h != nil {
				t.Errorf("a message carries Date: %s\n%s", h.Value(), m)
			}
		}
	}
	return []tortureCase{
		// 3.1.1 Valid messages: each is served.
		same("3.1.1.1", "valid/wsinv.dat", answers(481)), // its To has a tag: a dialog ivrd does not have
		same("3.1.1.2", "valid/intmeth.dat", withHeader(answers(501), allow)),
		esc01,
		same("3.1.1.4", "valid/escnull.dat", withHeader(answers(405), allow)), // REGISTER: ivrd is no registrar
		same("3.1.1.5", "valid/esc02.dat", withHeader(answers(501), allow)),   // RE%47IST%45R is no REGISTER
		same("3.1.1.6", "valid/lwsdisp.dat", answers(200)),
		same("3.1.1.7", "valid/longreq.dat", aCall),
		// Over TCP the bytes after the REGISTER are the stream's next
		// message, an INVITE without Contact (400), whose Content-Length
		// leaves 5 bytes that start no message: the connection is closed,
		// maybe before the answers go out.
		tc("3.1.1.8", "valid/dblreq.dat", answers(405), closes(405, 400)),
		same("3.1.1.9", "valid/semiuri.dat", answers(200)),
		same("3.1.1.10", "valid/transports.dat", answers(200)),
		same("3.1.1.11", "valid/mpart01.dat", withHeader(answers(405), allow)), // MESSAGE
		same("3.1.1.12", "valid/unreason.dat", noReply),                        // a response no transaction waits for
		same("3.1.1.13", "valid/noreason.dat", noReply),

		// 3.1.2 Invalid messages. Over UDP what sipgo cannot parse is
		// answered 400 by the server itself; over TCP sipgo closes the
		// connection, or waits for the rest of a message not yet ended.
		tc("3.1.2.1", "invalid/badinv01.dat", answers(400), closes()),
		tc("3.1.2.2", "invalid/clerr.dat", answers(400), noReply), // the stream waits for 9999 bytes of body
		tc("3.1.2.3", "invalid/ncl.dat", answers(400), closes()),
		tc("3.1.2.4", "invalid/scalar02.dat", answers(400), closes()),
		tc("3.1.2.5", "invalid/scalarlg.dat", noReply, closes()), // a response: dropped
		tc("3.1.2.6", "invalid/quotbal.dat", answers(400), closes()),
		tc("3.1.2.7", "invalid/ltgtruri.dat", answers(400), closes()),
		tc("3.1.2.8", "invalid/lwsruri.dat", answers(400), closes()),
		tc("3.1.2.9", "invalid/lwsstart.dat", answers(400), closes()),
		tc("3.1.2.10", "invalid/trws.dat", answers(400), closes()),
		same("3.1.2.11", "invalid/escruri.dat", answers(400)),
		baddate,
		// 405 before the Contact is looked at (RFC 3261 section 8.2.1
		// before 8.2.2): a registrar's 400 is not ivrd's to give.
		same("3.1.2.13", "invalid/regbadct.dat", withHeader(answers(405), allow)),
		tc("3.1.2.14", "invalid/badaspec.dat", answers(400), closes()),
		tc("3.1.2.15", "invalid/baddn.dat", answers(400), noReply), // no empty line: the stream waits for the end of the headers
		same("3.1.2.16", "invalid/badvers.dat", answers(505)),
		same("3.1.2.17", "invalid/mismatch01.dat", answers(400)),
		same("3.1.2.18", "invalid/mismatch02.dat", answers(400)),
		tc("3.1.2.19", "invalid/bigcode.dat", noReply, closes()),

		// 3.2.1: ivrd falls back to the RFC 2543 transaction identifier.
		same("3.2.1", "invalid/badbranch.dat", answers(200)),

		// 3.3 Application-layer semantics.
		same("3.3.1", "invalid/insuf.dat", answers(400)),
		same("3.3.2", "invalid/unkscm.dat", answers(416)),
		tc("3.3.3", "invalid/novelsc.dat", answers(416), closes()), // sipgo cannot parse soap.beep://
		same("3.3.4", "invalid/unksm2.dat", withHeader(answers(405), allow)),
		same("3.3.5", "invalid/bext01.dat", withHeader(answers(420),
			map[string]string{"Unsupported": "nothingSupportsThis, nothingSupportsThisEither"})),
		same("3.3.6", "invalid/invut.dat", withHeader(answers(415), map[string]string{"Accept": "application/sdp"})),
		same("3.3.7", "invalid/regaut01.dat", withHeader(answers(405), allow)),
		same("3.3.8", "invalid/multi01.dat", answers(400)),
		tc("3.3.9", "invalid/mcl01.dat", answers(400), closes(400)),
		same("3.3.10", "invalid/bcast.dat", noReply),
		same("3.3.11", "invalid/zeromf.dat", answers(200)),
		same("3.3.12", "invalid/cparam01.dat", withHeader(answers(405), allow)),
		same("3.3.13", "invalid/cparam02.dat", withHeader(answers(405), allow)),
		same("3.3.14", "invalid/regescrt.dat", withHeader(answers(405), allow)),
		same("3.3.15", "invalid/sdp01.dat", answers(406)),

		// 3.4.1: no From tag to identify its transaction by, and no Contact
		// to send a BYE to (400 from sipgo); over TCP no Content-Length.
		tc("3.4.1", "invalid/inv2543.dat", answers(400), closes()),

		// Not in RFC 4475: sipgo's own, a request line without version.
		tc("sipgo", "invalid/test.dat", noReply, closes()),
	}
}

// TestRFC4475 replays each message of RFC 4475 section 3
// (testdata/torture, see its README) at a running server, on a new TCP
// connection and then as one UDP datagram, its top Via rewritten to name
// the test's socket as a real peer's would (ivrd answers UDP requests where
// their Via says, RFC 3261 section 18.2.2, and reopens a TCP connection
// there when the request's is gone), and checks the answer its section
// prescribes for a
// user agent server that is no registrar and implements no extension. The
// server must answer OPTIONS afterwards. One subtest per message, named
// by its section: go test ./sip -run 'TestRFC4475/3.3.5'.
func TestRFC4475(t *testing.T) {
	cases := tortureCases()
	files, err := filepath.Glob("testdata/torture/*/*.dat")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel("testdata/torture", f)
		if !slices.ContainsFunc(cases, func(c tortureCase) bool { return c.file == filepath.ToSlash(rel) }) {
			t.Errorf("%s has no case", f)
		}
	}
	for _, tc := range cases {
		name := tc.section + "-" + strings.TrimSuffix(filepath.Base(tc.file), ".dat")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata/torture", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []ivr.Call
			s := startServer(t, func(ctx context.Context, call ivr.Call) {
				mu.Lock()
				seen = append(seen, call)
				mu.Unlock()
				call.Answer(ctx) // returning hangs up: BYE
			})
			var all []sipmsg.Message
			for _, tp := range []string{"tcp", "udp"} {
				want := tc.udp
				if tp == "tcp" {
					want = tc.tcp
				}
				all = append(all, replay(t, s, tp, data, want)...)
				waitIdle(t, s)
				if code := newRawClient(t, s).options(); code != 200 {
					t.Fatalf("OPTIONS after %s over %s = %d, want 200", tc.file, tp, code)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			calls := 0
			if tc.udp.call {
				calls++
			}
			if tc.tcp.call {
				calls++
			}
			if len(seen) != calls {
				t.Errorf("the handler got %d calls, want %d", len(seen), calls)
			}
			for _, c := range seen {
				if tc.caller != "" && (c.Caller() != tc.caller || c.Dialled() != tc.dialled) {
					t.Errorf("call from %q to %q, want from %q to %q", c.Caller(), c.Dialled(), tc.caller, tc.dialled)
				}
			}
			if tc.check != nil {
				tc.check(t, all)
			}
		})
	}
}

// replay sends data over tp and checks what comes back against want. It
// returns the messages the server sent.
func replay(t *testing.T, s *Server, tp string, data []byte, want tortureWant) []sipmsg.Message {
	t.Helper()
	p := dialPeer(t, s, tp)
	p.send(viaTo(data, tp, p.addr()))

	quiet := 300 * time.Millisecond
	wait := 3 * time.Second
	if len(want.finals) == 0 && !want.call {
		wait = time.Second // nothing must come
	}
	deadline := time.Now().Add(wait)
	var (
		msgs   []sipmsg.Message
		finals []int
		last   *sipmsg.Response
		closed bool
		bye    bool
	)
	expect := len(want.finals)
	if want.call {
		expect = 1
	}
	for {
		m, ok := p.next(time.Until(deadline))
		if !ok {
			break
		}
		if m == nil {
			closed = true
			break
		}
		msgs = append(msgs, m)
		switch m := m.(type) {
		case *sipmsg.Response:
			if m.StatusCode < 200 {
				continue
			}
			finals = append(finals, m.StatusCode)
			last = m
			if want.call && m.StatusCode == 200 && m.CSeq() != nil && m.CSeq().MethodName == sipmsg.INVITE {
				p.ack(m)
				deadline = time.Now().Add(wait) // until the BYE
				continue
			}
		case *sipmsg.Request:
			if m.Method == sipmsg.BYE {
				p.send([]byte(sipmsg.NewResponseFromRequest(m, 200, "OK", nil).String()))
				bye = true
			}
		}
		if len(finals) >= expect && (!want.call || bye) {
			if d := time.Now().Add(quiet); d.Before(deadline) {
				deadline = d
			}
		}
	}
	switch {
	case want.call:
		if !slices.Equal(finals, []int{200}) || !bye {
			t.Errorf("%s: finals %v, BYE %v; want the call answered (200) and hung up", tp, finals, bye)
		}
	case want.closed:
		if !closed {
			t.Errorf("%s: the connection stays open (finals %v), want it closed", tp, finals)
		}
		for _, code := range finals {
			if !slices.Contains(want.finals, code) {
				t.Errorf("%s: %d before the connection closed, want none or %v", tp, code, want.finals)
			}
		}
	default:
		if closed {
			t.Errorf("%s: the connection was closed", tp)
		}
		if !slices.Equal(finals, want.finals) {
			t.Errorf("%s: finals %v, want %v", tp, finals, want.finals)
		}
	}
	for name, value := range want.header {
		if last == nil {
			break
		}
		if h := last.GetHeader(name); h == nil || !strings.Contains(h.Value(), value) {
			t.Errorf("%s: %d without %s: %s\n%s", tp, last.StatusCode, name, value, last)
		}
	}
	return msgs
}

// viaRE matches the protocol and sent-by of a Via value.
var viaRE = regexp.MustCompile(`^SIP\s*/\s*([^/\s]+)\s*/\s*[A-Za-z]+\s+[^;,\s]+`)

// viaTo rewrites the top Via of each message in msg (folded or not; a
// datagram may hold more than one) to name addr over tp, keeping its
// parameters: what a peer sending from addr writes. The rest is left as it
// is.
func viaTo(msg []byte, tp, addr string) []byte {
	var out strings.Builder
	text := string(msg)
	for text != "" {
		headEnd := strings.Index(text, "\r\n\r\n")
		if headEnd < 0 {
			out.WriteString(viaLine(text, tp, addr))
			break
		}
		head := viaLine(text[:headEnd], tp, addr)
		out.WriteString(head + "\r\n\r\n")
		text = text[headEnd+4:]
		n, ok := contentLength([]byte(head + "\r\n\r\n"))
		if !ok || n > len(text) {
			out.WriteString(text)
			break
		}
		out.WriteString(text[:n])
		text = text[n:]
		for strings.HasPrefix(text, "\r\n") {
			out.WriteString("\r\n")
			text = text[2:]
		}
	}
	return []byte(out.String())
}

// viaLine rewrites the first Via of a header section.
func viaLine(head, tp, addr string) string {
	lines := strings.Split(head, "\r\n")
	for i := 1; i < len(lines); i++ {
		name, value, ok := strings.Cut(lines[i], ":")
		if !ok {
			continue
		}
		if n := strings.ToLower(strings.TrimSpace(name)); n != "via" && n != "v" {
			continue
		}
		j := i + 1
		for j < len(lines) && (strings.HasPrefix(lines[j], " ") || strings.HasPrefix(lines[j], "\t")) {
			value += " " + strings.TrimSpace(lines[j])
			j++
		}
		value = strings.TrimSpace(value)
		m := viaRE.FindStringSubmatch(value)
		if m == nil {
			return head
		}
		value = "SIP/" + m[1] + "/" + strings.ToUpper(tp) + " " + addr + value[len(m[0]):]
		lines = append(lines[:i], append([]string{"Via: " + value}, lines[j:]...)...)
		return strings.Join(lines, "\r\n")
	}
	return head
}

// peer is the far end of a torture replay: a UDP socket or a TCP
// connection to the server, whose messages a goroutine reads.
type peer struct {
	t    *testing.T
	tp   string
	udp  *net.UDPConn
	tcp  net.Conn
	srv  net.Addr
	msgs chan sipmsg.Message // closed when the TCP connection ends
	stop chan struct{}       // closed at cleanup: the reader delivers no more
}

func dialPeer(t *testing.T, s *Server, tp string) *peer {
	t.Helper()
	return dialPeerAt(t, s, tp, netip.MustParseAddr("127.0.0.1"))
}

// dialPeerAt is dialPeer from the local address ip.
func dialPeerAt(t *testing.T, s *Server, tp string, ip netip.Addr) *peer {
	t.Helper()
	p := &peer{t: t, tp: tp, msgs: make(chan sipmsg.Message, 16), stop: make(chan struct{}), srv: s.Addr(tp)}
	done := make(chan struct{})
	if tp == "udp" {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			t.Fatal(err)
		}
		p.udp = conn
		go func() {
			defer close(done)
			buf := make([]byte, 65535)
			for {
				n, _, err := conn.ReadFrom(buf)
				if err != nil {
					return
				}
				p.deliver(buf[:n])
			}
		}()
		t.Cleanup(func() { close(p.stop); conn.Close(); <-done })
		return p
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0))}
	conn, err := d.Dial("tcp", p.srv.String())
	if err != nil {
		t.Fatal(err)
	}
	p.tcp = conn
	go func() {
		defer close(done)
		defer close(p.msgs)
		stream := sipmsg.NewParser().NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if err := stream.ParseSIPStream(buf[:n], p.put); err != nil &&
				err != sipmsg.ErrParseSipPartial {
				t.Errorf("unparsable message from the server: %v\n%s", err, buf[:n])
				return
			}
		}
	}()
	t.Cleanup(func() { close(p.stop); conn.Close(); <-done })
	return p
}

func (p *peer) put(m sipmsg.Message) {
	select {
	case p.msgs <- m:
	case <-p.stop:
	}
}

func (p *peer) deliver(b []byte) {
	m, err := sipmsg.NewParser().ParseSIP(b)
	if err != nil {
		// The answer to a request sipgo cannot parse copies its broken
		// headers: read its status line and header lines as text.
		res := looseResponse(b)
		if res == nil {
			p.t.Errorf("unparsable message from the server: %v\n%s", err, b)
			return
		}
		m = res
	}
	p.put(m)
}

// looseResponse reads a response without parsing its header values, or
// returns nil.
func looseResponse(b []byte) *sipmsg.Response {
	head, _, _ := strings.Cut(string(b), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var code int
	var reason string
	if _, err := fmt.Sscanf(lines[0], "SIP/2.0 %d", &code); err != nil {
		return nil
	}
	if parts := strings.SplitN(lines[0], " ", 3); len(parts) == 3 {
		reason = parts[2]
	}
	res := sipmsg.NewResponse(code, reason)
	for _, l := range lines[1:] {
		if name, value, ok := strings.Cut(l, ":"); ok {
			res.AppendHeader(sipmsg.NewHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
		}
	}
	return res
}

func (p *peer) addr() string {
	if p.udp != nil {
		return p.udp.LocalAddr().String()
	}
	return p.tcp.LocalAddr().String()
}

func (p *peer) send(b []byte) {
	p.t.Helper()
	var err error
	if p.udp != nil {
		_, err = p.udp.WriteTo(b, p.srv)
	} else {
		_, err = p.tcp.Write(b)
	}
	if err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// next returns the next message from the server: ok false after timeout,
// a nil message once the TCP connection ended.
func (p *peer) next(timeout time.Duration) (sipmsg.Message, bool) {
	if timeout <= 0 {
		return nil, false
	}
	select {
	case m, open := <-p.msgs:
		if !open {
			return nil, true
		}
		return m, true
	case <-time.After(timeout):
		return nil, false
	}
}

// ack acknowledges the 2xx of an INVITE (RFC 3261 section 13.2.2.4).
func (p *peer) ack(res *sipmsg.Response) {
	p.t.Helper()
	target := res.Contact()
	if target == nil {
		p.t.Fatalf("200 without Contact:\n%s", res)
	}
	p.send(fmt.Appendf(nil, "ACK %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-tack-%d\r\n%s\r\n%s\r\n"+
		"Call-ID: %s\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		target.Address.String(), strings.ToUpper(p.tp), p.addr(), rawSeq.Add(1),
		res.From().String(), res.To().String(), res.CallID().Value(), res.CSeq().SeqNo))
}
