package loader

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/ivr"
)

func TestLint(t *testing.T) {
	tests := []struct {
		archive string
		want    []string // as in TestLoadErrors
	}{
		{"design", []string{
			`t.yaml:1:7: flow t has menus but no way to an operator`,
			`t.yaml:5:3: menu m offers 6 choices`,
			`t.yaml:5:3: nodes m, again form a loop that never waits for a key`,
			`t.yaml:19:3: node orphan is unreachable`,
			`t.yaml:19:3: nodes orphan form a loop`,
			`t.yaml:20:14: variable "nobody" is never set`,
		}},
		{"operator", []string{
			`t.yaml:6:3: menu m uses the operator key 0 for m instead of the operator`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.archive, func(t *testing.T) {
			dir := extract(t, filepath.Join("testdata", "lint", tt.archive+".txt"))
			set, diags, err := Load(context.Background(), Options{Dir: dir, TTS: &fakeTTS{}})
			if err != nil {
				t.Fatalf("warnings must not fail the load: %v", err)
			}
			var got []string
			for _, d := range diags {
				if d.Severity != ivr.SeverityWarning {
					t.Errorf("unexpected %s", d)
				}
				got = append(got, relative(dir, d))
			}
			if len(set.Warnings) != len(diags) {
				t.Errorf("FlowSet has %d warnings, diagnostics %d", len(set.Warnings), len(diags))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				pos, text, _ := strings.Cut(w, ": ")
				if !strings.HasPrefix(got[i], pos+": warning: ") || !strings.Contains(got[i], text) {
					t.Errorf("warning %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
		})
	}
}
