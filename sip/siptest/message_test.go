package siptest

import (
	"math"
	"net/netip"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
		method string
		callID string
		cseq   int
		ok     bool
	}{
		{"response", "SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP a\r\ni: abc\r\nCSeq: 1 INVITE\r\n\r\n", 180, "", "abc", 1, true},
		{"request", "BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 7 BYE\r\n\r\n", 0, "BYE", "x", 7, true},
		{"no end of headers", "SIP/2.0 200 OK\r\nCall-ID: x\r\n", 0, "", "", 0, false},
		{"bad status", "SIP/2.0 2x0 OK\r\n\r\n", 0, "", "", 0, false},
		{"short start line", "SIP/2.0\r\n\r\n", 0, "", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMessage([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			n, _ := m.cseq()
			if m.status != tt.status || m.method != tt.method || m.header("call-id") != tt.callID || n != tt.cseq {
				t.Errorf("got status %d method %q call-id %q cseq %d", m.status, m.method, m.header("call-id"), n)
			}
		})
	}
}

func TestSDPAudio(t *testing.T) {
	tests := []struct {
		name string
		body string
		want netip.AddrPort
	}{
		{"answer", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n", netip.MustParseAddrPort("127.0.0.1:4000")},
		{"no port", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio \r\n", netip.AddrPort{}},
		{"no address", "v=0\r\nm=audio 4000 RTP/AVP 0\r\n", netip.AddrPort{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sdpAudio([]byte(tt.body))
			if got != tt.want || (err == nil) != tt.want.IsValid() {
				t.Errorf("sdpAudio = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nTo: <sip:a@b>;tag=1\r\nContact: <sip:c@d>\r\n\r\nv=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Add([]byte("BYE sip:a@b SIP/2.0\r\nv: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		m.cseq()
		m.reply(200, "OK")
		tagOf(m.header("to"))
		uriOf(m.header("contact"))
		_, _ = sdpAudio(m.body)
	})
}

func TestToneShare(t *testing.T) {
	tone := func(freq float64, n int) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(7500 * math.Sin(2*math.Pi*freq*float64(i)/8000))
		}
		return s
	}
	tests := []struct {
		name     string
		samples  []int16
		freq     float64
		min, max float64
	}{
		{"the tone", tone(1000, 8000), 1000, 0.95, 1.05},
		{"another tone", tone(400, 8000), 1000, 0, 0.05},
		{"silence", make([]int16, 8000), 1000, 0, 0},
		{"less than a block", tone(1000, 100), 1000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ToneShare(tt.samples, tt.freq); got < tt.min || got > tt.max {
				t.Errorf("ToneShare = %.3f, want %.2f..%.2f", got, tt.min, tt.max)
			}
		})
	}
}
