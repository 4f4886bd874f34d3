package sip

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sdpLines joins lines with CRLF as an offer on the wire.
func sdpLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		wantErr error
		want    negotiation
		sending bool
		answer  []string // lines the answer must contain
	}{
		{
			name: "PCMU with telephone-event",
			body: sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 4000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"),
			want:    negotiation{Codec: "PCMU", PT: 0, EventPT: 101, Remote: netip.MustParseAddrPort("192.0.2.1:4000")},
			sending: true,
			answer:  []string{"m=audio 30000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=sendrecv"},
		},
		{
			name: "offerer prefers PCMA",
			body: sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 4000 RTP/AVP 8 0 96", "a=rtpmap:96 telephone-event/8000"),
			want:    negotiation{Codec: "PCMA", PT: 8, EventPT: 96, Remote: netip.MustParseAddrPort("192.0.2.1:4000")},
			sending: true,
			answer:  []string{"m=audio 30000 RTP/AVP 8 96", "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 telephone-event/8000"},
		},
		{
			name:    "skips unknown codecs to the first known",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 18 9 0", "a=rtpmap:18 G729/8000"),
			want:    negotiation{Codec: "PCMU", PT: 0, Remote: netip.MustParseAddrPort("192.0.2.1:4000")},
			sending: true,
			answer:  []string{"m=audio 30000 RTP/AVP 0\r\n"},
		},
		{
			name:    "only G729",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "t=0 0", "m=audio 4000 RTP/AVP 18", "a=rtpmap:18 G729/8000"),
			wantErr: ErrNoCommonCodec,
		},
		{
			name:    "static PT remapped to another rate",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU/16000"),
			wantErr: ErrNoCommonCodec,
		},
		{
			name:    "rejected stream",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=audio 0 RTP/AVP 0"),
			wantErr: ErrNoAudio,
		},
		{
			name:    "SRTP",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=audio 4000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x"),
			wantErr: ErrNoAudio,
		},
		{
			name:    "video only",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=video 4000 RTP/AVP 31"),
			wantErr: ErrNoAudio,
		},
		{
			name:    "no connection address",
			body:    sdpLines("v=0", "m=audio 4000 RTP/AVP 0"),
			wantErr: ErrNoAudio,
		},
		{
			name:    "garbage",
			body:    []byte("\x00\x01hello"),
			wantErr: ErrNoAudio,
		},
		{
			name:   "hold with sendonly",
			body:   sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 0", "a=sendonly"),
			want:   negotiation{Codec: "PCMU", Remote: netip.MustParseAddrPort("192.0.2.1:4000"), Direction: sendonly},
			answer: []string{"a=recvonly"},
		},
		{
			name:   "session-level inactive",
			body:   sdpLines("v=0", "c=IN IP4 192.0.2.1", "a=inactive", "m=audio 4000 RTP/AVP 0"),
			want:   negotiation{Codec: "PCMU", Remote: netip.MustParseAddrPort("192.0.2.1:4000"), Direction: inactive},
			answer: []string{"a=inactive"},
		},
		{
			name:    "media level overrides session level",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "a=sendonly", "m=audio 4000 RTP/AVP 0", "a=sendrecv"),
			want:    negotiation{Codec: "PCMU", Remote: netip.MustParseAddrPort("192.0.2.1:4000")},
			sending: true,
			answer:  []string{"a=sendrecv"},
		},
		{
			name:    "peer recvonly: we send",
			body:    sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 0", "a=recvonly"),
			want:    negotiation{Codec: "PCMU", Remote: netip.MustParseAddrPort("192.0.2.1:4000"), Direction: recvonly},
			sending: true,
			answer:  []string{"a=sendonly"},
		},
		{
			name:   "RFC 2543 hold with 0.0.0.0",
			body:   sdpLines("v=0", "c=IN IP4 0.0.0.0", "m=audio 4000 RTP/AVP 0"),
			want:   negotiation{Codec: "PCMU", Remote: netip.MustParseAddrPort("0.0.0.0:4000")},
			answer: []string{"a=sendrecv"},
		},
		{
			name:    "media c= overrides session c=, LF only, second stream ignored",
			body:    []byte("v=0\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 8\nc=IN IP4 198.51.100.7\na=rtpmap:8 PCMA/8000\nm=audio 5000 RTP/AVP 0\na=sendonly\n"),
			want:    negotiation{Codec: "PCMA", PT: 8, Remote: netip.MustParseAddrPort("198.51.100.7:4000")},
			sending: true,
		},
		{
			name:    "IPv6",
			body:    sdpLines("v=0", "c=IN IP6 2001:db8::1", "m=audio 4000 RTP/AVP 0"),
			want:    negotiation{Codec: "PCMU", Remote: netip.MustParseAddrPort("[2001:db8::1]:4000")},
			sending: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := negotiateBody(tt.body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("negotiate: err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("negotiate: %v", err)
			}
			if got != tt.want {
				t.Fatalf("negotiate = %+v, want %+v", got, tt.want)
			}
			if got.Sending() != tt.sending {
				t.Fatalf("Sending() = %v, want %v", got.Sending(), tt.sending)
			}
			b := sdpBuilder{sessionID: 42}
			ans := string(b.answer(netip.MustParseAddrPort("127.0.0.1:30000"), got))
			for _, line := range tt.answer {
				if !strings.Contains(ans, line) {
					t.Errorf("answer lacks %q:\n%s", line, ans)
				}
			}
			// The answer must itself be an acceptable offer.
			back, err := negotiateBody([]byte(ans))
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, ans)
			}
			if back.Codec != got.Codec || back.PT != got.PT || back.EventPT != got.EventPT {
				t.Fatalf("answer negotiates %+v, want codec of %+v", back, got)
			}
		})
	}
}

func TestSDPVersionIncreases(t *testing.T) {
	b := sdpBuilder{sessionID: 7}
	local := netip.MustParseAddrPort("127.0.0.1:30000")
	first := string(b.offer(local))
	second := string(b.offer(local))
	if !strings.Contains(first, "o=ivrd 7 1 IN IP4 127.0.0.1") || !strings.Contains(second, "o=ivrd 7 2 IN IP4 127.0.0.1") {
		t.Fatalf("o= version does not increase:\n%s\n%s", first, second)
	}
	n, err := negotiateBody([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	if n.Codec != "PCMU" || n.EventPT != ptTelephoneEvent {
		t.Fatalf("offer negotiates %+v", n)
	}
}

// TestParseSDPTestdata parses SDP captured from real user agents.
func TestParseSDPTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/sdp/*.sdp")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/sdp files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			n, err := negotiateBody(body)
			if err != nil {
				t.Fatalf("negotiate: %v", err)
			}
			if !n.Remote.IsValid() || n.Codec == "" {
				t.Fatalf("negotiate = %+v", n)
			}
		})
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add(sdpLines("v=0", "c=IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly"))
	f.Add([]byte("m=audio 99999 RTP/AVP 300\nc=IN IP6 ::1/5\na=rtpmap:"))
	f.Add([]byte("c=IN\nm=audio\na=rtpmap:0\na=rtpmap:0 \na=rtpmap:x y"))
	if files, _ := filepath.Glob("testdata/sdp/*.sdp"); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := negotiateBody(body)
		if err != nil {
			return
		}
		if n.Codec != "PCMU" && n.Codec != "PCMA" {
			t.Fatalf("negotiated codec %q", n.Codec)
		}
		if n.Remote.Port() == 0 {
			t.Fatalf("negotiated port 0")
		}
		b := sdpBuilder{}
		if _, err := negotiateBody(b.answer(netip.MustParseAddrPort("127.0.0.1:1"), n)); err != nil {
			t.Fatalf("own answer does not parse: %v", err)
		}
	})
}

func BenchmarkNegotiate(b *testing.B) {
	body := sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
		"m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := negotiateBody(body); err != nil {
			b.Fatal(err)
		}
	}
}
