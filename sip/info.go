package sip

import (
	"bytes"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// INFO content types that carry a key press.
const (
	ctDTMFRelay = "application/dtmf-relay" // "Signal=5\r\nDuration=160"
	ctDTMF      = "application/dtmf"       // "5"
)

// parseInfoDTMF reads the key of a SIP INFO DTMF body. ok is false with a nil
// error for an INFO that carries no key (empty body, used as a keepalive by
// some devices); ErrUnsupportedInfo for a content type it does not know,
// ErrBadDTMF for a DTMF body without a valid key.
func parseInfoDTMF(contentType string, body []byte) (digit rune, ok bool, err error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, false, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false, fmt.Errorf("parse info: content type %q: %w", contentType, ErrUnsupportedInfo)
	}
	switch mt {
	case ctDTMFRelay:
		for line := range bytes.Lines(body) {
			key, val, found := bytes.Cut(line, []byte("="))
			if !found || !strings.EqualFold(string(bytes.TrimSpace(key)), "signal") {
				continue
			}
			return signalDigit(string(bytes.TrimSpace(val)))
		}
		return 0, false, fmt.Errorf("parse info: dtmf-relay without Signal: %w", ErrBadDTMF)
	case ctDTMF:
		return signalDigit(string(bytes.TrimSpace(body)))
	}
	return 0, false, fmt.Errorf("parse info: content type %q: %w", mt, ErrUnsupportedInfo)
}

// signalDigit maps a signal to a key: a key character, or an RFC 4733 event
// number (10 = *, 11 = #, 12-15 = A-D) as some gateways send.
func signalDigit(s string) (rune, bool, error) {
	if len(s) == 1 {
		if r := rune(s[0]); validDigit(r) {
			if r >= 'a' && r <= 'd' {
				r -= 'a' - 'A'
			}
			return r, true, nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 10 && n <= 15 {
		return rune("*#ABCD"[n-10]), true, nil
	}
	return 0, false, fmt.Errorf("parse info: signal %q: %w", s, ErrBadDTMF)
}

func validDigit(r rune) bool {
	return (r >= '0' && r <= '9') || r == '*' || r == '#' || (r >= 'A' && r <= 'D') || (r >= 'a' && r <= 'd')
}
