package loader

import (
	"slices"
	"testing"
)

func TestTemplateVars(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"plain", nil, ""},
		{"${account}-${caller}", []string{"account", "caller"}, ""},
		{"${queue.position}", []string{"queue.position"}, ""},
		{"${queue.ewt} min", []string{"queue.ewt"}, ""},
		{"${queue.other}", nil, `bad variable name "queue.other"`},
		{"${a.b}", nil, `bad variable name "a.b"`},
		{"${open", nil, "unclosed ${"},
	}
	for _, tt := range tests {
		got, err := templateVars(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("templateVars(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("templateVars(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
