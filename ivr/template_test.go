package ivr

import (
	"regexp"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	s := &session{vars: map[string]string{"caller": "+336", "n": "7"}}
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"${caller}", "+336"},
		{"a${n}b${n}c", "a7b7c"},
		{"${unknown}x", "x"},
		{"${caller", "${caller"},
		{"$caller", "$caller"},
		{"${}", ""},
	}
	for _, tt := range tests {
		if got := s.template(tt.in); got != tt.want {
			t.Errorf("template(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{"", "${caller}", "a${x}b${y", "${", "}${}${caller}$", "$${caller}}"} {
		f.Add(seed)
	}
	s := &session{vars: map[string]string{"caller": "C", "x": ""}}
	f.Fuzz(func(t *testing.T, tmpl string) {
		out := s.template(tmpl)
		if !strings.Contains(tmpl, "${") && out != tmpl {
			t.Fatalf("template(%q) = %q, want it unchanged", tmpl, out)
		}
		// Every value is shorter than any reference to it.
		if len(out) > len(tmpl) {
			t.Fatalf("template(%q) = %q grew", tmpl, out)
		}
	})
}

// fullMatch must agree with the pattern wrapped in ^(?:...)$.
func FuzzFullMatch(f *testing.F) {
	patterns := []string{`1\d{3}`, `1|12`, `\d+`, `(0|33)\d{9}`, `a*`, `^12$`}
	for _, seed := range []string{"", "1234", "12345", "12", "0612345678", "aaa"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range patterns {
			re := regexp.MustCompile(p)
			want := regexp.MustCompile(`^(?:` + p + `)$`).MatchString(s)
			if got := fullMatch(re, s); got != want {
				t.Fatalf("fullMatch(%q, %q) = %v, want %v", p, s, got, want)
			}
		}
	})
}
