package sip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMalformedResponse(t *testing.T) {
	tests := []struct {
		name, msg string
		want      string // status line, "" for no answer
	}{
		{"bad header", "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: \"x <sip:a@b>\r\nCSeq: 1 INVITE\r\n\r\n",
			"SIP/2.0 400 Bad Request"},
		{"unknown scheme", "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n",
			"SIP/2.0 416 Unsupported URI Scheme"},
		{"served scheme, other error", "OPTIONS sips:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nl: -1\r\n\r\n", "SIP/2.0 400 Bad Request"},
		{"<> Request-URI", "INVITE <sip:a@b> SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", "SIP/2.0 400 Bad Request"},
		{"response", "SIP/2.0 4294967301 big\r\nVia: SIP/2.0/UDP h\r\n\r\n", ""},
		{"ACK", "ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCSeq: x\r\n\r\n", ""},
		{"no Via", "INVITE sip:a@b\r\nTo: sip:a@b\r\n\r\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := string(malformedResponse([]byte(tt.msg), "ivrd"))
			status, _, _ := strings.Cut(res, "\r\n")
			if status != tt.want {
				t.Fatalf("status %q, want %q\n%s", status, tt.want, res)
			}
		})
	}
	res := string(malformedResponse([]byte("INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h1;branch=z9hG4bK1\r\n"+
		"Via: SIP/2.0/UDP h2\r\n i=\x00x\r\nf: <sip:c@d>;tag=1\r\nt: <sip:a@b>\r\ni: id\r\nCSeq: 1 INVITE\r\nX: y\r\n\r\nbody"), "ivrd"))
	for _, want := range []string{"Via: SIP/2.0/UDP h1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP h2 i=x\r\n",
		"From: <sip:c@d>;tag=1\r\n", "To: <sip:a@b>;tag=", "Call-ID: id\r\n", "CSeq: 1 INVITE\r\n",
		"Server: ivrd\r\nContent-Length: 0\r\n\r\n"} {
		if !strings.Contains(res, want) {
			t.Errorf("answer without %q:\n%q", want, res)
		}
	}
	if strings.Contains(res, "X: y") || strings.Contains(res, "\x00") {
		t.Errorf("answer copies more than it should:\n%q", res)
	}
}

// FuzzMalformedResponse: any bytes give no answer or a well-formed status
// line and printable header lines.
func FuzzMalformedResponse(f *testing.F) {
	files, _ := filepath.Glob("testdata/torture/*/*.dat")
	for _, name := range files {
		data, _ := os.ReadFile(name)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res := malformedResponse(data, "ivrd")
		if res == nil {
			return
		}
		text := string(res)
		if !strings.HasPrefix(text, "SIP/2.0 400 ") && !strings.HasPrefix(text, "SIP/2.0 416 ") {
			t.Fatalf("status line: %q", text)
		}
		head, rest, ok := strings.Cut(text, "\r\n\r\n")
		if !ok || rest != "" {
			t.Fatalf("not one header section: %q", text)
		}
		for _, l := range strings.Split(head, "\r\n") {
			if strings.ContainsFunc(l, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
				t.Fatalf("control character in %q", l)
			}
		}
	})
}
