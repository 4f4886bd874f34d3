package sip

import (
	sipmsg "github.com/emiago/sipgo/sip"
)

// RFC 3261 lets linear white space surround the separators of header
// parameters (SEMI, EQUAL and, in Via, SLASH and COMMA: section 25.1), and a
// header may be folded over several lines. sipgo keeps that white space in
// parameter names and values ("tag " = " 98asjd8"), so a From tag written
// "tag = 98asjd8" is lost and the request is refused although it is valid
// (RFC 4475 section 3.1.1.1). The parser ivrd gives sipgo strips it first
// from the headers whose parameters the stack reads.

// lwsParser is sipgo's parser with the address headers and Via cleaned of
// the optional white space around their separators.
func lwsParser() *sipmsg.Parser {
	parsers := make(map[string]sipmsg.HeaderParser)
	for name, p := range sipmsg.DefaultHeadersParser() {
		parsers[name] = p
	}
	for _, name := range []string{"from", "f", "to", "t", "contact", "m"} {
		parsers[name] = withoutLWS(parsers[name], ";=")
	}
	for _, name := range []string{"via", "v"} {
		parsers[name] = withoutLWS(parsers[name], ";=/")
	}
	return sipmsg.NewParser(sipmsg.WithHeadersParsers(parsers))
}

func withoutLWS(p sipmsg.HeaderParser, seps string) sipmsg.HeaderParser {
	return func(name []byte, text string) (sipmsg.Header, error) {
		return p(name, stripLWS(text, seps))
	}
}

// stripLWS removes the white space next to seps and at the ends of each
// comma-separated value of a header, and shrinks other runs of white space
// to one space, outside quoted strings. The commas keep their offsets: sipgo
// parses a list one value at a time and resumes after the offset of the
// comma it reports, counted in the text as it first received it, so the
// room a value loses goes in front of it as spaces (which the parsers skip
// at the start of a value). Text with nothing to strip comes back as is.
func stripLWS(s, seps string) string {
	if !hasLWS(s) {
		return s
	}
	out := make([]byte, 0, len(s))
	seg := make([]byte, 0, len(s))
	flush := func(width int) {
		// Trailing white space of the value goes too.
		for len(seg) > 0 && seg[len(seg)-1] == ' ' {
			seg = seg[:len(seg)-1]
		}
		for range width - len(seg) {
			out = append(out, ' ')
		}
		out = append(out, seg...)
		seg = seg[:0]
	}
	start := 0 // offset of the current value in s
	quoted := false
	angle := false
	space := false // white space pending between two non-blank characters
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quoted {
			seg = append(seg, c)
			switch c {
			case '\\':
				if i+1 < len(s) {
					i++
					seg = append(seg, s[i])
				}
			case '"':
				quoted = false
			}
			continue
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = len(seg) > 0
			continue
		case c == ',' && !angle:
			flush(i - start)
			out = append(out, ',')
			start = i + 1
			space = false
			continue
		}
		sep := indexByte(seps, c) >= 0
		if space && !sep && !endsWithSep(seg, seps) {
			seg = append(seg, ' ')
		}
		space = false
		seg = append(seg, c)
		switch c {
		case '"':
			quoted = true
		case '<':
			angle = true
		case '>':
			angle = false
		}
	}
	flush(0) // the last value needs no padding: no offset follows it
	return string(out)
}

// hasLWS reports whether s has white space other than single spaces
// between non-blank characters that are not separators; a cheap test that
// lets the common header through untouched.
func hasLWS(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\r', '\n':
			return true
		case ' ':
			if i == 0 || i == len(s)-1 || s[i+1] == ' ' {
				return true
			}
			switch s[i-1] {
			case ';', '=', '/', ',':
				return true
			}
			switch s[i+1] {
			case ';', '=', '/', ',':
				return true
			}
		}
	}
	return false
}

func endsWithSep(seg []byte, seps string) bool {
	return len(seg) > 0 && indexByte(seps, seg[len(seg)-1]) >= 0
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
