package sip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStripLWS(t *testing.T) {
	tests := []struct{ in, seps, want string }{
		{`"Alice" <sip:alice@x>;tag=abc`, ";=", `"Alice" <sip:alice@x>;tag=abc`},
		{`"J Rosenberg \\\""       <sip:jdrosen@example.com>   ;   tag = 98asjd8`, ";=",
			`"J Rosenberg \\\"" <sip:jdrosen@example.com>;tag=98asjd8`},
		{"sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n", ";=", "sip:vivekg@chair-dnrc.example.com;tag=1918181833n"},
		{`"a ; b = c" <sip:x@y> ; p = "q ; r"`, ";=", `"a ; b = c" <sip:x@y>;p="q ; r"`},
		// The comma keeps its offset: the first value is padded in front.
		{"SIP  / 2.0  / TCP     h1 ; branch = z9hG4bK1 , SIP/2.0/UDP h2", ";=/",
			strings.Repeat(" ", 15) + "SIP/2.0/TCP h1;branch=z9hG4bK1,SIP/2.0/UDP h2"},
		{"<sip:a@b;x=1>, <sip:c@d> ; q = 1", ";=", "<sip:a@b;x=1>,<sip:c@d>;q=1"},
		{"\t<sip:a@b>\t", ";=", "<sip:a@b>"},
	}
	for _, tt := range tests {
		got := stripLWS(tt.in, tt.seps)
		if got != tt.want {
			t.Errorf("stripLWS(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// FuzzStripLWS: never longer, top-level commas where they were.
func FuzzStripLWS(f *testing.F) {
	files, _ := filepath.Glob("testdata/torture/*/*.dat")
	for _, name := range files {
		data, _ := os.ReadFile(name)
		for _, l := range strings.Split(string(data), "\r\n") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				f.Add(v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, seps := range []string{";=", ";=/"} {
			got := stripLWS(s, seps)
			if len(got) > len(s) {
				t.Fatalf("%q grew to %q", s, got)
			}
			commas := func(v string) []int {
				var at []int
				quoted, angle := false, false
				for i := 0; i < len(v); i++ {
					switch c := v[i]; {
					case quoted && c == '\\':
						i++
					case c == '"':
						quoted = !quoted
					case quoted:
					case c == '<':
						angle = true
					case c == '>':
						angle = false
					case c == ',' && !angle:
						at = append(at, i)
					}
				}
				return at
			}
			want, have := commas(s), commas(got)
			if len(want) != len(have) {
				t.Fatalf("%q -> %q: %d commas, want %d", s, got, len(have), len(want))
			}
			for i := range want {
				if want[i] != have[i] {
					t.Fatalf("%q -> %q: comma %d moved from %d to %d", s, got, i, want[i], have[i])
				}
			}
		}
	})
}
