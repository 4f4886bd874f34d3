package siptest

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// message is a parsed SIP request or response: a response when status is set.
type message struct {
	status  int
	reason  string
	method  string
	headers map[string][]string // lower-case full names
	body    []byte
}

// compact maps RFC 3261 compact header names to full ones.
var compact = map[string]string{
	"i": "call-id", "m": "contact", "f": "from", "t": "to", "v": "via",
	"l": "content-length", "c": "content-type",
}

// parseMessage parses one SIP message of a datagram.
func parseMessage(b []byte) (*message, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("parse sip: no end of headers")
	}
	lines := strings.Split(string(head), "\r\n")
	first := strings.SplitN(lines[0], " ", 3)
	if len(first) < 3 {
		return nil, errors.New("parse sip: bad start line")
	}
	m := &message{headers: make(map[string][]string), body: body}
	if first[0] == "SIP/2.0" {
		code, err := strconv.Atoi(first[1])
		if err != nil || code < 100 || code > 699 {
			return nil, fmt.Errorf("parse sip: status %q", first[1])
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
	}
	return m, nil
}

func (m *message) header(name string) string {
	if v := m.headers[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// cseq returns the sequence number and method of the CSeq header.
func (m *message) cseq() (int, string) {
	f := strings.Fields(m.header("cseq"))
	if len(f) != 2 {
		return 0, ""
	}
	n, _ := strconv.Atoi(f[0])
	return n, f[1]
}

// reply builds a response to request m, copying Via, From, To, Call-ID and CSeq.
func (m *message) reply(code int, reason string) []byte {
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

// tagOf returns the tag parameter of a From or To header.
func tagOf(h string) string {
	for _, p := range strings.Split(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "tag="); ok {
			return v
		}
	}
	return ""
}

// uriOf returns the URI between angle brackets of a Contact header.
func uriOf(h string) string {
	start, end := strings.IndexByte(h, '<'), strings.IndexByte(h, '>')
	if start < 0 || end < start {
		return ""
	}
	return h[start+1 : end]
}

// sdpAudio returns the connection address and audio port of an SDP body.
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
			f := strings.Fields(v)
			if len(f) == 0 {
				return netip.AddrPort{}, ErrNoAudio
			}
			p, err := strconv.ParseUint(f[0], 10, 16)
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("parse m= line: %w", err)
			}
			port = p
		}
	}
	if !addr.IsValid() || port == 0 {
		return netip.AddrPort{}, ErrNoAudio
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
