package loader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/ivr"
)

// extract writes a testdata archive into a new folder and returns it. An
// archive is a list of files, each introduced by a "-- name --" line.
func extract(t testing.TB, archive string) string {
	t.Helper()
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeArchive(t, dir, string(b))
	return dir
}

func writeArchive(t testing.TB, dir, text string) {
	t.Helper()
	var name string
	var body strings.Builder
	flush := func() {
		if name == "" {
			return
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for line := range strings.Lines(text) {
		if n, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "-- "); ok && strings.HasSuffix(n, " --") {
			flush()
			name, body = strings.TrimSuffix(n, " --"), strings.Builder{}
			continue
		}
		body.WriteString(line)
	}
	flush()
}

// relative formats a diagnostic with the folder's path cut out.
func relative(dir string, d ivr.Diagnostic) string {
	s := d.String()
	s = strings.ReplaceAll(s, dir+string(filepath.Separator), "")
	return strings.ReplaceAll(s, dir, "<dir>")
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		archive string
		// want lists the errors in order, each as "file:line:col: text",
		// where text must appear in the message.
		want []string
	}{
		{"unknown-key", []string{
			`t.yaml:4:1: unknown key "colour"`,
			`t.yaml:8:7: unknown key "reson"`,
		}},
		{"wrong-type", []string{
			`t.yaml:3:8: entry: expected a value, got a list`,
			`t.yaml:8:14: tries: expected a whole number, got "many"`,
		}},
		{"missing-entry", []string{
			`t.yaml:1:1: flow: missing key "entry"`,
		}},
		{"unknown-node", []string{
			`t.yaml:3:8: unknown node "start"`,
			`t.yaml:7:11: unknown node "nowhere"`,
		}},
		{"kinds", []string{
			`t.yaml:5:3: node a: missing kind`,
			`t.yaml:9:5: node b: has two kinds, play and hangup`,
		}},
		{"option-key", []string{
			`t.yaml:9:9: options: "12" is not a single phone key`,
			`t.yaml:11:9: options: "x" is not a single phone key`,
		}},
		{"duplicate-flow", []string{
			`b.yaml:2:7: flow "t" is already defined at a.yaml:1:7`,
		}},
		{"unknown-flow", []string{
			`entrypoints.yaml:5:11: unknown flow "nope"`,
			`entrypoints.yaml:6:10: unknown flow "missing"`,
		}},
		{"bad-duration", []string{
			`t.yaml:5:12: timeout: bad duration "5 seconds"`,
			`t.yaml:9:41: silence: bad duration "-2s"`,
			`t.yaml:10:28: inter_digit_timeout: bad duration "3"`,
		}},
		{"bad-regex", []string{
			`t.yaml:9:16: pattern: bad regular expression "[0-9": missing closing ]`,
			`t.yaml:13:32: match: bad regular expression "(a": missing closing )`,
		}},
		{"calendars", []string{
			`entrypoints.yaml:4:15: timezone: unknown time zone "Europe/Pariss"`,
			`t.yaml:8:7: hours: bad days "mon-fry"`,
			`t.yaml:9:12: hours: bad hours "9h-12h"`,
			`t.yaml:10:12: hours: bad hours "14:00-13:00": ends before it starts`,
			`t.yaml:11:16: holiday: bad date "2026-13-01"`,
			`t.yaml:15:20: unknown calendar "bureau"`,
		}},
		{"prompt-file", []string{
			`t.yaml:8:15: file: prompt file "missing.wav" not found`,
			`t.yaml:9:15: file: "../secret.wav" must be a path inside the prompts folder`,
			`t.yaml:13:15: say: "Merci de votre appel, ${caller}." uses a variable`,
		}},
		{"digits", []string{
			`t.yaml:10:19: max_digits: 6 is less than min_digits 8`,
			`t.yaml:11:19: terminator: '5' is a digit`,
			`t.yaml:14:12: variable: "caller" is built in`,
			`t.yaml:16:19: min_digits: 30 is more than the default max_digits 20`,
		}},
		{"callback", []string{
			`t.yaml:6:37: callback: node "bye" is a hangup node, not a callback node`,
			`t.yaml:8:27: queue q2: callback_key needs callback`,
			`t.yaml:12:21: max_attempts: want 1 to 10, got 0`,
			`t.yaml:13:20: retry_delay: 5s is too short`,
			`t.yaml:14:13: mode: want agent_first or caller_first, got "whenever"`,
			`t.yaml:15:17: unknown calendar "office"`,
			`t.yaml:16:21: ring_timeout: want 5s to 2m0s, got 1s`,
		}},
		{"yaml-syntax", []string{
			`t.yaml:6: bad YAML: found unexpected end of stream`,
		}},
		{"duplicate-key", []string{
			`t.yaml:7:3: nodes: duplicate key "a" (first at line 5)`,
		}},
		{"branch", []string{
			`t.yaml:2:11: language: unsupported language "es"`,
			`t.yaml:7:9: branch rule: else must be the last rule`,
			`t.yaml:8:39: condition: caller and open cannot be combined`,
			`t.yaml:10:13: condition: needs a test`,
			`t.yaml:12:9: branch rule: needs if and goto`,
		}},
		{"operator", []string{
			`entrypoints.yaml:4:13: number: "3900" already routed at line 2`,
			// none.yaml: key none needs no goto; stale.yaml: one left
			// beside it must still name a node.
			`stale.yaml:6:9: unknown node "gone"`,
			`t.yaml:5:8: operator key: "00" is not a single phone key`,
			`t.yaml:6:9: unknown node "agent"`,
			`t.yaml:11:7: queue a: max_wait needs on_timeout`,
		}},
		{"translation", []string{
			`chain.yaml:3:17: translation_of: en is itself a translation of fr; name the original, fr`,
			`en.yaml:7:18: file: prompt file "bonjour.wav" not found in prompts/en or prompts (only in prompts/fr: record it in prompts/en)`,
			`same.yaml:3:17: translation_of: fr is also in language fr`,
			`self.yaml:3:17: translation_of: flow self cannot be a translation of itself`,
			`unknown.yaml:3:17: translation_of: unknown flow "nope"`,
		}},
		{"no-entrypoints", []string{
			`<dir>: no entrypoints.yaml`,
		}},
		{"consent", []string{
			`t.yaml:7:19: refuse_key: "99" is not a single phone key`,
			`t.yaml:8:15: window: 1m0s is too long (at most 30s)`,
			`t.yaml:9:7: consent c: unknown key "colour"`,
			`t.yaml:12:13: record action: expected start, stop, pause or resume, got "rewind"`,
			`t.yaml:15:35: record: expected true or false, got "maybe"`,
			`t.yaml:17:11: variable: "recording_consent" is set by consent nodes only`,
			`t.yaml:19:23: window: bad duration "3 seconds"`,
			`t.yaml:19:47: unknown node "nowhere"`,
			`t.yaml:21:28: record r2: unknown key "when"`,
			`u.yaml:2:11: language: unsupported language "es"`,
			`u.yaml:6:14: consent c: no default texts in language "es": write its refused_prompt`,
		}},
		// Nothing may record before the caller was told and could refuse:
		// through a menu option, a branch rule, the operator key.
		{"record-before-consent", []string{
			`t.yaml:17:3: record node "start" can be reached before any consent node (path: welcome → menu → start): ask for consent first`,
			`t.yaml:26:3: queue node "support" records (record: true) and can be reached before any consent node (path: welcome → menu → help → support)`,
			`t.yaml:36:3: queue node "agents" records (record: true) and can be reached before any consent node (path: welcome → menu → agents)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.archive, func(t *testing.T) {
			dir := extract(t, filepath.Join("testdata", "errors", tt.archive+".txt"))
			tts := &fakeTTS{}
			set, diags, err := Load(context.Background(), Options{Dir: dir, TTS: tts})
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if set != nil {
				t.Error("a FlowSet despite errors")
			}
			if len(tts.calls) != 0 {
				t.Errorf("rendered %d prompts of invalid flows", len(tts.calls))
			}
			var got []string
			for _, d := range diags {
				if d.Severity == ivr.SeverityError {
					got = append(got, relative(dir, d))
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				pos, text, _ := strings.Cut(w, ": ")
				if !strings.HasPrefix(got[i], pos+": error: ") || !strings.Contains(got[i], text) {
					t.Errorf("error %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
		})
	}
}

// operator: {key: none} disables the operator key and needs no goto; a
// goto left beside it leads nowhere.
func TestOperatorKeyNone(t *testing.T) {
	for _, op := range []string{"{key: none}", "{key: none, goto: bye}"} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			writeArchive(t, dir, `-- entrypoints.yaml --
default: t
-- t.yaml --
flow: t
language: fr
entry: m
operator: `+op+`
nodes:
  m:
    menu:
      prompt: "Tapez 1."
      options:
        "0": bye
        "1": bye
  bye:
    hangup: {}
`)
			set, diags, err := Load(context.Background(), Options{Dir: dir, TTS: &fakeTTS{}})
			if err != nil {
				t.Fatalf("Load = %v\n%v", err, diags)
			}
			if got := set.Flows["t"].Operator; got != (ivr.Operator{}) {
				t.Errorf("operator = %+v, want none", got)
			}
			for _, d := range diags {
				if strings.Contains(d.Message, "uses the operator key") {
					t.Errorf("key 0 of a menu taken for a disabled operator: %s", d)
				}
			}
		})
	}
}
