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
		{"translation", []string{
			`en.yaml:3:17: no number in entrypoints.yaml leads to en: callers cannot reach the en version of fr`,
			`en.yaml:3:17: node fin of fr (fr.yaml:25:3) is missing from this translation`,
			`en.yaml:5:11: operator (key * to agent) differs from the operator of fr (key 0 to agent)`,
			`en.yaml:7:3: menu choix has an option 4 that the same menu of fr lacks`,
			`en.yaml:7:3: menu choix has no option 2; the same menu of fr has one`,
			`en.yaml:7:3: menu choix has no retry_prompt but the same node of fr has one`,
			`en.yaml:15:3: collect numero leads to choix but the same node of fr leads to agent`,
			`en.yaml:15:3: collect numero sets variable acct but the same node of fr sets account`,
			`en.yaml:20:3: node info is a hangup here but a play in fr (fr.yaml:20:3)`,
			`en.yaml:23:3: queue agent hands calls to queue agents-en but the same node of fr to agents`,
			`en.yaml:23:3: queue agent has no hold prompt but the same node of fr has one`,
			`en.yaml:23:3: queue agent leads to extra but the same node of fr leads to fin`,
			`en.yaml:25:3: node extra is not in fr, the original`,
		}},
		{"consent", []string{
			`en.yaml:7:3: consent ask refuses with 1, an option of menu menu right after it`,
			`en.yaml:7:3: consent ask refuses with key 1 but the same node of fr with key 0`,
			`en.yaml:16:3: queue agents does not record the agent conversation but the same node of fr records`,
			`fr.yaml:6:3: consent ask refuses with 0, the operator key`,
		}},
		{"translation-prompts", []string{
			`en.yaml:8:15: file: "bonjour.wav" has a fr recording for fr but none in en/: this plays the shared prompts/bonjour.wav`,
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
