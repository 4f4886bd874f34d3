package sip

import (
	"errors"
	"testing"
)

func TestParseInfoDTMF(t *testing.T) {
	tests := []struct {
		name    string
		ct      string
		body    string
		digit   rune
		ok      bool
		wantErr error
	}{
		{"dtmf-relay", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true, nil},
		{"dtmf-relay spaces and LF", "application/dtmf-relay", "Duration= 100\nSignal= #\n", '#', true, nil},
		{"dtmf-relay lower-case key and param", "application/dtmf-relay; charset=utf-8", "signal=*\r\n", '*', true, nil},
		{"dtmf-relay event number", "application/dtmf-relay", "Signal=11\r\nDuration=160", '#', true, nil},
		{"dtmf-relay letter", "Application/DTMF-Relay", "Signal=d\r\n", 'D', true, nil},
		{"dtmf", "application/dtmf", "5", '5', true, nil},
		{"dtmf with newline", "application/dtmf", "0\r\n", '0', true, nil},
		{"empty body is a keepalive", "", "", 0, false, nil},
		{"empty dtmf body", "application/dtmf-relay", "  \r\n", 0, false, nil},
		{"no signal", "application/dtmf-relay", "Duration=160\r\n", 0, false, ErrBadDTMF},
		{"bad signal", "application/dtmf-relay", "Signal=x\r\n", 0, false, ErrBadDTMF},
		{"signal out of range", "application/dtmf-relay", "Signal=16\r\n", 0, false, ErrBadDTMF},
		{"two keys", "application/dtmf", "55", 0, false, ErrBadDTMF},
		{"other type", "application/media_control+xml", "<xml/>", 0, false, ErrUnsupportedInfo},
		{"no content type", "", "Signal=5", 0, false, ErrUnsupportedInfo},
		{"malformed content type", "application/", "5", 0, false, ErrUnsupportedInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digit, ok, err := parseInfoDTMF(tt.ct, []byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if digit != tt.digit || ok != tt.ok {
				t.Fatalf("got (%q, %v), want (%q, %v)", digit, ok, tt.digit, tt.ok)
			}
		})
	}
}

func FuzzParseInfoDTMF(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf-relay; a=b", []byte("Signal=12"))
	f.Add("text/plain", []byte("="))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		digit, ok, err := parseInfoDTMF(ct, body)
		if err != nil && ok {
			t.Fatalf("ok with error %v", err)
		}
		if ok && !validDigit(digit) {
			t.Fatalf("invalid digit %q", digit)
		}
		if ok && digit >= 'a' && digit <= 'd' {
			t.Fatalf("lower-case digit %q", digit)
		}
	})
}
