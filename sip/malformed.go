package sip

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// sipgo drops a datagram it cannot parse without a word, so the sender
// retransmits it for 32 s and never learns why; over TCP it closes the
// connection, which tells the sender at once. For UDP the server reads
// each datagram first (readFilter): one that parses goes on to sipgo, a
// request that does not is answered here, statelessly, with the headers
// that can be read (RFC 4475 section 3.1.2: 400 for a request the parser
// rejects, 416 for a Request-URI whose scheme is not served), and
// responses and what carries no Via are dropped.

// readFilter sees every datagram before sipgo parses it: INVITEs from a
// source banned for flooding are dropped unparsed, and requests that do
// not parse are answered here. It never returns an error, which would
// stop sipgo's read loop.
func (s *Server) readFilter(info sipmsg.TransportReadProps, data []byte) (out []byte, _ error) {
	if !strings.EqualFold(info.Transport, "udp") {
		return data, nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic reading a datagram", "panic", r, "stack", string(debug.Stack()))
			out = nil
		}
	}()
	if len(bytes.TrimSpace(data)) == 0 {
		return data, nil // keep-alive: sipgo's business
	}
	src := addrOf(info.RemoteAddr)
	invite := bytes.HasPrefix(data, []byte("INVITE "))
	now := time.Now()
	if invite && s.flood.banned(src, now) {
		return nil, nil
	}
	_, err := s.parser.ParseSIP(data)
	if err == nil {
		return data, nil
	}
	if invite {
		if ban, _ := s.flood.allow(src, now); ban > 0 {
			return nil, nil
		}
	}
	res := malformedResponse(data, s.cfg.UserAgent)
	if res == nil {
		s.log.Debug("unparsable message dropped", "source", info.RemoteAddr.String(), "err", err)
		return nil, nil
	}
	s.log.Debug("unparsable request answered", "source", info.RemoteAddr.String(), "err", err,
		"status", string(res[len("SIP/2.0 "):len("SIP/2.0 000")]))
	if conn := s.udpConn; conn != nil && info.LocalAddr != nil && info.LocalAddr.String() == conn.LocalAddr().String() {
		if _, err := conn.WriteTo(res, info.RemoteAddr); err != nil {
			s.log.Debug("answer unparsable request", "err", err)
		}
	}
	return nil, nil
}

// addrOf is the IP address of a net.Addr, or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// malformedResponse builds the answer to a request sipgo could not parse:
// 416 when its request line is well formed but names a URI scheme ivrd does
// not serve, else 400, with the request's Via, From, To, Call-ID and CSeq
// as they came (RFC 3261 section 8.2.6.2). It returns nil for a response,
// an ACK (never answered) and a request without Via, which cannot be
// answered.
func malformedResponse(data []byte, server string) []byte {
	head := data
	if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
		head = head[:i]
	} else if i := bytes.Index(head, []byte("\n\n")); i >= 0 {
		head = head[:i]
	}
	lines := unfold(string(head))
	if len(lines) == 0 {
		return nil
	}
	start := lines[0]
	method, _, _ := strings.Cut(strings.TrimSpace(start), " ")
	if method == "" || strings.HasPrefix(method, "SIP/") || method == "ACK" {
		return nil
	}
	code, reason := 400, "Bad Request"
	if parts := strings.Split(start, " "); len(parts) == 3 && parts[2] == "SIP/2.0" {
		if scheme, _, ok := strings.Cut(parts[1], ":"); ok && validScheme(scheme) && !servedScheme(scheme) {
			code, reason = 416, "Unsupported URI Scheme"
		}
	}
	var vias, rest []string
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			vias = append(vias, "Via: "+value)
		case "from", "f":
			rest = append(rest, "From: "+value)
		case "to", "t":
			if !strings.Contains(strings.ToLower(value), "tag=") && strings.Count(value, `"`)%2 == 0 {
				value += fmt.Sprintf(";tag=%x", rand.Uint64())
			}
			rest = append(rest, "To: "+value)
		case "call-id", "i":
			rest = append(rest, "Call-ID: "+value)
		case "cseq":
			rest = append(rest, "CSeq: "+value)
		}
	}
	if len(vias) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, l := range append(vias, rest...) {
		b.WriteString(printable(l))
		b.WriteString("\r\n")
	}
	b.WriteString("Server: " + server + "\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// unfold splits a header section into lines, joining folded lines (those
// starting with white space) to the line before.
func unfold(head string) []string {
	var lines []string
	for _, l := range strings.Split(head, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(lines) > 1 {
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// printable drops the control characters of a header line copied from a
// request, so that what ivrd writes stays one line of text.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// validScheme reports whether s is a URI scheme by RFC 3986's syntax:
// ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// servedScheme reports whether ivrd answers requests for URIs of scheme s:
// sip and sips, and tel for the numbers trunks send that way.
func servedScheme(s string) bool {
	return strings.EqualFold(s, "sip") || strings.EqualFold(s, "sips") || strings.EqualFold(s, "tel")
}
