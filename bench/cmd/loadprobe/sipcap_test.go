package main

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sipText(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n"))
}

func sdpBody(addr string, port int) string {
	return "v=0\r\no=x 1 1 IN IP4 " + addr + "\r\ns=-\r\nc=IN IP4 " + addr + "\r\nt=0 0\r\nm=audio " +
		strconv.Itoa(port) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
}

func invite(from, callID, body string) []byte {
	return sipText("INVITE sip:4001@127.0.0.1:27060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:27062;branch=z9hG4bK-1",
		`From: "sipp" <sip:`+from+`@127.0.0.1:27062>;tag=1`,
		"To: <sip:4001@127.0.0.1:27060>",
		"Call-ID: "+callID,
		"CSeq: 1 INVITE",
		"Content-Type: application/sdp",
		"",
		body)
}

func response(code, reason, callID, method, body string) []byte {
	return sipText("SIP/2.0 "+code+" "+reason,
		"Via: SIP/2.0/UDP 127.0.0.1:27062;branch=z9hG4bK-1",
		"f: <sip:x@127.0.0.1>;tag=1",
		"t: <sip:4001@127.0.0.1>;tag=2",
		"i: "+callID,
		"CSeq: 1 "+method,
		"",
		body)
}

func TestParseSIP(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		want sipMessage
		ok   bool
	}{
		{"invite", invite("caller7", "a@b", sdpBody("127.0.0.1", 27064)),
			sipMessage{Method: "INVITE", CallID: "a@b", CSeqMethod: "INVITE", FromUser: "caller7",
				Media: netip.MustParseAddrPort("127.0.0.1:27064")}, true},
		{"compact headers, response", response("200", "OK", "c-1", "INVITE", sdpBody("127.0.0.1", 10002)),
			sipMessage{Status: 200, CallID: "c-1", CSeqMethod: "INVITE", FromUser: "x",
				Media: netip.MustParseAddrPort("127.0.0.1:10002")}, true},
		{"no body", response("100", "Trying", "c-1", "INVITE", ""),
			sipMessage{Status: 100, CallID: "c-1", CSeqMethod: "INVITE", FromUser: "x"}, true},
		{"from without brackets", sipText("BYE sip:a@b SIP/2.0", "From: sips:+33123@host;tag=9", "Call-ID: z", "CSeq: 2 BYE", "", ""),
			sipMessage{Method: "BYE", CallID: "z", CSeqMethod: "BYE", FromUser: "+33123"}, true},
		{"no call-id", sipText("OPTIONS sip:a@b SIP/2.0", "CSeq: 1 OPTIONS", "", ""), sipMessage{}, false},
		{"rtp", []byte{0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, sipMessage{}, false},
		{"bad status", sipText("SIP/2.0 99 Odd", "Call-ID: q", "", ""), sipMessage{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseSIP(tc.msg)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("parseSIP = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSDPAudioAddr(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"session c=", sdpBody("127.0.0.1", 4000), "127.0.0.1:4000"},
		{"media c= wins", "v=0\nc=IN IP4 10.0.0.1\nm=audio 5000 RTP/AVP 0\nc=IN IP4 10.0.0.2\n", "10.0.0.2:5000"},
		{"video first", "v=0\nc=IN IP4 10.0.0.1\nm=video 6000 RTP/AVP 96\nc=IN IP4 10.0.0.9\nm=audio 5000 RTP/AVP 0\n", "10.0.0.1:5000"},
		{"second audio ignored", "c=IN IP4 10.0.0.1\nm=audio 5000 RTP/AVP 0\nm=audio 7000 RTP/AVP 0\nc=IN IP4 10.0.0.7\n", "10.0.0.1:5000"},
		{"ipv6", "c=IN IP6 ::1\nm=audio 5000 RTP/AVP 0\n", "[::1]:5000"},
		{"no audio", "c=IN IP4 10.0.0.1\nm=video 6000 RTP/AVP 96\n", ""},
		{"no address", "m=audio 5000 RTP/AVP 0\n", ""},
		{"bad port", "c=IN IP4 10.0.0.1\nm=audio 99999 RTP/AVP 0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sdpAudioAddr([]byte(tc.body))
			if tc.want == "" {
				if got.IsValid() {
					t.Errorf("got %v, want none", got)
				}
				return
			}
			if got != netip.MustParseAddrPort(tc.want) {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestReadSignalling(t *testing.T) {
	ivrd := netip.MustParseAddrPort("127.0.0.1:27060")
	callers := netip.MustParseAddrPort("127.0.0.1:27062")
	agents := netip.MustParseAddrPort("127.0.0.1:27070")
	at := time.Unix(1_800_000_000, 0)
	p := newTestPcap(binary.LittleEndian, true, linkEthernet)
	send := func(src, dst netip.AddrPort, msg []byte) {
		at = at.Add(time.Millisecond)
		p.udp(at, src, dst, msg, 0)
	}
	// caller1: bridged at the second agent's phone (the first was busy);
	// the INVITE is retransmitted.
	send(callers, ivrd, invite("caller1", "c1", sdpBody("127.0.0.1", 27064)))
	send(callers, ivrd, invite("caller1", "c1", sdpBody("127.0.0.1", 27064)))
	send(ivrd, callers, response("100", "Trying", "c1", "INVITE", ""))
	send(ivrd, callers, response("200", "OK", "c1", "INVITE", sdpBody("127.0.0.1", 10000)))
	send(ivrd, agents, invite("caller1", "a1", sdpBody("127.0.0.1", 10002)))
	send(agents, ivrd, response("486", "Busy Here", "a1", "INVITE", ""))
	send(ivrd, agents, invite("caller1", "a2", sdpBody("127.0.0.1", 10004)))
	send(agents, ivrd, response("200", "OK", "a2", "INVITE", sdpBody("127.0.0.1", 27072)))
	send(agents, ivrd, response("200", "OK", "a2", "INVITE", sdpBody("127.0.0.1", 27072)))
	// caller2: its agent never answers.
	send(callers, ivrd, invite("caller2", "c2", sdpBody("127.0.0.1", 27064)))
	send(ivrd, callers, response("200", "OK", "c2", "INVITE", sdpBody("127.0.0.1", 10006)))
	send(ivrd, agents, invite("caller2", "a3", sdpBody("127.0.0.1", 10008)))
	// Not ivrd's, and not SIP.
	send(callers, agents, invite("caller3", "x", sdpBody("127.0.0.1", 1)))
	send(callers, ivrd, []byte("\r\n\r\n"))

	calls, sum, err := readSignalling(p.write(t), ivrd)
	if err != nil {
		t.Fatal(err)
	}
	want := signalling{CallerInvites: 2, CallerAnswers: 2, AgentInvites: 3, AgentAnswers: 1, Bridged: 1, Unparsed: 1}
	if sum != want {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}
	c := calls["caller1"]
	if len(calls) != 1 || c == nil {
		t.Fatalf("calls = %v, want caller1 only", calls)
	}
	wantCall := bridgedCall{User: "caller1",
		CallerMedia: netip.MustParseAddrPort("127.0.0.1:27064"), IvrdCaller: netip.MustParseAddrPort("127.0.0.1:10000"),
		IvrdAgent: netip.MustParseAddrPort("127.0.0.1:10004"), AgentMedia: netip.MustParseAddrPort("127.0.0.1:27072")}
	if *c != wantCall {
		t.Errorf("caller1 = %+v, want %+v", *c, wantCall)
	}
}

func FuzzParseSIP(f *testing.F) {
	f.Add(invite("caller1", "c1", sdpBody("127.0.0.1", 27064)))
	f.Add(response("200", "OK", "c1", "INVITE", sdpBody("::1", 10000)))
	f.Add([]byte("SIP/2.0 200 OK\r\ni: x\r\n\r\nm=audio 1 RTP/AVP 0\nc=IN IP4 1.2.3.4/127\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := parseSIP(b)
		if ok && m.CallID == "" {
			t.Fatalf("accepted without Call-ID: %+v", m)
		}
		if m.Media.IsValid() && m.Media.Port() == 0 {
			t.Fatalf("media address with port 0: %v", m.Media)
		}
	})
}
